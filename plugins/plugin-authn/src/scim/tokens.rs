//! SCIM bearer tokens: created (shown once), listed and revoked by a runtime admin through the
//! runtime's access model; checked on every SCIM request by SHA-256, honouring `expiresAt` and
//! recording `lastUsedAt`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use buntime_core::Response;
use buntime_core::access::AccessGate;
use buntime_plugin_database::Value as Db;
use http::{HeaderMap, StatusCode, header, request::Parts};
use serde_json::{Value, json};

use super::Reply;
use crate::Authn;
use crate::store::{int, now_ms, text};
use crate::token::{random_token, token_hash};

/// Prefix of every SCIM token (so leaked ones are recognisable in logs and scanners).
pub const PREFIX: &str = "scim_";

/// The admin routes, under the plugin's base.
pub fn router() -> Router<Arc<Authn>> {
    Router::new()
        .route("/api/scim/tokens", get(list).post(create))
        .route("/api/scim/tokens/{id}", delete(revoke))
}

/// Asks the runtime's access model (the REST API's keys and CSRF rules) about the caller.
#[allow(clippy::result_large_err)] // the refusal is sent as is, once per refused request
fn guard(parts: &Parts, needs: &[&str]) -> Result<(), Response> {
    let Some(gate) = parts.extensions.get::<AccessGate>() else {
        // Only a runtime without its HTTP server gets here: refuse, never open.
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "this runtime gives plugin routes no access control, so SCIM tokens cannot be managed", "code": "ACCESS_CONTROL_UNAVAILABLE"})),
        )
            .into_response());
    };
    gate.0.check(parts, needs)
}

fn token_json(r: &[Db]) -> Value {
    let opt_int = |v: &Db| (!matches!(v, Db::Null)).then(|| int(v));
    json!({
        "id": text(&r[0]),
        "name": text(&r[1]),
        "expiresAt": opt_int(&r[2]),
        "lastUsedAt": opt_int(&r[3]),
        "createdAt": int(&r[4]),
    })
}

fn db_error(st: &Authn, e: &buntime_plugin_database::DbError) -> Response {
    st.logger.error(format!("SCIM tokens: database error: {e}"));
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"error": "the database failed", "code": "DATABASE_ERROR"})),
    )
        .into_response()
}

fn bad(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": message, "code": "INVALID_FIELD"})),
    )
        .into_response()
}

async fn list(State(st): State<Arc<Authn>>, req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    if let Err(r) = guard(&parts, &["keys:read"]) {
        return r;
    }
    match st
        .store
        .run(st.store.stmt(
            "SELECT id, name, expires_at, last_used_at, created_at FROM authn_scim_token ORDER BY created_at, id",
            [],
        ))
        .await
    {
        Ok(res) => axum::Json(res.rows.iter().map(|r| token_json(r)).collect::<Vec<_>>()).into_response(),
        Err(e) => db_error(&st, &e),
    }
}

/// `POST /auth/api/scim/tokens` `{name, expiresIn?}`: 201 with the token, shown this once.
async fn create(State(st): State<Arc<Authn>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(r) = guard(&parts, &["keys:create"]) {
        return r;
    }
    let Ok(bytes): Result<Bytes, _> = axum::body::to_bytes(body, 64 * 1024).await else {
        return bad("the body is larger than 64 KiB".into());
    };
    let v: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad("the body must be a JSON object {name, expiresIn?}".into()),
    };
    let Some(name) = v
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 255)
    else {
        return bad("`name` is required (a label of up to 255 characters)".into());
    };
    let expires_at = match v.get("expiresIn") {
        None | Some(Value::Null) => None,
        Some(d) => match buntime_core::duration::parse(d).filter(|d| !d.is_zero()) {
            Some(d) => {
                Some(now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
            }
            None => return bad("`expiresIn` must be a positive duration such as `90d`".into()),
        },
    };
    let token = format!("{PREFIX}{}", random_token());
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let res = st
        .store
        .run(st.store.stmt(
            "INSERT INTO authn_scim_token (id, name, token_hash, expires_at, last_used_at, created_at) VALUES (?, ?, ?, ?, NULL, ?)",
            [
                id.clone().into(),
                name.into(),
                token_hash(&token).into(),
                expires_at.map_or(Db::Null, Db::Integer),
                now.into(),
            ],
        ))
        .await;
    if let Err(e) = res {
        return db_error(&st, &e);
    }
    st.logger
        .info(format!("SCIM token `{name}` ({id}) created"));
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "name": name, "token": token, "expiresAt": expires_at, "lastUsedAt": null, "createdAt": now})),
    )
        .into_response()
}

async fn revoke(
    State(st): State<Arc<Authn>>,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    let (parts, _) = req.into_parts();
    if let Err(r) = guard(&parts, &["keys:revoke"]) {
        return r;
    }
    match st
        .store
        .run(st.store.stmt(
            "DELETE FROM authn_scim_token WHERE id = ?",
            [id.clone().into()],
        ))
        .await
    {
        Ok(r) if r.affected_row_count > 0 => {
            st.logger.info(format!("SCIM token {id} revoked"));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no SCIM token `{id}`"), "code": "NOT_FOUND"})),
        )
            .into_response(),
        Err(e) => db_error(&st, &e),
    }
}

/// Checks `Authorization: Bearer <token>` against the stored hashes; records the use.
///
/// # Errors
/// The 401 (missing, unknown or expired token) or 500 to send.
pub async fn authenticate(st: &Authn, headers: &HeaderMap) -> Result<(), Reply> {
    let unauthorized = |d: &str| Reply::error(StatusCode::UNAUTHORIZED, None, d.to_owned());
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
        })
        .filter(|t| !t.is_empty())
    else {
        return Err(unauthorized(
            "SCIM needs `Authorization: Bearer <token>`; an admin creates tokens with POST /auth/api/scim/tokens",
        ));
    };
    // The hash is the lookup key, so comparing it leaks nothing about the token.
    let hash = token_hash(token);
    let res = st
        .store
        .run(st.store.stmt(
            "SELECT id, expires_at FROM authn_scim_token WHERE token_hash = ?",
            [hash.into()],
        ))
        .await
        .map_err(|e| Reply::db(st, &e))?;
    let Some(row) = res.rows.first() else {
        return Err(unauthorized(
            "the bearer token is not a SCIM token (or was revoked)",
        ));
    };
    let now = now_ms();
    if !matches!(row[1], Db::Null) && int(&row[1]) <= now {
        return Err(unauthorized("the SCIM token has expired"));
    }
    st.store
        .run(st.store.stmt(
            "UPDATE authn_scim_token SET last_used_at = ? WHERE id = ?",
            [now.into(), row[0].clone()],
        ))
        .await
        .map_err(|e| Reply::db(st, &e))?;
    Ok(())
}
