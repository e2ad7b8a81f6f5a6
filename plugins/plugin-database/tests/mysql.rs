//! The mysql adapter against a real MariaDB started by the test: HRANA execute with real counts
//! and insert ids, typed values, batches, a baton transaction across requests, the typed service,
//! a database per tenant on small pools, and the server going away mid-test.

mod support;

use buntime_plugin_database::{DatabaseService, NAME, Statement, Target};
use buntime_testkit::MariaDbServer;
use serde_json::{Value, json};
use support::{exec, exec_args, start_mysql};

const PIPE: &str = "/database/api/v2/pipeline";

fn int(v: i64) -> Value {
    json!({"type": "integer", "value": v.to_string()})
}
fn text(v: &str) -> Value {
    json!({"type": "text", "value": v})
}

#[tokio::test]
async fn hrana_executes_with_real_counts_ids_and_values_on_mariadb() {
    let Some(my) = MariaDbServer::start_or_skip() else {
        return;
    };
    let db = start_mysql(&my.url(), 2).await;
    let create = "CREATE TABLE v (id int AUTO_INCREMENT PRIMARY KEY, i int, b bigint, f double, t text, y blob, n decimal(10,2), d date, ts datetime(3))";
    assert_eq!(db.run(None, exec(create)).await["type"], "ok");
    let args = json!([int(7), {"type": "integer", "value": "9007199254740993"}, {"type": "float", "value": 2.5}, text("héllo"),
        {"type": "blob", "base64": "AAEC/w=="}, text("12.5"), text("2024-02-29"), text("2024-02-29 12:00:00.250")]);
    let insert = exec_args(
        "INSERT INTO v (i, b, f, t, y, n, d, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        args,
    );
    let r = db.run(None, insert.clone()).await;
    assert_eq!(r["response"]["result"]["affected_row_count"], 1, "{r}");
    assert_eq!(r["response"]["result"]["last_insert_rowid"], "1");
    assert_eq!(
        db.run(None, insert).await["response"]["result"]["last_insert_rowid"],
        "2"
    );
    let expected = json!([int(7), {"type": "integer", "value": "9007199254740993"}, {"type": "float", "value": 2.5}, text("héllo"),
        {"type": "blob", "base64": "AAEC/w=="}, text("12.50"), text("2024-02-29"), text("2024-02-29 12:00:00.250"), {"type": "null"}]);
    // Without arguments the text protocol answers, with them the binary one: the same values.
    let sql = "SELECT i, b, f, t, y, n, d, ts, NULL FROM v WHERE id = ";
    let r = db.run(None, exec(&format!("{sql}1"))).await;
    assert_eq!(r["response"]["result"]["rows"][0], expected, "{r}");
    let types: Vec<Value> = r["response"]["result"]["cols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["decltype"].clone())
        .collect();
    assert_eq!(
        types[..6],
        [
            json!("int"),
            json!("bigint"),
            json!("double"),
            json!("text"),
            json!("blob"),
            json!("decimal")
        ]
    );
    let r = db
        .run(None, exec_args(&format!("{sql}?"), json!([int(1)])))
        .await;
    assert_eq!(r["response"]["result"]["rows"][0], expected, "{r}");
    let r = db.run(None, exec("UPDATE v SET t = 'x'")).await;
    assert_eq!(r["response"]["result"]["affected_row_count"], 2);
    let named = json!({"type": "execute", "stmt": {"sql": "SELECT :a + ?", "args": [int(2)], "named_args": [{"name": "a", "value": int(40)}]}});
    assert_eq!(
        db.run(None, named).await["response"]["result"]["rows"][0][0],
        int(42)
    );

    let r = db.run(None, exec("SELEC 1")).await;
    assert_eq!(r["error"]["code"], "SQLITE_ERROR", "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("1064"),
        "{r}"
    );
    let r = db.run(None, exec("INSERT INTO v (id) VALUES (1)")).await;
    assert_eq!(r["error"]["code"], "SQLITE_CONSTRAINT_UNIQUE", "{r}");
    let steps = json!([{"stmt": {"sql": "INSERT INTO v (i) VALUES (1)"}}, {"stmt": {"sql": "SELEC"}}, {"condition": {"type": "error", "step": 1}, "stmt": {"sql": "SELECT count(*) FROM v"}}]);
    let r = db
        .run(None, json!({"type": "batch", "batch": {"steps": steps}}))
        .await;
    assert_eq!(
        r["response"]["result"]["step_results"][2]["rows"][0][0],
        int(3),
        "{r}"
    );
}

#[tokio::test]
async fn a_baton_holds_a_real_mariadb_transaction_and_the_service_batch_is_atomic() {
    let Some(my) = MariaDbServer::start_or_skip() else {
        return;
    };
    let db = start_mysql(&my.url(), 2).await;
    db.run(None, exec("CREATE TABLE t (k int PRIMARY KEY)"))
        .await;
    let count = || async {
        db.run(None, exec("SELECT count(*) FROM t")).await["response"]["result"]["rows"][0][0]
            .clone()
    };
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
        count().await,
        int(0),
        "another connection does not see the uncommitted row"
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
    assert_eq!(count().await, int(1));
    // Closed mid-transaction: the driver's reset rolls it back and frees the row lock.
    db.pipeline(
        PIPE,
        None,
        json!([exec("BEGIN"), exec("INSERT INTO t VALUES (2)"), {"type": "close"}]),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(
        db.run(None, exec("INSERT INTO t VALUES (2)")).await["type"],
        "ok"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the lock was released"
    );

    let svc =
        db.h.generation()
            .services
            .get::<DatabaseService>(NAME)
            .unwrap();
    let err = svc
        .batch(
            Target::root(),
            vec![
                Statement::new("INSERT INTO t VALUES (3)"),
                Statement::new("INSERT INTO t VALUES (1)"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SQLITE_CONSTRAINT_UNIQUE");
    assert_eq!(count().await, int(2), "the failed batch kept nothing");
}

#[tokio::test]
async fn tenants_are_databases_that_never_see_each_other() {
    let Some(my) = MariaDbServer::start_or_skip() else {
        return;
    };
    for pool in [1u32, 2] {
        let db = start_mysql(&my.url(), pool).await;
        let spaces = [None, Some("a"), Some("b")];
        let tag = |ns: Option<&str>| ns.unwrap_or("root").to_owned();
        for ns in spaces {
            assert_eq!(
                db.run(ns, exec("CREATE TABLE IF NOT EXISTS t (who text)"))
                    .await["type"],
                "ok"
            );
            db.run(ns, exec("DELETE FROM t")).await;
        }
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
                "pool {pool}, {ns:?}"
            );
        }
        // Session state stays with its checkout: a `USE`, a user variable.
        let r = db
            .run(
                Some("a"),
                json!({"type": "sequence", "sql": "USE buntime; SET @secret = 'a-data'"}),
            )
            .await;
        assert_eq!(r["type"], "ok", "{r}");
        let r = db.run(Some("b"), exec("SELECT @secret")).await;
        assert_eq!(
            r["response"]["result"]["rows"][0][0],
            json!({"type": "null"}),
            "pool {pool}: {r}"
        );
        let r = db
            .run(Some("a"), exec("SELECT count(*) FROM t WHERE who = 'a'"))
            .await;
        assert_eq!(
            r["response"]["result"]["rows"][0][0],
            int(10),
            "pool {pool}: pinned to `a` again"
        );
        assert_eq!(
            db.get("/database/api/tenants").await.json(),
            json!({"tenants": ["a", "b"], "type": "mysql"})
        );
        let schema = db
            .get("/database/api/tables/t/schema?tenant=a")
            .await
            .json();
        assert_eq!(
            schema["columns"],
            json!([{"name": "who", "type": "text", "nullable": true, "pk": false}]),
            "{schema}"
        );
        for reserved in ["mysql", "buntime", "information_schema"] {
            assert_eq!(
                db.post("/database/api/tenants", json!({"id": reserved}))
                    .await
                    .status,
                400,
                "{reserved}"
            );
        }
    }
}

#[tokio::test]
async fn mariadb_going_away_is_a_503_and_the_adapter_recovers() {
    let Some(my) = MariaDbServer::start_or_skip() else {
        return;
    };
    let db = start_mysql(&my.url(), 2).await;
    db.run(None, exec("CREATE TABLE t (v int)")).await;
    db.run(None, exec("INSERT INTO t VALUES (1)")).await;
    my.stop();
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
    assert_eq!(
        db.get("/database/api/adapters").await.status,
        200,
        "the plugin keeps serving"
    );
    my.restart().unwrap();
    let started = std::time::Instant::now();
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
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "reconnected at once, not after a timeout: {:?}",
        started.elapsed()
    );
}
