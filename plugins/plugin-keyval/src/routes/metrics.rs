//! `/api/metrics` (JSON) and `/api/metrics/prometheus` (text exposition format 0.0.4).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buntime_plugin_database::{Statement, Value as Sql};
use serde_json::json;

use crate::error::KvError;
use crate::store::Kv;
use crate::value::now_ms;

/// The metrics routes.
pub fn router() -> Router<Kv> {
    Router::new()
        .route("/api/metrics", get(metrics_json))
        .route("/api/metrics/prometheus", get(prometheus))
}

/// The gauges read from storage.
struct Gauges {
    entries: i64,
    size_bytes: i64,
    pending: i64,
    processing: i64,
    dlq: i64,
}

fn int(v: Option<&Sql>) -> i64 {
    match v {
        Some(Sql::Integer(i)) => *i,
        Some(Sql::Float(f)) => *f as i64,
        _ => 0,
    }
}

async fn gauges(kv: &Kv) -> Result<Gauges, KvError> {
    let mut conn = kv.connect().await?;
    let entries = conn
        .execute(Statement::with_args(
            "SELECT COUNT(*) FROM kv_entries WHERE expires_at IS NULL OR expires_at > ?",
            [Sql::Integer(now_ms())],
        ))
        .await?;
    let size = conn
        .execute(Statement::new(kv.dialect().storage_bytes()))
        .await?;
    let queue = conn
        .execute(Statement::new(
            "SELECT (SELECT COUNT(*) FROM kv_queue WHERE status = 'pending'), (SELECT COUNT(*) FROM kv_queue WHERE status = 'processing'), (SELECT COUNT(*) FROM kv_dlq)",
        ))
        .await?;
    kv.release(conn);
    let q = queue.rows.first().cloned().unwrap_or_default();
    Ok(Gauges {
        entries: int(entries.rows.first().and_then(|r| r.first())),
        size_bytes: int(size.rows.first().and_then(|r| r.first())),
        pending: int(q.first()),
        processing: int(q.get(1)),
        dlq: int(q.get(2)),
    })
}

async fn metrics_json(State(kv): State<Kv>) -> Result<Response, KvError> {
    let g = gauges(&kv).await?;
    Ok(Json(json!({
        "operations": kv.metrics().to_json(),
        "queue": {"pending": g.pending, "processing": g.processing, "dlq": g.dlq, "total": g.pending + g.processing + g.dlq},
        "storage": {"entries": g.entries, "sizeBytes": g.size_bytes},
    }))
    .into_response())
}

async fn prometheus(State(kv): State<Kv>) -> Result<Response, KvError> {
    let g = gauges(&kv).await?;
    let gauges = [
        (
            "keyval_queue_pending",
            "Queue messages waiting.",
            g.pending as f64,
        ),
        (
            "keyval_queue_processing",
            "Queue messages locked by a consumer.",
            g.processing as f64,
        ),
        (
            "keyval_queue_dlq",
            "Messages in the dead-letter queue.",
            g.dlq as f64,
        ),
        (
            "keyval_queue_total",
            "Queue and dead-letter messages.",
            (g.pending + g.processing + g.dlq) as f64,
        ),
        ("keyval_entries_total", "Live entries.", g.entries as f64),
        (
            "keyval_storage_bytes",
            "Bytes of stored keys and values.",
            g.size_bytes as f64,
        ),
    ];
    Ok((
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        kv.metrics().to_prometheus(&gauges),
    )
        .into_response())
}
