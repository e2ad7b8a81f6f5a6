//! Hot reload and shutdown: atomic swaps, refused reloads, draining, serialized reloads.

mod support;

use std::time::Duration;

use support::{Fixture, get, post};

#[tokio::test]
async fn reload_swaps_in_new_plugins_and_retires_the_old_generation() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\nversion: \"1.0.0\"\n");
    let h = f.start().await;
    assert_eq!(get(&h, "/web/echo").await.generation(), 1);
    f.plugin("b", "name: extra\nbase: /extra\nroutes: true\n");
    let res = post(&h, "/api/plugins/reload").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["generation"], 2);
    assert_eq!(body["plugins"][0], serde_json::json!({"name": "web", "version": "1.0.0", "base": "/web"}));
    assert_eq!(body["plugins"][1]["name"], "extra");
    let res = get(&h, "/extra/echo").await;
    assert_eq!((res.status, res.generation()), (200, 2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(f.journal.matching("shutdown:"), vec!["shutdown:web:1"], "the old instance shuts down once");
    assert_eq!(f.journal.matching("server_start:"), vec!["server_start:web:1", "server_start:web:2", "server_start:extra:2"]);
}

#[tokio::test]
async fn a_failed_reload_keeps_the_old_generation_serving_and_lists_every_error() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    f.plugin("b", "name: broken\nbase: nope\nenabled: 3\n").plugin("c", "name: failing\ninitFail: true\n").plugin("d", "name: needy\ndependencies: [ghost]\n");
    let res = post(&h, "/api/plugins/reload").await;
    assert_eq!(res.status, 422);
    let body = res.json();
    assert_eq!(body["ok"], false);
    assert_eq!(body["generation"], 1);
    let errors = body["errors"].as_array().unwrap();
    let text = body["errors"].to_string();
    assert!(errors.len() >= 4, "{text}");
    assert!(text.contains("manifest.yaml") && text.contains("\"key\":\"base\"") && text.contains("\"key\":\"enabled\""), "{text}");
    assert!(text.contains("database unreachable") && text.contains("ghost"), "{text}");
    let res = get(&h, "/web/echo").await;
    assert_eq!((res.status, res.generation()), (200, 1), "the old generation keeps serving");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(f.journal.matching("shutdown:web:1").is_empty(), "the live plugin must not be shut down");
    assert_eq!(f.journal.matching("init:web:2").len(), 1, "the refused generation did initialise `web`");
    assert_eq!(f.journal.matching("shutdown:web:2").len(), 1, "so it released it again");
}

#[tokio::test]
async fn a_request_in_flight_finishes_on_its_generation_and_the_old_plugin_shuts_down_after() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let url = h.url();
    let slow = tokio::spawn(async move {
        support::send(http::Request::get(format!("{url}/web/slow?ms=600")).body(axum::body::Body::empty()).unwrap()).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reload = post(&h, "/api/plugins/reload").await;
    assert_eq!(reload.status, 200);
    assert_eq!(get(&h, "/web/echo").await.generation(), 2, "new requests go to the new generation");
    assert!(f.journal.matching("shutdown:web:1").is_empty(), "old plugin must wait for its in-flight request");
    let res = slow.await.unwrap();
    assert_eq!((res.status, res.body.as_str(), res.generation()), (200, "slow done", 1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.journal.matching("shutdown:web:1").len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_reloads_are_serialized() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = std::sync::Arc::new(f.start().await);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move { post(&h, "/api/plugins/reload").await }));
    }
    let mut generations = Vec::new();
    for t in tasks {
        let res = t.await.unwrap();
        assert_eq!(res.status, 200, "{}", res.body);
        generations.push(res.json()["generation"].as_u64().unwrap());
    }
    generations.sort_unstable();
    assert_eq!(generations, (2..=21).collect::<Vec<u64>>(), "each reload got its own generation");
    assert_eq!(get(&h, "/web/echo").await.generation(), 21);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut shut: Vec<u64> = f.journal.matching("shutdown:web:").iter().map(|e| e.rsplit(':').next().unwrap().parse().unwrap()).collect();
    shut.sort_unstable();
    assert_eq!(shut, (1..=20).collect::<Vec<u64>>(), "every old generation shut down exactly once");
}

#[tokio::test]
async fn requests_under_load_never_fail_during_reloads() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n").plugin("b", "name: gate\n");
    let h = std::sync::Arc::new(f.start().await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (h, stop) = (h.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut failures = 0;
            let mut total = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                total += 1;
                if get(&h, "/web/echo").await.status != 200 {
                    failures += 1;
                }
            }
            (total, failures)
        }));
    }
    for _ in 0..15 {
        assert_eq!(post(&h, "/api/plugins/reload").await.status, 200);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for t in load {
        let (n, failures) = t.await.unwrap();
        assert_eq!(failures, 0);
        total += n;
    }
    assert!(total > 15, "load ran alongside the reloads ({total} requests)");
}

#[tokio::test]
async fn reload_removes_deleted_plugins_and_runs_their_shutdown() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n").plugin("b", "name: gone\nbase: /gone\nroutes: true\n");
    let h = f.start().await;
    assert_eq!(get(&h, "/gone/echo").await.status, 200);
    f.remove("b");
    assert_eq!(post(&h, "/api/plugins/reload").await.status, 200);
    assert_eq!(get(&h, "/gone/echo").await.status, 404);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(f.journal.matching("shutdown:gone:1").len(), 1);
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_then_runs_on_shutdown() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let url = h.url();
    let slow = tokio::spawn(async move { support::send(http::Request::get(format!("{url}/web/slow?ms=400")).body(axum::body::Body::empty()).unwrap()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.shutdown().await.unwrap();
    let res = slow.await.unwrap();
    assert_eq!((res.status, res.body.as_str()), (200, "slow done"), "the in-flight request finished");
    assert_eq!(f.journal.matching("shutdown:web:1").len(), 1);
}

#[tokio::test]
async fn placeholders_are_substituted_at_load_and_an_unset_one_refuses_the_reload() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\nversion: \"${WEB_VERSION}\"\nlabel: \"${WEB_LABEL:-plain}\"\n");
    let h = f.start_with(&[("WEB_VERSION", "2.5.0")]).await;
    let res = post(&h, "/api/plugins/reload").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["plugins"][0]["version"], "2.5.0");
    f.plugin("b", "name: oauth\nproviders:\n  - type: google\n    clientSecret: \"${GOOGLE_CLIENT_SECRET}\"\n");
    let res = post(&h, "/api/plugins/reload").await;
    assert_eq!(res.status, 422, "{}", res.body);
    let body = res.json();
    assert_eq!(body["generation"], 2, "the old generation stays");
    let error = body["errors"].as_array().unwrap().iter().find(|e| e["key"] == "providers[0].clientSecret").unwrap_or_else(|| panic!("{body}"));
    let message = error["message"].as_str().unwrap();
    assert!(error["file"].as_str().unwrap().ends_with("b/manifest.yaml"), "{error}");
    assert!(message.contains("`GOOGLE_CLIENT_SECRET` is not set"), "{message}");
    let res = get(&h, "/web/echo").await;
    assert_eq!((res.status, res.generation()), (200, 2), "the old generation keeps serving");
}

#[tokio::test]
async fn an_event_stream_ends_at_reload_so_its_client_reconnects_to_the_new_generation() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_SHUTDOWN_GRACE_MS", "20000")]).await;
    let mut sse = tokio::net::TcpStream::connect(h.url().trim_start_matches("http://")).await.unwrap();
    sse.write_all(b"GET /web/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: 1") {
        let n = tokio::time::timeout(Duration::from_secs(3), sse.read(&mut buf)).await.expect("events arrive").unwrap();
        assert!(n > 0, "the stream ended before the reload");
        seen.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&seen).into_owned();
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("x-buntime-generation: 1"), "{head}");
    assert_eq!(post(&h, "/api/plugins/reload").await.status, 200);
    // The stream ends cleanly (chunked terminator, then the close asked for), well inside the
    // 20 s grace, and the old plugin shuts down right after instead of at the end of the grace.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), sse.read_to_end(&mut rest))
        .await
        .expect("the event stream of the replaced generation kept going after the reload")
        .unwrap();
    assert!(String::from_utf8_lossy(&rest).ends_with("0\r\n\r\n"), "not a clean end: {:?}", String::from_utf8_lossy(&rest));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(f.journal.matching("shutdown:web:1").len(), 1, "the old generation is retired once its stream ended");
    // A reconnecting client gets the new generation.
    let mut again = tokio::net::TcpStream::connect(h.url().trim_start_matches("http://")).await.unwrap();
    again.write_all(b"GET /web/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let n = again.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("x-buntime-generation: 2"));
}
