//! Failures answer JSON with the right status and never hang; the next request gets a fresh worker.

#[path = "support/helpers.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buntime_core::app::PoolView;
use http::StatusCode;
use support::*;

#[tokio::test]
async fn a_request_timeout_answers_504_and_the_worker_is_replaced() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("kitchen");
    s.timeout = Duration::from_millis(300);
    let spec = Arc::new(s);
    let (_, first) = get(&pool, &spec, "/id").await;
    let t0 = Instant::now();
    let (status, body) = get(&pool, &spec, "/slow?ms=3000").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(code(&body), "WORKER_TIMEOUT");
    assert!(t0.elapsed() < Duration::from_secs(2));
    let (status, second) = get(&pool, &spec, "/id").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(first, second);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_exits_answers_502_and_the_next_request_gets_a_fresh_one() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let (_, first) = get(&pool, &spec, "/id").await;
    let (status, body) = get(&pool, &spec, "/exit").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(code(&body), "WORKER_EXITED");
    let (status, second) = get(&pool, &spec, "/id").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(first, second);
    pool.shutdown().await;
}

#[tokio::test]
async fn an_uncaught_error_in_a_worker_answers_502_not_a_hang() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let (_, first) = get(&pool, &spec, "/id").await;
    let t0 = Instant::now();
    let (status, _) = get(&pool, &spec, "/throw").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(t0.elapsed() < Duration::from_secs(2), "answered before the request timeout");
    let (status, second) = get(&pool, &spec, "/id").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(first, second);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_handler_that_throws_answers_500_and_keeps_the_worker() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let (_, first) = get(&pool, &spec, "/id").await;
    let (status, body) = get(&pool, &spec, "/fail").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&body), "APP_ERROR");
    assert_eq!(get(&pool, &spec, "/id").await.1, first);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_never_gets_ready_answers_503() {
    let Some(bun) = bun() else { return };
    let mut cfg = config(bun);
    cfg.ready_timeout = Duration::from_millis(800);
    let pool = pool(cfg);
    let spec = Arc::new(spec("never-ready"));
    let t0 = Instant::now();
    let (status, body) = get(&pool, &spec, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "WORKER_NOT_READY");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(pool.metrics()["totalWorkersFailed"], 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn an_app_without_fetch_or_routes_answers_503_with_the_reason() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("bad-export"));
    let (status, body) = get(&pool, &spec, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "WORKER_START_FAILED");
    assert!(body.contains("Module must export default with fetch method or routes"), "{body}");
    pool.shutdown().await;
}

#[tokio::test]
async fn an_entrypoint_outside_the_app_dir_is_refused() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("outside-entry");
    s.dir = fixture("outside-entry/app");
    s.entrypoint = fixture("outside-entry/app/../evil.ts");
    let spec = Arc::new(s);
    let (status, body) = get(&pool, &spec, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("outside the app dir"), "{body}");
    pool.shutdown().await;
}

/// Requests `path` on an isolated app (which hangs its thread), checks that another app keeps
/// answering meanwhile and that the hung request gets 504; returns the hung app's spec and its
/// first worker's id and host pid.
async fn hang_an_isolated_app(pool: &Arc<buntime_pool::Pool>, good: &Arc<buntime_apps::WorkerSpec>, path: &'static str) -> (Arc<buntime_apps::WorkerSpec>, String, String) {
    let mut bad = spec("kitchen");
    bad.key = "looper@1.0.0".into();
    bad.timeout = Duration::from_millis(300);
    bad.isolated = true;
    let bad = Arc::new(bad);
    let good_id = get(pool, good, "/id").await.1;
    let (_, bad_id) = get(pool, &bad, "/id").await;
    let (_, bad_pid) = get(pool, &bad, "/pid").await;
    let hung = {
        let (pool, bad) = (pool.clone(), bad.clone());
        tokio::spawn(async move { get(&pool, &bad, path).await })
    };
    // While the thread hangs, the other app answers promptly.
    for _ in 0..5 {
        let t0 = Instant::now();
        assert_eq!(get(pool, good, "/id").await, (StatusCode::OK, good_id.clone()));
        assert!(t0.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = hung.await.unwrap();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    (bad, bad_id, bad_pid)
}

#[tokio::test]
async fn an_infinite_loop_is_cut_off_and_apps_in_other_hosts_keep_serving() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let good = Arc::new(spec("kitchen"));
    let good_id = get(&pool, &good, "/id").await.1;
    let (bad, bad_id, _) = hang_an_isolated_app(&pool, &good, "/loop").await;
    // Since Bun 1.4, terminate() interrupts a JS loop: the app gets a fresh worker at once,
    // without its host being quarantined.
    let t0 = Instant::now();
    let (status, id) = get(&pool, &bad, "/id").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(id, bad_id, "the looping worker was replaced");
    assert!(t0.elapsed() < Duration::from_secs(2), "no wait for a quarantine: {:?}", t0.elapsed());
    assert_eq!(get(&pool, &good, "/id").await, (StatusCode::OK, good_id));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_thread_blocked_in_native_code_gets_its_host_replaced() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let good = Arc::new(spec("kitchen"));
    let good_id = get(&pool, &good, "/id").await.1;
    let (bad, _, bad_pid) = hang_an_isolated_app(&pool, &good, "/block").await;
    // terminate() cannot interrupt `Bun.sleepSync`: the host is killed once its other workers
    // are done, and the app gets a fresh one.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, pid) = get(&pool, &bad, "/pid").await;
        if status == StatusCode::OK && pid != bad_pid {
            break;
        }
        assert!(Instant::now() < deadline, "no fresh host: {status} {pid}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&pool, &good, "/id").await, (StatusCode::OK, good_id));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_killed_host_answers_502_then_is_restarted() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let spec = Arc::new(spec("kitchen"));
    let (_, pid) = get(&pool, &spec, "/pid").await;
    let slow = {
        let (pool, spec) = (pool.clone(), spec.clone());
        tokio::spawn(async move { get(&pool, &spec, "/slow?ms=2000").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success());
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, new_pid) = get(&pool, &spec, "/pid").await;
        if status == StatusCode::OK {
            assert_ne!(new_pid, pid);
            break;
        }
        assert!(Instant::now() < deadline, "host not restarted: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn a_failing_auto_install_answers_503_with_bun_install_output() {
    let Some(bun) = bun() else { return };
    let pool = pool(config(bun));
    let mut s = spec("auto-install-broken");
    s.auto_install = true;
    let spec = Arc::new(s);
    let (status, body) = get(&pool, &spec, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("bun install failed"), "{body}");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_memory_hog_host_is_killed_and_other_hosts_are_untouched() {
    let Some(bun) = bun() else { return };
    let mut cfg = config(bun);
    cfg.host_max_rss_bytes = Some(250 * 1024 * 1024);
    let pool = pool(cfg);
    let mut hog = spec("kitchen");
    hog.key = "hog@1.0.0".into();
    hog.isolated = true;
    let hog = Arc::new(hog);
    let good = Arc::new(spec("kitchen"));
    let good_id = get(&pool, &good, "/id").await.1;
    let t0 = Instant::now();
    let (status, body) = get(&pool, &hog, "/hog").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(t0.elapsed() < Duration::from_secs(4));
    assert_eq!(get(&pool, &good, "/id").await, (StatusCode::OK, good_id));
    let (status, body) = get(&pool, &hog, "/id").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    pool.shutdown().await;
}
