//! `/api/indexes` and `/api/search`: manage full-text indexes and query them.
//!
//! Both the server's shapes (`{prefix, options:{fields, tokenize}}`, `{prefix, query, options:{limit,
//! where}}`) and the original SDK's flat ones (`{prefix, fields, tokenize}`, top-level `limit` and
//! `where`) are accepted (§S-2).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::HeaderMap;
use serde_json::{Map, Value, json};

use super::json_body;
use crate::error::KvError;
use crate::fts::{Index, Tokenizer};
use crate::keys::Key;
use crate::list::MAX_LIMIT;
use crate::request;
use crate::store::Kv;

/// The index and search routes.
pub fn router() -> Router<Kv> {
    Router::new()
        .route("/api/indexes", post(create).get(list).delete(remove))
        .route("/api/search", get(search_query).post(search_body))
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, KvError> {
    match json_body(body)? {
        Value::Object(m) => Ok(m),
        _ => Err(KvError::invalid("body must be a JSON object")),
    }
}

/// A required prefix: a key array (possibly empty) or a `/`-joined path.
fn prefix(v: Option<&Value>) -> Result<Key, KvError> {
    request::opt_key(v, "prefix", true)?.ok_or_else(|| KvError::invalid("prefix is required"))
}

fn params(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, KvError> {
    q.map(|Query(q)| q)
        .map_err(|e| KvError::invalid(format!("bad query string: {e}")))
}

async fn create(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    kv.create_index(&index_of(&body_object(&body)?)?).await?;
    Ok(Json(json!({"ok": true})).into_response())
}

/// Reads `{prefix, options: {fields, tokenize?}}` (or the SDK's flat `{prefix, fields, tokenize?}`).
///
/// # Errors
/// A missing or bad field, named.
pub fn index_of(obj: &Map<String, Value>) -> Result<Index, KvError> {
    let prefix = prefix(obj.get("prefix"))?;
    // The SDK sends `fields`/`tokenize` at the top level.
    let options = match obj.get("options") {
        Some(Value::Object(o)) => o,
        None | Some(Value::Null) => obj,
        Some(_) => return Err(KvError::invalid("options must be an object")),
    };
    let Some(Value::Array(items)) = options.get("fields") else {
        return Err(KvError::invalid("options.fields must be a non-empty array"));
    };
    let fields = items
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.as_str()
                .map(str::to_owned)
                .ok_or_else(|| KvError::invalid(format!("options.fields[{i}] must be a string")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tokenize = match options.get("tokenize") {
        None | Some(Value::Null) => Tokenizer::default(),
        Some(Value::String(t)) => Tokenizer::parse(t)?,
        Some(_) => {
            return Err(KvError::invalid(
                "options.tokenize must be one of unicode61, porter, ascii",
            ));
        }
    };
    Index::new(prefix, fields, tokenize)
}

/// The indexes as JSON, for the route and the JSON service.
///
/// # Errors
/// The database failed.
pub async fn indexes_json(kv: &Kv) -> Result<Value, KvError> {
    let indexes = kv.list_indexes().await?;
    Ok(Value::Array(indexes.iter().map(Index::to_json).collect()))
}

async fn list(State(kv): State<Kv>) -> Result<Response, KvError> {
    Ok(Json(indexes_json(&kv).await?).into_response())
}

/// `DELETE /api/indexes`: the prefix from a JSON body `{prefix: Key}` when the request says it is
/// JSON (so boolean, bigint and bytes parts can be named), else from `?prefix=<path>`.
async fn remove(
    State(kv): State<Kv>,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> Result<Response, KvError> {
    let q = params(q)?;
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let prefix = if is_json && !body.iter().all(u8::is_ascii_whitespace) {
        prefix(body_object(&body)?.get("prefix"))?
    } else {
        prefix(q.get("prefix").map(|p| Value::String(p.clone())).as_ref())?
    };
    // Idempotent, like DLQ deletes: removing an index that is not there is not an error.
    kv.remove_index(&prefix).await?;
    Ok(Json(json!({"ok": true})).into_response())
}

/// Reads the `{prefix}` of a JSON index removal (the JSON service's `removeIndex`).
///
/// # Errors
/// A missing or bad prefix.
pub fn removal_prefix(obj: &Map<String, Value>) -> Result<Key, KvError> {
    prefix(obj.get("prefix"))
}

/// Runs a search: `limit` as for lists (default 100, capped at 1000), `where` as §A.8.
async fn run(
    kv: &Kv,
    prefix: &Key,
    query: Option<&Value>,
    limit: Option<&Value>,
    filter: Option<&Value>,
) -> Result<Value, KvError> {
    let query = match query {
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(KvError::invalid("query is required"));
        }
        Some(_) => return Err(KvError::invalid("query must be a string")),
    };
    let limit = u32::try_from(request::limit(limit)?.min(MAX_LIMIT)).unwrap_or(u32::MAX);
    let filter = request::filter_of(kv, filter)?.map(|f| (f.sql, f.args));
    let found = kv.search(prefix, query, limit, filter).await?;
    let out = found.into_iter().map(|(key, value, versionstamp)| json!({"key": key.to_json(), "value": value, "versionstamp": versionstamp})).collect();
    Ok(Value::Array(out))
}

async fn search_query(
    State(kv): State<Kv>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, KvError> {
    let q = params(q)?;
    let prefix = prefix(q.get("prefix").map(|p| Value::String(p.clone())).as_ref())?;
    let text = |n: &str| q.get(n).map(|v| Value::String(v.clone()));
    let hits = run(
        &kv,
        &prefix,
        text("query").as_ref(),
        text("limit").as_ref(),
        None,
    )
    .await?;
    Ok(Json(hits).into_response())
}

async fn search_body(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    Ok(Json(search_json(&kv, &body_object(&body)?).await?).into_response())
}

/// Runs `{prefix, query, options?: {limit, where}}` (or top-level `limit`/`where`) and returns
/// the hits, for the `POST` route and the JSON service.
///
/// # Errors
/// A missing or bad field, or the store's error.
pub async fn search_json(kv: &Kv, obj: &Map<String, Value>) -> Result<Value, KvError> {
    let prefix = prefix(obj.get("prefix"))?;
    let options = request::object(obj.get("options"), "options")?;
    // `options.*` wins; the SDK's top-level `limit`/`where` are read when it is absent.
    let pick = |n: &str| options.get(n).or_else(|| obj.get(n));
    run(kv, &prefix, obj.get("query"), pick("limit"), pick("where")).await
}
