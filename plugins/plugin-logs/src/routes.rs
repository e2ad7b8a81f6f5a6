//! The HTTP routes under `/logs`: list with filters (`GET /api`), stats, the SSE feed of new
//! entries, adding an entry (`POST /api`) and clearing (`POST /api/clear`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use buntime_core::respond;
use futures_util::Stream;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::service::filter_from;
use crate::store::{LogStore, NewEntry};

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<LogStore>,
    pub(crate) max: usize,
    pub(crate) sse_interval: Duration,
    /// Turns `true` when the plugin shuts down: open SSE streams end.
    pub(crate) stopping: watch::Receiver<bool>,
}

/// Builds the router (mounted at the plugin base, which it sees stripped).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api", get(list).post(add))
        .route("/api/stats", get(stats))
        .route("/api/sse", get(sse))
        .route("/api/clear", post(clear))
        .with_state(state)
}

fn invalid(message: &str) -> Response {
    respond::json_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
}

async fn list(State(st): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str);
    match filter_from(
        get("level"),
        get("search"),
        get("source"),
        get("limit"),
        st.max,
    ) {
        Ok(filter) => {
            axum::Json(json!({"logs": st.store.query(&filter), "stats": st.store.stats()}))
                .into_response()
        }
        Err(e) => invalid(&format!("query parameter {e}")),
    }
}

async fn stats(State(st): State<AppState>) -> axum::Json<Value> {
    axum::Json(st.store.stats())
}

async fn add(State(st): State<AppState>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return invalid(&format!("the body is not JSON: {e}")),
    };
    match NewEntry::from_json(&value) {
        Ok(entry) => {
            let id = st.store.add(entry);
            axum::Json(json!({"success": true, "id": id})).into_response()
        }
        Err(e) => invalid(&e),
    }
}

async fn clear(State(st): State<AppState>) -> axum::Json<Value> {
    st.store.clear();
    axum::Json(json!({"success": true}))
}

/// Every `sseInterval`: `{logs, stats}` with the entries added since the previous event, oldest
/// first, each exactly once (ids, not positions: trimming the ring cannot skip or repeat any).
/// The event id is the newest entry's id; a reconnecting client that sends `Last-Event-ID` goes
/// on from there, and `missed` says how many entries left the ring before it could see them.
async fn sse(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let last = resume.unwrap_or_else(|| st.store.last_id());
    let mut tick = tokio::time::interval(st.sse_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream =
        futures_util::stream::unfold((tick, st, last), |(mut tick, mut st, last)| async move {
            if *st.stopping.borrow() {
                return None;
            }
            tokio::select! {
                _ = tick.tick() => {
                    let got = st.store.since(last);
                    let mut data = json!({"logs": got.logs, "stats": st.store.stats()});
                    if got.missed > 0 {
                        data["missed"] = json!(got.missed);
                    }
                    let event = Event::default().id(got.last_id.to_string()).data(data.to_string());
                    Some((Ok(event), (tick, st, got.last_id)))
                }
                _ = st.stopping.changed() => None,
            }
        });
    Sse::new(stream)
}
