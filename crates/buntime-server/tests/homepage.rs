//! `GET /` redirects to `RUNTIME_HOMEPAGE` (the admin shell by default) unless something answers `/`.

mod support;

use support::{Fixture, get, post};

#[tokio::test]
async fn the_root_redirects_to_the_admin_shell_by_default() {
    let f = Fixture::new();
    let h = f.start().await;
    let res = get(&h, "/").await;
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.headers["location"], "/cpanel");
    assert!(
        res.headers.contains_key("x-request-id")
            && res.headers.contains_key("x-buntime-generation")
    );
    assert_eq!(
        get(&h, "/nowhere").await.status,
        404,
        "only the root redirects"
    );
    assert_eq!(
        post(&h, "/").await.status,
        404,
        "a POST is never redirected"
    );
}

#[tokio::test]
async fn the_homepage_is_configurable_and_blank_turns_it_off() {
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_HOMEPAGE", "/todo?tab=1")]).await;
    assert_eq!(get(&h, "/").await.headers["location"], "/todo?tab=1");
    h.shutdown().await.unwrap();

    let h = f.start_with(&[("RUNTIME_HOMEPAGE", "")]).await;
    let res = get(&h, "/").await;
    assert_eq!(res.status, 404);
    assert!(!res.headers.contains_key("location"));
}

#[tokio::test]
async fn a_plugin_that_answers_the_root_keeps_it() {
    let f = Fixture::new();
    f.plugin("gate", "name: gate\naction: respond\n");
    let h = f.start().await;
    let res = get(&h, "/").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.body, "blocked by gate");
}
