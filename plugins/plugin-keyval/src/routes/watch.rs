//! `/api/watch…`: SSE streams of changes to keys or a prefix (`event: change`, `event: ping`), and
//! their polling twins that diff against versionstamps the client sends back.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::Stream;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use super::json_body;
use crate::entries::Entry;
use crate::error::KvError;
use crate::keys::Key;
use crate::list::{ListOptions, MAX_LIMIT, Selector};
use crate::request;
use crate::store::Kv;
use crate::watch::{Target, Watcher};

/// Characters escaped in the `key:versionstamp,…` list of prefix polling, so any key survives it.
const SEGMENT: &AsciiSet = &CONTROLS.add(b'%').add(b'/').add(b',').add(b':');

/// The watch routes.
pub fn router() -> Router<Kv> {
    Router::new()
        .route("/api/watch", get(watch_keys))
        .route("/api/watch/poll", get(poll_keys))
        .route("/api/watch/prefix", get(watch_prefix))
        .route(
            "/api/watch/prefix/poll",
            get(poll_prefix).post(poll_prefix_body),
        )
}

/// Parses `keys=a/b,c/d`.
fn keys_param(q: &HashMap<String, String>) -> Result<Vec<Key>, KvError> {
    let raw = q
        .get("keys")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| KvError::invalid("Missing 'keys' query parameter"))?;
    let keys: Vec<Key> = raw
        .split(',')
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, p)| request::key(Some(&Value::String(p.to_owned())), &format!("keys[{i}]")))
        .collect::<Result<_, _>>()?;
    if keys.len() > crate::entries::MAX_BATCH {
        return Err(KvError::invalid(format!(
            "keys: at most {} keys per watch",
            crate::entries::MAX_BATCH
        )));
    }
    Ok(keys)
}

fn prefix_param(q: &HashMap<String, String>) -> Result<(Key, usize), KvError> {
    let raw = q
        .get("prefix")
        .ok_or_else(|| KvError::invalid("Missing 'prefix' query parameter"))?;
    let prefix =
        Key::prefix_from_path(raw).map_err(|e| KvError::invalid(format!("prefix: {}", e.0)))?;
    let limit =
        request::limit(q.get("limit").map(|s| Value::String(s.clone())).as_ref())?.min(MAX_LIMIT);
    Ok((prefix, limit))
}

fn initial(q: &HashMap<String, String>) -> Result<bool, KvError> {
    match q.get("initial") {
        None => Ok(true),
        Some(v) => request::flag(Some(&Value::String(v.clone())), "initial"),
    }
}

fn change_event(items: &[Value]) -> Event {
    Event::default()
        .event("change")
        .data(Value::Array(items.to_vec()).to_string())
}

/// Streams a watcher: the snapshot first (when `initial`), then each relevant commit, with a
/// `ping` after every quiet heartbeat interval. Ends when the client goes away.
fn stream(
    heartbeat: std::time::Duration,
    mut watcher: Watcher,
    snapshot: Option<Vec<Value>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        if let Some(items) = snapshot
            && tx.send(change_event(&items)).await.is_err()
        {
            return;
        }
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        loop {
            tokio::select! {
                next = watcher.next() => match next {
                    Ok(Some(items)) => {
                        if tx.send(change_event(&items)).await.is_err() {
                            return;
                        }
                        ping.reset();
                    }
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(plugin = crate::NAME, "watch stream ended: {e}");
                        return;
                    }
                },
                _ = ping.tick() => {
                    if tx.send(Event::default().event("ping").data("{}")).await.is_err() {
                        return;
                    }
                }
                () = tx.closed() => return,
            }
        }
    });
    let events =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Sse::new(events)
}

async fn watch_keys(
    State(kv): State<Kv>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KvError> {
    let keys = keys_param(&q)?;
    let initial = initial(&q)?;
    let (watcher, snapshot) = Watcher::start(&kv, Target::Keys(keys)).await?;
    Ok(stream(
        kv.config().watch_heartbeat,
        watcher,
        initial.then_some(snapshot),
    )
    .into_response())
}

async fn watch_prefix(
    State(kv): State<Kv>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KvError> {
    let (prefix, limit) = prefix_param(&q)?;
    let initial = initial(&q)?;
    let (watcher, snapshot) = Watcher::start(&kv, Target::Prefix { prefix, limit }).await?;
    Ok(stream(
        kv.config().watch_heartbeat,
        watcher,
        initial.then_some(snapshot),
    )
    .into_response())
}

/// `?keys=…&versionstamps=v1,v2` (positional): the entries whose versionstamp differs from the
/// client's, and every key's current versionstamp (`""` when absent).
async fn poll_keys(
    State(kv): State<Kv>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KvError> {
    let keys = keys_param(&q)?;
    let given: Vec<&str> = q
        .get("versionstamps")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let found = kv.get_many(&keys).await?;
    let mut entries = Vec::new();
    let mut current = Vec::new();
    for (i, (key, e)) in keys.iter().zip(found).enumerate() {
        let vs = e
            .as_ref()
            .map_or("", |e| e.versionstamp.as_str())
            .to_owned();
        if given.get(i).copied().unwrap_or("") != vs {
            entries.push(
                e.as_ref()
                    .map_or_else(|| Entry::missing_json(key), Entry::to_json),
            );
        }
        current.push(vs);
    }
    Ok(Json(json!({"entries": entries, "versionstamps": current})).into_response())
}

fn path_of(key: &Key) -> String {
    key.parts()
        .iter()
        .map(|p| utf8_percent_encode(&p.to_path_segment(), SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The entries under `prefix` (up to `limit`) whose versionstamp differs from the client's, then
/// the client's keys that are gone, as null entries in `id` order; and every listed key with its
/// current versionstamp. `given` maps each client key's `id` to the key and its versionstamp:
/// the `POST` form identifies keys by their encoding, so they keep their types; the GET form by
/// their path, the only thing its client sends.
async fn prefix_diff(
    kv: &Kv,
    prefix: Key,
    limit: usize,
    mut given: BTreeMap<String, (Key, String)>,
    id: impl Fn(&Key) -> String,
) -> Result<(Vec<Value>, Vec<(Key, String)>), KvError> {
    let sel = Selector {
        prefix: Some(prefix),
        ..Selector::default()
    };
    let opts = ListOptions {
        limit,
        reverse: false,
    };
    let mut entries = Vec::new();
    let mut current = Vec::new();
    for e in kv.list(&sel, &opts).await? {
        if given.remove(&id(&e.key)).map(|(_, vs)| vs).as_deref() != Some(e.versionstamp.as_str()) {
            entries.push(e.to_json());
        }
        current.push((e.key, e.versionstamp));
    }
    entries.extend(
        given
            .into_values()
            .map(|(key, _)| Entry::missing_json(&key)),
    );
    Ok((entries, current))
}

/// A key's identity in the `POST` form: its encoding (hex, so it orders as the key does).
fn encoded_id(key: &Key) -> String {
    key.encode().iter().map(|b| format!("{b:02x}")).collect()
}

/// `?prefix=…&limit=…&versionstamps=k1:vs1,…` (the original's form): entries added or changed
/// since, deletions as null entries, and the new `key:versionstamp` list to send next time. Its
/// keys are `/`-joined paths, so a deleted key comes back as its path reads (`true` as `"true"`);
/// `POST` keeps the types.
async fn poll_prefix(
    State(kv): State<Kv>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KvError> {
    let (prefix, limit) = prefix_param(&q)?;
    let given = q
        .get("versionstamps")
        .map(|s| {
            s.split(',')
                .filter_map(|kv| kv.rsplit_once(':'))
                .filter_map(|(k, v)| {
                    let key = Key::prefix_from_path(k).ok().filter(|k| !k.is_empty())?;
                    Some((k.to_owned(), (key, v.to_owned())))
                })
                .collect()
        })
        .unwrap_or_default();
    let (entries, current) = prefix_diff(&kv, prefix, limit, given, path_of).await?;
    let tokens: Vec<String> = current
        .iter()
        .map(|(k, vs)| format!("{}:{vs}", path_of(k)))
        .collect();
    Ok(Json(json!({"entries": entries, "versionstamps": tokens.join(",")})).into_response())
}

/// Reads `versionstamps: [{key, versionstamp}]` of the `POST` form (absent or null: none yet).
fn typed_versionstamps(v: Option<&Value>) -> Result<BTreeMap<String, (Key, String)>, KvError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(KvError::invalid(
                "versionstamps must be an array of {key, versionstamp}",
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let key = request::key(item.get("key"), &format!("versionstamps[{i}].key"))?;
            match item.get("versionstamp") {
                Some(Value::String(vs)) => Ok((encoded_id(&key), (key, vs.clone()))),
                _ => Err(KvError::invalid(format!(
                    "versionstamps[{i}].versionstamp must be a string"
                ))),
            }
        })
        .collect()
}

/// `POST {prefix, limit?, versionstamps?: [{key, versionstamp}]}`: the GET form's diff with real
/// keys both ways, answering `{entries, versionstamps: [{key, versionstamp}]}`.
async fn poll_prefix_body(State(kv): State<Kv>, body: Bytes) -> Result<Response, KvError> {
    let obj = request::object(Some(&json_body(&body)?), "body")?;
    let prefix = request::opt_key(obj.get("prefix"), "prefix", true)?
        .ok_or_else(|| KvError::invalid("prefix is required"))?;
    let limit = request::limit(obj.get("limit"))?.min(MAX_LIMIT);
    let given = typed_versionstamps(obj.get("versionstamps"))?;
    let (entries, current) = prefix_diff(&kv, prefix, limit, given, encoded_id).await?;
    let stamps: Vec<Value> = current
        .iter()
        .map(|(k, vs)| json!({"key": k.to_json(), "versionstamp": vs}))
        .collect();
    Ok(Json(json!({"entries": entries, "versionstamps": stamps})).into_response())
}
