//! The one error type plugin authors return, and how it maps to a status.

use std::fmt;

use http::StatusCode;

/// What went wrong, as far as the client is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client sent something invalid (400).
    BadRequest,
    /// The client must authenticate (401).
    Unauthorized,
    /// The client may not do this (403).
    Forbidden,
    /// Nothing here (404).
    NotFound,
    /// Something this plugin depends on failed (502).
    Upstream,
    /// Temporarily unable to serve (503).
    Unavailable,
    /// A bug or an unexpected failure (500). Its message is never sent to the client.
    Internal,
}

impl ErrorKind {
    /// Returns the HTTP status this kind answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Upstream => StatusCode::BAD_GATEWAY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Returns the stable machine code used in JSON error bodies.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Upstream => "UPSTREAM_ERROR",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
            Self::Internal => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// The error a plugin hook returns.
///
/// `public` is what the client may see; the source is only logged. An `Internal` error never shows
/// its message to the client.
#[derive(Debug)]
pub struct PluginError {
    kind: ErrorKind,
    public: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PluginError {
    /// Creates an error of `kind` whose `message` the client may see.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, public: Some(message.into()), source: None }
    }

    /// Creates an internal error; `message` is logged, never sent.
    pub fn internal(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Internal, public: None, source: Some(message.into().into()) }
    }

    /// Wraps any error as an internal one.
    pub fn from_source(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind: ErrorKind::Internal, public: None, source: Some(source.into()) }
    }

    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Returns the message the client may see, if any.
    pub fn public_message(&self) -> Option<&str> {
        match self.kind {
            ErrorKind::Internal => None,
            _ => self.public.as_deref(),
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.public, &self.source) {
            (Some(p), Some(s)) => write!(f, "{p}: {s}"),
            (Some(p), None) => f.write_str(p),
            (None, Some(s)) => write!(f, "{s}"),
            (None, None) => f.write_str(self.kind.code()),
        }
    }
}

impl std::error::Error for PluginError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Adds one-call conversion of any error into a [`PluginError`] of a chosen kind.
pub trait OrKind<T> {
    /// Maps the error to `kind` with a public `message`, keeping the cause for the log.
    fn or_kind(self, kind: ErrorKind, message: &str) -> Result<T, PluginError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> OrKind<T> for Result<T, E> {
    fn or_kind(self, kind: ErrorKind, message: &str) -> Result<T, PluginError> {
        self.map_err(|e| PluginError { kind, public: Some(message.to_owned()), source: Some(Box::new(e)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_message() {
        let err = PluginError::internal("db password wrong");
        assert_eq!(err.public_message(), None);
        assert_eq!(err.kind().status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(err.to_string().contains("db password wrong"));
    }

    #[test]
    fn public_errors_keep_status_and_message() {
        let err = PluginError::new(ErrorKind::Unauthorized, "token expired");
        assert_eq!(err.kind().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.public_message(), Some("token expired"));
    }
}
