//! Why a request could not be served by a worker, and the JSON response each failure becomes.

use std::sync::Arc;

use buntime_core::Response;
use buntime_core::respond::{json, json_error};
use http::{HeaderValue, StatusCode};

/// Why a worker could not be started.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// The worker host process could not be started or did not connect in time.
    #[error("worker host unavailable: {0}")]
    Host(Arc<str>),
    /// The app failed while loading (bad entrypoint, import error, no `fetch`/`routes`).
    #[error("worker initialization failed: {0}")]
    Init(Arc<str>),
    /// The worker did not get ready within the ready timeout.
    #[error("worker not ready after {0} ms")]
    NotReady(u64),
    /// The pool is shutting down.
    #[error("the worker pool is shutting down")]
    ShuttingDown,
    /// The host died while the worker was starting (retried once with a fresh host).
    #[error("worker host exited while the worker was starting")]
    HostDied,
}

/// A request that a worker could not answer; every variant becomes a JSON response.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchError {
    /// No worker could be started (503).
    #[error(transparent)]
    Start(#[from] StartError),
    /// The ephemeral gate is full (503 with `Retry-After`).
    #[error("ephemeral worker queue is saturated")]
    Saturated {
        /// Requests running.
        active: usize,
        /// The concurrency limit.
        max_concurrency: usize,
        /// The queue limit.
        max_queue: usize,
        /// Requests waiting.
        pending: usize,
    },
    /// The worker did not answer within the app's timeout (504).
    #[error("worker timeout after {0} ms")]
    Timeout(u64),
    /// The worker's host died, or the connection to the worker broke with the worker gone (502).
    #[error("worker crashed: {0}")]
    Crashed(Arc<str>),
    /// The app's worker thread ended while serving (it called `process.exit`, or an uncaught error
    /// ended it) (502).
    #[error("the worker of app `{app}` exited while serving the request ({reason})")]
    Exited {
        /// The app key.
        app: String,
        /// How it ended (`worker exited with code 1`).
        reason: Arc<str>,
    },
    /// The worker closed the connection without an answer but is still alive (its server refused
    /// the request); the worker is kept (502).
    #[error("the worker of app `{app}` closed the connection without answering ({reason})")]
    BadResponse {
        /// The app key.
        app: String,
        /// What the connection reported.
        reason: Arc<str>,
    },
    /// The worker went over its memory limit and was stopped (503).
    #[error("the worker of app `{app}` went over its memory limit of {limit_mb} MiB and was stopped")]
    MemoryLimit {
        /// The app key.
        app: String,
        /// The limit, in MiB.
        limit_mb: u64,
    },
    /// The method is not one app workers can serve (Bun's server drops the connection) (501).
    #[error("method `{0}` is not supported by app workers")]
    MethodNotImplemented(String),
    /// The request body is larger than the app allows (413).
    #[error("request body exceeds {0} bytes")]
    BodyTooLarge(u64),
    /// Another directory already uses this key (500).
    #[error("worker collision: `{key}` already registered from `{existing}`, cannot register from `{new}`")]
    Collision {
        /// The key.
        key: String,
        /// The directory that holds it.
        existing: String,
        /// The directory that asked for it.
        new: String,
    },
}

impl DispatchError {
    /// The HTTP status this failure answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Start(_) | Self::Saturated { .. } | Self::MemoryLimit { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Crashed(_) | Self::Exited { .. } | Self::BadResponse { .. } => StatusCode::BAD_GATEWAY,
            Self::MethodNotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Collision { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Start(StartError::NotReady(_)) => "WORKER_NOT_READY",
            Self::Start(StartError::ShuttingDown) => "WORKER_POOL_SHUTTING_DOWN",
            Self::Start(_) => "WORKER_START_FAILED",
            Self::Saturated { .. } => "EPHEMERAL_WORKER_QUEUE_SATURATED",
            Self::Timeout(_) => "WORKER_TIMEOUT",
            Self::Crashed(_) => "WORKER_CRASHED",
            Self::Exited { .. } => "WORKER_EXITED",
            Self::BadResponse { .. } => "WORKER_BAD_RESPONSE",
            Self::MemoryLimit { .. } => "WORKER_MEMORY_LIMIT",
            Self::MethodNotImplemented(_) => "METHOD_NOT_IMPLEMENTED",
            Self::BodyTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::Collision { .. } => "WORKER_COLLISION",
        }
    }

    /// Builds the JSON response for this failure.
    pub fn to_response(&self) -> Response {
        match self {
            Self::Saturated { active, max_concurrency, max_queue, pending } => {
                let body = serde_json::json!({
                    "success": false,
                    "code": self.code(),
                    "message": "Ephemeral worker queue is saturated",
                    "details": { "active": active, "maxConcurrency": max_concurrency, "maxQueue": max_queue, "pending": pending },
                });
                let mut res = json(self.status(), &body);
                res.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                res
            }
            _ => {
                let mut res = json_error(self.status(), self.code(), &self.to_string());
                if matches!(self, Self::Start(_) | Self::MemoryLimit { .. }) {
                    res.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                res
            }
        }
    }
}

/// Why the pool could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The runtime dir (sockets, host script) could not be prepared.
    #[error("cannot prepare the worker runtime dir `{}`", path.display())]
    RuntimeDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_their_statuses_and_codes() {
        let cases = [
            (DispatchError::Timeout(5), 504, "WORKER_TIMEOUT"),
            (DispatchError::Crashed("x".into()), 502, "WORKER_CRASHED"),
            (StartError::NotReady(1).into(), 503, "WORKER_NOT_READY"),
            (StartError::Init("bad".into()).into(), 503, "WORKER_START_FAILED"),
            (DispatchError::BodyTooLarge(1), 413, "PAYLOAD_TOO_LARGE"),
            (DispatchError::Exited { app: "a@1".into(), reason: "code 1".into() }, 502, "WORKER_EXITED"),
            (DispatchError::BadResponse { app: "a@1".into(), reason: "closed".into() }, 502, "WORKER_BAD_RESPONSE"),
            (DispatchError::MemoryLimit { app: "a@1".into(), limit_mb: 64 }, 503, "WORKER_MEMORY_LIMIT"),
            (DispatchError::MethodNotImplemented("FOO".into()), 501, "METHOD_NOT_IMPLEMENTED"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status);
            assert_eq!(err.code(), code);
            assert_eq!(err.to_response().status().as_u16(), status);
        }
    }

    #[test]
    fn saturation_answers_retry_after() {
        let err = DispatchError::Saturated { active: 2, max_concurrency: 2, max_queue: 0, pending: 0 };
        let res = err.to_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "1");
    }
}
