//! How a plugin's own routes ask the REST API's access model (keys, roles, CSRF) about a caller:
//! the server puts an [`AccessGate`] in the extensions of every request it hands to the pipeline.

use std::sync::Arc;

use crate::Response;

/// The REST API's access model, as plugin routes use it.
pub trait ApiAccess: Send + Sync + 'static {
    /// Decides a request that needs every permission of `permissions` (wire names such as
    /// `apps:read`), by the same rules as a REST API route needing them: the master key passes, a
    /// stored key needs the permissions, no key passes only where the API lets anonymous callers
    /// through (no credentials configured, local, development), and state-changing methods without
    /// a key need a same-origin `Origin`.
    ///
    /// # Errors
    /// The response to send instead (401, 403, 503), in the REST API's shapes.
    #[allow(clippy::result_large_err)] // the refusal is sent as is, once per refused request
    fn check(&self, parts: &http::request::Parts, permissions: &[&str]) -> Result<(), Response>;
}

/// The request extension that carries the runtime's [`ApiAccess`].
#[derive(Clone)]
pub struct AccessGate(pub Arc<dyn ApiAccess>);

impl std::fmt::Debug for AccessGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessGate")
    }
}
