//! `POST /Bulk` (RFC 7644 §3.7): operations run in order through the same dispatcher as single
//! requests, `bulkId:<id>` references resolved to the ids created earlier in the request.

use std::collections::HashMap;
use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Reply, dispatch};
use crate::Authn;

/// The BulkRequest schema.
pub const REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The BulkResponse schema.
pub const RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// Replaces `bulkId:<id>` strings in `v` with created ids; returns the first unknown reference.
fn resolve(v: &mut Value, ids: &HashMap<String, String>) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(r) = s.strip_prefix("bulkId:") {
                match ids.get(r) {
                    Some(id) => *s = id.clone(),
                    None => return Err(r.to_owned()),
                }
            }
        }
        Value::Array(a) => a.iter_mut().try_for_each(|i| resolve(i, ids))?,
        Value::Object(o) => o.values_mut().try_for_each(|i| resolve(i, ids))?,
        _ => {}
    }
    Ok(())
}

fn resolve_path(path: &str, ids: &HashMap<String, String>) -> Result<String, String> {
    path.split('/')
        .map(|seg| match seg.strip_prefix("bulkId:") {
            Some(r) => ids.get(r).cloned().ok_or_else(|| r.to_owned()),
            None => Ok(seg.to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|s| s.join("/"))
}

/// Runs a BulkRequest body.
pub async fn run(st: &Arc<Authn>, body: &[u8]) -> Reply {
    let cfg = st.config.scim;
    if !cfg.bulk_enabled {
        return Reply::error(
            StatusCode::NOT_IMPLEMENTED,
            None,
            "Bulk is disabled (`scim.bulkEnabled: false`)",
        );
    }
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                format!("the body is not JSON: {e}"),
            );
        }
    };
    let Some(ops) = req.get("Operations").and_then(Value::as_array) else {
        return Reply::invalid("a BulkRequest needs `Operations`, a list");
    };
    if ops.len() > cfg.max_bulk_operations {
        return Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("tooMany"),
            format!(
                "{} operations; at most {} per request (`scim.maxBulkOperations`)",
                ops.len(),
                cfg.max_bulk_operations
            ),
        );
    }
    let fail_on = req
        .get("failOnErrors")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0);
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut errors = 0u64;
    for (i, op) in ops.iter().enumerate() {
        let method_name = op
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let bulk_id = op.get("bulkId").and_then(Value::as_str).map(str::to_owned);
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let reply = match (
            Method::from_bytes(method_name.as_bytes())
                .ok()
                .filter(|m| [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(m)),
            resolve_path(path, &ids),
        ) {
            (None, _) => Reply::invalid(format!(
                "`Operations[{i}].method` must be POST, PUT, PATCH or DELETE"
            )),
            (Some(Method::POST), _) if bulk_id.is_none() => {
                Reply::invalid(format!("`Operations[{i}]`: POST needs a `bulkId`"))
            }
            (_, Err(r)) => Reply::error(
                StatusCode::CONFLICT,
                Some("invalidValue"),
                format!(
                    "`Operations[{i}].path` names `bulkId:{r}`, which no earlier operation created"
                ),
            ),
            (Some(m), Ok(path)) => {
                let mut data = op.get("data").cloned().unwrap_or(Value::Null);
                match resolve(&mut data, &ids) {
                    Err(r) => Reply::error(
                        StatusCode::CONFLICT,
                        Some("invalidValue"),
                        format!(
                            "`Operations[{i}].data` names `bulkId:{r}`, which no earlier operation created"
                        ),
                    ),
                    Ok(()) => {
                        // An operation's `version` is its If-Match.
                        let wanted = op.get("version").and_then(Value::as_str).filter(|_| m != Method::POST);
                        match wanted {
                            Some(w) if let Err(refused) = super::version::check(st, &path, w).await => refused,
                            _ => {
                                let bytes = data.to_string();
                                dispatch(st, &m, &path, None, bytes.as_bytes()).await
                            }
                        }
                    }
                }
            }
        };
        let mut entry = json!({"method": method_name, "status": reply.status.as_u16().to_string()});
        if let Some(b) = &bulk_id {
            entry["bulkId"] = b.clone().into();
        }
        if let Some(l) = &reply.location {
            entry["location"] = l.clone().into();
        }
        if let Some(v) = reply.body.as_ref().and_then(|b| b["meta"]["version"].as_str()) {
            entry["version"] = v.into();
        }
        if let (Some(b), Some(created_id), StatusCode::CREATED) = (
            &bulk_id,
            reply.body.as_ref().and_then(|v| v["id"].as_str()),
            reply.status,
        ) {
            ids.insert(b.clone(), created_id.to_owned());
        }
        if !reply.status.is_success() {
            errors += 1;
            entry["response"] = reply.body.clone().unwrap_or(Value::Null);
        }
        results.push(entry);
        if fail_on.is_some_and(|n| errors >= n) {
            break;
        }
    }
    Reply::json(
        StatusCode::OK,
        json!({"schemas": [RESPONSE_SCHEMA], "Operations": results}),
    )
}
