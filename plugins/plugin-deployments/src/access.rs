//! Who may use the routes: reads need what the REST API's `viewer` role holds, writes what its
//! `editor` role holds, decided by the runtime's access model (keys, master key, CSRF).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use buntime_core::access::AccessGate;
use http::{Method, StatusCode};

use crate::error::ApiError;

/// Listing, downloading and refreshing caches.
pub(crate) const READ: &[&str] = &["apps:read", "plugins:read"];
/// Creating, uploading, moving, renaming and deleting, in app and plugin roots alike.
pub(crate) const WRITE: &[&str] = &["apps:install", "apps:remove", "plugins:install", "plugins:remove"];

/// Whether a request changes the trees (`refresh` only drops caches: a read).
pub(crate) fn is_write(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD) && path != "/api/refresh"
}

/// The middleware in front of every route.
pub(crate) async fn guard(req: Request, next: Next) -> Response {
    let Some(gate) = req.extensions().get::<AccessGate>().cloned() else {
        // Only a runtime without its HTTP server (an embedding) gets here: refuse, never open.
        return ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "ACCESS_CONTROL_UNAVAILABLE",
            message: "This runtime gives plugin routes no access control, so the deployments API refuses every call.".into(),
        }
        .into_response();
    };
    let needs = if is_write(req.method(), req.uri().path()) { WRITE } else { READ };
    let (parts, body) = req.into_parts();
    if let Err(refused) = gate.0.check(&parts, needs) {
        return refused;
    }
    next.run(Request::from_parts(parts, body)).await
}
