//! Every role (plus the master key and no key) against every API route and method, as data.

mod support;

use buntime_auth::{Caller, Denied, Permission, Role};
use http::Method;
use support::{Fixture, with_key};

/// Expected outcome for one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum O {
    /// Allowed.
    Y,
    /// 403 for the row's permission.
    N,
    /// 401.
    U,
}
use O::{N, U, Y};

/// The custom role under test holds exactly these.
const CUSTOM: &[Permission] = &[
    Permission::AppsRead,
    Permission::PluginsInstall,
    Permission::KeysRead,
];

/// (method, relative path, permission named on 403, [admin, editor, viewer, custom, master, no key])
#[rustfmt::skip]
const MATRIX: &[(&str, &str, &str, [O; 6])] = &[
    ("GET",     "/apps",                 "apps:read",       [Y, Y, Y, Y, Y, U]),
    ("GET",     "/apps/foo",             "apps:read",       [Y, Y, Y, Y, Y, U]),
    ("POST",    "/apps/upload",          "apps:install",    [Y, Y, N, N, Y, U]),
    ("PUT",     "/apps/x",               "",                [Y, Y, Y, Y, Y, U]),
    ("PATCH",   "/apps/x",               "",                [Y, Y, Y, Y, Y, U]),
    ("DELETE",  "/apps/@scope/name",     "apps:remove",     [Y, Y, N, N, Y, U]),
    ("DELETE",  "/apps/_/name/1.0.0",    "apps:remove",     [Y, Y, N, N, Y, U]),
    ("GET",     "/appsx",                "",                [Y, Y, Y, Y, Y, U]),
    ("GET",     "/plugins",              "plugins:read",    [Y, Y, Y, N, Y, U]),
    ("GET",     "/plugins/loaded",       "",                [Y, Y, Y, Y, Y, Y]),
    ("POST",    "/plugins/reload",       "plugins:install", [Y, Y, N, Y, Y, U]),
    ("POST",    "/plugins/upload",       "plugins:install", [Y, Y, N, Y, Y, U]),
    ("PUT",     "/plugins/x",            "plugins:install", [Y, Y, N, Y, Y, U]),
    ("PATCH",   "/plugins/x",            "plugins:install", [Y, Y, N, Y, Y, U]),
    ("DELETE",  "/plugins/x",            "plugins:remove",  [Y, Y, N, N, Y, U]),
    ("GET",     "/keys",                 "keys:read",       [Y, N, Y, Y, Y, U]),
    ("GET",     "/keys/meta",            "keys:read",       [Y, N, Y, Y, Y, U]),
    ("POST",    "/keys",                 "keys:create",     [Y, N, N, N, Y, U]),
    ("DELETE",  "/keys/1",               "keys:revoke",     [Y, N, N, N, Y, U]),
    ("PUT",     "/keys/1",               "",                [Y, Y, Y, Y, Y, U]),
    ("GET",     "/workers",              "workers:read",    [Y, Y, Y, N, Y, U]),
    ("GET",     "/workersx",             "workers:read",    [Y, Y, Y, N, Y, U]),
    ("POST",    "/workers/1/restart",    "workers:restart", [Y, Y, N, N, Y, U]),
    ("DELETE",  "/workers/1",            "workers:restart", [Y, Y, N, N, Y, U]),
    ("OPTIONS", "/workers",              "workers:restart", [Y, Y, N, N, Y, U]),
    ("HEAD",    "/keys",                 "",                [Y, Y, Y, Y, Y, U]),
    ("HEAD",    "/workers",              "",                [Y, Y, Y, Y, Y, U]),
    ("OPTIONS", "/apps",                 "",                [Y, Y, Y, Y, Y, U]),
    ("GET",     "/health",               "",                [Y, Y, Y, Y, Y, Y]),
    ("GET",     "/health/ready",         "",                [Y, Y, Y, Y, Y, Y]),
    ("GET",     "/health/live",          "",                [Y, Y, Y, Y, Y, Y]),
    ("GET",     "/openapi.json",         "",                [Y, Y, Y, Y, Y, Y]),
    ("GET",     "/docs",                 "",                [Y, Y, Y, Y, Y, Y]),
    ("GET",     "/healthz",              "",                [Y, Y, Y, Y, Y, U]),
    ("GET",     "/unknown",              "",                [Y, Y, Y, Y, Y, U]),
];

#[test]
fn every_role_against_every_route() {
    let fx = Fixture::new(Some("the-master-key"), false);
    let callers: [(&str, Option<String>); 6] = [
        ("admin", Some(fx.key(Role::Admin, &[]))),
        ("editor", Some(fx.key(Role::Editor, &[]))),
        ("viewer", Some(fx.key(Role::Viewer, &[]))),
        ("custom", Some(fx.key(Role::Custom, CUSTOM))),
        ("master", Some("the-master-key".to_owned())),
        ("no key", None),
    ];
    let mut checked = 0;
    for (method, path, perm, expected) in MATRIX {
        let method: Method = method.parse().unwrap();
        for ((who, key), want) in callers.iter().zip(expected) {
            let headers = key.as_deref().map(with_key).unwrap_or_default();
            let got = fx.access.authorize(&method, path, &headers, false, false);
            let ctx = format!("{who} {method} {path}");
            match (want, got) {
                (Y, Ok(caller)) => assert_eq!(caller.principal().is_some(), key.is_some(), "{ctx}"),
                (N, Err(Denied::PermissionDenied(p))) => assert_eq!(p.as_str(), *perm, "{ctx}"),
                (U, Err(Denied::AuthRequired)) => {}
                (want, got) => panic!("{ctx}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, MATRIX.len() * 6);
}

#[test]
fn matrix_permission_column_matches_the_route_map() {
    for (method, path, perm, _) in MATRIX {
        let required = buntime_auth::routes::required_permission(&method.parse().unwrap(), path);
        assert_eq!(
            required.map_or("", Permission::as_str),
            *perm,
            "{method} {path}"
        );
    }
}

#[test]
fn an_invalid_key_is_treated_like_no_key() {
    let fx = Fixture::new(None, false);
    fx.key(Role::Viewer, &[]);
    let bad = with_key("btk_not-a-real-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert!(matches!(
        fx.access.authorize(&Method::GET, "/apps", &bad, false, false),
        Err(Denied::AuthRequired)
    ));
    assert_eq!(
        fx.access
            .authorize(&Method::GET, "/plugins/loaded", &bad, false, false)
            .unwrap(),
        Caller::Anonymous
    );
}
