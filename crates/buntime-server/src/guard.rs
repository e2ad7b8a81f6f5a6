//! The seam through which access control guards the REST API (authentication, permissions, CSRF).

use async_trait::async_trait;
use buntime_core::{Request, Response};

/// Decides whether a REST API request may proceed.
#[async_trait]
pub trait ApiGuard: Send + Sync + 'static {
    /// Checks `req`, whose path is `rel_path` below the API mount (`/plugins/reload`). Returns the
    /// response to send instead when it may not proceed; may add extensions (the caller's identity)
    /// to `req`.
    async fn check(&self, req: &mut Request, rel_path: &str) -> Result<(), Response>;
}

/// A guard that lets everything through (no keys configured, used by tests and embedders).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenGuard;

#[async_trait]
impl ApiGuard for OpenGuard {
    async fn check(&self, _req: &mut Request, _rel_path: &str) -> Result<(), Response> {
        Ok(())
    }
}
