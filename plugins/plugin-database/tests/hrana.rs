//! HRANA over HTTP: pipelines, typed values, batches with conditions, batons that pin a real
//! transaction across requests, and error shapes for bad bodies.

mod support;

use http::Method;
use serde_json::{Value, json};
use support::{exec, start};

const PATHS: [&str; 6] = ["/database/api/pipeline", "/database/api/v2/pipeline", "/database/api/v3/pipeline", "/database/v2/pipeline", "/database/v3/pipeline", "/database/api/pipeline"];

#[tokio::test]
async fn every_pipeline_path_executes_and_reports_real_counts() {
    let db = start().await;
    let (status, body) = db.pipeline(PATHS[0], None, json!([exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v)"), {"type": "close"}])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["baton"], Value::Null, "a closed stream has no baton");
    assert_eq!(body["base_url"], Value::Null);
    for (i, path) in PATHS.iter().enumerate() {
        let insert = json!({"type": "execute", "stmt": {"sql": "INSERT INTO t (v) VALUES (?)", "args": [{"type": "text", "value": path}]}});
        let (status, body) = db.pipeline(path, None, json!([insert, {"type": "close"}])).await;
        assert_eq!(status, 200, "{path}: {body}");
        let result = &body["results"][0]["response"]["result"];
        assert_eq!(result["affected_row_count"], 1, "{path}");
        assert_eq!(result["last_insert_rowid"], json!((i + 1).to_string()), "{path}");
        assert_eq!(body["results"][1], json!({"type": "ok", "response": {"type": "close"}}));
    }
    assert_eq!(db.get("/database/api/v2").await.status, 200, "libSQL clients probe the version");
}

#[tokio::test]
async fn values_round_trip_with_their_types() {
    let db = start().await;
    let args = json!([
        {"type": "null"},
        {"type": "integer", "value": "9007199254740993"},
        {"type": "float", "value": 2.5},
        {"type": "text", "value": "héllo"},
        {"type": "blob", "base64": "AAEC/w=="}
    ]);
    let (_, body) = db.pipeline(PATHS[1], None, json!([{"type": "execute", "stmt": {"sql": "SELECT ?, ?, ?, ?, ?", "args": args}}, {"type": "close"}])).await;
    let result = &body["results"][0]["response"]["result"];
    assert_eq!(result["rows"][0], args, "{body}");
    assert_eq!(result["cols"].as_array().unwrap().len(), 5);
    assert_eq!(result["rows_read"], 1);
    let named = json!({"type": "execute", "stmt": {"sql": "SELECT :a + @b", "named_args": [{"name": "b", "value": {"type": "integer", "value": "2"}}, {"name": ":a", "value": {"type": "integer", "value": "40"}}]}});
    let (_, body) = db.pipeline(PATHS[1], None, json!([named, {"type": "close"}])).await;
    assert_eq!(body["results"][0]["response"]["result"]["rows"][0][0], json!({"type": "integer", "value": "42"}), "{body}");
    let no_rows = json!({"type": "execute", "stmt": {"sql": "SELECT 1", "want_rows": false}});
    let (_, body) = db.pipeline(PATHS[1], None, json!([no_rows, {"type": "close"}])).await;
    assert_eq!(body["results"][0]["response"]["result"]["rows"], json!([]));
}

#[tokio::test]
async fn a_baton_pins_one_connection_so_begin_commit_is_a_real_transaction() {
    let db = start().await;
    db.pipeline(PATHS[1], None, json!([exec("CREATE TABLE t (v)"), {"type": "close"}])).await;
    let (_, body) = db.pipeline(PATHS[1], None, json!([exec("BEGIN"), exec("INSERT INTO t VALUES (1)")])).await;
    let baton = body["baton"].as_str().expect("an open stream returns a baton").to_owned();
    // Another stream does not see the uncommitted row.
    let (_, other) = db.pipeline(PATHS[1], None, json!([exec("SELECT count(*) FROM t"), {"type": "close"}])).await;
    assert_eq!(other["results"][0]["response"]["result"]["rows"][0][0]["value"], "0");
    let (_, body) = db.pipeline(PATHS[1], Some(&baton), json!([{"type": "get_autocommit"}, exec("INSERT INTO t VALUES (2)"), exec("ROLLBACK"), {"type": "get_autocommit"}])).await;
    assert_eq!(body["results"][0]["response"], json!({"type": "get_autocommit", "is_autocommit": false}), "{body}");
    assert_eq!(body["results"][3]["response"]["is_autocommit"], true);
    assert_eq!(body["baton"], json!(baton), "the stream stays open until closed");
    let (_, body) = db.pipeline(PATHS[1], Some(&baton), json!([exec("BEGIN"), exec("INSERT INTO t VALUES (3)")])).await;
    let (_, body) = db.pipeline(PATHS[1], body["baton"].as_str(), json!([exec("COMMIT"), {"type": "close"}])).await;
    assert_eq!(body["results"][0]["type"], "ok", "{body}");
    assert_eq!(body["baton"], Value::Null);
    let (_, body) = db.pipeline(PATHS[1], None, json!([exec("SELECT v FROM t"), {"type": "close"}])).await;
    assert_eq!(body["results"][0]["response"]["result"]["rows"], json!([[{"type": "integer", "value": "3"}]]), "only the committed row");
    // The closed baton is gone.
    let (status, body) = db.pipeline(PATHS[1], Some(&baton), json!([exec("SELECT 1")])).await;
    assert_eq!((status, body["results"][0]["error"]["code"].clone()), (400, json!("INVALID_BATON")));
    assert_eq!(body["code"], "INVALID_BATON");
}

#[tokio::test]
async fn batches_evaluate_every_condition() {
    let db = start().await;
    let step = |sql: &str, cond: Value| json!({"condition": cond, "stmt": {"sql": sql}});
    let steps = json!([
        {"stmt": {"sql": "SELECT 1"}},
        {"stmt": {"sql": "SELEC 2"}},
        step("SELECT 'ok0'", json!({"type": "ok", "step": 0})),
        step("SELECT 'ok1'", json!({"type": "ok", "step": 1})),
        step("SELECT 'err1'", json!({"type": "error", "step": 1})),
        step("SELECT 'not'", json!({"type": "not", "cond": {"type": "ok", "step": 1}})),
        step("SELECT 'and'", json!({"type": "and", "conds": [{"type": "ok", "step": 0}, {"type": "error", "step": 1}]})),
        step("SELECT 'or'", json!({"type": "or", "conds": [{"type": "ok", "step": 1}, {"type": "ok", "step": 3}]})),
        step("SELECT 'auto'", json!({"type": "is_autocommit"})),
    ]);
    let (_, body) = db.pipeline(PATHS[2], None, json!([{"type": "batch", "batch": {"steps": steps}}, {"type": "close"}])).await;
    let result = &body["results"][0]["response"]["result"];
    let ran: Vec<bool> = result["step_results"].as_array().unwrap().iter().map(|r| !r.is_null()).collect();
    assert_eq!(ran, [true, false, true, false, true, true, true, false, true], "{body}");
    assert_eq!(result["step_errors"][1]["code"], "SQLITE_ERROR");
    assert!(result["step_errors"].as_array().unwrap().iter().enumerate().all(|(i, e)| e.is_null() == (i != 1)));
    // A condition on a later step is an error for the request, not a crash.
    let bad = json!([{"type": "batch", "batch": {"steps": [step("SELECT 1", json!({"type": "ok", "step": 5}))]}}, {"type": "close"}]);
    let (status, body) = db.pipeline(PATHS[2], None, bad).await;
    assert_eq!((status, body["results"][0]["error"]["code"].clone()), (200, json!("INVALID_BATCH")));
}

#[tokio::test]
async fn sequence_describe_and_stored_sql() {
    let db = start().await;
    let reqs = json!([
        {"type": "sequence", "sql": "CREATE TABLE s (a, b); INSERT INTO s VALUES (1, 'x;y'); INSERT INTO s VALUES (2, 'z');"},
        {"type": "store_sql", "sql_id": 7, "sql": "SELECT count(*) FROM s"},
        {"type": "execute", "stmt": {"sql_id": 7}},
        {"type": "describe", "sql": "SELECT a FROM s WHERE b = :b"},
        {"type": "describe", "sql": "DELETE FROM s"},
        {"type": "close_sql", "sql_id": 7},
        {"type": "execute", "stmt": {"sql_id": 7}},
        {"type": "close"}
    ]);
    let (_, body) = db.pipeline(PATHS[1], None, reqs).await;
    let r = &body["results"];
    assert_eq!(r[0]["response"]["type"], "sequence", "{body}");
    assert_eq!(r[2]["response"]["result"]["rows"][0][0]["value"], "2", "`;` inside a string literal does not split");
    assert_eq!(r[3]["response"]["result"], json!({"params": [{"name": ":b"}], "cols": [{"name": "a", "decltype": null}], "is_explain": false, "is_readonly": true}));
    assert_eq!(r[4]["response"]["result"]["is_readonly"], false);
    assert_eq!(r[6]["error"]["code"], "SQL_NOT_FOUND");
}

#[tokio::test]
async fn bad_bodies_and_requests_get_error_shapes_not_crashes() {
    let db = start().await;
    for body in ["", "{", "[]", r#"{"requests": 3}"#, r#"{"baton": 5, "requests": []}"#] {
        let req = http::Request::builder().method(Method::POST).uri(PATHS[1]).body(axum::body::Body::from(body)).unwrap();
        let res = db.h.send(req).await;
        let v = res.json();
        assert_eq!(res.status, 400, "{body}");
        assert_eq!((v["code"].clone(), v["results"][0]["error"]["code"].clone()), (json!("PARSE_ERROR"), json!("PARSE_ERROR")), "{body}: {v}");
        assert!(v["message"].is_string() && v["error"].is_string());
    }
    let reqs = json!([{"type": "frobnicate"}, {"nope": 1}, {"type": "execute"}, {"type": "execute", "stmt": {"sql": "SELECT 1", "sql_id": 1}}, exec("SELECT * FROM missing"), {"type": "close"}]);
    let (status, body) = db.pipeline(PATHS[1], None, reqs).await;
    assert_eq!(status, 200);
    let codes: Vec<Value> = body["results"].as_array().unwrap().iter().map(|r| r["error"]["code"].clone()).collect();
    assert_eq!(codes, [json!("UNKNOWN_REQUEST"), json!("INVALID_REQUEST"), json!("INVALID_REQUEST"), json!("INVALID_REQUEST"), json!("SQLITE_ERROR"), Value::Null]);
    assert!(body["results"][4]["error"]["message"].as_str().unwrap().contains("no such table"));
    let (_, body) = db.pipeline(PATHS[1], None, json!([exec("CREATE TABLE u (k PRIMARY KEY)"), exec("INSERT INTO u VALUES (1)"), exec("INSERT INTO u VALUES (1)"), {"type": "close"}])).await;
    assert_eq!(body["results"][2]["error"]["code"], "SQLITE_CONSTRAINT_PRIMARYKEY");
}

#[tokio::test]
async fn adapter_and_namespace_headers_pick_the_database() {
    let db = start().await;
    let send = |ns: &'static str, sql: &'static str| {
        let body = json!({"requests": [exec(sql), {"type": "close"}]});
        let db = &db;
        async move { db.send(Method::POST, PATHS[0], &[("x-database-adapter", "sqlite"), ("x-database-namespace", ns)], Some(body)).await.json() }
    };
    send("acme", "CREATE TABLE acme_only (v)").await;
    let res = send("acme", "SELECT name FROM sqlite_master").await;
    assert_eq!(res["results"][0]["response"]["result"]["rows"][0][0]["value"], "acme_only");
    let res = send("other", "SELECT count(*) FROM sqlite_master").await;
    assert_eq!(res["results"][0]["response"]["result"]["rows"][0][0]["value"], "0");
    let res = send("../etc", "SELECT 1").await;
    assert_eq!(res["results"][0]["error"]["code"], "INVALID_TENANT");
}

#[tokio::test(start_paused = true)]
async fn idle_streams_expire_and_roll_back() {
    let db = start().await;
    db.pipeline(PATHS[1], None, json!([exec("CREATE TABLE t (v)"), {"type": "close"}])).await;
    let (_, body) = db.pipeline(PATHS[1], None, json!([exec("BEGIN"), exec("INSERT INTO t VALUES (1)")])).await;
    let baton = body["baton"].as_str().unwrap().to_owned();
    tokio::time::advance(buntime_plugin_database::hrana::STREAM_IDLE_TIMEOUT + std::time::Duration::from_secs(1)).await;
    let (status, _) = db.pipeline(PATHS[1], Some(&baton), json!([exec("COMMIT")])).await;
    assert_eq!(status, 400, "expired");
    let (_, body) = db.pipeline(PATHS[1], None, json!([exec("SELECT count(*) FROM t"), {"type": "close"}])).await;
    assert_eq!(body["results"][0]["response"]["result"]["rows"][0][0]["value"], "0", "rolled back");
}
