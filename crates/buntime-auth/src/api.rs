//! The `/keys` REST endpoints, as an axum router the server nests under the API path.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Extension, Router};
use buntime_core::Response;
use buntime_core::respond::{json, json_error};
use bytes::Bytes;
use http::StatusCode;
use serde_json::json as j;

use crate::access::{AccessControl, Principal};
use crate::input::KeyRequest;
use crate::permission::{Permission, Role};
use crate::store::StoreError;

/// Builds the router for `GET /keys`, `GET /keys/meta`, `POST /keys` and `DELETE /keys/{id}`
/// (paths relative to the API path).
///
/// The server runs [`AccessControl::authorize`] first and inserts the caller's [`Principal`] into
/// the request extensions. Without one, the handlers act for an anonymous caller only while auth is
/// not required (so the first key can be created), and answer 401 otherwise.
pub fn keys_router(access: Arc<AccessControl>) -> Router {
    Router::new()
        .route("/keys", get(list).post(create))
        .route("/keys/meta", get(meta).delete(revoke_non_numeric))
        .route("/keys/{id}", delete(revoke))
        .with_state(access)
}

type Caller = Option<Extension<Principal>>;

/// Who is acting: a principal, or an anonymous caller allowed because auth is off.
enum Actor {
    Key(Principal),
    Open,
}

impl Actor {
    fn resolve(access: &AccessControl, caller: Caller) -> Result<Self, Response> {
        if let Some(Extension(p)) = caller {
            return Ok(Self::Key(p));
        }
        match access.auth_required() {
            Ok(false) => Ok(Self::Open),
            Ok(true) => Err(json(StatusCode::UNAUTHORIZED, &j!({"code": "AUTH_REQUIRED", "error": "Unauthorized"}))),
            Err(e) => Err(store_error(&e)),
        }
    }

    /// Requires every permission in `perms`.
    fn require(&self, perms: &[Permission], what: &str) -> Result<(), Response> {
        let Self::Key(p) = self else { return Ok(()) };
        match p.first_missing(perms) {
            None => Ok(()),
            Some(missing) => Err(json_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                &format!("Missing permission: {missing} ({what})"),
            )),
        }
    }

    fn id(&self) -> Option<u64> {
        match self {
            Self::Key(p) => Some(p.id),
            Self::Open => None,
        }
    }
}

fn store_error(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "Key store unavailable.");
    e.to_response()
}

async fn list(State(access): State<Arc<AccessControl>>, caller: Caller) -> Response {
    let actor = match Actor::resolve(&access, caller) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = actor.require(&[Permission::KeysRead], "listing keys") {
        return r;
    }
    match access.store().list() {
        Ok(keys) => json(StatusCode::OK, &j!({ "keys": keys })),
        Err(e) => store_error(&e),
    }
}

async fn meta(State(access): State<Arc<AccessControl>>, caller: Caller) -> Response {
    let actor = match Actor::resolve(&access, caller) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = actor.require(&[Permission::KeysRead], "reading key metadata") {
        return r;
    }
    json(StatusCode::OK, &j!({ "permissions": Permission::ALL, "roles": Role::ALL }))
}

async fn create(State(access): State<Arc<AccessControl>>, caller: Caller, body: Bytes) -> Response {
    let actor = match Actor::resolve(&access, caller) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = actor.require(&[Permission::KeysCreate], "creating keys") {
        return r;
    }
    let new = match KeyRequest::from_json(&body).and_then(|req| req.validate(actor.id())) {
        Ok(n) => n,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    };
    // No privilege escalation: a key can only mint keys within its own permissions.
    if let Err(r) = actor.require(&new.permissions, "a key can only create keys with permissions it holds") {
        return r;
    }
    match access.store().create(&new) {
        Ok(created) => {
            tracing::info!(key_id = created.key.id, role = %created.key.role, created_by = ?created.key.created_by, "API key created.");
            let k = &created.key;
            json(
                StatusCode::CREATED,
                &j!({
                    "data": { "id": k.id, "key": created.secret, "keyPrefix": k.key_prefix, "name": k.name, "role": k.role },
                    "success": true
                }),
            )
        }
        Err(e) => store_error(&e),
    }
}

async fn revoke_non_numeric(State(access): State<Arc<AccessControl>>, caller: Caller) -> Response {
    revoke(State(access), caller, Path("meta".to_owned())).await
}

async fn revoke(State(access): State<Arc<AccessControl>>, caller: Caller, Path(raw): Path<String>) -> Response {
    let actor = match Actor::resolve(&access, caller) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = actor.require(&[Permission::KeysRevoke], "revoking keys") {
        return r;
    }
    let Some(id) = parse_id(&raw) else {
        return json_error(StatusCode::BAD_REQUEST, "INVALID_KEY_ID", &format!("invalid key id `{raw}`: expected a positive integer"));
    };
    let not_found = || json_error(StatusCode::NOT_FOUND, "API_KEY_NOT_FOUND", &format!("no active API key with id {id}"));
    let target = match access.store().get(id) {
        Ok(Some(k)) if k.revoked_at.is_none() => k,
        Ok(_) => return not_found(),
        Err(e) => return store_error(&e),
    };
    // Same rule as creation: a key cannot revoke a key more powerful than itself.
    if let Err(r) = actor.require(&target.permissions, "a key can only revoke keys whose permissions it holds") {
        return r;
    }
    match access.store().revoke(id) {
        Ok(true) => {
            tracing::info!(key_id = id, revoked_by = ?actor.id(), "API key revoked.");
            json(StatusCode::OK, &j!({ "success": true }))
        }
        Ok(false) => not_found(),
        Err(e) => store_error(&e),
    }
}

/// Parses a positive decimal id (digits only: no sign, no spaces).
fn parse_id(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>().ok().filter(|id| *id > 0 && i64::try_from(*id).is_ok())
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn ids_must_be_positive_decimal_integers() {
        assert_eq!(parse_id("1"), Some(1));
        assert_eq!(parse_id("007"), Some(7));
        for bad in ["0", "", "-1", "+1", "1.0", "abc", " 1", "meta", "99999999999999999999", "9223372036854775808"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
