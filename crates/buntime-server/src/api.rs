//! The runtime's own REST routes (health, plugins, reload), relative to the API mount.
#![allow(clippy::result_large_err)] // axum handlers answer errors as responses, by value

use std::path::Path;
use std::sync::{Arc, Weak};

use axum::extract::State;
use axum::response::IntoResponse;
use axum::{Json, Router};
use buntime_core::{Response, VERSION, respond};
use http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::runtime::Shared;

type AppState = Weak<Shared>;

/// The code of the fallback answer for API paths no route owns.
pub(crate) const NO_SUCH_ROUTE: &str = "NO_SUCH_API_ROUTE";

/// Builds the API router and its OpenAPI document from the same route list: the runtime's routes
/// merged with `extra` (keys, apps, …), so the document cannot drift from what is mounted.
pub(crate) fn router(shared: &Arc<Shared>, extra: Vec<OpenApiRouter>) -> Router {
    let mut r = OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(list_plugins))
        .routes(routes!(loaded))
        .routes(routes!(reload))
        .with_state(Arc::downgrade(shared));
    for e in extra {
        r = r.merge(e);
    }
    let (router, doc) = r.split_for_parts();
    let doc = crate::openapi::finish(doc, &shared.config.api_path);
    router.merge(crate::openapi::serve(doc)).fallback(|| async {
        respond::json_error(StatusCode::NOT_FOUND, NO_SUCH_ROUTE, "No such API route. GET /api/openapi.json lists them.")
    })
}

fn upgrade(state: &AppState) -> Result<Arc<Shared>, Response> {
    state
        .upgrade()
        .ok_or_else(|| respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "The runtime is shutting down."))
}

/// Says the process is up.
#[utoipa::path(get, path = "/health", tag = "Health", summary = "Health",
    responses((status = 200, description = "`{\"ok\":true,\"status\":\"healthy\",\"version\"}`")))]
async fn health() -> Json<Value> {
    Json(json!({ "ok": true, "status": "healthy", "version": VERSION }))
}

/// Liveness probe: depends on nothing but the process (not on plugins, nor on the key store).
#[utoipa::path(get, path = "/health/live", tag = "Health", summary = "Liveness",
    responses((status = 200, description = "`{\"ok\":true,\"status\":\"live\",\"version\"}`")))]
async fn live() -> Json<Value> {
    Json(json!({ "ok": true, "status": "live", "version": VERSION }))
}

/// Readiness probe: 200 once plugins are loaded; 503 while starting, draining or degraded.
#[utoipa::path(get, path = "/health/ready", tag = "Health", summary = "Readiness",
    responses(
        (status = 200, description = "`{ok, status: \"ready\" | \"degraded\" (cluster database lost), version, generation, plugins, failed?, cluster?: {replica, link, lastEvent, appliedReloads, appliedAppChanges, error?}}`"),
        (status = 503, description = "`status` is `starting`, `draining` or `degraded` (with `unavailable` plugins)"),
    ))]
async fn ready(State(state): State<AppState>) -> Result<Response, Response> {
    let shared = upgrade(&state)?;
    let generation = shared.live.load();
    let unavailable: Vec<String> = generation.script_host.as_ref().map(|h| h.unavailable()).unwrap_or_default();
    let cluster = shared.cluster.get();
    let (status, label) = if shared.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if generation.number == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    } else if !unavailable.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    } else if cluster.is_some_and(|c| c.degraded()) {
        // Still 200: this replica serves everything that needs no shared state, and failing
        // readiness on every replica at once (the database is shared) would take the whole
        // service down. See docs/replicas.md.
        (StatusCode::OK, "degraded")
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
    if let Some(c) = cluster {
        body["cluster"] = c.health();
    }
    if !generation.problems.is_empty() {
        body["failed"] = json!(generation.problems.iter().filter_map(|p| p.plugin.clone()).collect::<Vec<_>>());
    }
    Ok(respond::json(status, &body))
}

/// Lists plugin directories in every plugin dir (`@scope/name` expanded, hidden ones skipped).
#[utoipa::path(get, path = "/plugins", tag = "Plugins", summary = "List plugin directories",
    description = "Permission: `plugins:read`.",
    responses((status = 200, description = "`[{name, path}]`")))]
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

/// Lists the loaded plugins in load order, with their menus.
#[utoipa::path(get, path = "/plugins/loaded", tag = "Plugins", summary = "Loaded plugins",
    responses((status = 200, description = "`[{name, version, kind, base?, dependencies, optionalDependencies, menus}]`")))]
async fn loaded(State(state): State<AppState>) -> Result<Json<Value>, Response> {
    let shared = upgrade(&state)?;
    Ok(Json(crate::reload::loaded_listing(&shared.live.load())))
}

/// Re-scans, re-sorts, re-inits every plugin and swaps the new generation in atomically.
#[utoipa::path(post, path = "/plugins/reload", tag = "Plugins", summary = "Reload plugins",
    description = "Permission: `plugins:install`. The old generation keeps serving when anything fails; requests in flight finish on it before its plugins shut down.",
    responses(
        (status = 200, description = "`{ok: true, generation, plugins: [{name, version, base?}], warnings, elapsedMs, cluster?: {fanout, event?, error?}}`"),
        (status = 422, description = "`{ok: false, generation, errors: [{plugin?, file?, key?, message}]}`"),
    ))]
async fn reload(State(state): State<AppState>) -> Result<Response, Response> {
    let shared = upgrade(&state)?;
    if shared.is_draining() {
        return Err(respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "The runtime is shutting down."));
    }
    Ok(match crate::reload::reload(&shared).await {
        Ok(mut report) => {
            // Only a reload that succeeded here fans out: the replicas share the plugin dirs, so
            // one that failed here would fail there too.
            if let Some(cluster) = shared.cluster.get() {
                report.cluster = Some(cluster.publish().await);
            }
            (StatusCode::OK, Json(report)).into_response()
        }
        Err(err) => (StatusCode::UNPROCESSABLE_ENTITY, Json(err)).into_response(),
    })
}
