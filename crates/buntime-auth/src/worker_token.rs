//! A per-process secret that lets the server recognise requests from its own workers.
//!
//! `x-buntime-internal: true` can be sent by anyone, so it must not exempt a request from CSRF.
//! Instead the server generates a [`WorkerToken`] at start-up, hands it to the workers it spawns
//! (environment variable [`WORKER_TOKEN_ENV`]), and the worker wrapper sends it back in
//! [`WORKER_TOKEN_HEADER`]. [`WorkerToken::matches`] then decides `from_worker` for
//! [`crate::AccessControl::authorize`].

use std::fmt;

use http::HeaderMap;

use crate::secret::{RandomError, generate_key, secrets_match};

/// The header a worker sends its token in.
pub const WORKER_TOKEN_HEADER: &str = "x-buntime-worker-token";
/// The environment variable that carries the token into a worker.
pub const WORKER_TOKEN_ENV: &str = "BUNTIME_WORKER_TOKEN";

/// A random secret shared only with this runtime's workers. `Debug` never shows it.
#[derive(Clone)]
pub struct WorkerToken(String);

impl WorkerToken {
    /// Generates a fresh token (32 random bytes, base64url).
    ///
    /// # Errors
    /// Returns [`RandomError`] when the OS random source fails.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(generate_key()?))
    }

    /// Returns the token, to pass to a worker.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns whether `headers` carry this token (compared in constant time). The server should
    /// strip [`WORKER_TOKEN_HEADER`] before forwarding a request anywhere else.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        headers
            .get(WORKER_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| secrets_match(v.trim().as_bytes(), self.0.as_bytes()))
    }
}

impl fmt::Debug for WorkerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkerToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_the_exact_token_matches() {
        let t = WorkerToken::generate().unwrap();
        let mut h = HeaderMap::new();
        assert!(!t.matches(&h));
        h.insert("x-buntime-internal", HeaderValue::from_static("true"));
        assert!(!t.matches(&h), "the legacy header is not a token");
        h.insert(WORKER_TOKEN_HEADER, HeaderValue::from_static("btk_guess"));
        assert!(!t.matches(&h));
        h.insert(
            WORKER_TOKEN_HEADER,
            HeaderValue::from_str(t.as_str()).unwrap(),
        );
        assert!(t.matches(&h));
        assert_eq!(format!("{t:?}"), "WorkerToken(..)");
    }
}
