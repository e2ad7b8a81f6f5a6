//! The postgres adapter against a real PostgreSQL started by the test: HRANA execute, batch,
//! describe and transactions across requests, typed values, the studio routes, the typed service,
//! tenant isolation (a schema per tenant) on small pools, and the server going away mid-test.

mod support;

use buntime_plugin_database::{DatabaseService, NAME, Statement, Target, Value as SqlValue};
use buntime_testkit::PgServer;
use http::Method;
use serde_json::{Value, json};
use support::{exec, exec_args, start_pg};

const PIPE: &str = "/database/api/v2/pipeline";

fn int(v: i64) -> Value {
    json!({"type": "integer", "value": v.to_string()})
}
fn text(v: &str) -> Value {
    json!({"type": "text", "value": v})
}

#[tokio::test]
async fn hrana_executes_with_real_counts_and_typed_values() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let db = start_pg(&pg, 2).await;
    let create = "CREATE TABLE v (id serial PRIMARY KEY, i int, b bigint, f double precision, t text, y bytea, ok boolean, \
                  n numeric(10,2), j jsonb, ts timestamptz, d date, u uuid)";
    assert_eq!(db.run(None, exec(create)).await["type"], "ok");
    let args = json!([int(7), {"type": "integer", "value": "9007199254740993"}, {"type": "float", "value": 2.5}, text("héllo"),
        {"type": "blob", "base64": "AAEC/w=="}, int(1), {"type": "float", "value": 12.5}, text(r#"{"a": [1, 2]}"#),
        text("2024-02-29 12:00:00.25+00"), text("2024-02-29"), text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]);
    let insert = exec_args(
        "INSERT INTO v (i, b, f, t, y, ok, n, j, ts, d, u) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        args,
    );
    let r = db.run(None, insert.clone()).await;
    let result = &r["response"]["result"];
    assert_eq!(
        (
            result["affected_row_count"].clone(),
            result["last_insert_rowid"].clone()
        ),
        (json!(1), Value::Null),
        "{r}"
    );
    db.run(None, insert).await;

    let r = db.run(None, exec("SELECT i, b, f, t, y, ok, n, j, ts, d, u, NULL::int AS nothing FROM v WHERE id = 1")).await;
    let result = &r["response"]["result"];
    assert_eq!(
        result["rows"][0],
        json!([int(7), {"type": "integer", "value": "9007199254740993"}, {"type": "float", "value": 2.5}, text("héllo"),
            {"type": "blob", "base64": "AAEC/w=="}, int(1), text("12.50"), text(r#"{"a": [1, 2]}"#),
            text("2024-02-29 12:00:00.25+00"), text("2024-02-29"), text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), {"type": "null"}]),
        "{r}"
    );
    assert_eq!(result["cols"][0], json!({"name": "i", "decltype": "int4"}));
    assert_eq!(
        (
            result["affected_row_count"].clone(),
            result["rows_read"].clone()
        ),
        (json!(0), json!(1)),
        "a query changes nothing"
    );

    let r = db.run(None, exec("UPDATE v SET t = 'x'")).await;
    assert_eq!(
        r["response"]["result"]["affected_row_count"], 2,
        "the command tag's count"
    );
    let named = json!({"type": "execute", "stmt": {"sql": "SELECT :a::int + @b, $c::text", "named_args": [
        {"name": "b", "value": int(2)}, {"name": ":a", "value": int(40)}, {"name": "$c", "value": text("x::y")}]}});
    assert_eq!(
        db.run(None, named).await["response"]["result"]["rows"][0],
        json!([int(42), text("x::y")])
    );
    let dollar = exec_args(
        "SELECT $2::int - $1::int, '?' AS q",
        json!([int(1), int(10)]),
    );
    assert_eq!(
        db.run(None, dollar).await["response"]["result"]["rows"][0],
        json!([int(9), text("?")])
    );

    let r = db.run(None, exec("SELEC 1")).await;
    assert_eq!(r["error"]["code"], "SQLITE_ERROR", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error")
            && r["error"]["message"].as_str().unwrap().contains("42601"),
        "{r}"
    );
    let r = db.run(None, exec("SELECT * FROM missing")).await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{r}"
    );
    let r = db.run(None, exec("INSERT INTO v (id) VALUES (1)")).await;
    assert_eq!(r["error"]["code"], "SQLITE_CONSTRAINT_UNIQUE", "{r}");
    let r = db
        .run(None, exec_args("SELECT ?::int", json!([int(1), int(2)])))
        .await;
    assert_eq!(r["error"]["code"], "SQLITE_RANGE", "{r}");
    let r = db
        .run(
            None,
            exec_args(
                "UPDATE v SET i = ?",
                json!([{"type": "blob", "base64": "AA=="}]),
            ),
        )
        .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("argument 1 is a blob"),
        "{r}"
    );
    let r = db.run(None, exec("SELECT '1.2.3.4'::inet AS addr")).await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column `addr`")
            && r["error"]["message"].as_str().unwrap().contains("::text"),
        "{r}"
    );
}

#[tokio::test]
async fn batches_sequences_and_describe_on_postgres() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let db = start_pg(&pg, 2).await;
    let seq = json!({"type": "sequence", "sql": "CREATE TABLE s (a int NOT NULL, b text); INSERT INTO s VALUES (1, 'x;y'); INSERT INTO s VALUES (2, $$z;$$);"});
    assert_eq!(db.run(None, seq).await["type"], "ok");
    let step = |sql: &str, cond: Value| json!({"condition": cond, "stmt": {"sql": sql}});
    let steps = json!([
        {"stmt": {"sql": "INSERT INTO s VALUES (3, 'c')"}},
        {"stmt": {"sql": "INSERT INTO s VALUES (NULL, 'd')"}},
        step("SELECT 'skipped'", json!({"type": "ok", "step": 1})),
        step("SELECT count(*) FROM s", json!({"type": "error", "step": 1})),
        step("SELECT 'auto'", json!({"type": "is_autocommit"})),
    ]);
    let r = db
        .run(None, json!({"type": "batch", "batch": {"steps": steps}}))
        .await;
    let result = &r["response"]["result"];
    assert_eq!(
        result["step_errors"][1]["code"], "SQLITE_CONSTRAINT_NOTNULL",
        "{r}"
    );
    assert_eq!(result["step_results"][2], Value::Null);
    assert_eq!(
        result["step_results"][3]["rows"][0][0],
        int(3),
        "`;` inside literals and dollar quotes did not split"
    );
    assert!(
        result["step_results"][4].is_object(),
        "outside a transaction"
    );

    let r = db
        .run(
            None,
            json!({"type": "describe", "sql": "SELECT a, b FROM s WHERE a = ?"}),
        )
        .await;
    assert_eq!(
        r["response"]["result"],
        json!({"params": [{"name": null}], "cols": [{"name": "a", "decltype": "int4"}, {"name": "b", "decltype": "text"}], "is_explain": false, "is_readonly": true})
    );
    let r = db
        .run(None, json!({"type": "describe", "sql": "DELETE FROM s"}))
        .await;
    assert_eq!(r["response"]["result"]["is_readonly"], false);

    // The libSQL client's SQLite spellings: `BEGIN IMMEDIATE` and `PRAGMA foreign_keys` around migrations.
    let migrate = json!([
        exec("PRAGMA foreign_keys=off"), exec("BEGIN DEFERRED"), exec("ALTER TABLE s ADD COLUMN c int DEFAULT 5"), exec("COMMIT"), exec("PRAGMA foreign_keys=on"), {"type": "close"}
    ]);
    let (_, body) = db.pipeline(PIPE, None, migrate).await;
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] == "ok"),
        "{body}"
    );
    assert_eq!(
        db.run(None, exec("SELECT c FROM s WHERE a = 1")).await["response"]["result"]["rows"][0][0],
        int(5)
    );
}

async fn count(db: &support::Db) -> Value {
    db.run(None, exec("SELECT count(*) FROM t")).await["response"]["result"]["rows"][0][0].clone()
}

#[tokio::test]
async fn a_baton_holds_a_real_postgres_transaction_across_requests() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let db = start_pg(&pg, 2).await;
    db.run(None, exec("CREATE TABLE t (k int PRIMARY KEY)"))
        .await;
    let (_, body) = db.pipeline(PIPE, None, json!([exec("BEGIN IMMEDIATE"), exec("INSERT INTO t VALUES (1)"), {"type": "get_autocommit"}])).await;
    assert_eq!(
        body["results"][2]["response"]["is_autocommit"], false,
        "{body}"
    );
    let baton = body["baton"]
        .as_str()
        .expect("an open transaction keeps its stream")
        .to_owned();
    assert_eq!(
        count(&db).await,
        int(0),
        "another connection does not see the uncommitted row"
    );
    let (_, body) = db
        .pipeline(
            PIPE,
            Some(&baton),
            json!([
                exec("INSERT INTO t VALUES (2)"),
                exec("SELECT count(*) FROM t")
            ]),
        )
        .await;
    assert_eq!(
        body["results"][1]["response"]["result"]["rows"][0][0],
        int(2),
        "the transaction sees its own rows"
    );
    let (_, body) = db
        .pipeline(
            PIPE,
            Some(&baton),
            json!([exec("COMMIT"), {"type": "get_autocommit"}, {"type": "close"}]),
        )
        .await;
    assert_eq!(
        body["results"][1]["response"]["is_autocommit"], true,
        "{body}"
    );
    assert_eq!(count(&db).await, int(2), "committed");

    // A failed statement aborts the transaction; ROLLBACK undoes the rest.
    let reqs = json!([exec("BEGIN"), exec("DELETE FROM t"), exec("INSERT INTO t VALUES (9)"), exec("INSERT INTO t VALUES (9)"), {"type": "get_autocommit"}, exec("SELECT 1"), exec("ROLLBACK")]);
    let (_, body) = db.pipeline(PIPE, None, reqs).await;
    assert_eq!(
        body["results"][3]["error"]["code"], "SQLITE_CONSTRAINT_UNIQUE",
        "{body}"
    );
    assert_eq!(
        body["results"][4]["response"]["is_autocommit"], false,
        "an aborted transaction is still open"
    );
    assert!(
        body["results"][5]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("25P02"),
        "{body}"
    );
    assert_eq!(body["results"][6]["type"], "ok");
    assert_eq!(count(&db).await, int(2));

    // After a script the server is asked whether a transaction is open.
    let seq = |sql: &str| json!({"type": "sequence", "sql": sql});
    let (_, body) = db.pipeline(PIPE, None, json!([seq("BEGIN; INSERT INTO t VALUES (5); COMMIT"), {"type": "get_autocommit"}, seq("BEGIN; INSERT INTO t VALUES (6)"), {"type": "get_autocommit"}, exec("ROLLBACK"), {"type": "close"}])).await;
    let autocommit: Vec<Value> = [1, 3]
        .iter()
        .map(|i| body["results"][i]["response"]["is_autocommit"].clone())
        .collect();
    assert_eq!(autocommit, [json!(true), json!(false)], "{body}");
    assert_eq!(count(&db).await, int(3));

    // A stream closed mid-transaction rolls back and releases its locks at once.
    let (_, body) = db
        .pipeline(
            PIPE,
            None,
            json!([exec("BEGIN"), exec("INSERT INTO t VALUES (3)"), {"type": "close"}]),
        )
        .await;
    assert_eq!(body["baton"], Value::Null);
    let started = std::time::Instant::now();
    let r = db.run(None, exec("INSERT INTO t VALUES (3)")).await;
    assert_eq!(r["type"], "ok", "the abandoned row was rolled back: {r}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "its lock was released, not held until a timeout"
    );
}

#[tokio::test]
async fn the_typed_service_batch_is_atomic_on_postgres() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let db = start_pg(&pg, 1).await;
    let svc =
        db.h.generation()
            .services
            .get::<DatabaseService>(NAME)
            .expect("provided under the plugin name");
    assert_eq!(svc.default_type(), "postgres");
    svc.execute(
        Target::root(),
        Statement::new("CREATE TABLE kv (k text PRIMARY KEY, v text NOT NULL)"),
    )
    .await
    .unwrap();
    let ok = svc
        .batch(
            Target::root(),
            vec![
                Statement::with_args("INSERT INTO kv VALUES (?, ?)", ["a".into(), "1".into()]),
                Statement::new("INSERT INTO kv VALUES ('b', '2')"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        ok.iter().map(|r| r.affected_row_count).collect::<Vec<_>>(),
        [1, 1]
    );
    let err = svc
        .batch(
            Target::root(),
            vec![
                Statement::new("INSERT INTO kv VALUES ('c', '3')"),
                Statement::new("INSERT INTO kv VALUES ('d', NULL)"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SQLITE_CONSTRAINT_NOTNULL");
    let rows = svc
        .execute(
            Target::root(),
            Statement::new("SELECT k FROM kv ORDER BY k"),
        )
        .await
        .unwrap()
        .rows;
    assert_eq!(
        rows,
        vec![vec![SqlValue::from("a")], vec![SqlValue::from("b")]],
        "the failed batch kept nothing"
    );
    let r = svc
        .execute(
            Target::tenant("acme"),
            Statement::new("SELECT count(*) FROM kv"),
        )
        .await;
    assert!(
        r.unwrap_err().to_string().contains("does not exist"),
        "a tenant does not see the root's tables"
    );
}

#[tokio::test]
async fn tenants_never_see_each_other_even_on_a_pool_of_one_or_two() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    for pool in [1u32, 2] {
        let db = start_pg(&pg, pool).await;
        let tag = |ns: Option<&str>| ns.unwrap_or("root").to_owned();
        let spaces = [None, Some("a"), Some("b")];
        for ns in spaces {
            let r = db
                .run(ns, exec("CREATE TABLE IF NOT EXISTS t (who text)"))
                .await;
            assert_eq!(r["type"], "ok", "{r}");
            db.run(ns, exec("DELETE FROM t")).await;
        }
        // Thirty writes, interleaved across the namespaces on the same few connections.
        let writes = (0..30).map(|i| {
            let ns = spaces[i % 3];
            let db = &db;
            async move {
                db.run(
                    ns,
                    exec_args("INSERT INTO t VALUES (?)", json!([text(&tag(ns))])),
                )
                .await
            }
        });
        for r in futures_util::future::join_all(writes).await {
            assert_eq!(r["response"]["result"]["affected_row_count"], 1, "{r}");
        }
        for ns in spaces {
            let r = db
                .run(ns, exec("SELECT who, count(*) FROM t GROUP BY who"))
                .await;
            assert_eq!(
                r["response"]["result"]["rows"],
                json!([[text(&tag(ns)), int(10)]]),
                "pool {pool}, {ns:?} sees only its rows"
            );
        }
        if pool == 2 {
            // A baton pins one connection in a transaction of `a`; the others share the second.
            let body = json!({"requests": [exec("BEGIN"), exec("INSERT INTO t VALUES ('a-tx')")]});
            let res = db
                .send(
                    Method::POST,
                    PIPE,
                    &[("x-database-namespace", "a")],
                    Some(body),
                )
                .await
                .json();
            let baton = res["baton"]
                .as_str()
                .expect("the transaction keeps its stream")
                .to_owned();
            for ns in [Some("b"), None, Some("a")] {
                let r = db.run(ns, exec("SELECT count(*) FROM t")).await;
                assert_eq!(
                    r["response"]["result"]["rows"][0][0],
                    int(10),
                    "{ns:?} sees neither a's tenant rows nor its uncommitted one"
                );
            }
            let (_, body) = db
                .pipeline(
                    PIPE,
                    Some(&baton),
                    json!([exec("COMMIT"), {"type": "close"}]),
                )
                .await;
            assert_eq!(body["results"][0]["type"], "ok", "{body}");
            assert_eq!(
                db.run(Some("a"), exec("SELECT count(*) FROM t")).await["response"]["result"]["rows"]
                    [0][0],
                int(11)
            );
            assert_eq!(
                db.run(Some("b"), exec("SELECT count(*) FROM t")).await["response"]["result"]["rows"]
                    [0][0],
                int(10)
            );
            db.run(Some("a"), exec("DELETE FROM t WHERE who = 'a-tx'"))
                .await;
        }
        // Session state stays with its checkout: a search_path change, a temp table.
        let r = db.run(Some("a"), json!({"type": "sequence", "sql": "SET search_path TO public; CREATE TEMP TABLE secret AS SELECT 1 AS x"})).await;
        assert_eq!(r["type"], "ok", "{r}");
        let r = db.run(Some("b"), exec("SELECT * FROM secret")).await;
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not exist")),
            "pool {pool}: {r}"
        );
        let r = db
            .run(Some("a"), exec("SELECT count(*) FROM t WHERE who = 'a'"))
            .await;
        assert_eq!(
            r["response"]["result"]["rows"][0][0],
            int(10),
            "pool {pool}: the next checkout is pinned to `a` again"
        );
        // The studio sees the same split.
        db.run(Some("a"), exec("CREATE TABLE IF NOT EXISTS only_a (v int)"))
            .await;
        assert_eq!(
            db.get("/database/api/tables").await.json()["tables"],
            json!([{"name": "t", "type": "table"}])
        );
        assert_eq!(
            db.get("/database/api/tables?tenant=a").await.json()["tables"],
            json!([{"name": "only_a", "type": "table"}, {"name": "t", "type": "table"}])
        );
    }
}

#[tokio::test]
async fn studio_routes_and_tenants_on_postgres() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let db = start_pg(&pg, 2).await;
    assert_eq!(
        db.get("/database/api/adapters").await.json(),
        json!({"adapters": ["postgres"], "default": "postgres"})
    );
    let res = db.post("/database/api/query", json!({"sql": "CREATE TABLE \"we\"\"ird\" (id serial PRIMARY KEY, name text NOT NULL, data bytea)"})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    db.post(
        "/database/api/query",
        json!({"sql": "CREATE VIEW names AS SELECT name FROM \"we\"\"ird\""}),
    )
    .await;
    for i in 0..15 {
        let res = db.post("/database/api/query", json!({"sql": "INSERT INTO \"we\"\"ird\" (name, data) VALUES (?, '\\x6869')", "args": [format!("n{i}")]})).await;
        assert_eq!(res.json()["affectedRows"], 1, "{}", res.text());
    }
    let tables = db.get("/database/api/tables").await.json();
    assert_eq!(
        tables,
        json!({"tables": [{"name": "names", "type": "view"}, {"name": "we\"ird", "type": "table"}], "type": "postgres"})
    );
    let schema = db.get("/database/api/tables/we%22ird/schema").await.json();
    assert_eq!(
        schema["columns"][0],
        json!({"name": "id", "type": "integer", "nullable": false, "pk": true})
    );
    assert_eq!(
        schema["columns"][2],
        json!({"name": "data", "type": "bytea", "nullable": true, "pk": false})
    );
    let page = db
        .get("/database/api/tables/we%22ird/rows?limit=2&offset=10")
        .await
        .json();
    assert_eq!(
        (page["total"].clone(), page["rows"][0].clone()),
        (json!(15), json!({"id": 11, "name": "n10", "data": "hi"})),
        "{page}"
    );
    let res = db.get("/database/api/tables/nope/rows").await;
    assert_eq!(
        (res.status.as_u16(), res.json()["code"].clone()),
        (404, json!("TABLE_NOT_FOUND"))
    );

    let res = db
        .post("/database/api/tenants", json!({"id": "acme"}))
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()["type"].clone()),
        (201, json!("postgres"))
    );
    assert_eq!(
        db.post("/database/api/tenants", json!({"id": "acme"}))
            .await
            .json()["created"],
        false
    );
    assert_eq!(
        db.get("/database/api/tenants").await.json(),
        json!({"tenants": ["acme"], "type": "postgres"})
    );
    for reserved in ["public", "pg_toast", "information_schema"] {
        let res = db
            .post("/database/api/tenants", json!({"id": reserved}))
            .await;
        assert_eq!(res.status, 400, "{reserved}: {}", res.text());
    }
    assert_eq!(
        db.send(Method::DELETE, "/database/api/tenants/acme", &[], None)
            .await
            .json(),
        json!({"ok": true})
    );
    assert_eq!(
        db.send(Method::DELETE, "/database/api/tenants/acme", &[], None)
            .await
            .status,
        404
    );
    assert_eq!(
        db.get("/database/api/tenants").await.json()["tenants"],
        json!([])
    );
    assert_eq!(
        db.get("/database/api/health?type=postgres").await.json(),
        json!({"status": "healthy", "type": "postgres"})
    );
}

#[tokio::test]
async fn postgres_going_away_is_a_503_and_the_adapter_recovers() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let db = start_pg(&pg, 2).await;
    db.run(None, exec("CREATE TABLE t (v int)")).await;
    db.run(None, exec("INSERT INTO t VALUES (1)")).await;
    pg.stop().unwrap();

    let res = db
        .post(
            "/database/api/query",
            json!({"sql": "SELECT count(*) AS n FROM t"}),
        )
        .await;
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("database unavailable"),
        "{}",
        res.text()
    );
    let r = db.run(None, exec("SELECT 1")).await;
    assert_eq!(r["type"], "error", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PostgreSQL"),
        "{r}"
    );
    let res = db.get("/database/api/health?type=postgres").await;
    assert_eq!(
        (res.status.as_u16(), res.json()["status"].clone()),
        (503, json!("unhealthy"))
    );
    assert_eq!(
        db.get("/database/api/adapters").await.status,
        200,
        "the plugin keeps serving"
    );

    pg.restart().unwrap();
    let res = db
        .post(
            "/database/api/query",
            json!({"sql": "SELECT count(*) AS n FROM t"}),
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()["rows"].clone()),
        (200, json!([{"n": 1}])),
        "{}",
        res.text()
    );
}
