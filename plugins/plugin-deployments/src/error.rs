//! The error every route answers with: a status and a code of spec §7 in the shared envelope
//! `{"success": false, "code", "message"}`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The machine code (`PATH_REQUIRED`, `INVALID_PATH`, …).
    pub code: &'static str,
    /// What went wrong, naming the field or path.
    pub message: String,
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    /// A 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code, message: message.into() }
    }

    /// A 500 with `code`; the message names the operation, never a stack.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, code, message: message.into() }
    }

    /// The same error with another code and status (a route's own "not found").
    #[must_use]
    pub fn with_code(mut self, status: StatusCode, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        buntime_core::respond::json_error(self.status, self.code, &self.message)
    }
}

/// What a route returns.
pub type ApiResult<T> = Result<T, ApiError>;
