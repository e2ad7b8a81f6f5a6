//! The rules API under `/redirects/api/rules`: list, read, create, update, reorder, toggle and
//! delete, with the original's status codes and `{"error": …}` bodies. Reads need the REST API's
//! `plugins:read`, writes `plugins:config` (rules decide where traffic goes).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, put};
use buntime_core::access::AccessGate;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::rules::{Rules, WriteError};

/// The router, mounted at the plugin's base.
pub fn router(rules: Arc<Rules>) -> Router {
    Router::new()
        .route("/api/rules", get(list).post(create))
        .route("/api/rules/reorder", put(reorder))
        .route("/api/rules/{id}", get(one).put(update).delete(remove))
        .route("/api/rules/{id}/toggle", patch(toggle))
        .route_layer(axum::middleware::from_fn(guard))
        .with_state(rules)
}

/// Permissions a read needs.
const READ: &[&str] = &["plugins:read"];
/// Permissions a write needs.
const WRITE: &[&str] = &["plugins:config"];

async fn guard(req: Request, next: Next) -> Response {
    let Some(gate) = req.extensions().get::<AccessGate>().cloned() else {
        // Only an embedding without the runtime's HTTP server gets here: refuse, never open.
        return fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "This runtime gives plugin routes no access control, so the rules API refuses every call.",
        );
    };
    let needs = if matches!(*req.method(), Method::GET | Method::HEAD) {
        READ
    } else {
        WRITE
    };
    let (parts, body) = req.into_parts();
    if let Err(refused) = gate.0.check(&parts, needs) {
        return refused;
    }
    next.run(Request::from_parts(parts, body)).await
}

fn fail(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn refuse(e: WriteError) -> Response {
    match e {
        WriteError::Disabled => fail(StatusCode::BAD_REQUEST, "Dynamic rules not enabled: the proxy needs @buntime/plugin-keyval to store them"),
        WriteError::NotFound => fail(StatusCode::NOT_FOUND, "Rule not found"),
        WriteError::Static(verb) => fail(StatusCode::FORBIDDEN, &format!("Cannot {verb} static rules")),
        WriteError::Invalid(e) if e.field == "pattern" && e.message.starts_with("Invalid regex pattern") => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "Invalid regex pattern", "field": "pattern", "detail": e.message.trim_start_matches("Invalid regex pattern").trim_start_matches(": ")})),
        )
            .into_response(),
        WriteError::Invalid(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e.to_string(), "field": e.field}))).into_response(),
        WriteError::Store(m) => {
            tracing::error!(error = %m, "Proxy rule store failed.");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "The rule store failed; see the runtime log")
        }
    }
}

fn body(bytes: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(fail(
            StatusCode::BAD_REQUEST,
            &format!("the body must be JSON: {e}"),
        ))
    })
}

async fn list(State(rules): State<Arc<Rules>>) -> Response {
    axum::Json(rules.load().to_json()).into_response()
}

async fn one(State(rules): State<Arc<Rules>>, Path(id): Path<String>) -> Response {
    match rules.load().get(&id) {
        Some(r) => axum::Json(r.rule.to_json()).into_response(),
        None => fail(StatusCode::NOT_FOUND, "Rule not found"),
    }
}

async fn create(State(rules): State<Arc<Rules>>, bytes: Bytes) -> Response {
    let v = match body(&bytes) {
        Ok(v) => v,
        Err(res) => return *res,
    };
    match rules.create(&v).await {
        Ok(r) => (StatusCode::CREATED, axum::Json(r.rule.to_json())).into_response(),
        Err(e) => refuse(e),
    }
}

async fn update(State(rules): State<Arc<Rules>>, Path(id): Path<String>, bytes: Bytes) -> Response {
    let v = match body(&bytes) {
        Ok(v) => v,
        Err(res) => return *res,
    };
    match rules.update(&id, &v).await {
        Ok(r) => axum::Json(r.rule.to_json()).into_response(),
        Err(e) => refuse(e),
    }
}

async fn toggle(State(rules): State<Arc<Rules>>, Path(id): Path<String>) -> Response {
    match rules.toggle(&id).await {
        Ok(r) => axum::Json(r.rule.to_json()).into_response(),
        Err(e) => refuse(e),
    }
}

async fn remove(State(rules): State<Arc<Rules>>, Path(id): Path<String>) -> Response {
    match rules.delete(&id).await {
        Ok(()) => axum::Json(json!({"success": true})).into_response(),
        Err(e) => refuse(e),
    }
}

async fn reorder(State(rules): State<Arc<Rules>>, bytes: Bytes) -> Response {
    let v = match body(&bytes) {
        Ok(v) => v,
        Err(res) => return *res,
    };
    match rules.reorder(&v).await {
        Ok(()) => axum::Json(rules.load().to_json()).into_response(),
        Err(e) => refuse(e),
    }
}
