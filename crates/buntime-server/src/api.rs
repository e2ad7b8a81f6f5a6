//! The runtime's own REST routes (health, plugins, reload), relative to the API mount.

use std::path::Path;
use std::sync::{Arc, Weak};

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use buntime_core::{Response, VERSION, respond};
use http::StatusCode;
use serde_json::{Value, json};

use crate::runtime::Shared;

type AppState = Weak<Shared>;

/// Builds the API router: the runtime's routes merged with `extra` (keys, apps, …).
pub(crate) fn router(shared: &Arc<Shared>, extra: Vec<Router>) -> Router {
    let mut r = Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/plugins", get(list_plugins))
        .route("/plugins/loaded", get(loaded))
        .route("/plugins/reload", post(reload))
        .with_state(Arc::downgrade(shared));
    for e in extra {
        r = r.merge(e);
    }
    r.fallback(|| async { respond::json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "No such API route. GET /api/openapi.json lists them.") })
}

fn upgrade(state: &AppState) -> Result<Arc<Shared>, Response> {
    state
        .upgrade()
        .ok_or_else(|| respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "The runtime is shutting down."))
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true, "status": "healthy", "version": VERSION }))
}

async fn live() -> Json<Value> {
    Json(json!({ "ok": true, "status": "live", "version": VERSION }))
}

async fn ready(State(state): State<AppState>) -> Result<Response, Response> {
    let shared = upgrade(&state)?;
    let generation = shared.live.load();
    let unavailable: Vec<String> = generation.script_host.as_ref().map(|h| h.unavailable()).unwrap_or_default();
    let (status, label) = if shared.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if generation.number == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    } else if !unavailable.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    } else {
        (StatusCode::OK, "ready")
    };
    let mut body = json!({
        "ok": status == StatusCode::OK,
        "status": label,
        "version": VERSION,
        "generation": generation.number,
        "plugins": generation.plugins.len(),
    });
    if !unavailable.is_empty() {
        body["unavailable"] = json!(unavailable);
    }
    if !generation.problems.is_empty() {
        body["failed"] = json!(generation.problems.iter().filter_map(|p| p.plugin.clone()).collect::<Vec<_>>());
    }
    Ok(respond::json(status, &body))
}

async fn list_plugins(State(state): State<AppState>) -> Result<Json<Value>, Response> {
    let shared = upgrade(&state)?;
    let mut out = Vec::new();
    for dir in &shared.config.plugin_dirs {
        for (name, path) in plugin_dirs_in(dir) {
            out.push(json!({ "name": name, "path": path.display().to_string() }));
        }
    }
    Ok(Json(Value::Array(out)))
}

/// Lists plugin directories in `dir` (`@scope/<name>` expanded), hidden entries skipped.
fn plugin_dirs_in(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).filter(|e| e.path().is_dir()).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if name.starts_with('@') {
            for (sub, path) in plugin_dirs_in(&e.path()) {
                out.push((format!("{name}/{sub}"), path));
            }
        } else {
            out.push((name, e.path()));
        }
    }
    out
}

async fn loaded(State(state): State<AppState>) -> Result<Json<Value>, Response> {
    let shared = upgrade(&state)?;
    Ok(Json(crate::reload::loaded_listing(&shared.live.load())))
}

async fn reload(State(state): State<AppState>) -> Result<Response, Response> {
    let shared = upgrade(&state)?;
    if shared.is_draining() {
        return Err(respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "The runtime is shutting down."));
    }
    Ok(match crate::reload::reload(&shared).await {
        Ok(report) => (StatusCode::OK, Json(report)).into_response(),
        Err(err) => (StatusCode::UNPROCESSABLE_ENTITY, Json(err)).into_response(),
    })
}
