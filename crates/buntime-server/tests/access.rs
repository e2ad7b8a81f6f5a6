//! Access control over the real server: every documented route × every role, the damaged key
//! store, CSRF, and keys never bypassing plugin hooks.

mod support;

use axum::body::Body;
use support::{Fixture, get, send};

const MASTER: &str = "master-secret-for-tests";

/// What each route needs, written from spec §10.1 independently of the code: `None` is public.
fn required(method: &str, path: &str) -> Option<&'static str> {
    let public = ["/health", "/health/live", "/health/ready", "/plugins/loaded", "/openapi.json", "/docs"];
    if method == "GET" && public.contains(&path) {
        return None;
    }
    let area = path.trim_start_matches('/').split('/').next().unwrap();
    let perm = match (area, method) {
        ("apps", "GET") => "apps:read",
        ("apps", "POST") => "apps:install",
        ("apps", "DELETE") => "apps:remove",
        ("plugins", "GET") => "plugins:read",
        ("plugins", "POST" | "PUT" | "PATCH") => "plugins:install",
        ("plugins", "DELETE") => "plugins:remove",
        ("keys", "GET") => "keys:read",
        ("keys", "POST") => "keys:create",
        ("keys", "DELETE") => "keys:revoke",
        other => panic!("no expectation for {other:?}: add the route to this table"),
    };
    Some(perm)
}

fn role_has(role: &str, perm: &str) -> bool {
    match role {
        "admin" | "master" => true,
        "editor" => perm.starts_with("apps:") || perm.starts_with("plugins:") || perm.starts_with("workers:"),
        "viewer" => ["apps:read", "plugins:read", "workers:read", "keys:read"].contains(&perm),
        "custom" => perm == "plugins:read",
        _ => false,
    }
}

async fn call(h: &buntime_server::RuntimeHandle, method: &str, path: &str, key: Option<&str>, body: &str) -> support::Got {
    let mut req = http::Request::builder().method(method).uri(format!("{}{path}", h.url())).header("origin", h.url());
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    send(req.body(Body::from(body.to_owned())).unwrap()).await
}

async fn create_key(h: &buntime_server::RuntimeHandle, body: &str) -> String {
    let res = call(h, "POST", "/api/keys", Some(MASTER), body).await;
    assert_eq!(res.status, 201, "{}", res.body);
    res.json()["data"]["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_role_against_every_documented_route() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_MASTER_KEY", MASTER)]).await;
    let mut keys = vec![("none", None), ("master", Some(MASTER.to_owned()))];
    for role in ["admin", "editor", "viewer"] {
        keys.push((role, Some(create_key(&h, &format!(r#"{{"name":"{role}","role":"{role}"}}"#)).await)));
    }
    keys.push(("custom", Some(create_key(&h, r#"{"name":"c","role":"custom","permissions":["plugins:read"]}"#).await)));

    let doc = get(&h, "/api/openapi.json").await.json();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = method.to_uppercase();
            let concrete = path.replace("{id}", "999").replace("{name}", "nope").replace("{scope}", "_").replace("{version}", "1.0.0");
            for (role, key) in &keys {
                // Creating keys succeeds for some roles; give a body that is valid but harmless.
                let body = if method == "POST" && path == "/keys" { r#"{"name":"m","role":"viewer"}"# } else { "" };
                let res = call(&h, &method, &format!("/api{concrete}"), key.as_deref(), body).await;
                let expect_allowed = match required(&method, path) {
                    None => true,
                    Some(perm) => role_has(role, perm),
                };
                let denied = res.status == 401 || res.status == 403;
                assert_eq!(!denied, expect_allowed, "{role} {method} {path}: got {} {}", res.status, res.body);
                if denied {
                    if key.is_none() {
                        assert_eq!((res.status, res.json()["code"].as_str()), (401, Some("AUTH_REQUIRED")), "{method} {path}");
                    } else {
                        assert_eq!((res.status, res.json()["code"].as_str()), (403, Some("PERMISSION_DENIED")), "{role} {method} {path}");
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 6 * 12, "only {checked} checks");
}

#[tokio::test]
async fn without_keys_or_master_the_api_is_open_but_csrf_still_applies() {
    let f = Fixture::new();
    let h = f.start().await;
    assert_eq!(get(&h, "/api/plugins").await.status, 200);
    let no_origin = send(http::Request::post(format!("{}/api/plugins/reload", h.url())).body(Body::empty()).unwrap()).await;
    assert_eq!((no_origin.status, no_origin.body.as_str()), (403, "Forbidden - Origin required"));
    let foreign = send(http::Request::post(format!("{}/api/plugins/reload", h.url())).header("origin", "https://evil.example").body(Body::empty()).unwrap()).await;
    assert_eq!((foreign.status, foreign.body.as_str()), (403, "Forbidden"));
    let forged = send(
        http::Request::post(format!("{}/api/plugins/reload", h.url())).header("x-buntime-internal", "true").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(forged.status, 403, "the internal header from outside must not skip CSRF");
    let same = send(http::Request::post(format!("{}/api/plugins/reload", h.url())).header("origin", h.url()).body(Body::empty()).unwrap()).await;
    assert_eq!(same.status, 200);
}

#[tokio::test]
async fn a_valid_key_is_exempt_from_csrf() {
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_MASTER_KEY", MASTER)]).await;
    let res = send(http::Request::post(format!("{}/api/plugins/reload", h.url())).header("authorization", format!("Bearer {MASTER}")).body(Body::empty()).unwrap()).await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn keys_never_let_a_request_skip_plugin_hooks() {
    let f = Fixture::new();
    f.plugin("a", "name: gate\naction: respond\n");
    let h = f.start_with(&[("RUNTIME_MASTER_KEY", MASTER)]).await;
    let res = send(http::Request::get(format!("{}/some-app/page", h.url())).header("x-api-key", MASTER).body(Body::empty()).unwrap()).await;
    assert_eq!((res.status, res.body.as_str()), (403, "blocked by gate"));
}

#[tokio::test]
async fn a_damaged_key_store_answers_503_while_liveness_stays_200() {
    let f = Fixture::new();
    let state = f.root.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("api-keys.db"), b"this is not a sqlite database at all, not even close....").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(state.join("api-keys.db"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let h = f.start_with(&[("RUNTIME_STATE_DIR", state.to_str().unwrap())]).await;
    let res = get(&h, "/api/plugins").await;
    assert_eq!(res.status, 503, "{}", res.body);
    assert_eq!(res.json()["code"], "KEY_STORE_UNAVAILABLE");
    assert!(res.body.contains("api-keys.db"), "the error names the file: {}", res.body);
    assert_eq!(get(&h, "/api/health/live").await.status, 200);
    assert_eq!(get(&h, "/api/health/ready").await.status, 200);
}

#[tokio::test]
async fn a_revoked_key_stops_working() {
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_MASTER_KEY", MASTER)]).await;
    let res = call(&h, "POST", "/api/keys", Some(MASTER), r#"{"name":"temp","role":"viewer"}"#).await;
    let key = res.json()["data"]["key"].as_str().unwrap().to_owned();
    let id = res.json()["data"]["id"].as_u64().unwrap();
    assert_eq!(call(&h, "GET", "/api/plugins", Some(&key), "").await.status, 200);
    assert_eq!(call(&h, "DELETE", &format!("/api/keys/{id}"), Some(MASTER), "").await.status, 200);
    assert_eq!(call(&h, "GET", "/api/plugins", Some(&key), "").await.status, 401);
}
