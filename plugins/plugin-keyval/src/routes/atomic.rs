//! `POST /api/atomic`: checks and mutations committed together, or `{ok:false}` and nothing written.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::json_body;
use crate::atomic::AtomicOp;
use crate::error::KvError;
use crate::store::Kv;

/// The atomic route.
pub fn router() -> Router<Kv> {
    Router::new().route("/api/atomic", post(atomic))
}

async fn atomic(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let op = AtomicOp::from_json(&json_body(&body)?)?;
    Ok(match kv.atomic(&op).await? {
        Some(versionstamp) => {
            Json(json!({"ok": true, "versionstamp": versionstamp})).into_response()
        }
        None => Json(json!({"ok": false})).into_response(),
    })
}
