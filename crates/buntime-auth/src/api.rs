//! The `/keys` REST endpoints, as an axum router the server nests under the API path.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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
    keys_api(access).into()
}

/// The same routes as [`keys_router`], with their OpenAPI descriptions (for the server's document).
pub fn keys_api(access: Arc<AccessControl>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(meta, revoke_non_numeric))
        .routes(routes!(revoke))
        .with_state(access)
}

type Caller = Option<Extension<Principal>>;

/// Why a keys request failed; rendered as `{"success":false,"code","message"}` (401 excepted).
#[derive(Debug)]
enum ApiError {
    Unauthorized,
    Forbidden(String),
    BadRequest(&'static str, String),
    NotFound(u64),
    Store(Box<StoreError>),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Store(Box::new(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized => json(
                StatusCode::UNAUTHORIZED,
                &j!({"code": "AUTH_REQUIRED", "error": "Unauthorized"}),
            ),
            Self::Forbidden(msg) => json_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", &msg),
            Self::BadRequest(code, msg) => json_error(StatusCode::BAD_REQUEST, code, &msg),
            Self::NotFound(id) => json_error(
                StatusCode::NOT_FOUND,
                "API_KEY_NOT_FOUND",
                &format!("no active API key with id {id}"),
            ),
            Self::Store(e) => {
                tracing::warn!(error = %e, "Key store unavailable.");
                e.to_response()
            }
        }
    }
}

/// Who is acting: a principal, or an anonymous caller allowed because auth is off.
enum Actor {
    Key(Principal),
    Open,
}

impl Actor {
    fn resolve(access: &AccessControl, caller: Caller) -> Result<Self, ApiError> {
        if let Some(Extension(p)) = caller {
            return Ok(Self::Key(p));
        }
        if access.auth_required()? {
            Err(ApiError::Unauthorized)
        } else {
            Ok(Self::Open)
        }
    }

    /// Requires every permission in `perms`.
    fn require(&self, perms: &[Permission], what: &str) -> Result<(), ApiError> {
        let Self::Key(p) = self else { return Ok(()) };
        match p.first_missing(perms) {
            None => Ok(()),
            Some(missing) => Err(ApiError::Forbidden(format!(
                "Missing permission: {missing} ({what})"
            ))),
        }
    }

    fn id(&self) -> Option<u64> {
        match self {
            Self::Key(p) => Some(p.id),
            Self::Open => None,
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// Lists the non-revoked keys (expired ones included), never their hash or secret.
#[utoipa::path(get, path = "/keys", tag = "API Keys", summary = "List API keys",
    description = "Permission: `keys:read`.",
    responses((status = 200, description = "`{keys: [{id, name, keyPrefix, role, permissions, createdAt, createdBy?, description?, expiresAt?, lastUsedAt?}]}`"),
        (status = 503, description = "The key store is damaged: `KEY_STORE_UNAVAILABLE`, naming the file and the fix")))]
async fn list(State(access): State<Arc<AccessControl>>, caller: Caller) -> ApiResult {
    let actor = Actor::resolve(&access, caller)?;
    actor.require(&[Permission::KeysRead], "listing keys")?;
    let keys = access.store().list()?;
    Ok(json(StatusCode::OK, &j!({ "keys": keys })))
}

/// Lists the permissions and roles a key may have.
#[utoipa::path(get, path = "/keys/meta", tag = "API Keys", summary = "Roles and permissions",
    description = "Permission: `keys:read`.",
    responses((status = 200, description = "`{permissions: [...12], roles: [admin, editor, viewer, custom]}`")))]
async fn meta(State(access): State<Arc<AccessControl>>, caller: Caller) -> ApiResult {
    let actor = Actor::resolve(&access, caller)?;
    actor.require(&[Permission::KeysRead], "reading key metadata")?;
    Ok(json(
        StatusCode::OK,
        &j!({ "permissions": Permission::ALL, "roles": Role::ALL }),
    ))
}

/// Creates a key; its secret (`btk_…`) is in this reply only.
#[utoipa::path(post, path = "/keys", tag = "API Keys", summary = "Create an API key",
    description = "Permission: `keys:create`, and every permission the new key gets. Body: `{name, role?: admin|editor|viewer|custom (default editor), permissions?: [...] (custom only), description?, expiresIn?: never|<n>d|<n>w|<n>m|<n>y}`.",
    responses((status = 201, description = "`{success: true, data: {id, key, keyPrefix, name, role}}`"),
        (status = 400, description = "`MISSING_KEY_NAME`, `INVALID_KEY_ROLE`, `MISSING_PERMISSIONS`, `INVALID_PERMISSION`, `INVALID_EXPIRATION` or `INVALID_JSON`"),
        (status = 403, description = "The caller lacks a permission the new key would have")))]
async fn create(
    State(access): State<Arc<AccessControl>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let actor = Actor::resolve(&access, caller)?;
    actor.require(&[Permission::KeysCreate], "creating keys")?;
    let new = KeyRequest::from_json(&body)
        .and_then(|req| req.validate(actor.id()))
        .map_err(|e| ApiError::BadRequest(e.code(), e.to_string()))?;
    // No privilege escalation: a key can only mint keys within its own permissions.
    actor.require(
        &new.permissions,
        "a key can only create keys with permissions it holds",
    )?;
    let created = access.store().create(&new)?;
    let k = &created.key;
    tracing::info!(key_id = k.id, role = %k.role, created_by = ?k.created_by, "API key created.");
    Ok(json(
        StatusCode::CREATED,
        &j!({
            "data": { "id": k.id, "key": created.secret, "keyPrefix": k.key_prefix, "name": k.name, "role": k.role },
            "success": true
        }),
    ))
}

/// Refuses to revoke `meta`, which is not a key id.
#[utoipa::path(delete, path = "/keys/meta", tag = "API Keys", summary = "Not a key (400)",
    description = "`meta` is not a key id: answers 400 `INVALID_KEY_ID`.",
    responses((status = 400, description = "`INVALID_KEY_ID`")))]
async fn revoke_non_numeric(State(access): State<Arc<AccessControl>>, caller: Caller) -> ApiResult {
    revoke(State(access), caller, Path("meta".to_owned())).await
}

/// Revokes a key.
#[utoipa::path(delete, path = "/keys/{id}", tag = "API Keys", summary = "Revoke an API key",
    description = "Permission: `keys:revoke`, and every permission the revoked key has.",
    params(("id" = String, Path, description = "The key id (a positive integer)")),
    responses((status = 200, description = "`{success: true}`"),
        (status = 400, description = "`INVALID_KEY_ID`"),
        (status = 404, description = "`API_KEY_NOT_FOUND`: missing or already revoked")))]
async fn revoke(
    State(access): State<Arc<AccessControl>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult {
    let actor = Actor::resolve(&access, caller)?;
    actor.require(&[Permission::KeysRevoke], "revoking keys")?;
    let id = parse_id(&raw).ok_or_else(|| {
        ApiError::BadRequest(
            "INVALID_KEY_ID",
            format!("invalid key id `{raw}`: expected a positive integer"),
        )
    })?;
    let target = access
        .store()
        .get(id)?
        .filter(|k| k.revoked_at.is_none())
        .ok_or(ApiError::NotFound(id))?;
    // Same rule as creation: a key cannot revoke a key more powerful than itself.
    actor.require(
        &target.permissions,
        "a key can only revoke keys whose permissions it holds",
    )?;
    if !access.store().revoke(id)? {
        return Err(ApiError::NotFound(id));
    }
    tracing::info!(key_id = id, revoked_by = ?actor.id(), "API key revoked.");
    Ok(json(StatusCode::OK, &j!({ "success": true })))
}

/// Parses a positive decimal id (digits only: no sign, no spaces).
fn parse_id(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>()
        .ok()
        .filter(|id| *id > 0 && i64::try_from(*id).is_ok())
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn ids_must_be_positive_decimal_integers() {
        assert_eq!(parse_id("1"), Some(1));
        assert_eq!(parse_id("007"), Some(7));
        for bad in [
            "0",
            "",
            "-1",
            "+1",
            "1.0",
            "abc",
            " 1",
            "meta",
            "99999999999999999999",
            "9223372036854775808",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
