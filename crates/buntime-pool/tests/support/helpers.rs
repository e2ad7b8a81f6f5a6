//! Shared helpers for the pool's integration tests: finding Bun, fixtures, specs and requests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use buntime_apps::{Dispatcher, WorkerSpec};
use buntime_core::Env;
use buntime_pool::{Pool, PoolConfig};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

/// Finds Bun, or prints why the test is skipped.
pub fn bun() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match buntime_core::bun::find_bun(&Env::from_pairs(std::env::vars()), &root) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("SKIPPED: Bun is not installed ({e}); run scripts/setup.sh");
            None
        }
    }
}

/// A test fixture app directory.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A pool configuration with short timeouts.
pub fn config(bun: PathBuf) -> PoolConfig {
    let mut cfg = PoolConfig::new(bun, 10);
    cfg.ready_timeout = Duration::from_secs(10);
    cfg.reap_interval = Duration::from_millis(100);
    cfg.terminate_grace = Duration::from_millis(200);
    cfg.kill_grace = Duration::from_millis(800);
    cfg.drain_timeout = Duration::from_secs(5);
    cfg.warm_hosts = 1;
    cfg.warm_spares = 1;
    cfg.ephemeral_spares = 1;
    cfg
}

/// Starts a pool with `cfg`.
pub fn pool(cfg: PoolConfig) -> Arc<Pool> {
    Pool::start(cfg).expect("pool starts")
}

/// A warm spec for the fixture `name`.
pub fn spec(name: &str) -> WorkerSpec {
    let dir = fixture(name);
    WorkerSpec {
        key: format!("{name}@1.0.0"),
        entrypoint: dir.join("index.ts"),
        dir,
        base_path: format!("/{name}"),
        timeout: Duration::from_secs(5),
        ttl: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(30),
        max_requests: 1000,
        low_memory: false,
        auto_install: false,
        isolated: false,
        env: BTreeMap::new(),
        max_body_bytes: 1024 * 1024,
        max_memory_bytes: None,
        inject_base: false,
        public_env: BTreeMap::new(),
        config_json: serde_json::json!({}),
    }
}

/// Builds a request.
pub fn request(method: &str, path: &str, body: impl Into<Body>) -> buntime_core::Request {
    http::Request::builder().method(method).uri(path).header("host", "example.test").body(body.into()).unwrap()
}

/// Sends a request through the pool and reads the whole answer.
pub async fn send(pool: &Pool, spec: &Arc<WorkerSpec>, method: &str, path: &str, body: &'static str) -> (StatusCode, HeaderMap, String) {
    let res = pool.dispatch(spec.clone(), request(method, path, body)).await;
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}

/// `GET path`, returning status and body.
pub async fn get(pool: &Pool, spec: &Arc<WorkerSpec>, path: &str) -> (StatusCode, String) {
    let (s, _, b) = send(pool, spec, "GET", path, "").await;
    (s, b)
}

/// Reads the `code` of a JSON error body.
pub fn code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| v["code"].as_str().map(str::to_owned)).unwrap_or_default()
}
