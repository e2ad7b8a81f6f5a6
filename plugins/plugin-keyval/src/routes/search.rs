//! `/api/indexes` and `/api/search`: full-text index management and queries.

use axum::Router;

use crate::store::Kv;

/// The index and search routes.
pub fn router() -> Router<Kv> {
    Router::new()
}
