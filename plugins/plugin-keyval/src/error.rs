//! [`KvError`]: validation failures answer 400 `{error}` naming the field or limit; storage
//! failures answer 500 `{"error":"Internal server error"}` and log their cause.

use axum::response::{IntoResponse, Response};
use buntime_plugin_database::DbError;
use http::StatusCode;
use serde_json::json;

use crate::keys::KeyError;

/// Why a KeyVal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The request is malformed or over a limit; the message is shown to the caller.
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist; the message is shown to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The database failed; the message is logged, never shown.
    #[error("storage failure: {0}")]
    Storage(#[from] DbError),
    /// Something else went wrong inside the plugin; logged, never shown.
    #[error("{0}")]
    Internal(String),
}

impl KvError {
    /// A validation failure with this message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// Returns the HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Storage(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<KeyError> for KvError {
    fn from(e: KeyError) -> Self {
        Self::Invalid(e.0)
    }
}

/// Prefixes a key error with the field it came from (`keys[3]: key part 0: …`).
pub fn field(name: &str) -> impl Fn(KeyError) -> KvError + '_ {
    move |e| KvError::Invalid(format!("{name}: {}", e.0))
}

impl IntoResponse for KvError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Invalid(m) | Self::NotFound(m) => m.clone(),
            Self::Storage(_) | Self::Internal(_) => {
                tracing::error!(plugin = crate::NAME, "request failed: {self}");
                "Internal server error".to_owned()
            }
        };
        (status, axum::Json(json!({ "error": message }))).into_response()
    }
}
