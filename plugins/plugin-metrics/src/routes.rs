//! The HTTP routes under `/metrics`: pool metrics (`/api`), pool and worker stats
//! (`/api/stats`), their SSE feed (`/api/sse`) and the Prometheus text (`/api/prometheus`), each
//! also under `/api/metrics/…`, the paths the original's docs promised (spec §E S-7).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buntime_core::RuntimeMetrics;
use buntime_core::app::PoolView;
use futures_util::Stream;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::prometheus;

/// What every route reads.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) pool: Option<Arc<dyn PoolView>>,
    pub(crate) runtime: Arc<RuntimeMetrics>,
    pub(crate) sse_interval: Duration,
    /// Turns `true` when the plugin shuts down: open SSE streams end.
    pub(crate) stopping: watch::Receiver<bool>,
}

/// Builds the router (mounted at the plugin base, which it sees stripped).
pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for prefix in ["/api", "/api/metrics"] {
        router = router
            .route(prefix, get(metrics))
            .route(&format!("{prefix}/stats"), get(stats))
            .route(&format!("{prefix}/sse"), get(sse))
            .route(&format!("{prefix}/prometheus"), get(prometheus_text));
    }
    router.with_state(state)
}

async fn metrics(State(st): State<AppState>) -> Response {
    match &st.pool {
        Some(pool) => axum::Json(pool.metrics()).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "Pool not initialized"})),
        )
            .into_response(),
    }
}

/// `{pool, workers}`, empty objects when there is no pool (the original's shape).
fn stats_value(pool: Option<&Arc<dyn PoolView>>) -> Value {
    match pool {
        Some(p) => json!({"pool": p.metrics(), "workers": p.worker_stats()}),
        None => json!({"pool": {}, "workers": {}}),
    }
}

async fn stats(State(st): State<AppState>) -> axum::Json<Value> {
    axum::Json(stats_value(st.pool.as_ref()))
}

async fn sse(State(st): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut tick = tokio::time::interval(st.sse_interval);
    // A slow client gets the latest stats, not a burst of stale ones.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = futures_util::stream::unfold((tick, st), |(mut tick, mut st)| async move {
        if *st.stopping.borrow() {
            return None;
        }
        tokio::select! {
            _ = tick.tick() => {
                let event = Event::default().data(stats_value(st.pool.as_ref()).to_string());
                Some((Ok(event), (tick, st)))
            }
            _ = st.stopping.changed() => None,
        }
    });
    Sse::new(stream)
}

async fn prometheus_text(State(st): State<AppState>) -> Response {
    let body = prometheus::render(st.pool.as_deref(), &st.runtime);
    ([(CONTENT_TYPE, prometheus::CONTENT_TYPE)], body).into_response()
}
