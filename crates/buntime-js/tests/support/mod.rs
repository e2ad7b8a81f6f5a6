//! Shared fixtures of the JS plugin tests: temporary plugin directories, generations built by the
//! core's loader with a real Bun host, requests through the pipeline, and captured log lines.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use buntime_core::config::{Env, RuntimeConfig};
use buntime_core::loader::{LoadInputs, LoadOutcome, build_generation};
use buntime_core::pipeline::Pipeline;
use buntime_core::{Generation, NativeRegistry, Request};
use buntime_js::{BunScriptHosts, HostOptions};
use http::{HeaderMap, StatusCode};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Everything logged in this test binary so far (all tests share one subscriber).
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The captured log lines that contain every one of `needles`.
pub fn log_lines(needles: &[&str]) -> Vec<String> {
    logs().lines().filter(|l| needles.iter().all(|n| l.contains(n))).map(str::to_owned).collect()
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn bun() -> PathBuf {
    let env = Env::from_pairs(std::env::vars());
    buntime_core::bun::find_bun(&env, &repo_root()).expect("these tests need Bun: run `SKIP_CARGO_BUILD=1 scripts/setup.sh`")
}

/// Captures every log line (at info and above) for [`log_lines`].
pub fn trace_init() {
    let _ = tracing_subscriber::fmt().with_ansi(false).with_writer(|| Capture).with_env_filter("info").try_init();
}

/// A temporary plugin directory whose `node_modules` points at the repository's (for `hono`).
pub struct Fixture {
    pub root: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        trace_init();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("plugins")).unwrap();
        std::os::unix::fs::symlink(repo_root().join("node_modules"), root.path().join("node_modules")).unwrap();
        Self { root }
    }

    pub fn plugins(&self) -> PathBuf {
        self.root.path().join("plugins")
    }

    /// Copies `examples/plugins/<name>` (sources only).
    pub fn example(self, name: &str) -> Self {
        let from = repo_root().join("examples/plugins").join(name);
        let to = self.plugins().join(name);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
        self
    }

    /// Writes a plugin directory from `(file, contents)` pairs.
    pub fn plugin(self, dir: &str, files: &[(&str, &str)]) -> Self {
        let to = self.plugins().join(dir);
        std::fs::create_dir_all(&to).unwrap();
        for (file, text) in files {
            std::fs::write(to.join(file), text).unwrap();
        }
        self
    }

    pub fn inputs(&self, env: &[(&str, &str)], natives: NativeRegistry, scripts: BunScriptHosts) -> LoadInputs {
        let plugin_dirs = self.plugins().display().to_string();
        let mut pairs: Vec<(String, String)> = vec![("RUNTIME_PLUGIN_DIRS".into(), plugin_dirs)];
        pairs.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        if let Ok(path) = std::env::var("PATH") {
            pairs.push(("PATH".into(), path));
        }
        let env = Env::from_pairs(pairs);
        let config = RuntimeConfig::from_env(&env, self.root.path()).unwrap();
        LoadInputs {
            config: Arc::new(config),
            env: Arc::new(env),
            natives: Arc::new(natives),
            scripts: Some(scripts.shared()),
            pool: None,
            apps: None,
            init_timeout: Duration::from_secs(10),
            metrics: std::sync::Arc::default(),
        }
    }

    pub async fn load(&self, env: &[(&str, &str)], natives: NativeRegistry) -> LoadOutcome {
        let scripts = BunScriptHosts::new(bun()).with_options(test_options());
        build_generation(&self.inputs(env, natives, scripts), 1).await
    }
}

pub fn test_options() -> HostOptions {
    HostOptions { call_timeout: Duration::from_secs(10), init_timeout: Duration::from_secs(5), ..HostOptions::default() }
}

pub async fn send(generation: &Arc<Generation>, method: &str, path: &str, body: &str) -> (StatusCode, HeaderMap, String) {
    let req: Request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost:8000")
        .header("x-request-id", "test-request")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let res = Pipeline::default().handle(generation.clone(), req).await;
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn get(generation: &Arc<Generation>, path: &str) -> (StatusCode, String) {
    let (status, _, body) = send(generation, "GET", path, "").await;
    (status, body)
}

pub fn problems(outcome: &LoadOutcome) -> String {
    outcome.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

