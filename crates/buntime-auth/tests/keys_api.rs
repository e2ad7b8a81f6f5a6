//! The `/keys` endpoints through the router, wired the way the server is expected to wire them.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use buntime_auth::{AccessControl, Permission, Role, keys_router};
use buntime_core::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Fixture, body_json, write_store};
use tower::ServiceExt as _;

/// The server's expected gate: one call that authorizes and hands the principal to the handlers.
async fn gate(State(access): State<Arc<AccessControl>>, mut req: Request, next: Next) -> Response {
    let rel = req
        .uri()
        .path()
        .strip_prefix("/api")
        .unwrap_or("/")
        .to_owned();
    if let Err(denied) = access.check_request(&mut req, &rel) {
        return denied.into();
    }
    next.run(req).await
}

fn app(access: &Arc<AccessControl>) -> Router {
    Router::new()
        .nest("/api", keys_router(access.clone()))
        .layer(middleware::from_fn_with_state(access.clone(), gate))
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost:8000")
        .header("origin", "http://localhost:8000")
        .extension(buntime_core::ClientAddr("127.0.0.1:40000".parse().unwrap()));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let req = req
        .body(axum::body::Body::from(body.unwrap_or("").to_owned()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let text = support::body_string(res).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_first_key_can_be_created_locally_in_development_then_auth_is_on() {
    let fx = Fixture::new(None, false);
    let app = app(&fx.access);
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/keys",
        None,
        Some(r#"{"name":"root","role":"admin"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    let data = body["data"].as_object().unwrap();
    let mut fields: Vec<_> = data.keys().cloned().collect();
    fields.sort();
    assert_eq!(fields, ["id", "key", "keyPrefix", "name", "role"]);
    assert_eq!(data["id"], 1);
    assert_eq!(data["role"], "admin");
    let secret = data["key"].as_str().unwrap();
    assert_eq!(data["keyPrefix"], &secret[..12]);

    let (status, body) = call(&app, Method::GET, "/api/keys", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"code":"AUTH_REQUIRED","error":"Unauthorized"}));
    let (status, body) = call(&app, Method::GET, "/api/keys", Some(secret), None).await;
    assert_eq!(status, StatusCode::OK);
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = keys[0].as_object().unwrap();
    assert!(!k.contains_key("keyHash") && !k.contains_key("key") && !k.contains_key("revokedAt"));
    assert_eq!(k["permissions"].as_array().unwrap().len(), 12);
    assert!(k["createdAt"].as_u64().unwrap() > 1_600_000_000);
}

#[tokio::test]
async fn meta_lists_permissions_and_roles_in_order() {
    let fx = Fixture::new(None, false);
    let (status, body) = call(&app(&fx.access), Method::GET, "/api/keys/meta", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let perms: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        body,
        json!({"permissions": perms, "roles": ["admin","editor","viewer","custom"]})
    );
}

#[tokio::test]
async fn create_errors_are_400_with_their_codes() {
    let fx = Fixture::new(Some("m"), false);
    let app = app(&fx.access);
    let cases = [
        ("{not json", "INVALID_JSON"),
        ("", "INVALID_JSON"),
        (r#"{"role":"viewer"}"#, "MISSING_KEY_NAME"),
        (r#"{"name":"x","role":"owner"}"#, "INVALID_KEY_ROLE"),
        (r#"{"name":"x","role":"custom"}"#, "MISSING_PERMISSIONS"),
        (
            r#"{"name":"x","role":"custom","permissions":["keys:all"]}"#,
            "INVALID_PERMISSION",
        ),
        (r#"{"name":"x","expiresIn":"0y"}"#, "INVALID_EXPIRATION"),
        (r#"{"name":"x","expiresIn":"10h"}"#, "INVALID_EXPIRATION"),
    ];
    for (body, code) in cases {
        let (status, json) = call(&app, Method::POST, "/api/keys", Some("m"), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert_eq!(json["success"], false);
        assert_eq!(json["code"], code, "{body}");
        assert!(json["message"].is_string());
    }
}

#[tokio::test]
async fn a_key_cannot_mint_or_revoke_more_than_it_holds() {
    let fx = Fixture::new(None, false);
    let minter = fx.key(
        Role::Custom,
        &[
            Permission::KeysCreate,
            Permission::KeysRevoke,
            Permission::AppsRead,
        ],
    );
    let admin_id = 2;
    fx.key(Role::Admin, &[]);
    let app = app(&fx.access);
    let ok = r#"{"name":"reader","role":"custom","permissions":["apps:read"]}"#;
    let (status, body) = call(&app, Method::POST, "/api/keys", Some(&minter), Some(ok)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        fx.access.store().get(3).unwrap().unwrap().created_by,
        Some(1)
    );
    for body in [
        r#"{"name":"x","role":"admin"}"#,
        r#"{"name":"x","role":"custom","permissions":["apps:read","apps:remove"]}"#,
    ] {
        let (status, json) = call(&app, Method::POST, "/api/keys", Some(&minter), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {json}");
        assert_eq!(json["code"], "PERMISSION_DENIED");
    }
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/keys/{admin_id}"),
        Some(&minter),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, Method::DELETE, "/api/keys/3", Some(&minter), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn master_can_create_anything_and_revoke_follows_the_contract() {
    let fx = Fixture::new(Some("m"), false);
    let app = app(&fx.access);
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/keys",
        Some("m"),
        Some(r#"{"name":"a","role":"admin","expiresIn":"1y","description":"ops"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["data"]["id"], 1);
    for (path, status, code) in [
        ("/api/keys/abc", StatusCode::BAD_REQUEST, "INVALID_KEY_ID"),
        ("/api/keys/0", StatusCode::BAD_REQUEST, "INVALID_KEY_ID"),
        ("/api/keys/-1", StatusCode::BAD_REQUEST, "INVALID_KEY_ID"),
        ("/api/keys/meta", StatusCode::BAD_REQUEST, "INVALID_KEY_ID"),
        ("/api/keys/99", StatusCode::NOT_FOUND, "API_KEY_NOT_FOUND"),
    ] {
        let (got, json) = call(&app, Method::DELETE, path, Some("m"), None).await;
        assert_eq!(
            (got, json["code"].as_str().unwrap()),
            (status, code),
            "{path}"
        );
    }
    let (status, body) = call(&app, Method::DELETE, "/api/keys/1", Some("m"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (status, body) = call(&app, Method::DELETE, "/api/keys/1", Some("m"), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("API_KEY_NOT_FOUND"))
    );
    let (_, body) = call(&app, Method::GET, "/api/keys", Some("m"), None).await;
    assert_eq!(body, json!({"keys": []}));
}

#[tokio::test]
async fn a_damaged_store_answers_503_json() {
    let tmp = tempfile::tempdir().unwrap();
    write_store(
        tmp.path(),
        b"garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage",
        0o600,
    );
    let access = Arc::new(AccessControl::new(
        Arc::new(buntime_auth::KeyStore::new(tmp.path())),
        Some("m".to_owned()),
        false,
    ));
    let (status, body) = call(&app(&access), Method::GET, "/api/keys", Some("m"), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "KEY_STORE_UNAVAILABLE");
    assert!(body["message"].as_str().unwrap().contains("api-keys.db"));
}

#[tokio::test]
async fn handlers_refuse_anonymous_callers_when_auth_is_on_even_without_the_gate() {
    let fx = Fixture::new(None, false);
    fx.key(Role::Admin, &[]);
    let bare = keys_router(fx.access.clone());
    let req = http::Request::builder()
        .method(Method::GET)
        .uri("/keys")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = bare.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(res).await["code"], "AUTH_REQUIRED");
}
