//! Warm (ttl > 0) workers through a real pool with real Bun workers.

#[path = "support/helpers.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buntime_apps::Dispatcher;
use buntime_core::app::PoolView;
use buntime_pool::WorkerEventKind;
use http::StatusCode;
use http_body_util::BodyExt;
use support::*;

#[tokio::test]
async fn warm_requests_reuse_one_worker() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let (s1, id1) = get(&pool, &spec, "/id").await;
    let (s2, id2) = get(&pool, &spec, "/id").await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert!(!id1.is_empty());
    assert_eq!(id1, id2);
    let m = pool.metrics();
    assert_eq!((m["hits"].as_u64(), m["misses"].as_u64(), m["totalWorkersCreated"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(pool.worker_stats()["kitchen@1.0.0"]["requestCount"], 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn twenty_concurrent_cold_requests_start_one_worker() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut events = pool.subscribe();
    let spec = Arc::new(spec("kitchen"));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (pool, spec) = (pool.clone(), spec.clone());
        tasks.push(tokio::spawn(async move { get(&pool, &spec, "/id").await }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 1, "all requests share one worker");
    assert_eq!(pool.metrics()["totalWorkersCreated"], 1);
    let ev = events.try_recv().unwrap();
    assert_eq!((ev.kind, ev.key.as_str(), ev.ephemeral), (WorkerEventKind::Spawned, "kitchen@1.0.0", false));
    assert!(events.try_recv().is_err(), "exactly one spawn");
    pool.shutdown().await;
}

#[tokio::test]
async fn an_unused_worker_expires_after_its_sliding_ttl() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut events = pool.subscribe();
    let mut s = spec("kitchen");
    s.ttl = Duration::from_millis(700);
    s.idle_timeout = Duration::from_millis(700);
    s.timeout = Duration::from_millis(500);
    let spec = Arc::new(s);
    let (_, first) = get(&pool, &spec, "/id").await;
    // Requests within the ttl keep it alive (sliding).
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(get(&pool, &spec, "/id").await.1, first);
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, second) = get(&pool, &spec, "/id").await;
    assert_ne!(first, second);
    let mut reasons = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if ev.kind == WorkerEventKind::Terminated {
            reasons.push(ev.reason);
        }
    }
    assert_eq!(reasons, ["expired"]);
    pool.shutdown().await;
}

#[tokio::test]
async fn max_requests_recycles_the_worker() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("kitchen");
    s.max_requests = 2;
    let spec = Arc::new(s);
    let a = get(&pool, &spec, "/id").await.1;
    let b = get(&pool, &spec, "/id").await.1;
    let c = get(&pool, &spec, "/id").await.1;
    assert_eq!(a, b);
    assert_ne!(b, c);
    pool.shutdown().await;
}

#[tokio::test]
async fn idle_timeout_runs_on_idle_and_shutdown_runs_on_terminate() {
    let Some(bun) = bun() else { return };
    let t = tempfile::tempdir().unwrap();
    let idle = t.path().join("idle");
    let term = t.path().join("term");
    let pool = pool(config(bun));
    let mut s = spec("kitchen");
    s.idle_timeout = Duration::from_millis(300);
    s.env.insert("IDLE_FILE".into(), idle.display().to_string());
    s.env.insert("TERM_FILE".into(), term.display().to_string());
    let spec = Arc::new(s);
    let (_, id) = get(&pool, &spec, "/id").await;
    // `writeFileSync` creates the file before it writes to it, so wait for the content,
    // not for the file: an empty read here is the hook still writing.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut written = String::new();
    while written.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        written = std::fs::read_to_string(&idle).unwrap_or_default();
    }
    assert_eq!(written, format!("idle {id}"));
    pool.shutdown().await;
    assert_eq!(std::fs::read_to_string(&term).unwrap(), format!("terminated {id}"));
}

#[tokio::test]
async fn server_sent_events_arrive_as_they_are_written() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    get(&pool, &spec, "/id").await; // warm up
    let t0 = Instant::now();
    let res = pool.dispatch(spec.clone(), request("GET", "/sse", "")).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut arrivals = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            arrivals.push((t0.elapsed(), String::from_utf8_lossy(&data).into_owned()));
        }
    }
    let all: String = arrivals.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(all, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    // The app writes an event every 250 ms: the first must arrive well before the last.
    let spread = arrivals.last().map(|a| a.0).unwrap_or_default() - arrivals[0].0;
    assert!(arrivals.len() >= 2 && spread >= Duration::from_millis(300), "events arrived as written: {arrivals:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn repeated_set_cookie_headers_survive() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let (status, headers, _) = send(&pool, &spec, "GET", "/cookies", "").await;
    assert_eq!(status, StatusCode::OK);
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/"]);
    assert_eq!(headers["x-custom"], "yes");
    pool.shutdown().await;
}

#[tokio::test]
async fn the_worker_env_is_exactly_the_app_env_plus_fixed_keys() {
    let Some(bun) = bun() else { return };
    let mut cfg = config(bun);
    // The hosts get PATH/HOME only; a secret in the runtime's own env must never reach an app.
    cfg.host_env.push(("DATABASE_PASSWORD".into(), "hunter2".into()));
    cfg.worker_env.node_env = "test".into();
    let pool = pool(cfg);
    let mut s = spec("kitchen");
    s.env.insert("APP_SETTING".into(), "on".into());
    s.env.insert("APP_DIR".into(), "spoofed".into());
    s.config_json = serde_json::json!({"ttl": 60});
    let spec = Arc::new(s);
    let (status, body) = get(&pool, &spec, "/env").await;
    assert_eq!(status, StatusCode::OK);
    let env: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&body).unwrap();
    let mut keys: Vec<_> = env.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "APP_DIR",
            "APP_SETTING",
            "ENTRYPOINT",
            "NODE_ENV",
            "RUNTIME_API_URL",
            "RUNTIME_LOG_LEVEL",
            "RUNTIME_PLUGIN_DIRS",
            "RUNTIME_WORKER_DIRS",
            "WORKER_CONFIG",
            "WORKER_ID"
        ]
    );
    assert_eq!(env["APP_SETTING"], "on");
    assert_eq!(env["APP_DIR"], fixture("kitchen").display().to_string());
    assert_eq!(env["NODE_ENV"], "test");
    assert_eq!(env["WORKER_CONFIG"], "{\"ttl\":60}");
    assert!(!body.contains("hunter2") && !body.contains("CARGO_"));
    pool.shutdown().await;
}

#[tokio::test]
async fn eviction_waits_for_in_flight_requests() {
    let Some(bun) = bun() else { return };
    let mut cfg = config(bun);
    cfg.pool_size = 1;
    let pool = pool(cfg);
    let mut events = pool.subscribe();
    let a = Arc::new(spec("kitchen"));
    let mut b = spec("routes");
    b.key = "routes@1.0.0".into();
    let b = Arc::new(b);
    get(&pool, &a, "/id").await;
    let slow = {
        let (pool, a) = (pool.clone(), a.clone());
        tokio::spawn(async move { get(&pool, &a, "/slow?ms=800").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(&pool, &b, "/static").await, (StatusCode::OK, "static response".to_owned()));
    assert_eq!(pool.metrics()["evictions"], 1);
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK, "the evicted worker finished its request: {body}");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut terminated = None;
    while terminated.is_none() && Instant::now() < deadline {
        match events.try_recv() {
            Ok(ev) if ev.kind == WorkerEventKind::Terminated => terminated = Some(ev),
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let ev = terminated.expect("the evicted worker was terminated");
    assert_eq!((ev.key.as_str(), ev.reason.as_str()), ("kitchen@1.0.0", "evicted"));
    pool.shutdown().await;
}

#[tokio::test]
async fn every_routes_shape_is_served_with_fetch_as_fallback() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("routes"));
    let cases = [
        ("GET", "/static", "", 200, "static response"),
        ("GET", "/blob", "", 200, "blob body"),
        ("GET", "/file", "", 200, "static file\n"),
        ("GET", "/users/42", "", 200, "user 42"),
        ("GET", "/items", "", 200, "list items"),
        ("POST", "/items", "pen", 201, "created pen"),
        ("GET", "/other", "", 200, "fallback /other"),
    ];
    for (method, path, body, status, text) in cases {
        let (s, _, b) = send(&pool, &spec, method, path, body).await;
        assert_eq!((s.as_u16(), b.as_str()), (status, text), "{method} {path}");
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn bodies_are_echoed_and_oversized_ones_get_413() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("kitchen");
    s.max_body_bytes = 2048;
    let spec = Arc::new(s);
    let payload = "x".repeat(1024);
    let res = pool.dispatch(spec.clone(), request("POST", "/echo", payload.clone())).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), payload.as_bytes());
    let big = request("POST", "/echo", "y".repeat(4096));
    let res = pool.dispatch(spec.clone(), big).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The base path reaches the app as `x-base`.
    assert_eq!(get(&pool, &spec, "/base").await.1, "/kitchen");
    pool.shutdown().await;
}

#[tokio::test]
async fn retire_drains_and_the_next_request_starts_a_fresh_worker() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let (_, first) = get(&pool, &spec, "/id").await;
    let slow = {
        let (pool, spec) = (pool.clone(), spec.clone());
        tokio::spawn(async move { get(&pool, &spec, "/slow?ms=400").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    pool.retire("kitchen@1.0.0").await;
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    let (_, second) = get(&pool, &spec, "/id").await;
    assert_ne!(first, second);
    assert_eq!(pool.worker_stats()["kitchen@1.0.0"]["lastRequestCount"], 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn isolated_low_memory_and_shared_apps_run_in_different_hosts() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let shared = Arc::new(spec("kitchen"));
    let mut iso = spec("kitchen");
    iso.key = "isolated@1.0.0".into();
    iso.isolated = true;
    let iso = Arc::new(iso);
    let mut smol = spec("kitchen");
    smol.key = "smol@1.0.0".into();
    smol.low_memory = true;
    let smol = Arc::new(smol);
    let p1 = get(&pool, &shared, "/pid").await.1;
    let p2 = get(&pool, &iso, "/pid").await.1;
    let p3 = get(&pool, &smol, "/pid").await.1;
    assert!(p1 != p2 && p2 != p3 && p1 != p3, "{p1} {p2} {p3}");
    pool.shutdown().await;
}

#[tokio::test]
async fn html_responses_get_the_base_tag_and_public_env() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("kitchen");
    s.inject_base = true;
    s.public_env.insert("PUBLIC_API".into(), "</script><b>".into());
    let spec = Arc::new(s);
    let (status, html) = get(&pool, &spec, "/html").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        html,
        "<html><head><base href=\"/kitchen/\" /><title>t</title><script>window.__env__={\"PUBLIC_API\":\"<\\/script><b>\"};</script></head><body>hi</body></html>"
    );
    // Non-HTML responses are untouched.
    assert_eq!(get(&pool, &spec, "/id").await.0, StatusCode::OK);
    pool.shutdown().await;
}

#[tokio::test]
async fn connections_to_a_worker_are_kept_alive_and_reused() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    for _ in 0..30 {
        assert_eq!(get(&pool, &spec, "/id").await.0, StatusCode::OK);
    }
    // A response whose body the client drops half-way must not poison the pool.
    let res = pool.dispatch(spec.clone(), request("GET", "/sse", "")).await;
    drop(res);
    for _ in 0..10 {
        let (status, _, body) = send(&pool, &spec, "POST", "/echo", "ping").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ping"));
    }
    let opened = pool.connections_opened("kitchen@1.0.0");
    assert!(opened <= 3, "40 sequential requests opened {opened} connections");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_cold_request_cancelled_mid_start_leaves_its_worker_for_the_next_one() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let cancelled = tokio::time::timeout(Duration::from_millis(2), pool.dispatch(spec.clone(), request("GET", "/id", ""))).await;
    assert!(cancelled.is_err(), "the start takes longer than 2 ms");
    assert_eq!(get(&pool, &spec, "/id").await.0, StatusCode::OK);
    assert_eq!(pool.metrics()["totalWorkersCreated"], 1, "no second worker");
    assert_eq!(pool.live_workers(), 1, "none left behind");
    pool.shutdown().await;
}
