//! Shared helpers: a real upstream (axum on 127.0.0.1:0) and the proxy plugin from its shipped
//! manifest, with KeyVal and the database plugin behind it when a test needs dynamic rules.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use buntime_core::access::{AccessGate, ApiAccess};
use buntime_plugin_proxy::ProxyPlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use http::Method;
use serde_json::{Value, json};

pub const MANIFEST: &str = include_str!("../../manifest.yaml");
pub const KEYVAL: &str = include_str!("../../../plugin-keyval/manifest.yaml");
pub const DATABASE: &str = include_str!("../../../plugin-database/manifest.yaml");

/// An upstream on 127.0.0.1: `/echo/**` answers what it received as JSON, `/page` serves HTML,
/// `/slow` waits 5 s, `/ws` echoes WebSocket messages, `/go` redirects to `http://{Host}/echo/done`.
pub async fn upstream() -> SocketAddr {
    let echo = |req: Request| async move {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or_default())))
            .collect();
        let method = req.method().to_string();
        let uri = req.uri().to_string();
        let body = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        axum::Json(
            json!({"method": method, "uri": uri, "headers": headers, "body": String::from_utf8_lossy(&body)}),
        )
    };
    let page = || async {
        (
            [
                ("content-type", "text/html; charset=utf-8"),
                ("connection", "x-upstream-hop"),
                ("x-upstream-hop", "1"),
            ],
            r#"<html><head><title>t</title></head><body><script src="/app.js"></script><a href="//cdn.example/x">cdn</a></body></html>"#,
        )
    };
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    };
    let ws = |ws: WebSocketUpgrade| async move {
        ws.on_upgrade(|mut socket| async move {
            while let Some(Ok(msg)) = socket.recv().await {
                let reply = match msg {
                    Message::Text(t) if t.as_str() == "bye" => {
                        Message::Close(Some(axum::extract::ws::CloseFrame {
                            code: 4003,
                            reason: "upstream says bye".into(),
                        }))
                    }
                    Message::Text(_) | Message::Binary(_) => msg,
                    _ => continue,
                };
                if socket.send(reply).await.is_err() {
                    return;
                }
            }
        })
        .into_response()
    };
    // A redirect to the upstream's own absolute URL, built from the `Host` it was sent, as apps do.
    let go = |headers: http::HeaderMap| async move {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("unknown").to_owned();
        (http::StatusCode::FOUND, [("location", format!("http://{host}/echo/done?from=go"))], "")
    };
    let app = Router::new()
        .route("/go", get(go))
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route("/page", get(page))
        .route("/slow", get(slow))
        .route("/ws", get(ws));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A port nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped manifest with `rules` (and any other top-level keys) replaced by `extra`.
pub fn manifest(extra: &str) -> String {
    let replaced: Vec<&str> = extra
        .lines()
        .filter(|l| !l.starts_with([' ', '-', '#']) && l.contains(':'))
        .filter_map(|l| l.split(':').next())
        .collect();
    let mut out = String::new();
    let mut skipping = false;
    for line in MANIFEST.lines() {
        if !line.starts_with([' ', '-', '#']) && line.contains(':') {
            skipping = replaced.contains(&line.split(':').next().unwrap_or_default());
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    format!("{out}{extra}\n")
}

/// Lets every call through, except those carrying `x-test-deny` (answered 403).
#[derive(Debug)]
pub struct FakeAccess;

impl ApiAccess for FakeAccess {
    fn check(
        &self,
        parts: &http::request::Parts,
        permissions: &[&str],
    ) -> Result<(), buntime_core::Response> {
        if parts.headers.contains_key("x-test-deny") {
            let mut res = buntime_core::Response::new(Body::from(format!(
                "denied: needs {}",
                permissions.join(",")
            )));
            *res.status_mut() = http::StatusCode::FORBIDDEN;
            return Err(res);
        }
        Ok(())
    }
}

/// The proxy alone (static rules only).
pub async fn start(extra: &str) -> StartedHarness {
    PluginHarness::new(&manifest(extra), ProxyPlugin::new)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The proxy with KeyVal (and the database plugin) keeping state in `state`.
pub async fn start_with_keyval(state: &std::path::Path, extra: &str) -> StartedHarness {
    PluginHarness::new(&manifest(extra), ProxyPlugin::new)
        .with_plugin(DATABASE, buntime_plugin_database::DatabasePlugin::new)
        .with_plugin(KEYVAL, buntime_plugin_keyval::KeyvalPlugin::new)
        .env("RUNTIME_STATE_DIR", state.to_str().unwrap())
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sends `method path` with a JSON body (when given) through the access gate.
pub async fn call(
    h: &StartedHarness,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "runtime.test");
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut req = b.body(body).unwrap();
    req.extensions_mut()
        .insert(AccessGate(Arc::new(FakeAccess)));
    h.send(req).await
}
