//! Ephemeral (ttl = 0) workers: one fresh worker per request behind the global gate.

#[path = "support/helpers.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buntime_apps::Dispatcher;
use buntime_core::app::PoolView;
use buntime_pool::WorkerEventKind;
use http::StatusCode;
use support::*;

fn ephemeral(name: &str) -> buntime_apps::WorkerSpec {
    let mut s = spec(name);
    s.key = format!("{name}-eph@1.0.0");
    s.ttl = Duration::ZERO;
    s
}

#[tokio::test]
async fn every_ephemeral_request_gets_a_fresh_worker_that_is_then_terminated() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut events = pool.subscribe();
    let spec = Arc::new(ephemeral("kitchen"));
    let (s1, a) = get(&pool, &spec, "/id").await;
    let (s2, b) = get(&pool, &spec, "/id").await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_ne!(a, b);
    let deadline = Instant::now() + Duration::from_secs(3);
    let (mut spawned, mut terminated) = (0, 0);
    while terminated < 2 && Instant::now() < deadline {
        match events.try_recv() {
            Ok(ev) if ev.kind == WorkerEventKind::Spawned => spawned += 1,
            Ok(ev) => {
                assert_eq!(ev.reason, "completed");
                terminated += 1;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert_eq!((spawned, terminated), (2, 2));
    let stats = pool.worker_stats();
    assert_eq!(stats["kitchen-eph@1.0.0"]["status"], "ephemeral");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_saturated_gate_answers_503_with_retry_after() {
    let Some(bun) = bun() else { return };
    let mut cfg = config(bun);
    cfg.ephemeral_concurrency = 1;
    cfg.ephemeral_queue_limit = 1;
    let pool = pool(cfg);
    let spec = Arc::new(ephemeral("kitchen"));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (pool, spec) = (pool.clone(), spec.clone());
        tasks.push(tokio::spawn(async move { send(&pool, &spec, "GET", "/slow?ms=600", "").await }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, headers, body) = send(&pool, &spec, "GET", "/id", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(code(&body), "EPHEMERAL_WORKER_QUEUE_SATURATED");
    let details: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(details["details"]["maxConcurrency"], 1);
    assert_eq!(details["details"]["pending"], 1);
    for t in tasks {
        assert_eq!(t.await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(pool.metrics()["ephemeralQueueDepth"], 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn ephemeral_workers_never_share_a_host_with_warm_apps() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let warm = Arc::new(spec("kitchen"));
    let eph = Arc::new(ephemeral("kitchen"));
    let warm_pid = get(&pool, &warm, "/pid").await.1;
    let eph_pid = get(&pool, &eph, "/pid").await.1;
    assert_ne!(warm_pid, eph_pid);
    // An ephemeral crash takes down only its own worker.
    assert_eq!(get(&pool, &eph, "/exit").await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(get(&pool, &warm, "/pid").await, (StatusCode::OK, warm_pid));
    pool.shutdown().await;
}

#[tokio::test]
async fn hosts_are_rotated_after_their_spawn_budget_without_failed_requests() {
    let Some(bun) = bun() else { return };
    let mut cfg = config(bun);
    cfg.host_max_spawns = 4;
    cfg.ephemeral_concurrency = 3;
    let pool = pool(cfg);
    let spec = Arc::new(ephemeral("kitchen"));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (pool, spec) = (pool.clone(), spec.clone());
        tasks.push(tokio::spawn(async move {
            let mut pids = Vec::new();
            for _ in 0..5 {
                let (status, pid) = get(&pool, &spec, "/pid").await;
                assert_eq!(status, StatusCode::OK, "{pid}");
                pids.push(pid);
            }
            pids
        }));
    }
    let mut pids = std::collections::HashSet::new();
    for t in tasks {
        pids.extend(t.await.unwrap());
    }
    assert!(pids.len() >= 3, "15 workers at 4 per host need several hosts: {pids:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_ephemeral_request_still_stops_its_worker() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut events = pool.subscribe();
    let spec = Arc::new(ephemeral("kitchen"));
    for path in ["/slow?ms=2000", "/id"] {
        // Cancelled while waiting for the head (slow), and while the worker starts (id, 2 ms).
        let wait = if path == "/id" { 2 } else { 300 };
        let _ = tokio::time::timeout(Duration::from_millis(wait), pool.dispatch(spec.clone(), request("GET", path, ""))).await;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let (mut spawned, mut terminated) = (0, 0);
    while (spawned == 0 || terminated < spawned) && Instant::now() < deadline {
        match events.try_recv() {
            Ok(ev) if ev.kind == WorkerEventKind::Spawned => spawned += 1,
            Ok(_) => terminated += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(spawned >= 1 && terminated == spawned, "spawned {spawned}, terminated {terminated}");
    assert_eq!(pool.metrics()["ephemeralQueueDepth"], 0);
    pool.shutdown().await;
}
