//! The libsql adapter against real sqld servers started by the test (a primary with namespaces,
//! and a read replica following it): HRANA through the plugin with typed values, transactions held
//! across requests, the typed service's atomic batch, tenants as namespaces, the studio routes,
//! reads on the replica that still see this runtime's writes, and servers going away.

mod support;

use std::time::{Duration, Instant};

use buntime_plugin_database::{DatabaseService, NAME, Statement, Target, Value as SqlValue};
use buntime_testkit::SqldServer;
use http::Method;
use serde_json::{Value, json};
use support::{Db, exec, exec_args, start_with};

const PIPE: &str = "/database/api/v3/pipeline";

fn int(v: i64) -> Value {
    json!({"type": "integer", "value": v.to_string()})
}
fn text(v: &str) -> Value {
    json!({"type": "text", "value": v})
}

/// A manifest whose only (default) adapter is libsql: `urls` (primary first) and the admin API.
fn manifest(urls: &[String], admin: &str, tenancy: &str) -> String {
    let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "name: \"@buntime/plugin-database\"\nversion: \"1.0.0\"\nbase: \"/database\"\nenabled: true\nadapters:\n  - type: libsql\n    default: true\n    urls: [{}]\n    adminUrl: \"{admin}\"\ntenancy:\n{tenancy}",
        urls.join(", ")
    )
}

async fn start(sqld: &SqldServer) -> Db {
    start_with(&manifest(&[sqld.url()], &sqld.admin_url(), support::AUTO_CREATE)).await
}

async fn count(db: &Db, ns: Option<&str>) -> Value {
    let r = db.run(ns, exec("SELECT count(*) FROM t")).await;
    r["response"]["result"]["rows"][0][0].clone()
}

#[tokio::test]
async fn hrana_through_the_plugin_reaches_sqld_with_typed_values() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let db = start(&sqld).await;
    assert_eq!(db.get("/database/api/adapters").await.json(), json!({"adapters": ["libsql"], "default": "libsql"}));
    let r = db.run(None, exec("CREATE TABLE v (id INTEGER PRIMARY KEY, i INTEGER, f REAL, t TEXT, y BLOB, n)")).await;
    assert_eq!(r["type"], "ok", "{r}");
    let args = json!([int(9_007_199_254_740_993), {"type": "float", "value": 2.5}, text("héllo"), {"type": "blob", "base64": "AAEC/w=="}, {"type": "null"}]);
    let r = db.run(None, exec_args("INSERT INTO v (i, f, t, y, n) VALUES (?, ?, ?, ?, ?)", args.clone())).await;
    let result = &r["response"]["result"];
    assert_eq!((result["affected_row_count"].clone(), result["last_insert_rowid"].clone()), (json!(1), json!("1")), "{r}");
    let r = db.run(None, exec("SELECT i, f, t, y, n FROM v")).await;
    assert_eq!(r["response"]["result"]["rows"][0], args, "{r}");
    assert_eq!(r["response"]["result"]["cols"][0], json!({"name": "i", "decltype": "INTEGER"}));
    let named = json!({"type": "execute", "stmt": {"sql": "SELECT :a + @b", "named_args": [{"name": ":a", "value": int(40)}, {"name": "@b", "value": int(2)}]}});
    assert_eq!(db.run(None, named).await["response"]["result"]["rows"][0], json!([int(42)]));
    let r = db.run(None, exec("SELECT * FROM nope")).await;
    assert_eq!(r["type"], "error");
    assert!(r["error"]["message"].as_str().unwrap().contains("no such table"), "sqld's own message: {r}");
    let r = db.run(None, json!({"type": "describe", "sql": "SELECT t FROM v WHERE id = :id"})).await;
    assert_eq!(r["response"]["result"]["params"], json!([{"name": ":id"}]), "{r}");
    assert_eq!(r["response"]["result"]["is_readonly"], true);

    // What the plugin wrote is in sqld itself, in its default namespace.
    let direct = reqwest::Client::new()
        .post(format!("{}/v2/pipeline", sqld.url()))
        .header("host", "localhost")
        .json(&json!({"requests": [exec("SELECT t FROM v"), {"type": "close"}]}))
        .send()
        .await
        .unwrap();
    let direct: Value = direct.json().await.unwrap();
    assert_eq!(direct["results"][0]["response"]["result"]["rows"][0][0], text("héllo"), "{direct}");
}

#[tokio::test]
async fn a_baton_holds_a_real_sqld_transaction_across_requests() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let db = start(&sqld).await;
    db.run(None, exec("CREATE TABLE t (k INTEGER PRIMARY KEY)")).await;
    let (_, body) = db.pipeline(PIPE, None, json!([exec("BEGIN IMMEDIATE"), exec("INSERT INTO t VALUES (1)"), {"type": "get_autocommit"}])).await;
    assert_eq!(body["results"][2]["response"]["is_autocommit"], false, "{body}");
    let baton = body["baton"].as_str().expect("an open transaction keeps its stream").to_owned();
    assert_eq!(count(&db, None).await, int(0), "another connection does not see the uncommitted row");
    let (_, body) = db.pipeline(PIPE, Some(&baton), json!([exec("INSERT INTO t VALUES (2)"), exec("SELECT count(*) FROM t")])).await;
    assert_eq!(body["results"][1]["response"]["result"]["rows"][0][0], int(2), "the transaction sees its own rows: {body}");
    let baton = body["baton"].as_str().unwrap().to_owned();
    let (_, body) = db.pipeline(PIPE, Some(&baton), json!([exec("COMMIT"), {"type": "get_autocommit"}, {"type": "close"}])).await;
    assert_eq!(body["results"][1]["response"]["is_autocommit"], true, "{body}");
    assert_eq!(count(&db, None).await, int(2), "committed");

    // A script that leaves a transaction open keeps it; ROLLBACK undoes it.
    let seq = |sql: &str| json!({"type": "sequence", "sql": sql});
    let (_, body) = db.pipeline(PIPE, None, json!([seq("BEGIN; INSERT INTO t VALUES (6)"), {"type": "get_autocommit"}, exec("ROLLBACK"), {"type": "get_autocommit"}, {"type": "close"}])).await;
    assert_eq!((body["results"][1]["response"]["is_autocommit"].clone(), body["results"][3]["response"]["is_autocommit"].clone()), (json!(false), json!(true)), "{body}");
    assert_eq!(count(&db, None).await, int(2));

    // A stream closed mid-transaction rolls back and releases the write lock at once.
    let (_, body) = db.pipeline(PIPE, None, json!([exec("BEGIN IMMEDIATE"), exec("INSERT INTO t VALUES (3)"), {"type": "close"}])).await;
    assert_eq!(body["baton"], Value::Null);
    let started = Instant::now();
    let r = db.run(None, exec("INSERT INTO t VALUES (3)")).await;
    assert_eq!(r["type"], "ok", "the abandoned row was rolled back: {r}");
    assert!(started.elapsed() < Duration::from_secs(3), "its lock was released, not held until sqld's timeout");
}

#[tokio::test]
async fn the_typed_service_batch_is_atomic_on_sqld() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let db = start(&sqld).await;
    let svc = db.h.generation().services.get::<DatabaseService>(NAME).expect("provided under the plugin name");
    assert_eq!(svc.default_type(), "libsql");
    svc.execute(Target::root(), Statement::new("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")).await.unwrap();
    let ok = svc
        .batch(Target::root(), vec![Statement::with_args("INSERT INTO kv VALUES (?, ?)", ["a".into(), "1".into()]), Statement::new("INSERT INTO kv VALUES ('b', '2')")])
        .await
        .unwrap();
    assert_eq!(ok.iter().map(|r| r.affected_row_count).collect::<Vec<_>>(), [1, 1]);
    let err = svc
        .batch(Target::root(), vec![Statement::new("INSERT INTO kv VALUES ('c', '3')"), Statement::new("INSERT INTO kv VALUES ('d', NULL)")])
        .await
        .unwrap_err();
    assert!(err.code().starts_with("SQLITE_CONSTRAINT"), "{err:?}");
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    let rows = svc.execute(Target::root(), Statement::new("SELECT k FROM kv ORDER BY k")).await.unwrap().rows;
    assert_eq!(rows, vec![vec![SqlValue::from("a")], vec![SqlValue::from("b")]], "the failed batch kept nothing");
}

#[tokio::test]
async fn tenants_are_sqld_namespaces_that_never_see_each_other() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let db = start(&sqld).await;
    let spaces = [None, Some("a"), Some("b")];
    for ns in spaces {
        let r = db.run(ns, exec("CREATE TABLE t (who TEXT)")).await;
        assert_eq!(r["type"], "ok", "{ns:?}: {r}");
    }
    let writes = (0..30).map(|i| {
        let ns = spaces[i % 3];
        let db = &db;
        async move { db.run(ns, exec_args("INSERT INTO t VALUES (?)", json!([text(ns.unwrap_or("root"))]))).await }
    });
    for r in futures_util::future::join_all(writes).await {
        assert_eq!(r["response"]["result"]["affected_row_count"], 1, "{r}");
    }
    for ns in spaces {
        let r = db.run(ns, exec("SELECT who, count(*) FROM t GROUP BY who")).await;
        assert_eq!(r["response"]["result"]["rows"], json!([[text(ns.unwrap_or("root")), int(10)]]), "{ns:?} sees only its rows");
    }
    assert_eq!(db.get("/database/api/tenants").await.json(), json!({"tenants": ["a", "b"], "type": "libsql"}));
    assert_eq!(db.get("/database/api/tables").await.json(), json!({"tables": [{"name": "t", "type": "table"}], "type": "libsql"}), "the registry is hidden");

    // The namespaces are sqld's own.
    let admin = reqwest::Client::new();
    let config = admin.get(format!("{}/v1/namespaces/a/config", sqld.admin_url())).send().await.unwrap();
    assert_eq!(config.status(), 200);
    let res = db.send(Method::DELETE, "/database/api/tenants/a", &[], None).await;
    assert_eq!(res.json(), json!({"ok": true}));
    let config = admin.get(format!("{}/v1/namespaces/a/config", sqld.admin_url())).send().await.unwrap();
    assert_eq!(config.status(), 404, "deleted in sqld");
    assert_eq!(db.send(Method::DELETE, "/database/api/tenants/a", &[], None).await.status, 404);
    assert_eq!(db.get("/database/api/tenants").await.json()["tenants"], json!(["b"]));
    let res = db.post("/database/api/tenants", json!({"id": "default"})).await;
    assert_eq!(res.status, 400, "the root namespace is not a tenant: {}", res.text());
    assert!(res.text().contains("root namespace"), "{}", res.text());
}

#[tokio::test]
async fn studio_routes_on_sqld_and_unknown_tenants_without_auto_create() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let db = start_with(&manifest(&[sqld.url()], &sqld.admin_url(), "  enabled: false\n  autoCreate: false\n")).await;
    let res = db.post("/database/api/query", json!({"sql": "CREATE TABLE \"we\"\"ird\" (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)"})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    for i in 0..15 {
        let res = db.post("/database/api/query", json!({"sql": "INSERT INTO \"we\"\"ird\" (name, data) VALUES (?, x'6869')", "args": [format!("n{i}")]})).await;
        assert_eq!(res.json()["affectedRows"], 1, "{}", res.text());
    }
    let schema = db.get("/database/api/tables/we%22ird/schema").await.json();
    assert_eq!(schema["columns"][0], json!({"name": "id", "type": "INTEGER", "nullable": true, "pk": true}), "{schema}");
    assert_eq!(schema["columns"][1], json!({"name": "name", "type": "TEXT", "nullable": false, "pk": false}));
    let page = db.get("/database/api/tables/we%22ird/rows?limit=2&offset=10").await.json();
    assert_eq!((page["total"].clone(), page["rows"][0].clone()), (json!(15), json!({"id": 11, "name": "n10", "data": "hi"})), "{page}");
    assert_eq!(db.get("/database/api/tables/nope/rows").await.status, 404);
    let r = db.run(Some("ghost"), exec("SELECT 1")).await;
    assert_eq!(r["error"]["code"], "TENANT_NOT_FOUND", "{r}");
    assert_eq!(db.get("/database/api/health?type=libsql").await.json(), json!({"status": "healthy", "type": "libsql"}));
}

#[tokio::test]
async fn reads_fall_back_to_the_primary_when_the_replica_is_down_and_writes_need_the_primary() {
    let Some(primary) = SqldServer::start_or_skip() else { return };
    let replica = primary.replica().unwrap();
    let db = start_with(&manifest(&[primary.url(), replica.url()], &primary.admin_url(), support::AUTO_CREATE)).await;
    db.run(None, exec("CREATE TABLE t (k INTEGER)")).await;
    let r = db.run(None, exec("INSERT INTO t VALUES (1), (2)")).await;
    assert_eq!(r["response"]["result"]["affected_row_count"], 2, "{r}");
    assert_eq!(count(&db, None).await, int(2), "a read right after a write sees it, replica or not");
    let r = db.run(Some("acme"), exec("CREATE TABLE t (k INTEGER)")).await;
    assert_eq!(r["type"], "ok", "a new tenant's namespace, read at once although the replica may not know it yet: {r}");
    assert_eq!(count(&db, Some("acme")).await, int(0));

    replica.stop();
    for _ in 0..3 {
        assert_eq!(count(&db, None).await, int(2), "with the replica down, reads fall back to the primary");
    }
    // (Reads while the *primary* is down are up to sqld: its replicas open a write proxy to the
    // primary for new connections and can stall until it is back, so that is not asserted here.)
    primary.stop();
    let res = db.post("/database/api/query", json!({"sql": "INSERT INTO t VALUES (3)"})).await;
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(res.text().contains("unreachable"), "{}", res.text());
    primary.restart().unwrap();
    let r = db.run(None, exec("INSERT INTO t VALUES (3)")).await;
    assert_eq!(r["type"], "ok", "the primary is back: {r}");
    assert_eq!(count(&db, None).await, int(3));
}

#[tokio::test]
async fn a_replica_behind_this_runtimes_writes_is_not_read_from() {
    let Some(primary) = SqldServer::start_or_skip() else { return };
    // A "replica" that never catches up: an unrelated server with the same table, stale content
    // and a lower replication index than the primary reaches below.
    let stale = SqldServer::start_or_skip().unwrap();
    let stale_db = start(&stale).await;
    stale_db.run(None, exec("CREATE TABLE t (k INTEGER)")).await;
    let db = start_with(&manifest(&[primary.url(), stale.url()], &primary.admin_url(), support::AUTO_CREATE)).await;
    db.run(None, exec("CREATE TABLE t (k INTEGER)")).await;
    for k in 0..5 {
        db.run(None, exec_args("INSERT INTO t VALUES (?)", json!([int(k)]))).await;
    }
    for _ in 0..4 {
        assert_eq!(count(&db, None).await, int(5), "every read sees the writes made through this runtime");
    }
    // A runtime that wrote nothing has nothing to wait for: it reads what the replica has.
    let fresh = start_with(&manifest(&[primary.url(), stale.url()], &primary.admin_url(), support::AUTO_CREATE)).await;
    assert_eq!(count(&fresh, None).await, int(0), "reads go to the replica");
}
