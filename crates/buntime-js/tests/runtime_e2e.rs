//! The seed guide end to end over HTTP: a real runtime (`buntime-server`) with `BunScriptHosts`
//! wired in serves the example plugins, is reloaded after the hello plugin is edited and rebuilt,
//! and reports a crashed plugin host in its readiness probe until the host is back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use buntime_core::config::{Env, RuntimeConfig};
use buntime_js::BunScriptHosts;
use buntime_server::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn copy_example(name: &str, plugins: &Path) {
    let to = plugins.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(repo_root().join("examples/plugins").join(name)).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Sends one HTTP/1.1 request and returns the status and body (chunked bodies decoded).
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(rest) } else { rest.to_owned() };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn build(dir: &Path, bun: &Path) {
    let out = std::process::Command::new(bun).args(["build", "./plugin.ts", "--outdir", "dist", "--target", "bun"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

const CRASHER: &str = r#"export default { routes: { fetch(req) {
  if (new URL(req.url).pathname === "/die") process.exit(1);
  return new Response("alive");
} } };"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_guide_works_over_http_including_rebuild_reload_and_host_crashes() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("info").try_init();
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo_root().join("node_modules"), root.path().join("node_modules")).unwrap();
    let plugins = root.path().join("plugins");
    for name in ["plugin-hello", "plugin-blocker", "plugin-cache", "plugin-cache-consumer"] {
        copy_example(name, &plugins);
    }
    std::fs::create_dir_all(plugins.join("crash")).unwrap();
    std::fs::write(plugins.join("crash/manifest.yaml"), "name: crash\nbase: /crash\n").unwrap();
    std::fs::write(plugins.join("crash/plugin.js"), CRASHER).unwrap();

    let mut env = Env::from_pairs(std::env::vars());
    env.set("RUNTIME_PLUGIN_DIRS", plugins.display().to_string());
    env.set("RUNTIME_WORKER_DIRS", root.path().join("apps").display().to_string());
    let config = RuntimeConfig::from_env(&env, root.path()).unwrap();
    let scripts = BunScriptHosts::discover(&env, &repo_root());
    let bun = scripts.bun().expect("these tests need Bun: run `SKIP_CARGO_BUILD=1 scripts/setup.sh`").to_path_buf();
    let hello = plugins.join("plugin-hello");
    build(&hello, &bun);

    // The one line the binary needs: `.scripts(BunScriptHosts::discover(&env, &base_dir).shared())`.
    let runtime = Runtime::builder(config, env).scripts(scripts.shared()).build();
    let handle = runtime.spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await.unwrap();
    let addr = handle.addr;

    assert_eq!(http(addr, "GET", "/hello/api/greeting", "").await, (200, r#"{"message":"Hello from Buntime"}"#.to_owned()));
    assert_eq!(http(addr, "GET", "/blocked", "").await, (403, "Nope".to_owned()));
    assert_eq!(http(addr, "GET", "/consumer/api/greeting", "").await.1, r#"{"message":"Hello from the cache provider"}"#);
    assert_eq!(http(addr, "GET", "/api/health/ready", "").await.0, 200);

    // Edit, rebuild, reload: the same process serves the new code.
    let source = std::fs::read_to_string(hello.join("plugin.ts")).unwrap().replace("Hello from Buntime", "Hello after reload");
    std::fs::write(hello.join("plugin.ts"), source).unwrap();
    build(&hello, &bun);
    let (status, body) = http(addr, "POST", "/api/plugins/reload", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(http(addr, "GET", "/hello/api/greeting", "").await, (200, r#"{"message":"Hello after reload"}"#.to_owned()));

    // A crash answers 503 JSON, readiness says which plugins are down, then everything comes back.
    let (status, body) = http(addr, "GET", "/crash/die", "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("SERVICE_UNAVAILABLE"), "{body}");
    let (status, body) = http(addr, "GET", "/api/health/ready", "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""unavailable""#) && body.contains("crash") && body.contains("degraded"), "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while http(addr, "GET", "/api/health/ready", "").await.0 != 200 {
        assert!(Instant::now() < deadline, "the plugin host did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http(addr, "GET", "/crash/alive", "").await, (200, "alive".to_owned()));
    assert_eq!(http(addr, "GET", "/hello/api/greeting", "").await.1, r#"{"message":"Hello after reload"}"#);
    handle.shutdown().await.unwrap();
}

const SPINNER: &str = r#"export default { routes: { fetch(req) {
  if (new URL(req.url).pathname === "/loop") { while (true) {} }
  return new Response("alive");
} } };"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_that_blocks_the_host_is_caught_by_the_heartbeat_set_by_env_and_readiness_says_degraded() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("info").try_init();
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    std::fs::create_dir_all(plugins.join("spin")).unwrap();
    std::fs::write(plugins.join("spin/manifest.yaml"), "name: spin\nbase: /spin\n").unwrap();
    std::fs::write(plugins.join("spin/plugin.js"), SPINNER).unwrap();
    let mut env = Env::from_pairs(std::env::vars());
    env.set("RUNTIME_PLUGIN_DIRS", plugins.display().to_string());
    env.set("RUNTIME_WORKER_DIRS", root.path().join("apps").display().to_string());
    env.set("RUNTIME_PLUGIN_HOST_HEARTBEAT_MS", "100");
    env.set("RUNTIME_PLUGIN_HOST_HEARTBEAT_TIMEOUT_MS", "1000");
    let config = RuntimeConfig::from_env(&env, root.path()).unwrap();
    let scripts = BunScriptHosts::discover(&env, &repo_root());
    let runtime = Runtime::builder(config, env).scripts(scripts.shared()).build();
    let handle = runtime.spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await.unwrap();
    let addr = handle.addr;
    assert_eq!(http(addr, "GET", "/spin/alive", "").await, (200, "alive".to_owned()));

    // Without the heartbeat this waits for the 30 s call timeout and the host stays stuck.
    let started = Instant::now();
    let (status, body) = http(addr, "GET", "/spin/loop", "").await;
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let (status, body) = http(addr, "GET", "/api/health/ready", "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("degraded") && body.contains("spin"), "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while http(addr, "GET", "/api/health/ready", "").await.0 != 200 {
        assert!(Instant::now() < deadline, "the plugin host did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http(addr, "GET", "/spin/alive", "").await, (200, "alive".to_owned()));
    handle.shutdown().await.unwrap();
}
