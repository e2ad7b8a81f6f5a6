//! Benchmarks JS plugins in one run and prints ratios measured against a baseline from the same run:
//! the hello plugin's route through the runtime (HTTP server + pipeline + plugin host) against the
//! same Hono app served by `Bun.serve` directly (wrk), with the CPU each process (wrk included)
//! spends per request and the ratio's ceiling on this machine; the added p50 latency of one no-op
//! JS `onRequest` hook (in-process pipeline loop) against a bare echo round trip to the same host;
//! and the time to reload 5 JS plugins.
//!
//! Run with `bench/js-plugins.sh` (or `cargo run --release -p buntime-js --example js-plugins-bench`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use buntime_core::config::{Env, RuntimeConfig};
use buntime_core::loader::{INIT_TIMEOUT, LoadInputs, build_generation};
use buntime_core::pipeline::Pipeline;
use buntime_core::{Generation, NativeRegistry};
use buntime_js::BunScriptHosts;
use buntime_server::Runtime;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the crate lives in the repository")
}

fn copy_example(name: &str, plugins: &Path) {
    let from = repo_root().join("examples/plugins").join(name);
    let to = plugins.join(name);
    std::fs::create_dir_all(&to).expect("temp dir is writable");
    for entry in std::fs::read_dir(&from).expect("examples exist").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy example file");
        }
    }
}

fn write_plugin(plugins: &Path, dir: &str, manifest: &str, code: &str) {
    let to = plugins.join(dir);
    std::fs::create_dir_all(&to).expect("temp dir is writable");
    std::fs::write(to.join("manifest.yaml"), manifest).expect("write manifest");
    std::fs::write(to.join("plugin.js"), code).expect("write plugin");
}

fn env_for(plugins: &Path) -> Env {
    let mut env = Env::from_pairs(std::env::vars());
    env.set("RUNTIME_PLUGIN_DIRS", plugins.display().to_string());
    env.set("RUNTIME_WORKER_DIRS", plugins.join("../apps").display().to_string());
    env.set("RUNTIME_LOG_LEVEL", "error");
    env.set("PORT", "0");
    env.set("RUNTIME_HOST", "127.0.0.1");
    env
}

struct Wrk {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

fn parse_duration_us(s: &str) -> Option<f64> {
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1000.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1_000_000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().ok().map(|n| n * mul)
}

fn wrk(url: &str, seconds: u64, connections: u32) -> Wrk {
    let out = std::process::Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", url])
        .output()
        .expect("wrk is installed (bench/js-plugins.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut w = Wrk { rps: 0.0, p50_us: 0.0, p99_us: 0.0 };
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["Requests/sec:", v] => w.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => w.p50_us = parse_duration_us(v).unwrap_or(0.0),
            ["99%", v] => w.p99_us = parse_duration_us(v).unwrap_or(0.0),
            _ => {}
        }
    }
    if w.rps == 0.0 {
        eprintln!("wrk output for {url}:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    w
}

/// CPU time (user + system) a process has used, in µs.
fn cpu_us(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks * 10_000.0 // USER_HZ = 100
}

/// CPU time (user + system) of the children this process has waited for, in µs: wrk's, since wrk
/// is the only child waited for while it runs.
fn waited_children_cpu_us() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(13).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) + f.get(14).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks * 10_000.0
}

/// Child processes of this one.
fn children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).and_then(|v| v.parse::<u32>().ok());
        if ppid == Some(me) {
            out.push(pid);
        }
    }
    out
}

async fn pipeline_once_us(pipeline: &Pipeline, g: &Arc<Generation>, path: &str) -> f64 {
    let req = http::Request::builder().uri(path).header("host", "localhost").header("x-request-id", "b").body(Body::empty()).expect("valid request");
    let t = Instant::now();
    let res = pipeline.handle(g.clone(), req).await;
    let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await;
    t.elapsed().as_secs_f64() * 1e6
}

/// p50s of the pipeline without and with the hook, and of the bare echo, sampled in turn within
/// each iteration, so all three see the same placement of processes on CPUs (which moves a
/// cross-process round trip on a VM between ~9 and ~46 µs).
async fn hook_p50s_us(without: &Arc<Generation>, with: &Arc<Generation>, echo: &Path, n: usize) -> (f64, f64, f64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pipeline = Pipeline::default();
    let mut s = tokio::net::UnixStream::connect(echo).await.expect("connect to the echo socket");
    let (msg, mut buf) = ([7u8; 256], [0u8; 256]);
    let (mut a, mut b, mut e) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n + n / 10 {
        let t = Instant::now();
        s.write_all(&msg).await.expect("echo write");
        s.read_exact(&mut buf).await.expect("echo read");
        let echo_us = t.elapsed().as_secs_f64() * 1e6;
        let with_us = pipeline_once_us(&pipeline, with, "/none").await;
        let without_us = pipeline_once_us(&pipeline, without, "/none").await;
        if i >= n / 10 {
            a.push(without_us);
            b.push(with_us);
            e.push(echo_us);
        }
    }
    let p50 = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (p50(a), p50(b), p50(e))
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let connections: u32 = std::env::var("BENCH_CONNECTIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(32);
    let root = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(repo_root().join("node_modules"), root.path().join("node_modules")).expect("link node_modules (run scripts/setup.sh)");
    let base = Env::from_pairs(std::env::vars());
    let bun = buntime_core::bun::find_bun(&base, &repo_root()).expect("Bun is installed (scripts/setup.sh)");

    // --- 1. hello route: runtime vs Bun.serve --------------------------------------------------
    let hello_dir = root.path().join("hello-only");
    copy_example("plugin-hello", &hello_dir);
    let env = env_for(&hello_dir);
    let config = RuntimeConfig::from_env(&env, root.path()).expect("valid config");
    write_native_manifest(&hello_dir);
    let runtime = Runtime::builder(config, env.clone()).native("native-greeting", |_cx| Ok(NativeGreeting)).scripts(BunScriptHosts::new(&bun).shared()).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let handle = runtime.spawn(listener).await.expect("runtime starts");
    let runtime_url = format!("{}/hello/api/greeting", handle.url());

    let direct = root.path().join("direct.ts");
    let entry = hello_dir.join("plugin-hello/plugin.ts");
    std::fs::write(
        &direct,
        format!(
            "import helloPlugin from {entry:?};\nconst p = helloPlugin({{}});\nconst s = Bun.serve({{ hostname: \"127.0.0.1\", port: 0, fetch: (req) => p.routes.fetch(req) }});\nconsole.log(s.port);\n",
            entry = entry.display().to_string()
        ),
    )
    .expect("write direct server");
    let mut child = tokio::process::Command::new(&bun)
        .arg(&direct)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start Bun.serve");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().expect("piped")));
    let port = lines.next_line().await.ok().flatten().and_then(|l| l.trim().parse::<u16>().ok()).expect("Bun.serve prints its port");
    let direct_url = format!("http://127.0.0.1:{port}/api/greeting");

    for url in [&direct_url, &runtime_url] {
        let _ = wrk(url, 1, connections); // warm-up (JIT, connection pools)
    }
    let direct_pid = child.id().unwrap_or(0);
    let host_pid = children().into_iter().find(|&p| p != direct_pid).unwrap_or(0);
    let me = std::process::id();
    let (c0, w0) = (cpu_us(direct_pid), waited_children_cpu_us());
    let d = wrk(&direct_url, seconds, connections);
    let direct_cpu = (cpu_us(direct_pid) - c0) / (d.rps * seconds as f64).max(1.0);
    let wrk_cpu = (waited_children_cpu_us() - w0) / (d.rps * seconds as f64).max(1.0);
    let (r0, h0) = (cpu_us(me), cpu_us(host_pid));
    let r = wrk(&runtime_url, seconds, connections);
    let total = (r.rps * seconds as f64).max(1.0);
    let (rust_cpu, host_cpu) = ((cpu_us(me) - r0) / total, (cpu_us(host_pid) - h0) / total);
    let native_url = format!("{}/native/api/greeting", handle.url());
    let _ = wrk(&native_url, 1, connections);
    let n0 = cpu_us(me);
    let nat = wrk(&native_url, seconds, connections);
    let native_cpu = (cpu_us(me) - n0) / (nat.rps * seconds as f64).max(1.0);
    drop(child);

    // --- 2. added latency of one no-op JS onRequest hook ----------------------------------------
    let hook_dir = root.path().join("hello-and-noop");
    copy_example("plugin-hello", &hook_dir);
    // The baseline: the same host process echoing bytes on a Unix socket of its own.
    let echo_sock = root.path().join("echo.sock");
    write_plugin(
        &hook_dir,
        "noop",
        &format!("name: noop\nechoSocket: {:?}\n", echo_sock.display().to_string()),
        "export default (config) => ({\n  onInit() { Bun.listen({ unix: config.echoSocket, socket: { data(s, d) { s.write(d); } } }); },\n  onRequest() { return undefined; },\n});\n",
    );
    let load = |dir: &Path| {
        let env = env_for(dir);
        LoadInputs {
            config: Arc::new(RuntimeConfig::from_env(&env, root.path()).expect("valid config")),
            env: Arc::new(env),
            natives: Arc::new(NativeRegistry::default()),
            scripts: Some(BunScriptHosts::new(&bun).shared()),
            pool: None,
            apps: None,
            init_timeout: INIT_TIMEOUT,
            metrics: std::sync::Arc::default(),
        }
    };
    let without = Arc::new(build_generation(&load(&hello_dir), 1).await.generation);
    let with = Arc::new(build_generation(&load(&hook_dir), 2).await.generation);
    // `/none` matches no route: without the hook it never leaves Rust, so the difference is the
    // hook's round trip alone. Requests run on a runtime worker, as a server's do.
    let (w, h, sock) = (without.clone(), with.clone(), echo_sock.clone());
    let (p50_without, p50_with, p50_echo) = tokio::spawn(async move { hook_p50s_us(&w, &h, &sock, 5000).await }).await.expect("bench task");
    without.shut_down().await;
    with.shut_down().await;

    // --- 3. reload of 5 JS plugins -----------------------------------------------------------------
    let five = root.path().join("five");
    for name in ["plugin-hello", "plugin-blocker", "plugin-cache", "plugin-cache-consumer"] {
        copy_example(name, &five);
    }
    write_plugin(&five, "noop", "name: noop\n", "export default { onRequest() { return undefined; } };\n");
    let inputs = load(&five);
    let mut reloads = Vec::new();
    for number in 1..=5u64 {
        let t = Instant::now();
        let outcome = build_generation(&inputs, number).await;
        reloads.push(t.elapsed());
        assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
        assert_eq!(outcome.generation.plugins.len(), 5);
        outcome.generation.shut_down().await;
    }
    reloads.sort();
    let reload_median = reloads[reloads.len() / 2];
    let t = Instant::now();
    let report = handle.runtime().reload().await;
    let api_reload = t.elapsed();
    let _ = handle.shutdown().await;

    println!("JS plugin benchmark ({seconds}s per wrk run, 1 thread, {connections} connections; same machine, same run)");
    println!();
    println!("| measurement | value |");
    println!("|---|---|");
    println!("| Bun.serve direct, hello route | {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs |", d.rps, d.p50_us, d.p99_us);
    println!("| runtime → plugin host, hello route | {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs |", r.rps, r.p50_us, r.p99_us);
    println!("| CPU per request: Bun.serve direct | {direct_cpu:.1} µs |");
    println!("| CPU per request: runtime (Rust) + plugin host (Bun) | {rust_cpu:.1} µs + {host_cpu:.1} µs |");
    println!("| native (Rust) route, same runtime, for reference | {:.0} req/s, p50 {:.0} µs; CPU {native_cpu:.1} µs per request |", nat.rps, nat.p50_us);
    println!("| CPU per request: wrk (load generator, shares the machine) | {wrk_cpu:.1} µs |");
    println!("| CPU-bound ratio on a machine with cores to spare (direct Bun CPU / host Bun CPU per request) | {:.2} |", direct_cpu / host_cpu.max(0.001));
    println!("| throughput ratio runtime / direct (goal ≥ 0.80) | {:.2} |", r.rps / d.rps.max(1.0));
    // What the ratio could be here if the hop to the host cost nothing beyond a native route:
    // wrk, the runtime and the host share `cores`; Bun and wrk each use one thread.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    let free_hop = (cores * 1e6 / (wrk_cpu + native_cpu + host_cpu)).min(1e6 / host_cpu.max(0.001)).min(1e6 / wrk_cpu.max(0.001));
    println!("| ceiling of that ratio on these {cores:.0} cores if the hop cost nothing beyond a native route | {:.2} |", free_hop / d.rps.max(1.0));
    println!("| pipeline p50 of an unrouted request without / with one no-op JS onRequest | {p50_without:.1} µs / {p50_with:.1} µs |");
    println!("| added p50 of one no-op JS onRequest (goal ≤ 50 µs) | {:.1} µs |", p50_with - p50_without);
    println!("| baseline: p50 of a bare 256-byte round trip to the same plugin host (a Unix socket echo) | {p50_echo:.1} µs |");
    println!("| added p50 beyond that bare round trip (framing, JSON, the JS hook call) | {:.1} µs |", p50_with - p50_without - p50_echo);
    println!("| build a generation of 5 JS plugins (median of 5, new host each) | {:.0} ms (min {:.0}, max {:.0}) |", ms(reload_median), ms(reloads[0]), ms(reloads[4]));
    println!("| Runtime::reload() of the hello runtime (build + swap) | {:.0} ms ({}) |", ms(api_reload), if report.is_ok() { "ok" } else { "failed" });
    let _ = std::io::Write::flush(&mut std::io::stdout());
}

/// A native plugin answering the same JSON, to separate the server's cost from the host's.
struct NativeGreeting;

#[async_trait::async_trait]
impl buntime_core::Plugin for NativeGreeting {
    fn routes(&self) -> Option<axum::Router> {
        Some(axum::Router::new().route("/api/greeting", axum::routing::get(|| async { axum::Json(serde_json::json!({"message": "Hello from Buntime"})) })))
    }
}

fn write_native_manifest(plugins: &Path) {
    let dir = plugins.join("native-greeting");
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    std::fs::write(dir.join("manifest.yaml"), "name: native-greeting\nbase: /native\n").expect("write manifest");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
