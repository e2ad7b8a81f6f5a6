//! `/api/queue/*`: enqueue, poll, listen (SSE), ack/nack, stats and the dead-letter queue.
//!
//! The SSE listener claims messages as they become ready, woken by the queue's in-process signal
//! (enqueue, nack, requeue, lock recovery) and otherwise asleep until the next `ready_at`: no
//! per-connection polling (§S-15). Messages it delivered and that were neither acked nor nacked
//! go back to `pending` as soon as the connection closes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::json_body;
use crate::error::KvError;
use crate::queue::{EnqueueOptions, Message};
use crate::store::Kv;
use crate::value::now_ms;

/// How long an idle SSE listener waits before sending `event: ping`.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// The longest DLQ page.
const MAX_DLQ_PAGE: u32 = 1000;

/// The queue and DLQ routes.
pub fn router() -> Router<Kv> {
    Router::new()
        .route("/api/queue/enqueue", post(enqueue))
        .route("/api/queue/poll", get(poll))
        .route("/api/queue/listen", get(listen))
        .route("/api/queue/ack", post(ack))
        .route("/api/queue/nack", post(nack))
        .route("/api/queue/stats", get(stats))
        .route("/api/queue/dlq", get(dlq_list).delete(dlq_purge))
        .route("/api/queue/dlq/{id}", get(dlq_get).delete(dlq_delete))
        .route("/api/queue/dlq/{id}/requeue", post(dlq_requeue))
}

async fn enqueue(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let body = json_body(&body)?;
    let Value::Object(mut obj) = body else {
        return Err(KvError::invalid(
            "body must be a JSON object {value, options?}",
        ));
    };
    let Some(value) = obj.remove("value") else {
        return Err(KvError::invalid("value is required"));
    };
    let opts = EnqueueOptions::from_json(obj.get("options"))?;
    let id = kv.queue().enqueue(value, opts).await?;
    Ok(Json(json!({"ok": true, "id": id})).into_response())
}

async fn poll(State(kv): State<Kv>) -> Result<Response, KvError> {
    let msg = kv.queue().dequeue().await?;
    Ok(Json(json!({"message": msg.as_ref().map(Message::to_json)})).into_response())
}

/// Reads `{id}` with `id` a non-empty string.
fn message_id(body: &[u8]) -> Result<String, KvError> {
    let bad = || KvError::invalid("id must be a non-empty string");
    let v = json_body(body).map_err(|_| bad())?;
    match v.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(bad()),
    }
}

async fn ack(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let id = message_id(&body)?;
    kv.queue().ack(&id).await?;
    Ok(Json(json!({"ok": true})).into_response())
}

async fn nack(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let id = message_id(&body)?;
    kv.queue().nack(&id).await?;
    Ok(Json(json!({"ok": true})).into_response())
}

async fn stats(State(kv): State<Kv>) -> Result<Response, KvError> {
    Ok(Json(kv.queue().stats().await?.to_json()).into_response())
}

fn count_param(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, KvError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| KvError::invalid(format!("{name} must be a non-negative integer"))),
    }
}

async fn dlq_list(
    State(kv): State<Kv>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, KvError> {
    let Query(q) = q.map_err(|e| KvError::invalid(format!("bad query string: {e}")))?;
    let limit = match count_param(&q, "limit")? {
        None => 100,
        Some(0) => return Err(KvError::invalid("limit must be a positive integer")),
        Some(n) => u32::try_from(n).unwrap_or(MAX_DLQ_PAGE).min(MAX_DLQ_PAGE),
    };
    let offset = count_param(&q, "offset")?.unwrap_or(0);
    let page = kv.queue().dlq_list(limit, offset).await?;
    Ok(Json(Value::Array(page.iter().map(|m| m.to_json()).collect())).into_response())
}

async fn dlq_get(State(kv): State<Kv>, Path(id): Path<String>) -> Result<Response, KvError> {
    match kv.queue().dlq_get(&id).await? {
        Some(m) => Ok(Json(m.to_json()).into_response()),
        None => Err(KvError::NotFound("Message not found in DLQ".into())),
    }
}

async fn dlq_requeue(State(kv): State<Kv>, Path(id): Path<String>) -> Result<Response, KvError> {
    match kv.queue().dlq_requeue(&id).await? {
        Some(new_id) => Ok(Json(json!({"ok": true, "newId": new_id})).into_response()),
        None => Err(KvError::NotFound("Message not found in DLQ".into())),
    }
}

async fn dlq_delete(State(kv): State<Kv>, Path(id): Path<String>) -> Result<Response, KvError> {
    kv.queue().dlq_delete(&id).await?;
    Ok(Json(json!({"ok": true})).into_response())
}

async fn dlq_purge(State(kv): State<Kv>) -> Result<Response, KvError> {
    let n = kv.queue().dlq_purge().await?;
    Ok(Json(json!({"deletedCount": n})).into_response())
}

async fn listen(State(kv): State<Kv>) -> impl IntoResponse {
    // Capacity 1: a message is claimed only once the previous one has been taken by the
    // connection, so a slow client does not hoard claimed messages in a buffer.
    let (tx, rx) = mpsc::channel::<Event>(1);
    tokio::spawn(deliver(kv, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Sse::new(stream)
}

/// Feeds one SSE connection until it closes (or the plugin shuts down), then releases the
/// messages it was handed and never acked or nacked.
async fn deliver(kv: Kv, tx: mpsc::Sender<Event>) {
    let queue = kv.queue();
    let listener = queue.new_listener();
    let mut wake = kv.queue_shared().subscribe();
    let mut stopping = kv.queue_shared().stopping();
    let mut last_sent = Instant::now();
    loop {
        if *stopping.borrow() {
            break;
        }
        // Mark the signal seen before looking, so a wake-up during the claim is not lost.
        wake.borrow_and_update();
        let Ok(permit) = tx.reserve().await else {
            break;
        };
        let next_ready = match queue.claim_for(listener).await {
            Ok(Some(msg)) => {
                permit.send(
                    Event::default()
                        .event("message")
                        .id(msg.id.clone())
                        .data(msg.to_json().to_string()),
                );
                last_sent = Instant::now();
                continue;
            }
            Ok(None) => {
                drop(permit);
                queue.next_ready_at().await.ok().flatten()
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(
                    plugin = crate::NAME,
                    "queue listener could not claim a message: {e}"
                );
                // Back off a little, then try again (the database may be briefly unavailable).
                Some(now_ms() + 1000)
            }
        };
        let heartbeat_at = last_sent + HEARTBEAT;
        let wake_at = next_ready.map_or(heartbeat_at, |at| {
            let wait = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
            heartbeat_at.min(Instant::now() + Duration::from_millis(wait))
        });
        tokio::select! {
            () = tx.closed() => break,
            r = stopping.changed() => if r.is_err() { break },
            r = wake.changed() => if r.is_err() { break },
            () = tokio::time::sleep_until(wake_at) => {
                if Instant::now() >= heartbeat_at {
                    if tx.send(Event::default().event("ping").data(json!({"timestamp": now_ms()}).to_string())).await.is_err() {
                        break;
                    }
                    last_sent = Instant::now();
                }
            }
        }
    }
    if let Err(e) = queue.release_listener(listener).await {
        tracing::warn!(
            plugin = crate::NAME,
            "queue listener could not release its messages (they return when their lock expires): {e}"
        );
    }
}
