//! The engine as a JSON service, for TypeScript plugins' `ctx.getPlugin("@buntime/plugin-keyval")`:
//! `get(key)`, `set(key, value, {expiresIn}?)`, `delete(key, {exact, where}?)`,
//! `list({prefix, start, end, limit, reverse, where}?)`, `count({prefix, start, end, where}?)`,
//! `paginate({…, cursor}?)`, `atomic({checks, mutations})`, `enqueue({value, options?})`,
//! `queueStats()`, `createIndex({prefix, options: {fields, tokenize?}})`, `listIndexes()`,
//! `removeIndex({prefix})` and `search({prefix, query, options?: {limit, where}})`, each taking
//! and answering the HTTP API's JSON shapes.

use async_trait::async_trait;
use buntime_core::services::JsonService;
use buntime_core::{ErrorKind, PluginError};
use serde_json::{Value, json};

use crate::atomic::AtomicOp;
use crate::entries::Entry;
use crate::error::KvError;
use crate::queue::EnqueueOptions;
use crate::request;
use crate::routes::search;
use crate::store::Kv;

/// The JSON face of a [`Kv`].
#[derive(Debug, Clone)]
pub struct KvJson(pub Kv);

fn to_plugin_error(e: KvError) -> PluginError {
    match e {
        KvError::Invalid(m) => PluginError::new(ErrorKind::BadRequest, m),
        KvError::NotFound(m) => PluginError::new(ErrorKind::NotFound, m),
        other => {
            tracing::error!(plugin = crate::NAME, "service call failed: {other}");
            PluginError::internal("Internal server error")
        }
    }
}

impl KvJson {
    async fn dispatch(&self, method: &str, args: &[Value]) -> Result<Value, KvError> {
        let kv = &self.0;
        let arg = |i: usize| args.get(i);
        let entries = |v: Vec<Entry>| Value::Array(v.iter().map(Entry::to_json).collect());
        match method {
            "get" => {
                let key = request::key(arg(0), "key")?;
                Ok(kv
                    .get(&key)
                    .await?
                    .map_or_else(|| Entry::missing_json(&key), |e| e.to_json()))
            }
            "set" => {
                let key = request::key(arg(0), "key")?;
                let value = arg(1)
                    .cloned()
                    .ok_or_else(|| KvError::invalid("value is required"))?;
                let opts = request::object(arg(2), "options")?;
                let vs = kv
                    .set(&key, value, request::expires_in(opts.get("expiresIn"))?)
                    .await?;
                Ok(json!({"ok": true, "versionstamp": vs}))
            }
            "delete" => {
                let opts = request::delete_options(kv, &request::object(arg(1), "options")?)?;
                let n = match arg(0) {
                    Some(Value::Array(items)) if items.first().is_some_and(Value::is_array) => {
                        kv.delete_many(&request::keys(arg(0), "keys")?, &opts)
                            .await?
                    }
                    _ => kv.delete(&request::key(arg(0), "key")?, &opts).await?,
                };
                Ok(json!({"deletedCount": n}))
            }
            "list" => {
                let (sel, opts) = request::list(kv, &request::object(arg(0), "options")?)?;
                Ok(entries(kv.list(&sel, &opts).await?))
            }
            "count" => {
                let (sel, _) = request::list(kv, &request::object(arg(0), "options")?)?;
                Ok(json!(kv.count(&sel).await?))
            }
            "paginate" => {
                crate::routes::keys::page_json(kv, &request::object(arg(0), "options")?).await
            }
            "atomic" => {
                let op = AtomicOp::from_json(arg(0).unwrap_or(&Value::Null))?;
                Ok(match kv.atomic(&op).await? {
                    Some(vs) => json!({"ok": true, "versionstamp": vs}),
                    None => json!({"ok": false}),
                })
            }
            "enqueue" => {
                let obj = request::object(arg(0), "body")?;
                let value = obj
                    .get("value")
                    .cloned()
                    .ok_or_else(|| KvError::invalid("value is required"))?;
                let opts = EnqueueOptions::from_json(obj.get("options"))?;
                let id = kv.queue().enqueue(value, opts).await?;
                Ok(json!({"ok": true, "id": id}))
            }
            "queueStats" => Ok(kv.queue().stats().await?.to_json()),
            "createIndex" => {
                let index = search::index_of(&request::object(arg(0), "body")?)?;
                kv.create_index(&index).await?;
                Ok(json!({"ok": true}))
            }
            "listIndexes" => search::indexes_json(kv).await,
            "removeIndex" => {
                kv.remove_index(&search::removal_prefix(&request::object(arg(0), "body")?)?)
                    .await?;
                Ok(json!({"ok": true}))
            }
            "search" => search::search_json(kv, &request::object(arg(0), "body")?).await,
            other => Err(KvError::invalid(format!(
                "unknown method `{other}`; the keyval service has get, set, delete, list, count, paginate, atomic, enqueue, queueStats, createIndex, listIndexes, removeIndex, search"
            ))),
        }
    }
}

#[async_trait]
impl JsonService for KvJson {
    async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, PluginError> {
        self.dispatch(method, &args).await.map_err(to_plugin_error)
    }
}
