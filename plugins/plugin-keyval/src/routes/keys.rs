//! `/api/keys…`: read, write, delete, list, count and paginate entries.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, Uri};
use serde_json::{Map, Value, json};

use super::{json_body, query_object};
use crate::entries::{DeleteOptions, Entry};
use crate::error::KvError;
use crate::keys::Key;
use crate::request;
use crate::store::Kv;

/// The entry routes. The fixed paths also answer the other methods as path keys, so `PUT
/// /api/keys/count` stores the key `["count"]` as it does for any other name.
pub fn router() -> Router<Kv> {
    Router::new()
        .route("/api/keys", get(list_query))
        .route(
            "/api/keys/list",
            post(list_body).get(get_key).put(put_key).delete(delete_key),
        )
        .route(
            "/api/keys/count",
            get(count).post(count_body).put(put_key).delete(delete_key),
        )
        .route(
            "/api/keys/paginate",
            get(paginate)
                .post(paginate_body)
                .put(put_key)
                .delete(delete_key),
        )
        .route(
            "/api/keys/batch",
            post(batch).get(get_key).put(put_key).delete(delete_key),
        )
        .route(
            "/api/keys/delete-batch",
            post(delete_batch)
                .get(get_key)
                .put(put_key)
                .delete(delete_key),
        )
        .route(
            "/api/keys/{*path}",
            get(get_key).put(put_key).delete(delete_key),
        )
}

/// The key named by the URL path after `/api/keys/` (raw, so `%2F` stays inside a part).
fn path_key(uri: &Uri) -> Result<Key, KvError> {
    let raw = uri
        .path()
        .split_once("/api/keys/")
        .map_or("", |(_, rest)| rest);
    let key = Key::prefix_from_path(raw).map_err(|e| KvError::invalid(format!("key: {}", e.0)))?;
    if key.is_empty() {
        return Err(KvError::invalid(
            "key: the path must name a key (/api/keys/<part>/<part>…)",
        ));
    }
    Ok(key)
}

fn entries_json(entries: &[Entry]) -> Value {
    Value::Array(entries.iter().map(Entry::to_json).collect())
}

async fn get_key(State(kv): State<Kv>, uri: Uri) -> Result<Response, KvError> {
    let key = path_key(&uri)?;
    match kv.get(&key).await? {
        Some(e) => Ok(Json(e.to_json()).into_response()),
        None => Err(KvError::NotFound("Key not found".into())),
    }
}

async fn put_key(
    State(kv): State<Kv>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, KvError> {
    let key = path_key(&uri)?;
    let expires_in = request::expires_in(
        q.get("expiresIn")
            .map(|s| Value::String(s.clone()))
            .as_ref(),
    )?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(KvError::invalid("body must be the JSON value to store"));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| KvError::invalid(format!("body must be the JSON value to store: {e}")))?;
    let versionstamp = kv.set(&key, value, expires_in).await?;
    Ok(Json(json!({"ok": true, "versionstamp": versionstamp})).into_response())
}

async fn delete_key(
    State(kv): State<Kv>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, KvError> {
    let key = path_key(&uri)?;
    // The options are read only from a JSON body, as the original does.
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let opts = if is_json && !body.iter().all(u8::is_ascii_whitespace) {
        let v = json_body(&body)?;
        request::delete_options(&kv, &request::object(Some(&v), "body")?)?
    } else {
        DeleteOptions::default()
    };
    let n = kv.delete(&key, &opts).await?;
    Ok(Json(json!({"deletedCount": n})).into_response())
}

async fn list_query(
    State(kv): State<Kv>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KvError> {
    let obj = query_object(&q, &["prefix", "start", "end", "limit", "reverse"]);
    let (sel, opts) = request::list(&kv, &obj)?;
    Ok(Json(entries_json(&kv.list(&sel, &opts).await?)).into_response())
}

/// An optional JSON object body (empty means `{}`), as the `POST` list, count and paginate read.
fn optional_body(body: &[u8]) -> Result<Map<String, Value>, KvError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    request::object(Some(&json_body(body)?), "body")
}

async fn list_body(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let (sel, opts) = request::list(&kv, &optional_body(&body)?)?;
    Ok(Json(entries_json(&kv.list(&sel, &opts).await?)).into_response())
}

async fn count(
    State(kv): State<Kv>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KvError> {
    let obj = query_object(&q, &["prefix", "start", "end"]);
    let (sel, _) = request::list(&kv, &obj)?;
    Ok(Json(json!({"count": kv.count(&sel).await?})).into_response())
}

/// `POST /api/keys/count {prefix?, start?, end?, where?}`: the GET form's answer for any key.
async fn count_body(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let (sel, _) = request::list(&kv, &optional_body(&body)?)?;
    Ok(Json(json!({"count": kv.count(&sel).await?})).into_response())
}

async fn paginate(
    State(kv): State<Kv>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KvError> {
    let obj = query_object(
        &q,
        &["prefix", "start", "end", "limit", "reverse", "cursor"],
    );
    Ok(Json(page_json(&kv, &obj).await?).into_response())
}

/// `POST /api/keys/paginate {prefix?, start?, end?, cursor?, limit?, reverse?, where?}`.
async fn paginate_body(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    Ok(Json(page_json(&kv, &optional_body(&body)?).await?).into_response())
}

/// One page as `{entries, cursor, hasMore}`, for the routes and the JSON service.
///
/// # Errors
/// A bad field (a `cursor` that is not a string included), or the store's error.
pub async fn page_json(kv: &Kv, obj: &Map<String, Value>) -> Result<Value, KvError> {
    let (sel, opts) = request::list(kv, obj)?;
    let cursor = match obj.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c.is_empty() => None,
        Some(Value::String(c)) => Some(c.as_str()),
        Some(_) => return Err(KvError::invalid("cursor must be a string")),
    };
    let page = kv.paginate(&sel, &opts, cursor).await?;
    Ok(
        json!({"entries": entries_json(&page.entries), "cursor": page.cursor, "hasMore": page.has_more}),
    )
}

async fn batch(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let v = json_body(&body)?;
    let keys = request::keys(v.get("keys"), "keys")?;
    let found = kv.get_many(&keys).await?;
    let out: Vec<Value> = keys
        .iter()
        .zip(found)
        .map(|(k, e)| e.map_or_else(|| Entry::missing_json(k), |e| e.to_json()))
        .collect();
    Ok(Json(Value::Array(out)).into_response())
}

async fn delete_batch(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let v = json_body(&body)?;
    let keys = request::keys(v.get("keys"), "keys")?;
    let opts = request::delete_options(&kv, &request::object(Some(&v), "body")?)?;
    let n = kv.delete_many(&keys, &opts).await?;
    // `success` is what the original SDK reads (§S-2); `deletedCount` what the server sent.
    Ok(Json(json!({"deletedCount": n, "success": true})).into_response())
}
