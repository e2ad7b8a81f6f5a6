//! `AccessControl` as the [`ApiAccess`] of plugin routes: the permissions a route names, decided
//! by the REST API's rules (roles, the master key, no key, CSRF, unknown permission names).

mod support;

use buntime_auth::{Permission, Role};
use buntime_core::access::ApiAccess;
use http::{Method, StatusCode};
use support::Fixture;

const READ: &[&str] = &["apps:read", "plugins:read"];
const WRITE: &[&str] = &["apps:install", "apps:remove", "plugins:install", "plugins:remove"];

fn parts(method: Method, headers: &[(&'static str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri("/deployments/api/list");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn status(r: Result<(), buntime_core::Response>) -> u16 {
    r.map_or_else(|res| res.status().as_u16(), |()| 200)
}

#[test]
fn viewers_read_editors_write_and_other_callers_get_the_api_answers() {
    let fx = Fixture::new(Some("master-secret"), false);
    let viewer = fx.key(Role::Viewer, &[]);
    let editor = fx.key(Role::Editor, &[]);
    let custom = fx.key(Role::Custom, &[Permission::AppsRead]);
    let with = |k: &str, m: Method| parts(m, &[("x-api-key", k)]);
    assert_eq!(status(fx.access.check(&with(&viewer, Method::GET), READ)), 200);
    assert_eq!(status(fx.access.check(&with(&viewer, Method::POST), WRITE)), 403);
    assert_eq!(status(fx.access.check(&with(&editor, Method::POST), WRITE)), 200);
    assert_eq!(status(fx.access.check(&with("master-secret", Method::DELETE), WRITE)), 200);
    // A custom key needs every permission the route names.
    assert_eq!(status(fx.access.check(&with(&custom, Method::GET), READ)), 403);
    assert_eq!(status(fx.access.check(&parts(Method::GET, &[]), READ)), 401);
    assert_eq!(status(fx.access.check(&with("btk_nope", Method::GET), READ)), 401);
    let refused = fx.access.check(&with(&viewer, Method::POST), WRITE).unwrap_err();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(status(fx.access.check(&with(&editor, Method::GET), &["apps:fly"])), 500);
}

#[test]
fn without_credentials_writes_from_a_foreign_origin_are_refused() {
    let fx = Fixture::new(None, false);
    // The fixture is a development runtime on :8000 with no credentials: local callers pass,
    // but a state-changing call still needs the runtime's own origin.
    let local = |m: Method, h: &[(&'static str, &str)]| {
        let mut p = parts(m, h);
        p.extensions.insert(buntime_core::ClientAddr("127.0.0.1:5000".parse().unwrap()));
        p
    };
    assert_eq!(status(fx.access.check(&local(Method::GET, &[]), READ)), 200);
    assert_eq!(status(fx.access.check(&local(Method::POST, &[("origin", "http://localhost:8000")]), WRITE)), 200);
    assert_eq!(status(fx.access.check(&local(Method::POST, &[("origin", "http://evil.example")]), WRITE)), 403);
    assert_eq!(status(fx.access.check(&local(Method::POST, &[]), WRITE)), 403);
    // A remote caller with no credentials configured is told to configure them.
    let mut remote = parts(Method::GET, &[]);
    remote.extensions.insert(buntime_core::ClientAddr("203.0.113.9:5000".parse().unwrap()));
    assert_eq!(status(fx.access.check(&remote, READ)), 401);
}
