//! Recycling at `maxRequests`: the successor is warmed before the worker reaches its limit, so no
//! request waits on a start-up because of recycling, and the limit stays exact.

#[path = "support/helpers.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buntime_core::app::PoolView;
use buntime_pool::WorkerEventKind;
use http::StatusCode;
use support::*;

const START_DELAY: Duration = Duration::from_millis(400);

#[tokio::test]
async fn a_steady_stream_never_waits_on_a_successors_start_up() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut events = pool.subscribe();
    let mut s = spec("slow-start");
    s.max_requests = 20;
    s.env.insert("START_DELAY_MS".into(), START_DELAY.as_millis().to_string());
    let spec = Arc::new(s);
    let (status, first) = get(&pool, &spec, "/").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let mut served: HashMap<String, u64> = HashMap::from([(first, 1)]);
    let mut order = Vec::new();
    for i in 0..90 {
        let t0 = Instant::now();
        let (status, id) = get(&pool, &spec, "/").await;
        let took = t0.elapsed();
        assert_eq!(status, StatusCode::OK, "request {i}: {id}");
        assert!(took < START_DELAY, "request {i} waited {took:?}, as long as a start-up");
        if order.last() != Some(&id) {
            order.push(id.clone());
        }
        *served.entry(id).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(served.len() >= 4, "workers rotate: {served:?}");
    assert_eq!(order.len(), served.len(), "a worker never serves again once replaced: {order:?}");
    for (id, n) in &served {
        assert!(*n <= 20, "worker {id} served {n} requests, over maxRequests");
    }
    // Every replaced worker is retired as recycled; created counts them all (plus, perhaps, the
    // successor already warming for the current one).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = pool.metrics();
    let created = m["totalWorkersCreated"].as_u64().unwrap();
    let workers = served.len() as u64;
    assert!(created == workers || created == workers + 1, "created {created} for {workers} workers");
    assert_eq!(m["totalWorkersRetired"].as_u64(), Some(workers - 1));
    let mut recycled = 0;
    while let Ok(ev) = events.try_recv() {
        if ev.kind == WorkerEventKind::Terminated {
            assert_eq!(ev.reason, "recycled");
            recycled += 1;
        }
    }
    assert_eq!(recycled, workers - 1);
    assert_eq!(pool.live_workers() as u64, created - (workers - 1));
    pool.shutdown().await;
    assert_eq!(pool.metrics()["totalWorkersRetired"].as_u64(), Some(created), "shutdown retires the rest");
}

#[tokio::test]
async fn concurrent_requests_all_succeed_across_recycles_within_max_requests() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("kitchen");
    s.max_requests = 20;
    let spec = Arc::new(s);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (pool, spec) = (pool.clone(), spec.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..15 {
                ids.push(get(&pool, &spec, "/id").await);
            }
            ids
        }));
    }
    let mut served: HashMap<String, u64> = HashMap::new();
    for t in tasks {
        for (status, id) in t.await.unwrap() {
            assert_eq!(status, StatusCode::OK, "{id}");
            *served.entry(id).or_default() += 1;
        }
    }
    assert_eq!(served.values().sum::<u64>(), 150);
    assert!(served.len() >= 8, "150 requests need at least 8 workers of 20: {served:?}");
    for (id, n) in &served {
        assert!(*n <= 20, "worker {id} served {n} requests, over maxRequests");
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn an_app_left_unused_stops_its_warm_successor_too() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("kitchen");
    s.max_requests = 4;
    s.ttl = Duration::from_millis(600);
    s.idle_timeout = Duration::from_millis(600);
    let spec = Arc::new(s);
    // The fourth request of four asks for a successor at the latest; stop at three so it warms
    // while its predecessor still serves, then let both sit unused past the TTL.
    for _ in 0..3 {
        assert_eq!(get(&pool, &spec, "/id").await.0, StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while pool.metrics()["totalWorkersCreated"] != 2 {
        assert!(Instant::now() < deadline, "no successor was warmed: {}", pool.metrics());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.live_workers() > 0 {
        assert!(Instant::now() < deadline, "{} workers left behind", pool.live_workers());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pool.metrics()["totalWorkersRetired"], 2);
    pool.shutdown().await;
}
