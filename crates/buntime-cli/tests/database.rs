//! plugin-database end to end: the real binary serves `./plugins`, and the stock `@libsql/client`
//! (installed by `scripts/setup.sh` into `packages/database-e2e`) talks HRANA to it over HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_buntime");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Kills the child if the test panics before it exits.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_libsql_client_runs_execute_batch_and_transactions_over_http() {
    let bun = Path::new(ROOT).join(".tools/node_modules/bun/bin/bun.exe");
    let client = Path::new(ROOT).join("packages/database-e2e/node_modules/@libsql/client");
    if !bun.is_file() || !client.is_dir() {
        eprintln!("skipping: Bun or @libsql/client is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Running(
        Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("RUNTIME_HOST", "127.0.0.1")
            .env("RUNTIME_LOG_FORMAT", "json")
            .env("RUNTIME_LOG_LEVEL", "info")
            .env("RUNTIME_PLUGIN_DIRS", Path::new(ROOT).join("plugins"))
            .env("RUNTIME_WORKER_DIRS", dir.path().join("apps"))
            .env("RUNTIME_STATE_DIR", dir.path().join("state"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut url = None;
    let mut logs = Vec::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("runtime did not get ready: {logs:?}"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "Runtime listening; loading plugins." {
            url = v["url"].as_str().map(|u| u.replace("0.0.0.0", "127.0.0.1"));
        }
        logs.push(line);
        if v["message"] == "Runtime ready." {
            break;
        }
    }
    let url = url.expect("the runtime logs its url");
    assert!(logs.iter().any(|l| l.contains("database ready; adapters: sqlite")), "{logs:?}");

    let mut script = Command::new(&bun)
        .current_dir(Path::new(ROOT).join("packages/database-e2e"))
        .arg("run")
        .arg("src/libsql-client.ts")
        .env("DATABASE_URL", format!("{url}/database/api"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while script.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = script.kill();
            panic!("the libsql client script hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = script.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains(r#""ok":true"#), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("state/database/sqlite/_default.db").is_file(), "the root database lives in the state dir");
}
