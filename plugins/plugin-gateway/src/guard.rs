//! Who may change the gateway's state over its API (clear buckets, edit shell excludes, drop the
//! log or the cache): without this, the very client being rate limited could reset its bucket.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use buntime_auth::{AccessControl, Permission, check_origin, extract_key};
use buntime_core::ClientAddr;
use http::{Method, StatusCode};
use serde_json::json;

use crate::Gateway;

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"error": "Forbidden", "message": message})),
    )
        .into_response()
}

/// Lets a write (anything but GET and HEAD) through when it carries a runtime API key with
/// `plugins:config` (or the master key), or when it comes from a page this runtime serves (an
/// allowed `Origin`, the REST API's CSRF rule) *and* from a caller plugin-authn vouches for or
/// from this machine. Reads are open, as in the original.
pub async fn writes(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let access: &AccessControl = &gw.access;
    if let Some(secret) = extract_key(req.headers()) {
        return match access.authenticate(secret) {
            Ok(Some(p)) if p.is_master || p.has(Permission::PluginsConfig) => next.run(req).await,
            Ok(Some(_)) => forbidden("this key lacks plugins:config"),
            _ => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "Invalid API key"})),
            )
                .into_response(),
        };
    }
    if let Err(e) = check_origin(req.headers(), &access.allowed_origins(), gw.trust_proxy) {
        return forbidden(&format!(
            "{e}: changes need an Origin this runtime is served at, or a runtime API key with plugins:config"
        ));
    }
    let local = req
        .extensions()
        .get::<ClientAddr>()
        .is_some_and(|c| c.is_local(req.headers()));
    if local || gw.authenticated_caller(req.headers()).await.is_some() {
        return next.run(req).await;
    }
    forbidden(
        "changes need a signed-in caller, a request from this machine, or a runtime API key with plugins:config",
    )
}
