//! The seam through which access control guards the REST API (authentication, permissions, CSRF),
//! and its default: API keys and CSRF checks from `buntime-auth`.

use std::sync::Arc;

use async_trait::async_trait;
use buntime_auth::AccessControl;
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

/// The default guard: master key and scoped API keys, permissions per route, CSRF for
/// state-changing calls (spec §6.2, §10.1).
#[derive(Debug, Clone)]
pub struct KeyGuard {
    access: Arc<AccessControl>,
}

impl KeyGuard {
    /// Guards with `access`.
    pub fn new(access: Arc<AccessControl>) -> Self {
        Self { access }
    }
}

#[async_trait]
impl ApiGuard for KeyGuard {
    async fn check(&self, req: &mut Request, rel_path: &str) -> Result<(), Response> {
        self.access.check_request(req, rel_path).map(|_| ()).map_err(Response::from)
    }
}
