//! The studio API, the manifest checks and the typed service, loaded from the shipped manifest.

mod support;

use buntime_plugin_database::{DatabasePlugin, DatabaseService, NAME, Statement, Target, Value};
use buntime_testkit::PluginHarness;
use http::Method;
use serde_json::json;
use support::{MANIFEST, start, start_with};

#[tokio::test]
async fn lists_the_sqlite_adapter_as_default() {
    let db = start().await;
    let res = db.get("/database/api/adapters").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"adapters": ["sqlite"], "default": "sqlite"}));
    assert!(db.state.path().join("database/sqlite/tenants").is_dir(), "the SQLite files live under RUNTIME_STATE_DIR");
}

#[tokio::test]
async fn query_tables_schema_and_paginated_rows() {
    let db = start().await;
    let res = db.post("/database/api/query", json!({"sql": "CREATE TABLE \"we\"\"ird\" (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)"})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    for i in 0..150 {
        let res = db.post("/database/api/query", json!({"sql": "INSERT INTO \"we\"\"ird\" (name, data) VALUES (?, x'6869')", "args": [format!("n{i}")]})).await;
        assert_eq!(res.json()["affectedRows"], 1);
    }
    let res = db.post("/database/api/query", json!({"sql": "SELECT id, name FROM \"we\"\"ird\" WHERE id <= 2"})).await;
    let body = res.json();
    assert_eq!((body["rowCount"].clone(), body["rows"].clone()), (json!(2), json!([{"id": 1, "name": "n0"}, {"id": 2, "name": "n1"}])));
    assert!(body["duration"].is_number());

    let tables = db.get("/database/api/tables").await.json();
    assert_eq!(tables, json!({"tables": [{"name": "we\"ird", "type": "table"}], "type": "sqlite"}));
    let schema = db.get("/database/api/tables/we%22ird/schema").await.json();
    assert_eq!(schema["columns"][0], json!({"name": "id", "type": "INTEGER", "nullable": true, "pk": true}));
    assert_eq!(schema["columns"][1], json!({"name": "name", "type": "TEXT", "nullable": false, "pk": false}));

    let page = db.get("/database/api/tables/we%22ird/rows?limit=2&offset=10").await.json();
    assert_eq!((page["limit"].clone(), page["offset"].clone(), page["total"].clone()), (json!(2), json!(10), json!(150)));
    assert_eq!(page["rows"][0], json!({"id": 11, "name": "n10", "data": "hi"}), "BLOBs show as text");
    let page = db.get("/database/api/tables/we%22ird/rows").await.json();
    assert_eq!(page["rows"].as_array().unwrap().len(), 100, "default page");
    let page = db.get("/database/api/tables/we%22ird/rows?limit=5000").await.json();
    assert_eq!(page["limit"], 1000, "capped");
}

#[tokio::test]
async fn identifiers_are_checked_and_quoted_never_injected() {
    let db = start().await;
    db.post("/database/api/query", json!({"sql": "CREATE TABLE t (v)"})).await;
    let res = db.get("/database/api/tables/t%22%3B%20DROP%20TABLE%20t%3B%20--/rows").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "TABLE_NOT_FOUND");
    assert_eq!(db.get("/database/api/tables").await.json()["tables"][0]["name"], "t");
}

#[tokio::test]
async fn bad_inputs_answer_400_with_an_error() {
    let db = start().await;
    for body in [json!({}), json!({"sql": ""}), json!({"sql": 3})] {
        let res = db.post("/database/api/query", body).await;
        assert_eq!((res.status.as_u16(), res.json()), (400, json!({"error": "Missing or invalid SQL query"})));
    }
    let res = db.post("/database/api/query", json!({"sql": "SELEC 1"})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "SQLITE_ERROR");
    assert!(res.json()["error"].as_str().unwrap().contains("syntax error"));
    let res = db.get("/database/api/tables?type=postgres").await;
    assert_eq!((res.status.as_u16(), res.json()["code"].clone()), (400, json!("UNKNOWN_ADAPTER")));
    let res = db.post("/database/api/tenants", json!({"id": 3})).await;
    assert_eq!((res.status.as_u16(), res.json()), (400, json!({"error": "Missing or invalid tenant id"})));
}

#[tokio::test]
async fn tenant_ids_are_validated_never_a_path() {
    let db = start().await;
    for id in ["..", "../../etc/passwd", "a.b", "a%2Fb"] {
        let res = db.post("/database/api/tenants", json!({"id": id})).await;
        assert_eq!((res.status.as_u16(), res.json()["code"].clone()), (400, json!("INVALID_TENANT")), "{id}");
        let res = db.get(&format!("/database/api/tables?tenant={}", id.replace('/', "%2F"))).await;
        assert_eq!(res.status, 400, "{id}");
    }
    let entries: Vec<_> = std::fs::read_dir(db.state.path().join("database/sqlite")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["tenants"], "nothing was created outside tenants/");
}

#[tokio::test]
async fn tenants_are_separate_files_created_listed_and_deleted() {
    let db = start().await;
    let res = db.post("/database/api/tenants", json!({"id": "acme"})).await;
    assert_eq!((res.status.as_u16(), res.json()["ok"].clone()), (201, json!(true)));
    db.post("/database/api/query", json!({"sql": "CREATE TABLE only_acme (v)", "tenant": "acme"})).await;
    assert_eq!(db.get("/database/api/tables").await.json()["tables"], json!([]), "the root is untouched");
    assert_eq!(db.get("/database/api/tables?tenant=acme").await.json()["tables"][0]["name"], "only_acme");
    // The shipped manifest has autoCreate: a tenant appears on first use.
    db.post("/database/api/query", json!({"sql": "SELECT 1", "tenant": "beta"})).await;
    assert_eq!(db.get("/database/api/tenants").await.json(), json!({"tenants": ["acme", "beta"], "type": "sqlite"}));
    let res = db.send(Method::DELETE, "/database/api/tenants/acme", &[], None).await;
    assert_eq!(res.json(), json!({"ok": true}));
    assert!(!db.state.path().join("database/sqlite/tenants/acme.db").exists(), "deleted, not truncated");
    let res = db.send(Method::DELETE, "/database/api/tenants/acme", &[], None).await;
    assert_eq!(res.status, 404);
}

#[tokio::test]
async fn without_auto_create_unknown_tenants_are_404() {
    let db = start_with(&MANIFEST.replace("autoCreate: true", "autoCreate: false")).await;
    let res = db.post("/database/api/query", json!({"sql": "SELECT 1", "tenant": "ghost"})).await;
    assert_eq!((res.status.as_u16(), res.json()["code"].clone()), (404, json!("TENANT_NOT_FOUND")));
    db.post("/database/api/tenants", json!({"id": "ghost"})).await;
    assert_eq!(db.post("/database/api/query", json!({"sql": "SELECT 1", "tenant": "ghost"})).await.status, 200);
}

#[tokio::test]
async fn with_tenancy_enabled_the_header_then_the_default_tenant_apply() {
    let db = start_with(&MANIFEST.replace("enabled: false ", "enabled: true ")).await;
    let create = |t: &'static str| json!({"sql": format!("CREATE TABLE in_{t} (v)")});
    db.send(Method::POST, "/database/api/query", &[("x-tenant-id", "acme")], Some(create("acme"))).await;
    db.post("/database/api/query", create("default")).await;
    assert_eq!(db.get("/database/api/tenants").await.json()["tenants"], json!(["acme", "default"]));
    let res = db.send(Method::GET, "/database/api/tables", &[("x-tenant-id", "acme")], None).await;
    assert_eq!(res.json()["tables"][0]["name"], "in_acme");
    // An explicit tenant wins over the header.
    let res = db.send(Method::GET, "/database/api/tables?tenant=default", &[("x-tenant-id", "acme")], None).await;
    assert_eq!(res.json()["tables"][0]["name"], "in_default");
    let res = db.send(Method::GET, "/database/api/tables", &[("x-tenant-id", "../x")], None).await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn health_probes_every_adapter() {
    let db = start().await;
    assert_eq!(db.get("/database/api/health").await.json(), json!({"status": "healthy", "adapters": {"sqlite": "healthy"}}));
    assert_eq!(db.get("/database/api/health?type=sqlite").await.json(), json!({"status": "healthy", "type": "sqlite"}));
    assert_eq!(db.get("/database/api/health?type=mysql").await.status, 400);
}

#[tokio::test]
async fn bad_adapter_lists_stop_start_up_naming_the_key() {
    let cases = [
        ("adapters: []\n", "`adapters` is empty"),
        ("adapters: [{type: sqlite}, {type: sqlite}]\n", "`adapters[1].type`: duplicate adapter type `sqlite`"),
        ("adapters: [{type: sqlite, default: true}, {type: libsql, default: true}]\n", "several default adapters"),
        ("adapters: [{type: oracle}]\n", "unknown adapter type `oracle`"),
    ];
    for (yaml, needle) in cases {
        let manifest = format!("name: \"{NAME}\"\nbase: /database\n{yaml}");
        let err = PluginHarness::new(&manifest, DatabasePlugin::new).start().await.unwrap_err();
        assert!(err.to_string().contains(needle), "{yaml}: {err}");
    }
}

#[tokio::test]
async fn other_plugins_get_a_typed_service() {
    let db = start().await;
    let svc = db.h.generation().services.get::<DatabaseService>(NAME).expect("provided under the plugin name");
    svc.execute(Target::root(), Statement::new("CREATE TABLE kv (k TEXT PRIMARY KEY, v)")).await.unwrap();
    let ok = svc.batch(Target::root(), vec![Statement::with_args("INSERT INTO kv VALUES (?, ?)", ["a".into(), Value::Integer(1)])]).await.unwrap();
    assert_eq!(ok[0].affected_row_count, 1);
    // Atomic: the second statement fails, so the first is rolled back.
    let err = svc
        .batch(Target::root(), vec![Statement::with_args("INSERT INTO kv VALUES (?, 2)", ["b".into()]), Statement::with_args("INSERT INTO kv VALUES (?, 3)", ["a".into()])])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SQLITE_CONSTRAINT_PRIMARYKEY");
    let rows = svc.execute(Target::root(), Statement::new("SELECT k FROM kv ORDER BY k")).await.unwrap().rows;
    assert_eq!(rows, vec![vec![Value::Text("a".into())]]);
    svc.execute(Target::tenant("acme").on("sqlite"), Statement::new("CREATE TABLE t (v)")).await.unwrap();
    assert_eq!(svc.list_tenants(None).await.unwrap(), ["acme"]);
    assert!(svc.execute(Target::tenant("a/b"), Statement::new("SELECT 1")).await.is_err());
}

#[tokio::test]
async fn shutdown_closes_and_logs() {
    let db = start().await;
    assert!(db.h.logs().contains("database ready; adapters: sqlite (default sqlite)"), "{:?}", db.h.logs().lines());
    let logs = db.h.shutdown().await;
    assert!(logs.contains("database closed"));
}
