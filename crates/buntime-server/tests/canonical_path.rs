//! Hooks see the path routing uses: dot segments and escaped letters can no longer route a request
//! somewhere its guard did not look.

mod support;

use axum::body::Body;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use support::{Fixture, send};

async fn raw_get(h: &buntime_server::RuntimeHandle, path: &str) -> support::Got {
    send(http::Request::get(format!("{}{path}", h.url())).body(Body::empty()).unwrap()).await
}

fn guarded() -> Fixture {
    let f = Fixture::new();
    f.plugin("guard", "name: guard\nbase: /guard\n");
    f.plugin("web", "name: web\nbase: /web\nroutes: true\ndependencies: [guard]\n");
    f
}

#[tokio::test]
async fn traversal_and_escaped_letters_reach_the_hooks_in_the_form_routing_uses() {
    let f = guarded();
    let h = f.start().await;
    for raw in ["/web/../web/echo/x", "/%77eb/echo/x", "/web/echo/a/%2e%2e/x", "/web/echo/a/.%2e/x", "/guard/../web/echo/x"] {
        f.journal.clear();
        let got = raw_get(&h, raw).await;
        assert_eq!(got.status, 200, "{raw}: {}", got.body);
        let routed = format!("/web{}", got.json()["path"].as_str().unwrap());
        assert_eq!(f.journal.matching("request:guard:"), vec![format!("request:guard:{routed}:false")], "{raw}");
    }
}

#[tokio::test]
async fn a_path_above_the_root_is_400_and_reaches_nothing() {
    let f = guarded();
    let h = f.start().await;
    for raw in ["/..", "/../etc/passwd", "/web/../../x", "/%2e%2e/x"] {
        f.journal.clear();
        let got = raw_get(&h, raw).await;
        assert_eq!(got.status, 400, "{raw}: {}", got.body);
        assert_eq!(got.json()["code"], "INVALID_PATH");
        assert!(f.journal.matching("request:").is_empty(), "{raw}");
    }
}

fn segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "web", "%77eb", "w%65b", "guard", "echo", "..", ".", "%2e", "%2E%2e", ".%2e", "%2e.", "x", "a%2fb", "a%2Fb", "%20", "~", "%7e", "", "a\\..",
    ])
}

/// For any path: either 400 (it climbs above the root) and no hook ran, or the guard hook saw
/// exactly the path the router was given (base + routed path) whenever the router answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn property_what_hooks_see_is_what_routing_uses() {
    let f = guarded();
    let h = f.start().await;
    let mut runner = TestRunner::deterministic();
    let prefix = prop::sample::select(vec!["/web/echo", "/%77eb/echo", "/web/%65cho", "/guard/../web/echo", ""]);
    let strategy = (prefix, prop::collection::vec(segment(), 1..6)).prop_map(|(p, segs)| format!("{p}/{}", segs.join("/")));
    let mut answered = 0;
    for _ in 0..300 {
        let raw = strategy.new_tree(&mut runner).unwrap().current();
        f.journal.clear();
        let got = raw_get(&h, &raw).await;
        let seen = f.journal.matching("request:guard:");
        if got.status == 400 {
            assert_eq!(got.json()["code"], "INVALID_PATH", "{raw}");
            assert!(seen.is_empty(), "{raw}: {seen:?}");
            continue;
        }
        assert_eq!(seen.len(), 1, "{raw}: {seen:?}");
        let hook_path = seen[0].trim_start_matches("request:guard:").trim_end_matches(":false").to_owned();
        for bad in ["/../", "/./", "%2e", "%2E", "%77", "%65", "\\"] {
            assert!(!format!("{hook_path}/").contains(bad), "{raw} reached hooks as {hook_path}");
        }
        if got.status == 200 && got.json()["path"].is_string() {
            answered += 1;
            assert_eq!(hook_path, format!("/web{}", got.json()["path"].as_str().unwrap()), "{raw}");
        }
    }
    assert!(answered > 10, "too few generated paths reached the router ({answered})");
}
