//! The HTTP API under `/authz/api`: policies (CRUD), evaluate and explain; writes pass the
//! runtime's CSRF rule (or carry a runtime API key allowed to configure plugins).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use buntime_auth::{AccessControl, Permission, check_origin, extract_key};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::context::EvaluationContext;
use crate::pap::{Pap, PapError};
use crate::policy::from_json;

/// What the routes share.
#[derive(Debug)]
pub struct Api {
    /// The policies.
    pub pap: Arc<Pap>,
    /// The runtime's keys and origins (its listener's are added at server start).
    pub access: Arc<AccessControl>,
    /// `RUNTIME_TRUST_PROXY`.
    pub trust_proxy: bool,
}

/// The router, mounted at the plugin's base.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/api/policies", get(list).post(upsert))
        .route("/api/policies/{id}", get(one).delete(remove))
        .route("/api/evaluate", post(evaluate))
        .route("/api/explain", post(explain))
        .with_state(api)
}

/// An error answer: a status and its JSON body.
#[derive(Debug)]
struct Refusal(StatusCode, Value);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

fn error(status: StatusCode, body: Value) -> Refusal {
    Refusal(status, body)
}

/// A policy write needs what the runtime's own API needs: a runtime key that may configure
/// plugins, or an `Origin` the runtime is served at (a browser page of another site cannot
/// change policies on a signed-in admin's behalf).
fn allow_write(api: &Api, headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(secret) = extract_key(headers) {
        return match api.access.authenticate(secret) {
            Ok(Some(p)) if p.is_master || p.has(Permission::PluginsConfig) => Ok(()),
            Ok(Some(_)) => Err(error(
                StatusCode::FORBIDDEN,
                json!({"error": "Forbidden", "code": "PERMISSION_DENIED", "message": "this key lacks plugins:config"}),
            )),
            Ok(None) => Err(error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Invalid API key", "code": "AUTH_REQUIRED"}),
            )),
            Err(e) => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": format!("key store unavailable: {e}"), "code": "STORE_UNAVAILABLE"}),
            )),
        };
    }
    check_origin(headers, &api.access.allowed_origins(), api.trust_proxy).map_err(|e| {
        tracing::warn!(reason = %e, "CSRF check blocked a policy change.");
        error(StatusCode::FORBIDDEN, json!({"error": "Forbidden", "code": "CSRF_BLOCKED", "message": format!("{e}: policy changes need an Origin this runtime is served at, or a runtime API key")}))
    })
}

fn json_body(body: &Bytes) -> Result<Value, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid JSON", "message": e.to_string()}),
        )
    })
}

fn context_body(body: &Bytes) -> Result<EvaluationContext, Refusal> {
    let value = json_body(body)?;
    let value = value
        .get("context")
        .filter(|_| value.get("subject").is_none())
        .cloned()
        .unwrap_or(value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        error(StatusCode::BAD_REQUEST, json!({"error": "Invalid evaluation context", "field": field, "message": e.into_inner().to_string()}))
    })
}

fn pap_error(e: PapError) -> Refusal {
    match e {
        PapError::Invalid(e) => error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid policy structure", "field": e.field, "message": e.message}),
        ),
        PapError::Store(m) => {
            tracing::error!(error = %m, "Policy store write failed; the change was not applied.");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "Policy store unavailable; nothing was changed"}),
            )
        }
    }
}

async fn list(State(api): State<Arc<Api>>) -> Response {
    axum::Json(api.pap.list().await).into_response()
}

async fn one(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    match api.pap.get(&id).await {
        Some(p) => axum::Json(p).into_response(),
        None => error(StatusCode::NOT_FOUND, json!({"error": "Policy not found"})).into_response(),
    }
}

async fn upsert(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = allow_write(&api, &headers) {
        return r.into_response();
    }
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let policy = match from_json(value) {
        Ok(p) => p,
        Err(e) => return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid policy structure", "field": e.field, "message": e.message}),
        )
        .into_response(),
    };
    match api.pap.upsert(policy.clone()).await {
        Ok(()) => (StatusCode::CREATED, axum::Json(policy)).into_response(),
        Err(e) => pap_error(e).into_response(),
    }
}

async fn remove(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = allow_write(&api, &headers) {
        return r.into_response();
    }
    match api.pap.delete(&id).await {
        Ok(true) => axum::Json(json!({"success": true})).into_response(),
        Ok(false) => {
            error(StatusCode::NOT_FOUND, json!({"error": "Policy not found"})).into_response()
        }
        Err(e) => pap_error(e).into_response(),
    }
}

async fn evaluate(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    match context_body(&body) {
        Ok(ctx) => axum::Json(api.pap.current().evaluate(&ctx)).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn explain(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let ctx = match context_body(&body) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let (decision, steps) = api.pap.current().explain(&ctx);
    let applicable: Vec<Value> = steps
        .iter()
        .filter(|s| s.applicable)
        .map(|s| json!({"id": s.id, "name": s.name, "effect": s.effect, "priority": s.priority}))
        .collect();
    axum::Json(
        json!({"context": ctx, "decision": decision, "policies": applicable, "trace": steps}),
    )
    .into_response()
}
