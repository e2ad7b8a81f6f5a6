//! The dashboard API under `/gateway/api`: stats, config, rate-limit management, metrics
//! history, shell excludes, the request log, cache invalidation and the SSE feed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures_util::Stream;
use http::StatusCode;
use serde_json::{Value, json};

use crate::Gateway;
use crate::config::Origins;
use crate::log::LogFilter;

type Gw = State<Arc<Gateway>>;

/// The router, mounted at the plugin's base (which it sees stripped).
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/api/sse", get(sse))
        .route("/api/stats", get(stats))
        .route("/api/config", get(config))
        .route("/api/rate-limit/metrics", get(rate_metrics))
        .route("/api/rate-limit/buckets", get(buckets))
        .route("/api/rate-limit/buckets/{key}", delete(delete_bucket))
        .route("/api/rate-limit/clear", post(clear_buckets))
        .route("/api/metrics/history", get(history).delete(clear_history))
        .route("/api/shell/excludes", get(list_excludes).post(add_exclude))
        .route("/api/shell/excludes/{basename}", delete(remove_exclude))
        .route("/api/logs", get(logs).delete(clear_logs))
        .route("/api/logs/stats", get(log_stats))
        .route("/api/cache/invalidate", post(invalidate))
        .route_layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            crate::guard::writes,
        ))
        .with_state(gw)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// A refusal: its status and `{"error": message}`.
#[derive(Debug)]
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, &self.1)
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message.into())
}

fn limit(q: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, Refusal> {
    match q.get("limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(max))
            .ok_or_else(|| bad(format!("`limit`: `{v}` is not a positive number"))),
    }
}

fn origin_json(o: &Origins) -> Value {
    match o {
        Origins::Any => json!("*"),
        Origins::List(l) => json!(l),
    }
}

fn rate_config(gw: &Gateway) -> Value {
    gw.config.rate_limit.as_ref().map_or(
        Value::Null,
        |r| json!({"requests": r.requests, "window": r.window_text, "keyBy": r.key_by.as_str()}),
    )
}

fn cors_summary(gw: &Gateway) -> Value {
    gw.cors.as_ref().map_or(Value::Null, |c| {
        let c = c.config();
        json!({"enabled": true, "origin": origin_json(&c.origin), "credentials": c.credentials, "methods": c.methods})
    })
}

fn cors_config(gw: &Gateway) -> Value {
    gw.cors.as_ref().map_or(Value::Null, |c| {
        let c = c.config();
        json!({"origin": origin_json(&c.origin), "credentials": c.credentials, "methods": c.methods, "allowedHeaders": c.allowed_headers, "exposedHeaders": c.exposed_headers, "maxAge": c.max_age, "preflight": c.preflight})
    })
}

fn cache_json(gw: &Gateway) -> Value {
    match &gw.cache {
        Some(c) => {
            let s = c.stats();
            json!({"enabled": true, "entries": s.entries, "hits": s.hits, "misses": s.misses})
        }
        None => json!({"enabled": false}),
    }
}

async fn stats(State(gw): Gw) -> axum::Json<Value> {
    gw.ensure_loaded().await;
    let rate = match &gw.limiter {
        Some(l) => json!({"enabled": true, "metrics": l.metrics(), "config": rate_config(&gw)}),
        None => json!({"enabled": false, "metrics": null, "config": null}),
    };
    let cors = match gw.cors.as_ref() {
        Some(_) => json!({"enabled": true, "config": cors_config(&gw)}),
        None => json!({"enabled": false, "config": null}),
    };
    let shell = match &gw.shell {
        Some(s) => {
            json!({"enabled": true, "dir": s.dir, "excludesCount": s.excludes.names().len()})
        }
        None => json!({"enabled": false, "dir": null, "excludesCount": 0}),
    };
    axum::Json(
        json!({"rateLimit": rate, "cors": cors, "cache": cache_json(&gw), "shell": shell, "logs": gw.log.stats()}),
    )
}

async fn config(State(gw): Gw) -> axum::Json<Value> {
    let rate = gw.config.rate_limit.as_ref().map_or(Value::Null, |r| {
        json!({"requests": r.requests, "window": r.window_text, "windowSeconds": r.window.as_secs(), "keyBy": r.key_by.as_str(), "excludePaths": r.exclude.iter().map(regex::Regex::as_str).collect::<Vec<_>>()})
    });
    let cache = gw.cache.as_ref().map_or(Value::Null, |c| {
        let c = c.config();
        json!({"ttl": c.ttl.as_secs(), "maxEntries": c.max_entries, "maxBodySize": c.max_body_bytes, "methods": c.methods.iter().map(http::Method::as_str).collect::<Vec<_>>(), "excludePaths": c.exclude.iter().map(regex::Regex::as_str).collect::<Vec<_>>()})
    });
    let shell = gw.shell.as_ref().map_or(
        Value::Null,
        |s| json!({"dir": s.dir, "envExcludes": s.excludes.env()}),
    );
    axum::Json(json!({"rateLimit": rate, "cors": cors_config(&gw), "cache": cache, "shell": shell}))
}

fn limiter(gw: &Gateway) -> Result<&crate::bucket::Limiter, Refusal> {
    gw.limiter
        .as_ref()
        .ok_or_else(|| bad("Rate limiting not enabled"))
}

async fn rate_metrics(State(gw): Gw) -> Response {
    let (Some(l), Some(r)) = (&gw.limiter, &gw.config.rate_limit) else {
        return error(StatusCode::BAD_REQUEST, "Rate limiting not enabled");
    };
    let m = l.metrics();
    axum::Json(json!({"totalRequests": m.total_requests, "blockedRequests": m.blocked_requests, "allowedRequests": m.allowed_requests, "activeBuckets": m.active_buckets, "config": {"capacity": r.requests, "windowSeconds": r.window.as_secs()}})).into_response()
}

async fn buckets(State(gw): Gw, Query(q): Query<HashMap<String, String>>) -> Response {
    let l = match limiter(&gw) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    match limit(&q, 100, 10_000) {
        Ok(n) => axum::Json(l.buckets(n)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_bucket(State(gw): Gw, Path(key): Path<String>) -> Response {
    match limiter(&gw) {
        Ok(l) => axum::Json(json!({"deleted": l.remove(&key), "key": key})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn clear_buckets(State(gw): Gw) -> Response {
    match limiter(&gw) {
        Ok(l) => axum::Json(json!({"cleared": l.clear()})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn history(State(gw): Gw, Query(q): Query<HashMap<String, String>>) -> Response {
    let n = match limit(&q, 60, 3600) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    match gw.history.list(gw.kv().as_deref(), n).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("KeyVal failed: {e}"),
        ),
    }
}

async fn clear_history(State(gw): Gw) -> Response {
    match gw.history.clear(gw.kv().as_deref()).await {
        Ok(()) => axum::Json(json!({"cleared": true})).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("KeyVal failed: {e}"),
        ),
    }
}

fn shell(gw: &Gateway) -> Result<&crate::gateway::ShellState, Refusal> {
    gw.shell.as_ref().ok_or_else(|| bad("Shell not configured"))
}

async fn list_excludes(State(gw): Gw) -> Response {
    gw.ensure_loaded().await;
    match shell(&gw) {
        Ok(s) => axum::Json(s.excludes.list()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn add_exclude(State(gw): Gw, body: Bytes) -> Response {
    gw.ensure_loaded().await;
    let s = match shell(&gw) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let name = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v
            .get("basename")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body must be JSON {\"basename\": \"<app>\"}",
            );
        }
    };
    match s.excludes.add(&name, gw.kv().as_deref()).await {
        Ok(added) => {
            axum::Json(json!({"added": added, "basename": name.trim(), "source": "keyval"}))
                .into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &e.0),
    }
}

async fn remove_exclude(State(gw): Gw, Path(name): Path<String>) -> Response {
    gw.ensure_loaded().await;
    let s = match shell(&gw) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    match s.excludes.remove(&name, gw.kv().as_deref()).await {
        Ok(removed) => axum::Json(json!({"removed": removed, "basename": name})).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.0),
    }
}

async fn logs(State(gw): Gw, Query(q): Query<HashMap<String, String>>) -> Response {
    match LogFilter::from_query(&q) {
        Ok(f) => axum::Json(gw.log.query(&f)).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn clear_logs(State(gw): Gw) -> axum::Json<Value> {
    gw.log.clear();
    axum::Json(json!({"cleared": true}))
}

async fn log_stats(State(gw): Gw) -> axum::Json<Value> {
    axum::Json(gw.log.stats())
}

/// `{key}` drops one entry (a path with its query), `{pattern}` every key matching the regex,
/// an empty body everything.
async fn invalidate(State(gw): Gw, body: Bytes) -> Response {
    let Some(cache) = &gw.cache else {
        return error(StatusCode::BAD_REQUEST, "Cache not enabled");
    };
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the body must be JSON {\"key\": \"/path?query\"} or {\"pattern\": \"<regex>\"}",
                );
            }
        }
    };
    match (
        v.get("key").and_then(Value::as_str),
        v.get("pattern").and_then(Value::as_str),
    ) {
        (Some(key), _) => axum::Json(json!({"invalidated": cache.invalidate_key(key), "key": key}))
            .into_response(),
        (None, Some(p)) => match regex::Regex::new(p) {
            Ok(re) => {
                axum::Json(json!({"invalidated": cache.invalidate_matching(&re), "pattern": p}))
                    .into_response()
            }
            Err(_) => error(
                StatusCode::BAD_REQUEST,
                &format!("`pattern`: `{p}` is not a valid regex"),
            ),
        },
        (None, None) => axum::Json(json!({"invalidated": cache.clear()})).into_response(),
    }
}

/// One dashboard frame.
fn frame(gw: &Gateway) -> Value {
    let rate = gw.limiter.as_ref().map_or(
        Value::Null,
        |l| json!({"metrics": l.metrics(), "config": rate_config(gw)}),
    );
    let shell = gw.shell.as_ref().map_or(
        Value::Null,
        |s| json!({"enabled": true, "dir": s.dir, "excludes": s.excludes.names()}),
    );
    let recent = gw.log.query(&LogFilter {
        limit: 10,
        ..LogFilter::default()
    });
    json!({"timestamp": crate::now_ms(), "rateLimit": rate, "cors": cors_summary(gw), "cache": cache_json(gw), "shell": shell, "recentLogs": recent})
}

/// Every second, a dashboard frame; the stream ends when the plugin shuts down.
async fn sse(State(gw): Gw) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    gw.ensure_loaded().await;
    let mut tick = tokio::time::interval(crate::Gateway::TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stopping = gw.stopping.subscribe();
    let stream = futures_util::stream::unfold(
        (tick, gw, stopping),
        |(mut tick, gw, mut stopping)| async move {
            if *stopping.borrow() {
                return None;
            }
            tokio::select! {
                _ = tick.tick() => {
                    let event = Event::default().data(frame(&gw).to_string());
                    Some((Ok(event), (tick, gw, stopping)))
                }
                _ = stopping.changed() => None,
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
