//! `/keyval/api/metrics` and `/keyval/api/metrics/prometheus`, and persistence into `kv_metrics`.

mod support;

use buntime_plugin_database::{Statement, Value as Sql};
use serde_json::json;
use support::{start, start_with};

#[tokio::test]
async fn json_metrics_count_operations_and_storage() {
    let kv = start().await;
    kv.put("/keyval/api/keys/a", json!("x")).await;
    kv.put("/keyval/api/keys/b", json!("y")).await;
    kv.get("/keyval/api/keys/a").await;
    kv.get("/keyval/api/keys?prefix=a").await;
    kv.post(
        "/keyval/api/atomic",
        json!({"mutations": [{"type": "sum", "key": ["n"], "value": 1}]}),
    )
    .await;
    let res = kv.get("/keyval/api/metrics").await;
    assert_eq!(res.status, 200);
    let m = res.json();
    let ops = &m["operations"]["operations"];
    assert_eq!(
        (
            ops["set"]["count"].clone(),
            ops["get"]["count"].clone(),
            ops["list"]["count"].clone(),
            ops["atomic_commit"]["count"].clone()
        ),
        (json!(2), json!(1), json!(1), json!(1))
    );
    assert!(ops["set"]["avgLatencyMs"].as_f64().unwrap() > 0.0);
    assert_eq!(
        m["operations"]["totals"],
        json!({"errors": 0, "operations": 5})
    );
    assert_eq!(
        m["queue"],
        json!({"pending": 0, "processing": 0, "dlq": 0, "total": 0})
    );
    assert_eq!(m["storage"]["entries"], 3);
    assert!(m["storage"]["sizeBytes"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn prometheus_exposition() {
    let kv = start().await;
    kv.put("/keyval/api/keys/a", json!(1)).await;
    let res = kv.get("/keyval/api/metrics/prometheus").await;
    assert_eq!(res.status, 200);
    assert!(
        res.headers[http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text();
    for needle in [
        "keyval_operations_total{operation=\"set\"} 1",
        "keyval_errors_total{operation=\"set\"} 0",
        "keyval_operation_duration_ms_bucket{operation=\"set\",le=\"+Inf\"} 1",
        "keyval_operation_duration_ms_count{operation=\"set\"} 1",
        "keyval_queue_pending 0",
        "keyval_entries_total 1",
        "# TYPE keyval_storage_bytes gauge",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
}

#[tokio::test]
async fn persistent_metrics_accumulate_in_kv_metrics() {
    let kv = start_with("metrics:\n  persistent: true\n  flushInterval: 50").await;
    kv.put("/keyval/api/keys/a", json!(1)).await;
    kv.put("/keyval/api/keys/a", json!(2)).await;
    let mut count = 0;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let res = kv
            .engine()
            .query(Statement::new(
                "SELECT count FROM kv_metrics WHERE operation = 'set'",
            ))
            .await
            .unwrap();
        if let Some(Sql::Integer(n)) = res.rows.first().and_then(|r| r.first()) {
            count = *n;
            if count == 2 {
                break;
            }
        }
    }
    assert_eq!(
        count, 2,
        "two sets were flushed once each (deltas, not totals)"
    );
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let res = kv
        .engine()
        .query(Statement::new(
            "SELECT count FROM kv_metrics WHERE operation = 'set'",
        ))
        .await
        .unwrap();
    assert_eq!(
        res.rows[0][0],
        Sql::Integer(2),
        "later flushes add nothing when nothing happened"
    );
}
