//! The live rule set (static rules first, then dynamic ones by `order`) behind one `ArcSwap`, and
//! the dynamic rules' persistence in KeyVal under `["proxy","rules",<id>]`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use buntime_plugin_keyval::{
    AtomicOp, DeleteOptions, Key, KeyPart, Kv, ListOptions, Mutation, MutationKind, Selector,
};
use serde_json::Value;

use crate::rule::{Compiled, Rule, RuleError};

/// Every rule, in match order.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// From the manifest, in its order; ids `static-<index>`.
    pub fixed: Vec<Arc<Compiled>>,
    /// From KeyVal, by `order` (then id).
    pub dynamic: Vec<Arc<Compiled>>,
}

impl RuleSet {
    /// Returns every rule in match order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Compiled>> {
        self.fixed.iter().chain(&self.dynamic)
    }

    /// Returns the first enabled rule whose pattern matches `path`.
    pub fn find(&self, path: &str) -> Option<&Arc<Compiled>> {
        self.all()
            .find(|r| r.rule.enabled && r.regex.is_match(path))
    }

    /// Returns the rule with `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Compiled>> {
        self.all().find(|r| r.rule.id == id)
    }

    /// Returns the rules as `GET /api/rules` lists them.
    pub fn to_json(&self) -> Value {
        Value::Array(self.all().map(|r| r.rule.to_json()).collect())
    }
}

/// Compiles the manifest's `rules`: ids become `static-<index>` and every rule is read-only.
///
/// # Errors
/// Every bad rule, each naming `rules[<index>].<field>`.
pub fn compile_static(rules: Option<&Value>) -> Result<Vec<Arc<Compiled>>, Vec<String>> {
    let items = match rules {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(vec![
                "`rules`: must be a list of rules ({pattern, target, …})".to_owned(),
            ]);
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match Rule::from_json(item).and_then(|mut rule| {
            rule.id = format!("static-{i}");
            rule.readonly = true;
            rule.order = i64::try_from(i).unwrap_or(i64::MAX);
            Compiled::new(rule)
        }) {
            Ok(c) => out.push(Arc::new(c)),
            Err(RuleError { field, message }) => {
                errors.push(format!("`rules[{i}].{field}`: {message}"))
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The rules in memory, and (with KeyVal) where dynamic ones are kept.
#[derive(Debug)]
pub struct Rules {
    live: ArcSwap<RuleSet>,
    store: Option<Kv>,
    /// One writer at a time: a write reads the set, persists, then swaps.
    writing: tokio::sync::Mutex<()>,
}

/// Why a write was refused, with the status the API answers.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// No KeyVal: 400.
    Disabled,
    /// Unknown id: 404.
    NotFound,
    /// A manifest rule: 403, with the verb (`modify`, `delete`, …).
    Static(&'static str),
    /// A bad body: 400, naming the field.
    Invalid(RuleError),
    /// KeyVal failed: 500.
    Store(String),
}

fn prefix() -> Key {
    Key::prefix(vec![
        KeyPart::String("proxy".into()),
        KeyPart::String("rules".into()),
    ])
    .expect("a two-part prefix is a valid key")
}

fn key_of(id: &str) -> Result<Key, WriteError> {
    Key::new(vec![
        KeyPart::String("proxy".into()),
        KeyPart::String("rules".into()),
        KeyPart::String(id.to_owned()),
    ])
    .map_err(|e| bad("id", e.0))
}

impl Rules {
    /// Rules with `fixed` from the manifest and dynamic ones kept in `store` (none without it).
    pub fn new(fixed: Vec<Arc<Compiled>>, store: Option<Kv>) -> Self {
        Self {
            live: ArcSwap::from_pointee(RuleSet {
                fixed,
                dynamic: Vec::new(),
            }),
            store,
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// Returns the current rules.
    pub fn load(&self) -> arc_swap::Guard<Arc<RuleSet>> {
        self.live.load()
    }

    /// Returns whether dynamic rules can be written.
    pub fn is_dynamic(&self) -> bool {
        self.store.is_some()
    }

    /// Reads the dynamic rules from KeyVal, sorted by `order`; rules stored without one get the
    /// next free orders and are saved back. A stored rule that no longer compiles is skipped and
    /// named in the returned warnings (it stays in KeyVal).
    ///
    /// # Errors
    /// KeyVal failed.
    pub async fn load_dynamic(&self) -> Result<Vec<String>, String> {
        let Some(kv) = &self.store else {
            return Ok(Vec::new());
        };
        let mut raw: Vec<(Value, Option<i64>)> = Vec::new();
        let mut start: Option<Key> = None;
        // Pages of the store's maximum until a short page.
        loop {
            let sel = Selector {
                prefix: Some(prefix()),
                start: start.clone(),
                ..Selector::default()
            };
            let page = kv
                .list(
                    &sel,
                    &ListOptions {
                        limit: buntime_plugin_keyval::list::MAX_LIMIT,
                        reverse: false,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            let n = page.len();
            if let Some(last) = page.last() {
                let mut after = last.key.parts().to_vec();
                // The smallest key after `last`: the same parts plus an empty byte string.
                after.push(KeyPart::Bytes(Vec::new()));
                start = Key::new(after).ok();
            }
            for e in page {
                let order = e.value.get("order").and_then(Value::as_i64);
                raw.push((e.value, order));
            }
            if n < buntime_plugin_keyval::list::MAX_LIMIT || start.is_none() {
                break;
            }
        }
        let mut next = raw
            .iter()
            .filter_map(|(_, o)| *o)
            .max()
            .map_or(0, |m| m + 1);
        let mut warnings = Vec::new();
        let mut dynamic = Vec::with_capacity(raw.len());
        for (mut value, order) in raw {
            if order.is_none() {
                value["order"] = Value::from(next);
                next += 1;
                let id = value
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Ok(key) = key_of(&id)
                    && let Err(e) = kv.set(&key, value.clone(), None).await
                {
                    warnings.push(format!(
                        "rule `{id}`: cannot save its back-filled order: {e}"
                    ));
                }
            }
            match Rule::from_json(&value).and_then(|mut r| {
                r.readonly = false;
                Compiled::new(r)
            }) {
                Ok(c) => dynamic.push(Arc::new(c)),
                Err(e) => warnings.push(format!(
                    "stored rule `{}` skipped: {e}",
                    value.get("id").and_then(Value::as_str).unwrap_or("?")
                )),
            }
        }
        sort(&mut dynamic);
        let fixed = self.live.load().fixed.clone();
        self.live.store(Arc::new(RuleSet { fixed, dynamic }));
        Ok(warnings)
    }

    fn store(&self) -> Result<&Kv, WriteError> {
        self.store.as_ref().ok_or(WriteError::Disabled)
    }

    /// Adds a dynamic rule from `body`: a fresh UUID, the next order, `readonly: false`.
    ///
    /// # Errors
    /// See [`WriteError`].
    pub async fn create(&self, body: &Value) -> Result<Arc<Compiled>, WriteError> {
        let kv = self.store()?;
        let _turn = self.writing.lock().await;
        let mut rule = Rule::from_json(body).map_err(invalid)?;
        let set = self.live.load_full();
        rule.id = uuid::Uuid::new_v4().to_string();
        rule.readonly = false;
        rule.order = set
            .dynamic
            .iter()
            .map(|r| r.rule.order)
            .max()
            .map_or(0, |m| m + 1);
        let compiled = Arc::new(Compiled::new(rule).map_err(invalid)?);
        kv.set(&key_of(&compiled.rule.id)?, compiled.rule.to_json(), None)
            .await
            .map_err(store)?;
        let mut dynamic = set.dynamic.clone();
        dynamic.push(compiled.clone());
        self.swap(&set, dynamic);
        Ok(compiled)
    }

    /// Merges `body` into the dynamic rule `id` (`id`, `readonly` and `order` are kept).
    ///
    /// # Errors
    /// See [`WriteError`].
    pub async fn update(&self, id: &str, body: &Value) -> Result<Arc<Compiled>, WriteError> {
        let Value::Object(changes) = body else {
            return Err(bad(
                "rule",
                "the body must be a JSON object of the fields to change",
            ));
        };
        self.replace(id, "modify", |rule| {
            let mut merged = rule.to_json();
            for (k, v) in changes {
                if !matches!(k.as_str(), "id" | "readonly" | "order") {
                    merged[k] = v.clone();
                }
            }
            Rule::from_json(&merged).map_err(invalid)
        })
        .await
    }

    /// Flips `enabled` on the dynamic rule `id`.
    ///
    /// # Errors
    /// See [`WriteError`].
    pub async fn toggle(&self, id: &str) -> Result<Arc<Compiled>, WriteError> {
        self.replace(id, "toggle", |rule| {
            let mut r = rule.clone();
            r.enabled = !r.enabled;
            Ok(r)
        })
        .await
    }

    async fn replace(
        &self,
        id: &str,
        verb: &'static str,
        edit: impl FnOnce(&Rule) -> Result<Rule, WriteError>,
    ) -> Result<Arc<Compiled>, WriteError> {
        let kv = self.store()?;
        let _turn = self.writing.lock().await;
        let set = self.live.load_full();
        let i = locate(&set, id, verb)?;
        let current = &set.dynamic[i].rule;
        let mut next = edit(current)?;
        next.id = current.id.clone();
        next.order = current.order;
        next.readonly = false;
        let compiled = Arc::new(Compiled::new(next).map_err(invalid)?);
        kv.set(&key_of(id)?, compiled.rule.to_json(), None)
            .await
            .map_err(store)?;
        let mut dynamic = set.dynamic.clone();
        dynamic[i] = compiled.clone();
        self.swap(&set, dynamic);
        Ok(compiled)
    }

    /// Deletes the dynamic rule `id`.
    ///
    /// # Errors
    /// See [`WriteError`].
    pub async fn delete(&self, id: &str) -> Result<(), WriteError> {
        let kv = self.store()?;
        let _turn = self.writing.lock().await;
        let set = self.live.load_full();
        let i = locate(&set, id, "delete")?;
        kv.delete(
            &key_of(id)?,
            &DeleteOptions {
                exact: true,
                filter: None,
            },
        )
        .await
        .map_err(store)?;
        let mut dynamic = set.dynamic.clone();
        dynamic.remove(i);
        self.swap(&set, dynamic);
        Ok(())
    }

    /// Puts the dynamic rules in the order of `ids`, which must name each of them exactly once;
    /// every new order is written in one KeyVal transaction.
    ///
    /// # Errors
    /// See [`WriteError`]: a static id is `Static`, an unknown one `NotFound`, a list that is not
    /// every dynamic id exactly once `Invalid`.
    pub async fn reorder(&self, body: &Value) -> Result<(), WriteError> {
        let kv = self.store()?;
        let Some(ids) = body.get("ids").and_then(Value::as_array) else {
            return Err(bad(
                "ids",
                "required: the list of every dynamic rule id in the new order",
            ));
        };
        let ids: Vec<&str> = ids
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| bad("ids", "must contain only strings"))
            })
            .collect::<Result<_, _>>()?;
        let _turn = self.writing.lock().await;
        let set = self.live.load_full();
        let mut picked = Vec::with_capacity(ids.len());
        for id in &ids {
            if set.fixed.iter().any(|r| r.rule.id == *id) {
                return Err(WriteError::Static("reorder"));
            }
            let Some(r) = set.dynamic.iter().find(|r| r.rule.id == *id) else {
                return Err(WriteError::NotFound);
            };
            if picked.iter().any(|p: &Arc<Compiled>| p.rule.id == *id) {
                return Err(bad("ids", format!("`{id}` is listed twice")));
            }
            picked.push(r.clone());
        }
        if picked.len() != set.dynamic.len() {
            return Err(bad(
                "ids",
                format!(
                    "must list all {} dynamic rules, got {}",
                    set.dynamic.len(),
                    picked.len()
                ),
            ));
        }
        let mut dynamic = Vec::with_capacity(picked.len());
        let mut op = AtomicOp::default();
        for (order, r) in picked.into_iter().enumerate() {
            let mut rule = r.rule.clone();
            rule.order = i64::try_from(order).unwrap_or(i64::MAX);
            op.mutations.push(Mutation {
                key: buntime_plugin_keyval::atomic::KeyTemplate::exact(&key_of(&rule.id)?),
                kind: MutationKind::Set {
                    value: rule.to_json(),
                    expires_in: None,
                },
            });
            dynamic.push(Arc::new(Compiled {
                rule,
                ..Compiled::clone(&r)
            }));
        }
        kv.atomic(&op).await.map_err(store)?;
        self.swap(&set, dynamic);
        Ok(())
    }

    fn swap(&self, set: &RuleSet, mut dynamic: Vec<Arc<Compiled>>) {
        sort(&mut dynamic);
        self.live.store(Arc::new(RuleSet {
            fixed: set.fixed.clone(),
            dynamic,
        }));
    }
}

fn locate(set: &RuleSet, id: &str, verb: &'static str) -> Result<usize, WriteError> {
    if set.fixed.iter().any(|r| r.rule.id == id) {
        return Err(WriteError::Static(verb));
    }
    set.dynamic
        .iter()
        .position(|r| r.rule.id == id)
        .ok_or(WriteError::NotFound)
}

fn sort(rules: &mut [Arc<Compiled>]) {
    rules.sort_by(|a, b| {
        a.rule
            .order
            .cmp(&b.rule.order)
            .then_with(|| a.rule.id.cmp(&b.rule.id))
    });
}

fn invalid(e: RuleError) -> WriteError {
    WriteError::Invalid(e)
}

fn bad(field: &str, message: impl Into<String>) -> WriteError {
    WriteError::Invalid(RuleError {
        field: field.to_owned(),
        message: message.into(),
    })
}

fn store(e: buntime_plugin_keyval::KvError) -> WriteError {
    WriteError::Store(e.to_string())
}
