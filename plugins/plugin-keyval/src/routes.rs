//! The HTTP API under the plugin base (§2): one sub-router per area, all sharing the [`Kv`] engine.

pub mod queue;
pub mod search;

use axum::Router;

use crate::store::Kv;

/// Builds the router (mounted at the plugin base, which it sees stripped).
pub fn router(kv: Kv) -> Router {
    Router::new()
        .merge(queue::router())
        .merge(search::router())
        .with_state(kv)
}
