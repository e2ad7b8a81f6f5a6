//! The HTTP API under the plugin base (§2): one sub-router per area, all sharing the [`Kv`] engine.

pub mod atomic;
pub mod keys;
pub mod metrics;
pub mod queue;
pub mod search;
pub mod watch;

use std::collections::HashMap;

use axum::Router;
use serde_json::{Map, Value};

use crate::error::KvError;
use crate::store::Kv;

/// Builds the router (mounted at the plugin base, which it sees stripped).
pub fn router(kv: Kv) -> Router {
    Router::new()
        .merge(keys::router())
        .merge(atomic::router())
        .merge(watch::router())
        .merge(metrics::router())
        .merge(queue::router())
        .merge(search::router())
        .with_state(kv)
}

/// Parses a JSON request body.
///
/// # Errors
/// Empty or not JSON: 400 naming the parse error.
pub fn json_body(body: &[u8]) -> Result<Value, KvError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(KvError::invalid("body must be a JSON object"));
    }
    serde_json::from_slice(body)
        .map_err(|e| KvError::invalid(format!("body is not valid JSON: {e}")))
}

/// The named query parameters as a JSON object of strings (the shape `request` parses).
pub fn query_object(q: &HashMap<String, String>, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|n| {
            q.get(*n)
                .map(|v| ((*n).to_owned(), Value::String(v.clone())))
        })
        .collect()
}
