//! Benchmark harness: serves HTTP on a TCP port and hands `/<app>/…` to the worker pool, so `wrk`
//! can measure the pool (see `bench/apps.sh`).
//!
//! Usage: `buntime-pool-bench <apps-dir> <port>`. Apps: `noop`, `noop-<n>` (distinct warm keys of
//! the noop app), `echo`, `slow` (warm, never recycled), `noop-default` (the noop app with the
//! defaults of a manifest that sets only `ttl: 5m`: `maxRequests` 1000, `idleTimeout` 60 s) and
//! `eph` (the noop app with `ttl: 0`). `GET /__rss` answers
//! `{"runtime": bytes, "hosts": bytes, "hostCount": n}`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use buntime_apps::{Dispatcher, WorkerSpec};
use buntime_core::Env;
use buntime_pool::{Pool, PoolConfig};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

fn spec(apps: &Path, name: &str) -> Option<WorkerSpec> {
    let tuned = (Duration::from_secs(600), Duration::from_secs(600), u64::MAX);
    let (dir_name, (ttl, idle_timeout, max_requests)) = match name {
        "eph" => ("noop", (Duration::ZERO, tuned.1, tuned.2)),
        "noop-default" => {
            ("noop", (Duration::from_secs(300), Duration::from_millis(buntime_apps::config::DEFAULT_IDLE_TIMEOUT_MS as u64), buntime_apps::config::DEFAULT_MAX_REQUESTS))
        }
        n if n.starts_with("noop-") => ("noop", tuned),
        "noop" | "echo" | "slow" => (name, tuned),
        _ => return None,
    };
    let dir = apps.join(dir_name);
    Some(WorkerSpec {
        key: format!("{name}@1.0.0"),
        entrypoint: dir.join("index.ts"),
        dir,
        base_path: format!("/{name}"),
        timeout: Duration::from_secs(30),
        ttl,
        idle_timeout,
        max_requests,
        low_memory: false,
        auto_install: false,
        isolated: false,
        env: BTreeMap::new(),
        max_body_bytes: 10 * 1024 * 1024,
        max_memory_bytes: None,
        inject_base: false,
        public_env: BTreeMap::new(),
        config_json: serde_json::json!({}),
    })
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG").unwrap_or_else(|_| "warn".into())).with_writer(std::io::stderr).init();
    let args: Vec<String> = std::env::args().collect();
    let (Some(apps), Some(port)) = (args.get(1), args.get(2).and_then(|p| p.parse::<u16>().ok())) else {
        eprintln!("usage: buntime-pool-bench <apps-dir> <port>");
        std::process::exit(2);
    };
    let apps = PathBuf::from(apps);
    let env = Env::from_pairs(std::env::vars());
    let bun = match buntime_core::bun::find_bun(&env, Path::new(".")) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut cfg = PoolConfig::new(bun, 100);
    cfg.ephemeral_concurrency = env.get("RUNTIME_EPHEMERAL_CONCURRENCY").and_then(|v| v.parse().ok()).unwrap_or(5);
    cfg.ephemeral_spares = cfg.ephemeral_concurrency;
    let pool = match Pool::start(cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let specs: Arc<std::sync::Mutex<BTreeMap<String, Arc<WorkerSpec>>>> = Arc::default();
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("buntime-pool-bench listening on 127.0.0.1:{port}");
    let shutdown = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let (pool, specs, apps) = (pool.clone(), specs.clone(), apps.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (pool, specs, apps) = (pool.clone(), specs.clone(), apps.clone());
                async move { Ok::<_, Infallible>(handle(&pool, &specs, &apps, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
    pool.shutdown().await;
}

async fn handle(
    pool: &Arc<Pool>,
    specs: &std::sync::Mutex<BTreeMap<String, Arc<WorkerSpec>>>,
    apps: &Path,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/__rss" {
        let hosts = pool.host_pids();
        let body = serde_json::json!({
            "runtime": rss_of(std::process::id()),
            "hosts": hosts.iter().map(|p| rss_of(*p)).sum::<u64>(),
            "hostCount": hosts.len(),
        });
        return buntime_core::respond::json(http::StatusCode::OK, &body);
    }
    let trimmed = path.trim_start_matches('/');
    let (name, rest) = trimmed.split_once('/').map_or((trimmed, ""), |(a, b)| (a, b));
    let spec = {
        let mut map = specs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(name) {
            Some(s) => Some(s.clone()),
            None => spec(apps, name).map(|s| {
                let s = Arc::new(s);
                map.insert(name.to_owned(), s.clone());
                s
            }),
        }
    };
    let Some(spec) = spec else {
        return buntime_core::respond::json_error(http::StatusCode::NOT_FOUND, "NOT_FOUND", "no such app");
    };
    let (mut parts, body) = req.into_parts();
    let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    parts.uri = format!("/{rest}{query}").parse().unwrap_or_else(|_| http::Uri::from_static("/"));
    pool.dispatch(spec, http::Request::from_parts(parts, Body::new(body))).await
}
