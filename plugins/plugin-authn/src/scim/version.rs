//! Resource versions (RFC 7644 §3.14): a weak ETag computed from what the resource holds, sent as
//! `meta.version` and the `ETag` header; `If-None-Match` on a read answers 304 when unchanged, and
//! `If-Match` (or a Bulk operation's `version`) on a write answers 412 when the resource changed.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Reply, dispatch};
use crate::Authn;

/// The version of a resource: a hash of it without its own `meta.version`.
pub fn of(resource: &Value) -> String {
    let mut plain = resource.clone();
    if let Some(meta) = plain.get_mut("meta").and_then(Value::as_object_mut) {
        meta.shift_remove("version");
    }
    let digest = Sha256::digest(plain.to_string().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Sets `meta.version` on the resource (or each listed resource) of `reply`.
pub fn stamp(reply: &mut Reply) {
    let Some(body) = reply.body.as_mut() else { return };
    let set = |r: &mut Value| {
        if r.get("meta").and_then(|m| m.get("resourceType")).is_some() {
            r["meta"]["version"] = of(r).into();
        }
    };
    if let Some(resources) = body.get_mut("Resources").and_then(Value::as_array_mut) {
        resources.iter_mut().for_each(set);
    } else if reply.status.is_success() {
        set(body);
    }
}

/// Whether an `If-Match`/`If-None-Match` value (`*`, or a list of tags) names `etag`; weak
/// comparison, as RFC 7232 wants for these headers on SCIM's weak tags.
pub fn matches(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").trim_matches('"').to_owned();
    header.trim() == "*" || header.split(',').any(|t| bare(t) == bare(etag))
}

/// The current version of the resource at `path` (`/Users/{id}`), or the reply to send instead
/// (404 when it does not exist).
pub async fn current(st: &Arc<Authn>, path: &str) -> Result<String, Reply> {
    let mut reply = dispatch(st, &Method::GET, path, None, &[]).await;
    if !reply.status.is_success() {
        return Err(reply);
    }
    stamp(&mut reply);
    reply.etag().map(str::to_owned).ok_or_else(|| Reply::error(StatusCode::INTERNAL_SERVER_ERROR, None, "the resource has no version"))
}

/// Checks a write's precondition: the resource at `path` is still at one of the versions `wanted`.
///
/// # Errors
/// 412 `preconditionFailed` naming the current version, or the resource's 404.
pub async fn check(st: &Arc<Authn>, path: &str, wanted: &str) -> Result<(), Reply> {
    let now = current(st, path).await?;
    if matches(wanted, &now) {
        Ok(())
    } else {
        Err(Reply::error(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("the resource has changed (now {now}, the request expected {wanted}); read it again and retry"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn versions_follow_the_content_not_their_own_field() {
        let a = json!({"id": "1", "userName": "a", "meta": {"resourceType": "User"}});
        let mut b = a.clone();
        b["meta"]["version"] = of(&a).into();
        assert_eq!(of(&a), of(&b));
        b["userName"] = "b".into();
        assert_ne!(of(&a), of(&b));
        assert!(of(&a).starts_with("W/\""));
    }

    #[test]
    fn precondition_headers_compare_weakly_and_take_lists() {
        assert!(matches("W/\"ab\"", "W/\"ab\"") && matches("\"ab\"", "W/\"ab\"") && matches("*", "W/\"x\""));
        assert!(matches("W/\"no\", W/\"ab\"", "W/\"ab\"") && !matches("W/\"no\"", "W/\"ab\""));
    }
}
