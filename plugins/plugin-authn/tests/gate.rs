//! The `on_request` gate: 302 for browsers, JSON 401 for API clients, `X-Identity` from sessions
//! and API keys, public routes (the plugin's own, apps', the proxy's).

mod support;

use http::header;
use serde_json::json;
use support::{start, start_with};

const KEYS: &str = "apiKeys:\n  - { key: \"machine-key-0123456789\", name: ci, roles: [deployer] }\n  - { key: \"other-key-0123456789ab\", name: bot }\n";

#[tokio::test]
async fn browsers_are_sent_to_the_login_page_with_their_path() {
    let a = start().await;
    let res = a
        .get(
            "/echo/dash?tab=2&x=a%20b",
            &[("accept", "text/html,application/xhtml+xml")],
        )
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.headers[header::LOCATION],
        "/auth/login?redirect=%2Fecho%2Fdash%3Ftab%3D2%26x%3Da%2520b"
    );
}

#[tokio::test]
async fn a_custom_login_path_is_used() {
    let a = start_with("loginPath: /signin\n", &[]).await;
    let res = a.get("/echo/x", &[("sec-fetch-mode", "navigate")]).await;
    assert_eq!(
        res.headers[header::LOCATION],
        "/signin?redirect=%2Fecho%2Fx"
    );
}

#[tokio::test]
async fn api_clients_get_json_401() {
    let a = start().await;
    for accept in ["application/json", "*/*", ""] {
        let res = a.get("/echo/data", &[("accept", accept)]).await;
        assert_eq!(res.status, 401, "accept {accept:?}");
        assert_eq!(res.json(), json!({"error": "Unauthorized"}));
    }
    let post = a
        .send(
            http::Method::POST,
            "/echo/data",
            Some(json!({})),
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(
        post.status, 401,
        "a form post is not a navigation to redirect"
    );
}

#[tokio::test]
async fn a_session_reaches_the_route_as_x_identity() {
    let a = start().await;
    let cookie = a.user("ann@example.com").await;
    let res = a.echo(&cookie).await;
    assert_eq!(res.status, 200);
    let id = &res.json()["identity"];
    assert!(id["sub"].as_str().unwrap().len() >= 32);
    assert_eq!(id["roles"], json!([]));
    assert_eq!(id["groups"], json!([]));
    assert_eq!(id["claims"]["email"], "ann@example.com");
    assert_eq!(id["claims"]["name"], "Ann");
}

#[tokio::test]
async fn api_keys_grant_their_identity_and_wrong_keys_get_401() {
    let a = start_with(KEYS, &[]).await;
    let res = a
        .get("/echo/x", &[("x-api-key", "machine-key-0123456789")])
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json()["identity"],
        json!({"id": "apikey:ci", "name": "ci", "roles": ["deployer"]})
    );
    let res = a
        .get("/echo/x", &[("x-api-key", "other-key-0123456789ab")])
        .await;
    assert_eq!(
        res.json()["identity"]["roles"],
        json!(["api-client"]),
        "default roles"
    );
    let res = a
        .get("/echo/x", &[("x-api-key", "machine-key-012345678")])
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json(), json!({"error": "Invalid API key"}));
    let res = a.get("/echo/public/x", &[("x-api-key", "wrong")]).await;
    assert_eq!(res.status, 200, "a public route stays public");
    assert_eq!(res.json()["identity"], json!(null));
}

#[tokio::test]
async fn public_routes_pass_without_a_session() {
    let a = start().await;
    let res = a.get("/echo/public/feed", &[]).await;
    assert_eq!(res.status, 200, "the app's publicRoutes");
    assert_eq!(res.json()["identity"], json!(null));
    let res = a.get("/auth/api/providers", &[]).await;
    assert_eq!(res.status, 200, "the plugin's own routes");
    let res = a
        .get("/proxied/open/thing", &[("accept", "application/json")])
        .await;
    assert_eq!(
        res.status, 404,
        "the proxy says it is public: the gate lets it through to routing"
    );
    let res = a
        .get("/proxied/closed/thing", &[("accept", "application/json")])
        .await;
    assert_eq!(res.status, 401);
}

#[tokio::test]
async fn a_session_on_a_public_route_still_identifies_the_user() {
    let a = start().await;
    let cookie = a.user("ann@example.com").await;
    let res = a.get("/echo/public/feed", &[("cookie", &cookie)]).await;
    assert_eq!(res.json()["identity"]["claims"]["email"], "ann@example.com");
}
