//! The one place errors become HTTP responses: JSON `{"success":false,"code","message"}`.

use axum::body::Body;
use http::{HeaderValue, StatusCode, header};

use crate::Response;
use crate::error::PluginError;

/// Builds a JSON error response.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "success": false, "code": code, "message": message });
    json(status, &body)
}

/// Builds a JSON response.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Builds a plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    res
}

/// Turns a hook's error into a response: its public message for client errors, a generic one for
/// internal failures. The details go to the log (by the caller), never to the client.
pub fn plugin_error(err: &PluginError) -> Response {
    let kind = err.kind();
    let message = err.public_message().unwrap_or("An internal error occurred. The runtime log has the details.");
    json_error(kind.status(), kind.code(), message)
}

/// The response for a hook that panicked.
pub fn plugin_panic() -> Response {
    json_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "An internal error occurred. The runtime log has the details.")
}
