//! Attacks on the defaults, over a real socket: an API with no credentials configured, DNS
//! rebinding against the CSRF check, a key that would hide a public route, and clients that open
//! connections or start bodies and then go silent.

mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use support::{Fixture, get, send};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn post(h: &buntime_server::RuntimeHandle, path: &str, headers: &[(&str, &str)]) -> http::Request<Body> {
    let mut req = http::Request::post(format!("{}{path}", h.url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::empty()).unwrap()
}

fn host_of(h: &buntime_server::RuntimeHandle) -> String {
    h.url().trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn without_credentials_production_refuses_state_changes_with_a_way_out() {
    let f = Fixture::new();
    let h = f.start_with(&[("NODE_ENV", "production")]).await;
    // Origin equal to a Host the attacker chose: what used to let anyone upload an app.
    let origin = h.url();
    for path in ["/api/plugins/reload", "/api/keys", "/api/apps/upload"] {
        let got = send(post(&h, path, &[("origin", &origin), ("host", &host_of(&h))])).await;
        assert_eq!(got.status, 401, "{path}: {}", got.body);
        let body = got.json();
        assert_eq!(body["code"], "AUTH_NOT_CONFIGURED", "{path}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains("RUNTIME_MASTER_KEY") && msg.contains("buntime keys create"), "{msg}");
    }
    assert_eq!(get(&h, "/api/apps").await.status, 401);
    // Public routes stay public.
    assert_eq!(get(&h, "/api/plugins/loaded").await.status, 200);
    assert_eq!(get(&h, "/api/health/ready").await.status, 200);
}

#[tokio::test]
async fn in_development_only_this_machine_without_a_proxy_gets_in() {
    let f = Fixture::new();
    let h = f.start().await;
    let ok = send(post(&h, "/api/plugins/reload", &[("origin", &h.url())])).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // A local reverse proxy forwards remote clients: they are not "this machine".
    let proxied = send(post(&h, "/api/plugins/reload", &[("origin", &h.url()), ("x-forwarded-for", "203.0.113.7")])).await;
    assert_eq!(proxied.status, 401, "{}", proxied.body);
    assert_eq!(proxied.json()["code"], "AUTH_NOT_CONFIGURED");
}

#[tokio::test]
async fn dns_rebinding_and_https_origins_fail_the_csrf_check() {
    let f = Fixture::new();
    let h = f.start().await;
    let port = h.url().rsplit(':').next().unwrap().to_owned();
    // evil.example now resolves to 127.0.0.1: Host and Origin agree, both chosen by the attacker.
    let evil = format!("evil.example:{port}");
    let rebound = send(post(&h, "/api/plugins/reload", &[("host", &evil), ("origin", &format!("http://{evil}"))])).await;
    assert_eq!(rebound.status, 403, "{}", rebound.body);
    let https = send(post(&h, "/api/plugins/reload", &[("origin", &format!("https://127.0.0.1:{port}"))])).await;
    assert_eq!(https.status, 403, "{}", https.body);
    let localhost = send(post(&h, "/api/plugins/reload", &[("origin", &format!("http://localhost:{port}"))])).await;
    assert_eq!(localhost.status, 200, "{}", localhost.body);
}

#[tokio::test]
async fn a_configured_public_url_is_the_origin_browsers_may_use() {
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_PUBLIC_URL", "https://buntime.example.com")]).await;
    let got = send(post(&h, "/api/plugins/reload", &[("origin", "https://buntime.example.com"), ("host", "buntime.example.com")])).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let other = send(post(&h, "/api/plugins/reload", &[("origin", "https://other.example.com"), ("host", "other.example.com")])).await;
    assert_eq!(other.status, 403, "{}", other.body);
}

#[tokio::test]
async fn plugins_loaded_is_public_whatever_key_is_sent() {
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_MASTER_KEY", "m")]).await;
    let created = send(
        http::Request::post(format!("{}/api/keys", h.url()))
            .header("x-api-key", "m")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"name":"k","role":"custom","permissions":["keys:read"]}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.json()["data"]["key"].as_str().unwrap().to_owned();
    let got = send(http::Request::get(format!("{}/api/plugins/loaded", h.url())).header("x-api-key", key).body(Body::empty()).unwrap()).await;
    assert_eq!(got.status, 200, "{}", got.body);
}

#[tokio::test]
async fn hostile_key_names_are_refused() {
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_MASTER_KEY", "m")]).await;
    let long = "n".repeat(65);
    for (body, code) in [
        (format!(r#"{{"name":"{long}"}}"#), "INVALID_KEY_NAME"),
        (r#"{"name":"\u001b[31mred"}"#.to_owned(), "INVALID_KEY_NAME"),
        (format!(r#"{{"name":"ok","description":"{}"}}"#, "d".repeat(501)), "INVALID_KEY_DESCRIPTION"),
    ] {
        let got = send(
            http::Request::post(format!("{}/api/keys", h.url()))
                .header("x-api-key", "m")
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(got.status, 400, "{body}: {}", got.body);
        assert_eq!(got.json()["code"], code, "{body}");
    }
}

/// Reads until the server closes the connection (or 5 s pass); returns what arrived and when.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    (String::from_utf8_lossy(&buf).into_owned(), start.elapsed())
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_read_timeout() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_HEADER_READ_TIMEOUT_MS", "300")]).await;
    let addr = host_of(&h);
    // Connects and sends nothing.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (_, waited) = read_until_closed(&mut silent).await;
    assert!(waited < Duration::from_secs(3), "a silent connection stayed open {waited:?}");
    // Sends half a request head, slowloris style.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /web/ping HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (_, waited) = read_until_closed(&mut slow).await;
    assert!(waited < Duration::from_secs(3), "a half-sent head stayed open {waited:?}");
    // Keep-alive: one request answered, then idle.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (text, waited) = read_until_closed(&mut idle).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(waited < Duration::from_secs(3), "an idle keep-alive connection stayed open {waited:?}");
    // Others are served meanwhile and afterwards.
    assert_eq!(get(&h, "/api/health").await.status, 200);
}

#[tokio::test]
async fn a_body_that_stops_arriving_frees_its_request() {
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_BODY_READ_TIMEOUT_MS", "300"), ("RUNTIME_MASTER_KEY", "m")]).await;
    let mut stream = tokio::net::TcpStream::connect(host_of(&h)).await.unwrap();
    stream
        .write_all(b"POST /api/keys HTTP/1.1\r\nHost: x\r\nX-API-Key: m\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
        .await
        .unwrap();
    let (text, waited) = read_until_closed(&mut stream).await;
    assert!(waited < Duration::from_secs(3), "a stalled body held its request {waited:?}: {text}");
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    assert_eq!(get(&h, "/api/health").await.status, 200);
}

#[tokio::test]
async fn an_upload_refused_before_its_body_is_read_still_gets_its_answer() {
    // The race behind a flaky `buntime apps deploy` with a viewer key: the runtime answers 401/403
    // without reading the body and closes; without a lingering close, the client's next bytes
    // meet a TCP reset that can wipe the answer before the client reads it.
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_MASTER_KEY", "m")]).await;
    let body_len = 4 * 1024 * 1024;
    let mut stream = tokio::net::TcpStream::connect(host_of(&h)).await.unwrap();
    let head = format!(
        "POST /api/apps/upload HTTP/1.1\r\nHost: x\r\nX-API-Key: wrong\r\nContent-Type: application/octet-stream\r\nContent-Length: {body_len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Let the refusal be written and the server close its side before the body follows.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..body_len / chunk.len() {
        stream.write_all(&chunk).await.expect("the runtime reset the connection while the body was still being sent");
    }
    let (text, _) = read_until_closed(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 401"), "the refusal was lost: {text:?}");
    assert_eq!(get(&h, "/api/health").await.status, 200);
}
