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
    run_libsql_script_at(bun, &format!("{url}/database/api"), dialect);
}

/// Runs `src/libsql-client.ts` with `DATABASE_URL=database_url` (`http://` or `ws://`).
fn run_libsql_script_at(bun: &Path, database_url: &str, dialect: &str) {
    let mut script = Command::new(bun)
        .current_dir(Path::new(ROOT).join("packages/database-e2e"))
        .arg("run")
        .arg("src/libsql-client.ts")
        .env("DATABASE_URL", database_url)
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
    let transport = database_url.split(':').next().unwrap_or_default();
    let expected = format!(r#""dialect":"{dialect}","transport":"{transport}:""#);
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

#[test]
fn the_libsql_client_runs_execute_batch_and_transactions_over_websocket() {
    let Some(bun) = bun_and_client() else { return };
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    let started = support::start(buntime(dir.path(), &[("RUNTIME_WORKER_DIRS", apps.to_str().unwrap())]));
    // `ws://…/database/api` makes @libsql/client speak HRANA (hrana3) over one WebSocket.
    let ws = started.url.replacen("http://", "ws://", 1);
    run_libsql_script_at(&bun, &format!("{ws}/database/api"), "sqlite");
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

#[test]
fn the_libsql_client_runs_against_a_libsql_adapter_on_sqld() {
    let Some(bun) = bun_and_client() else { return };
    let Some(sqld) = buntime_testkit::SqldServer::start_or_skip() else { return };
    let replica = sqld.replica().unwrap();
    let adapter = format!("  - type: libsql\n    default: true\n    urls: [\"{}\", \"{}\"]\n    adminUrl: \"{}\"\n", sqld.url(), replica.url(), sqld.admin_url());
    run_with_adapter(&bun, "libsql", &adapter);
}

/// A TypeScript plugin written the way the original's are reaches the native database through
/// `ctx.getPlugin`: a synchronous `getAdapter(…)`, `execute`, `batch`, tenants and SQL errors.
const TS_CONSUMER: &str = r#"
let db: any;
export default {
  onInit(ctx: any) {
    db = ctx.getPlugin("@buntime/plugin-database");
  },
  routes: {
    async fetch(req: Request) {
      const out: Record<string, unknown> = {};
      out.defaultType = db.getDefaultType();
      out.types = db.getAvailableTypes();
      const root = db.getAdapter();
      await root.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)");
      await root.batch([
        { sql: "INSERT INTO notes (body) VALUES (?)", args: ["first"] },
        { sql: "INSERT INTO notes (body) VALUES (:body)", args: { body: "second" } },
      ]);
      out.rows = await root.execute("SELECT id, body FROM notes ORDER BY id");
      out.one = await root.executeOne("SELECT count(*) AS n FROM notes");
      try {
        await root.batch(["INSERT INTO notes (body) VALUES ('third')", "INSERT INTO nowhere VALUES (1)"]);
      } catch (e) {
        out.batchError = String((e as Error).message);
      }
      out.afterFailedBatch = await root.executeOne("SELECT count(*) AS n FROM notes");
      const acme = db.getAdapter("sqlite", "acme");
      await acme.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)");
      out.acme = await acme.execute("SELECT * FROM notes");
      out.tenants = await db.listTenants();
      try {
        await db.getAdapter(undefined, "../etc").execute("SELECT 1");
      } catch (e) {
        out.badTenant = String((e as Error).message);
      }
      return Response.json(out);
    },
  },
};
"#;

#[test]
fn a_typescript_plugin_uses_the_database_through_ctx_get_plugin() {
    let bun = Path::new(ROOT).join(".tools/node_modules/bun/bin/bun.exe");
    if !bun.is_file() {
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let consumer = dir.path().join("plugins/notes");
    std::fs::create_dir_all(&consumer).unwrap();
    std::fs::write(consumer.join("manifest.yaml"), "name: notes\nbase: /notes\ndependencies: [\"@buntime/plugin-database\"]\n").unwrap();
    std::fs::write(consumer.join("index.ts"), TS_CONSUMER).unwrap();
    let plugin_dirs = format!("{}:{}", support::PLUGINS_DIR, dir.path().join("plugins").display());
    let apps = dir.path().join("apps");
    let started = support::start(buntime(
        dir.path(),
        &[("RUNTIME_PLUGIN_DIRS", &plugin_dirs), ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()), ("BUNTIME_BUN", bun.to_str().unwrap())],
    ));
    let out = Command::new("curl").args(["-s", &format!("{}/notes/run", started.url)]).output().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("JSON from the plugin: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(body["defaultType"], "sqlite", "{body}");
    assert_eq!(body["types"], serde_json::json!(["sqlite"]));
    assert_eq!(body["rows"], serde_json::json!([{"id": 1, "body": "first"}, {"id": 2, "body": "second"}]), "{body}");
    assert_eq!(body["one"], serde_json::json!({"n": 2}));
    assert!(body["batchError"].as_str().unwrap_or_default().contains("no such table: nowhere"), "{body}");
    assert_eq!(body["afterFailedBatch"], serde_json::json!({"n": 2}), "a failed batch keeps nothing");
    assert_eq!(body["acme"], serde_json::json!([]), "the tenant has its own database: {body}");
    assert_eq!(body["tenants"], serde_json::json!(["acme"]));
    assert!(body["badTenant"].as_str().unwrap_or_default().contains("tenant"), "{body}");
    assert!(dir.path().join("state/database/sqlite/tenants/acme.db").is_file());
}
