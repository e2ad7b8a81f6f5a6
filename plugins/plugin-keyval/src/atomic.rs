//! Atomic commits (§A.7): versionstamp checks and mutations in ONE write transaction, so no write
//! can slip between a check and the mutations it guards (§S-3).

use serde_json::{Value, json};

use crate::entries::{MAX_BATCH, expires_at, prepare_value, put, read_in, versionstamp};
use crate::error::KvError;
use crate::keys::{Key, KeyPart, MAX_SAFE_INTEGER};
use crate::store::{Change, Kv, Tx};
use crate::value::{integer_operand, now_ms};

/// A key in an atomic operation; `None` parts are the commit's UUIDv7 placeholder
/// (`{"__type":"uuidv7"}` in JSON), replaced by the commit versionstamp.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyTemplate(Vec<Option<KeyPart>>);

impl KeyTemplate {
    /// A key without placeholders.
    pub fn exact(key: &Key) -> Self {
        Self(key.parts().iter().cloned().map(Some).collect())
    }

    /// Parses a JSON key whose parts may be `{"__type":"uuidv7"}`.
    ///
    /// # Errors
    /// As [`Key::from_json`] (checked with a versionstamp in place of each placeholder).
    pub fn from_json(v: &Value) -> Result<Self, KvError> {
        let Value::Array(items) = v else {
            return Err(KvError::invalid("key must be an array"));
        };
        let mut parts = Vec::with_capacity(items.len());
        for (i, p) in items.iter().enumerate() {
            if p.get("__type").and_then(Value::as_str) == Some("uuidv7") {
                parts.push(None);
            } else {
                parts
                    .push(Some(KeyPart::from_json(p).map_err(|e| {
                        KvError::invalid(format!("key part {i}: {}", e.0))
                    })?));
            }
        }
        let t = Self(parts);
        t.resolve(&"0".repeat(36))?;
        Ok(t)
    }

    /// Returns the key with every placeholder replaced by `vs`.
    ///
    /// # Errors
    /// The key is empty or too long.
    pub fn resolve(&self, vs: &str) -> Result<Key, KvError> {
        Ok(Key::new(
            self.0
                .iter()
                .map(|p| p.clone().unwrap_or_else(|| KeyPart::String(vs.to_owned())))
                .collect(),
        )?)
    }
}

/// A check: the key's current versionstamp must equal this one (`None`: the key must not exist).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The key.
    pub key: Key,
    /// The expected versionstamp.
    pub versionstamp: Option<String>,
}

/// What a mutation does.
#[derive(Debug, Clone, PartialEq)]
pub enum MutationKind {
    /// Store a value, optionally expiring `expires_in` ms after the commit.
    Set {
        /// The value.
        value: Value,
        /// Milliseconds until it expires.
        expires_in: Option<f64>,
    },
    /// Delete exactly this key.
    Delete,
    /// Add to the stored integer (missing = 0).
    Sum(i64),
    /// Keep the larger of the stored integer and this (missing = this).
    Max(i64),
    /// Keep the smaller of the stored integer and this (missing = this).
    Min(i64),
    /// Append to the stored array (missing = `[]`).
    Append(Vec<Value>),
    /// Prepend to the stored array (missing = `[]`).
    Prepend(Vec<Value>),
}

/// One mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// The key (placeholders allowed).
    pub key: KeyTemplate,
    /// What to do.
    pub kind: MutationKind,
}

/// An atomic operation: all checks pass and all mutations apply, or nothing happens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AtomicOp {
    /// The checks.
    pub checks: Vec<Check>,
    /// The mutations, applied in order.
    pub mutations: Vec<Mutation>,
}

impl AtomicOp {
    /// Parses `{checks?: [{key, versionstamp|null}], mutations: [{type, key, value?, expiresIn?}]}`.
    ///
    /// # Errors
    /// A malformed body; the message names the field (`mutations[2].value`).
    pub fn from_json(body: &Value) -> Result<Self, KvError> {
        let Value::Object(obj) = body else {
            return Err(KvError::invalid("body must be an object with `mutations`"));
        };
        let list = |name: &str| -> Result<Vec<Value>, KvError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) if a.len() <= MAX_BATCH => Ok(a.clone()),
                Some(Value::Array(_)) => Err(KvError::invalid(format!(
                    "{name}: at most {MAX_BATCH} per atomic operation"
                ))),
                Some(_) => Err(KvError::invalid(format!("{name} must be an array"))),
            }
        };
        let mut op = Self::default();
        for (i, c) in list("checks")?.iter().enumerate() {
            let key = Key::from_json(c.get("key").unwrap_or(&Value::Null))
                .map_err(|e| KvError::invalid(format!("checks[{i}].key: {}", e.0)))?;
            let versionstamp = match c.get("versionstamp") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(KvError::invalid(format!(
                        "checks[{i}].versionstamp must be a string or null"
                    )));
                }
            };
            op.checks.push(Check { key, versionstamp });
        }
        for (i, m) in list("mutations")?.iter().enumerate() {
            let at = |field: &str| format!("mutations[{i}].{field}");
            let key = KeyTemplate::from_json(m.get("key").unwrap_or(&Value::Null))
                .map_err(|e| KvError::invalid(format!("{}: {e}", at("key"))))?;
            let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
            let value = m.get("value");
            let int = |name: &str| -> Result<i64, KvError> {
                value
                    .and_then(integer_operand)
                    .and_then(|n| i64::try_from(n).ok())
                    .filter(|n| n.abs() <= MAX_SAFE_INTEGER)
                    .ok_or_else(|| KvError::invalid(format!("{}: {name} value must be a safe integer (number, numeric string or bigint)", at("value"))))
            };
            let array = |name: &str| -> Result<Vec<Value>, KvError> {
                match value {
                    Some(Value::Array(a)) => Ok(a.clone()),
                    _ => Err(KvError::invalid(format!("{name} value must be an array"))),
                }
            };
            let kind = match ty {
                "set" => {
                    let expires_in = match m.get("expiresIn") {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(v.as_f64().ok_or_else(|| {
                            KvError::invalid(format!(
                                "{} must be a number of milliseconds",
                                at("expiresIn")
                            ))
                        })?),
                    };
                    MutationKind::Set {
                        value: value.cloned().ok_or_else(|| {
                            KvError::invalid(format!("{} is required for set", at("value")))
                        })?,
                        expires_in,
                    }
                }
                "delete" => MutationKind::Delete,
                "sum" => MutationKind::Sum(int("sum")?),
                "max" => MutationKind::Max(int("max")?),
                "min" => MutationKind::Min(int("min")?),
                "append" => MutationKind::Append(array("append")?),
                "prepend" => MutationKind::Prepend(array("prepend")?),
                _ => {
                    return Err(KvError::invalid(format!(
                        "{} must be one of set, delete, sum, max, min, append, prepend",
                        at("type")
                    )));
                }
            };
            op.mutations.push(Mutation { key, kind });
        }
        Ok(op)
    }
}

impl Kv {
    /// Commits `op`: `Ok(Some(versionstamp))` when every check passed and every mutation applied,
    /// `Ok(None)` when a check failed (nothing was written).
    ///
    /// # Errors
    /// A mutation that does not fit the stored value (e.g. `sum` on a string), or the database
    /// failed; nothing is written.
    pub async fn atomic(&self, op: &AtomicOp) -> Result<Option<String>, KvError> {
        self.timed("atomic_commit", async {
            let now = now_ms();
            let mut tx = self.begin().await?;
            // Taken under the write turn, so versionstamps grow in commit order.
            let vs = versionstamp();
            match apply(self, &mut tx, op, &vs, now).await {
                Ok(true) => {
                    tx.commit().await?;
                    Ok(Some(vs))
                }
                Ok(false) => {
                    tx.rollback().await;
                    Ok(None)
                }
                Err(e) => {
                    tx.rollback().await;
                    Err(e)
                }
            }
        })
        .await
    }
}

async fn apply(kv: &Kv, tx: &mut Tx, op: &AtomicOp, vs: &str, now: i64) -> Result<bool, KvError> {
    for check in &op.checks {
        let current = read_in(tx, &check.key, now).await?.map(|(_, v)| v);
        if current != check.versionstamp {
            return Ok(false);
        }
    }
    for (i, m) in op.mutations.iter().enumerate() {
        let key = m.key.resolve(vs)?;
        let new_value = match &m.kind {
            MutationKind::Set { value, expires_in } => {
                let text = prepare_value(kv, value.clone(), now)
                    .map_err(|e| KvError::invalid(format!("mutations[{i}].{e}")))?;
                let exp = expires_at(*expires_in, now)
                    .map_err(|e| KvError::invalid(format!("mutations[{i}].{e}")))?;
                put(tx, kv, &key, text, vs, exp).await?;
                continue;
            }
            MutationKind::Delete => {
                let encoded = key.encode();
                crate::fts::on_delete_key(tx, &encoded).await?;
                tx.execute_point(buntime_plugin_database::Statement::with_args(
                    "DELETE FROM kv_entries WHERE key = ?",
                    [buntime_plugin_database::Value::Blob(encoded.clone())],
                ))
                .await?;
                tx.changed(Change {
                    key,
                    encoded,
                    value: None,
                    versionstamp: None,
                });
                continue;
            }
            kind => {
                let current = read_in(tx, &key, now).await?.map(|(v, _)| v);
                combine(kind, current, i)?
            }
        };
        let text = prepare_value(kv, new_value, now)?;
        put(tx, kv, &key, text, vs, None).await?;
    }
    Ok(true)
}

/// The new value of a sum/max/min/append/prepend given the current one.
fn combine(kind: &MutationKind, current: Option<Value>, i: usize) -> Result<Value, KvError> {
    let number = |name: &str| -> Result<Option<i64>, KvError> {
        match &current {
            None => Ok(None),
            Some(v) => integer_operand(v)
                .filter(|_| !v.is_string())
                .and_then(|n| i64::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    KvError::invalid(format!(
                        "mutations[{i}]: {name} needs the stored value to be an integer"
                    ))
                }),
        }
    };
    let array = |name: &str| -> Result<Vec<Value>, KvError> {
        match &current {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(KvError::invalid(format!(
                "mutations[{i}]: {name} needs the stored value to be an array"
            ))),
        }
    };
    let safe = |n: i64| -> Result<Value, KvError> {
        if n.abs() <= MAX_SAFE_INTEGER {
            Ok(json!(n))
        } else {
            Err(KvError::invalid(format!(
                "mutations[{i}]: the result is outside the safe integer range"
            )))
        }
    };
    match kind {
        MutationKind::Sum(x) => safe(number("sum")?.unwrap_or(0) + x),
        MutationKind::Max(x) => safe(number("max")?.map_or(*x, |c| c.max(*x))),
        MutationKind::Min(x) => safe(number("min")?.map_or(*x, |c| c.min(*x))),
        MutationKind::Append(items) => {
            let mut a = array("append")?;
            a.extend(items.iter().cloned());
            Ok(Value::Array(a))
        }
        MutationKind::Prepend(items) => {
            let mut a = items.clone();
            a.extend(array("prepend")?);
            Ok(Value::Array(a))
        }
        MutationKind::Set { .. } | MutationKind::Delete => {
            Err(KvError::Internal("combine called for set/delete".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mutation_type_and_names_bad_fields() {
        let op = AtomicOp::from_json(&json!({
            "checks": [{"key": ["a"], "versionstamp": null}, {"key": ["b"], "versionstamp": "v"}],
            "mutations": [
                {"type": "set", "key": ["a"], "value": 1, "expiresIn": 1000},
                {"type": "sum", "key": ["n"], "value": {"__type": "bigint", "value": "5"}},
                {"type": "max", "key": ["n"], "value": "7"},
                {"type": "min", "key": ["n"], "value": 2},
                {"type": "append", "key": ["l", {"__type": "uuidv7"}], "value": [1]},
                {"type": "prepend", "key": ["l"], "value": [0]},
                {"type": "delete", "key": ["a"]}
            ]
        }))
        .unwrap();
        assert_eq!(op.checks.len(), 2);
        assert_eq!(op.mutations[1].kind, MutationKind::Sum(5));
        assert_eq!(
            op.mutations[4].key.resolve("VS").unwrap().to_json(),
            json!(["l", "VS"])
        );
        for (body, needle) in [
            (
                json!({"mutations": [{"type": "append", "key": ["l"], "value": 1}]}),
                "append value must be an array",
            ),
            (
                json!({"mutations": [{"type": "sum", "key": ["l"], "value": 1.5}]}),
                "mutations[0].value: sum value must be a safe integer",
            ),
            (
                json!({"mutations": [{"type": "nope", "key": ["l"]}]}),
                "mutations[0].type must be one of",
            ),
            (
                json!({"mutations": [{"type": "set", "key": []}]}),
                "mutations[0].key",
            ),
            (json!({"checks": [{"key": "x"}]}), "checks[0].key"),
            (json!({"mutations": {}}), "mutations must be an array"),
        ] {
            let e = AtomicOp::from_json(&body).unwrap_err().to_string();
            assert!(e.contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn combines_numbers_and_arrays() {
        assert_eq!(combine(&MutationKind::Sum(2), None, 0).unwrap(), json!(2));
        assert_eq!(
            combine(&MutationKind::Sum(2), Some(json!(40)), 0).unwrap(),
            json!(42)
        );
        assert_eq!(
            combine(&MutationKind::Max(2), Some(json!(5)), 0).unwrap(),
            json!(5)
        );
        assert_eq!(combine(&MutationKind::Min(2), None, 0).unwrap(), json!(2));
        assert_eq!(
            combine(
                &MutationKind::Append(vec![json!(3)]),
                Some(json!([1, 2])),
                0
            )
            .unwrap(),
            json!([1, 2, 3])
        );
        assert_eq!(
            combine(&MutationKind::Prepend(vec![json!(0)]), Some(json!([1])), 0).unwrap(),
            json!([0, 1])
        );
        assert!(combine(&MutationKind::Sum(1), Some(json!("1")), 0).is_err());
        assert!(combine(&MutationKind::Sum(1), Some(json!(MAX_SAFE_INTEGER)), 0).is_err());
        assert!(combine(&MutationKind::Append(vec![]), Some(json!({})), 0).is_err());
    }
}
