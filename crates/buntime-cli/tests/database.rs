//! plugin-database end to end: the real binary serves a plugins dir, and the stock `@libsql/client`
//! (installed by `scripts/setup.sh` into `packages/database-e2e`) talks HRANA to it over HTTP: with
//! the shipped SQLite default, and with a PostgreSQL or MariaDB adapter on a server the test starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{REPO as ROOT, buntime};

/// Bun and the client, or `None` (after printing why) when `scripts/setup.sh` has not run.
fn bun_and_client() -> Option<PathBuf> {
    let bun = Path::new(ROOT).join(".tools/node_modules/bun/bin/bun.exe");
    let client = Path::new(ROOT).join("packages/database-e2e/node_modules/@libsql/client");
    if !bun.is_file() || !client.is_dir() {
        eprintln!("skipping: Bun or @libsql/client is not installed (run scripts/setup.sh)");
        return None;
    }
    Some(bun)
}

/// Runs `src/libsql-client.ts` against the runtime at `url` and asserts it reported success.
fn run_libsql_script(bun: &Path, url: &str, dialect: &str) {
    let mut script = Command::new(bun)
        .current_dir(Path::new(ROOT).join("packages/database-e2e"))
        .arg("run")
        .arg("src/libsql-client.ts")
        .env("DATABASE_URL", format!("{url}/database/api"))
        .env("DATABASE_DIALECT", dialect)
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
    let expected = format!(r#""dialect":"{dialect}""#);
    assert!(
        out.status.success() && stdout.contains(r#""ok":true"#) && stdout.contains(&expected),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_libsql_client_runs_execute_batch_and_transactions_over_http() {
    let Some(bun) = bun_and_client() else { return };
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    let started = support::start(buntime(dir.path(), &[("RUNTIME_WORKER_DIRS", apps.to_str().unwrap())]));
    let (url, logs) = (started.url.clone(), &started.startup);
    assert!(logs.iter().any(|l| l.contains("database ready; adapters: sqlite")), "{logs:?}");
    run_libsql_script(&bun, &url, "sqlite");
    assert!(dir.path().join("state/database/sqlite/_default.db").is_file(), "the root database lives in the state dir");
}

/// Serves a plugins dir of its own, whose database manifest is the shipped one with `adapter_yaml`
/// as the only adapter, and runs the libsql script for `dialect` against it.
fn run_with_adapter(bun: &Path, dialect: &str, adapter_yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(Path::new(ROOT).join("plugins/plugin-database/manifest.yaml")).unwrap();
    let (head, tail) = shipped.split_once("adapters:").expect("the shipped manifest has `adapters:`");
    let tenancy = &tail[tail.find("\ntenancy:").expect("the shipped manifest has `tenancy:`")..];
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(plugins.join("plugin-database")).unwrap();
    std::fs::write(plugins.join("plugin-database/manifest.yaml"), format!("{head}adapters:\n{adapter_yaml}{tenancy}")).unwrap();
    let apps = dir.path().join("apps");
    let env = [("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()), ("RUNTIME_PLUGIN_DIRS", plugins.to_str().unwrap())];
    let started = support::start(buntime(dir.path(), &env));
    let (url, logs) = (started.url.clone(), &started.startup);
    let ready = format!("database ready; adapters: {dialect} (default {dialect})");
    assert!(logs.iter().any(|l| l.contains(&ready)), "{logs:?}");
    run_libsql_script(bun, &url, dialect);
    assert!(!dir.path().join("state/database/sqlite").exists(), "nothing went to SQLite");
}

#[test]
fn the_libsql_client_runs_against_a_postgres_adapter() {
    let Some(bun) = bun_and_client() else { return };
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else { return };
    run_with_adapter(&bun, "postgres", &format!("  - type: postgres\n    default: true\n    url: \"{}\"\n    poolSize: 2\n", pg.url()));
}

#[test]
fn the_libsql_client_runs_against_a_mysql_adapter() {
    let Some(bun) = bun_and_client() else { return };
    let Some(my) = buntime_testkit::MariaDbServer::start_or_skip() else { return };
    run_with_adapter(&bun, "mysql", &format!("  - type: mysql\n    default: true\n    url: \"{}\"\n    poolSize: 2\n", my.url()));
}
