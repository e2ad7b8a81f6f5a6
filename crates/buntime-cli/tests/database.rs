//! plugin-database end to end: the real binary serves `./plugins`, and the stock `@libsql/client`
//! (installed by `scripts/setup.sh` into `packages/database-e2e`) talks HRANA to it over HTTP.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{REPO as ROOT, buntime};

#[test]
fn the_libsql_client_runs_execute_batch_and_transactions_over_http() {
    let bun = Path::new(ROOT).join(".tools/node_modules/bun/bin/bun.exe");
    let client = Path::new(ROOT).join("packages/database-e2e/node_modules/@libsql/client");
    if !bun.is_file() || !client.is_dir() {
        eprintln!("skipping: Bun or @libsql/client is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    let started = support::start(buntime(dir.path(), &[("RUNTIME_WORKER_DIRS", apps.to_str().unwrap())]));
    let (url, logs) = (started.url.clone(), &started.startup);
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
