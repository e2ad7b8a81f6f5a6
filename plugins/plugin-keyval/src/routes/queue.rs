//! `/api/queue/*`: enqueue, poll, listen (SSE), ack/nack, stats and the dead-letter queue.

use axum::Router;

use crate::store::Kv;

/// The queue and DLQ routes.
pub fn router() -> Router<Kv> {
    Router::new()
}
