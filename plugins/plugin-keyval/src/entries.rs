//! Single-entry operations (§A.3, §A.4, §A.6): get, batch get, set and delete (subtree, exact or
//! filtered), each delete counted inside the transaction that deletes.

use buntime_plugin_database::{Statement, Value as Sql};
use serde_json::{Value, json};

use crate::error::KvError;
use crate::filter::Filter;
use crate::keys::{Key, descendants_range};
use crate::store::{Change, Kv, Tx};
use crate::value::{from_stored, now_ms, resolve_now, to_stored};

/// Most keys one batch call takes.
pub const MAX_BATCH: usize = 1000;

/// The SQL condition "not expired at the bound time".
pub const LIVE: &str = "(expires_at IS NULL OR expires_at > ?)";

/// One stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: Key,
    /// The value.
    pub value: Value,
    /// The versionstamp of the write that stored it.
    pub versionstamp: String,
}

impl Entry {
    /// Returns `{key, value, versionstamp}`.
    pub fn to_json(&self) -> Value {
        json!({"key": self.key.to_json(), "value": self.value, "versionstamp": self.versionstamp})
    }

    /// Returns `{key, value: null, versionstamp: null}`: how a missing (or deleted) key is shown.
    pub fn missing_json(key: &Key) -> Value {
        json!({"key": key.to_json(), "value": null, "versionstamp": null})
    }

    /// Reads an entry from a `key, value, versionstamp` row.
    pub(crate) fn from_row(row: Vec<Sql>) -> Option<Self> {
        let mut it = row.into_iter();
        let key = match it.next()? {
            Sql::Blob(b) => Key::decode(&b).ok()?,
            _ => return None,
        };
        let value = stored_value(it.next()?);
        let Sql::Text(versionstamp) = it.next()? else {
            return None;
        };
        Some(Self {
            key,
            value,
            versionstamp,
        })
    }
}

/// Parses a stored value column.
pub(crate) fn stored_value(v: Sql) -> Value {
    match v {
        Sql::Text(t) => from_stored(t.as_bytes()),
        Sql::Blob(b) => from_stored(&b),
        Sql::Integer(i) => json!(i),
        Sql::Float(f) => json!(f),
        Sql::Null => Value::Null,
    }
}

/// Creates a new versionstamp: a UUIDv7, so versionstamps sort by creation time.
pub fn versionstamp() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A value ready to store: `$now` resolved, size checked.
pub(crate) fn prepare_value(kv: &Kv, mut value: Value, now: i64) -> Result<String, KvError> {
    resolve_now(&mut value, now);
    let text = String::from_utf8(to_stored(&value))
        .map_err(|_| KvError::Internal("value is not UTF-8".into()))?;
    let max = kv.config().max_value_bytes;
    if text.len() > max {
        return Err(KvError::invalid(format!(
            "value is {} bytes; the limit (maxValueBytes) is {max}",
            text.len()
        )));
    }
    Ok(text)
}

/// Turns `expiresIn` (ms, > 0) into an absolute `expires_at` (epoch ms).
pub(crate) fn expires_at(expires_in: Option<f64>, now: i64) -> Result<Option<i64>, KvError> {
    match expires_in {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e15 => Ok(Some(now + ms.ceil() as i64)),
        Some(_) => Err(KvError::invalid(
            "expiresIn must be a positive number of milliseconds",
        )),
    }
}

/// Upserts one entry inside `tx` and records the change.
pub(crate) async fn put(
    tx: &mut Tx,
    kv: &Kv,
    key: &Key,
    text: String,
    versionstamp: &str,
    expires_at: Option<i64>,
) -> Result<(), KvError> {
    let encoded = key.encode();
    let stmt = Statement {
        want_rows: false,
        ..Statement::with_args(
            kv.dialect().upsert_entry(),
            [
                Sql::Blob(encoded.clone()),
                Sql::Text(text.clone()),
                Sql::Text(versionstamp.to_owned()),
                expires_at.into(),
            ],
        )
    };
    tx.execute_point(stmt).await?;
    let value = from_stored(text.as_bytes());
    crate::fts::on_set(tx, &encoded, &value).await?;
    tx.changed(Change {
        key: key.clone(),
        encoded,
        value: Some(value),
        versionstamp: Some(versionstamp.to_owned()),
    });
    Ok(())
}

/// Reads the live value and versionstamp of one key inside `tx`.
pub(crate) async fn read_in(
    tx: &mut Tx,
    key: &Key,
    now: i64,
) -> Result<Option<(Value, String)>, KvError> {
    let res = tx
        .execute_point(Statement::with_args(
            format!("SELECT value, versionstamp FROM kv_entries WHERE key = ? AND {LIVE}"),
            [Sql::Blob(key.encode()), Sql::Integer(now)],
        ))
        .await?;
    Ok(res.rows.into_iter().next().and_then(|row| {
        let mut it = row.into_iter();
        let value = stored_value(it.next()?);
        match it.next()? {
            Sql::Text(vs) => Some((value, vs)),
            _ => None,
        }
    }))
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Delete only the key itself, not its descendants.
    pub exact: bool,
    /// Delete only entries whose value matches.
    pub filter: Option<Filter>,
}

impl Kv {
    /// Returns the live entry at `key`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn get(&self, key: &Key) -> Result<Option<Entry>, KvError> {
        self.timed("get", async {
            let stmt = Statement::with_args(
                format!("SELECT key, value, versionstamp FROM kv_entries WHERE key = ? AND {LIVE}"),
                [Sql::Blob(key.encode()), Sql::Integer(now_ms())],
            );
            Ok(self
                .query_point(stmt)
                .await?
                .rows
                .into_iter()
                .next()
                .and_then(Entry::from_row))
        })
        .await
    }

    /// Returns the live entries at `keys`, in order (`None` for misses), read in one statement.
    ///
    /// # Errors
    /// More than [`MAX_BATCH`] keys, or the database failed.
    pub async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Entry>>, KvError> {
        if keys.len() > MAX_BATCH {
            return Err(KvError::invalid(format!(
                "keys: at most {MAX_BATCH} keys per batch"
            )));
        }
        self.timed("get", async {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let encoded: Vec<Vec<u8>> = keys.iter().map(Key::encode).collect();
            let marks = vec!["?"; keys.len()].join(", ");
            let mut args: Vec<Sql> = encoded.iter().cloned().map(Sql::Blob).collect();
            args.push(Sql::Integer(now_ms()));
            let stmt = Statement::with_args(format!("SELECT key, value, versionstamp FROM kv_entries WHERE key IN ({marks}) AND {LIVE}"), args);
            // A few keys are a few index lookups: read them in place; big batches go to a blocking thread.
            let res = if keys.len() <= 16 { self.query_point(stmt).await? } else { self.query(stmt).await? };
            let found: std::collections::HashMap<Vec<u8>, Entry> = res.rows.into_iter().filter_map(Entry::from_row).map(|e| (e.key.encode(), e)).collect();
            Ok(encoded.iter().map(|e| found.get(e).cloned()).collect())
        })
        .await
    }

    /// Stores `value` at `key` under a new versionstamp, expiring `expires_in` ms from now.
    ///
    /// # Errors
    /// A value over `maxValueBytes`, a bad `expires_in`, or the database failed.
    pub async fn set(
        &self,
        key: &Key,
        value: Value,
        expires_in: Option<f64>,
    ) -> Result<String, KvError> {
        self.timed("set", async {
            let now = now_ms();
            let text = prepare_value(self, value, now)?;
            let expires_at = expires_at(expires_in, now)?;
            let mut tx = self.begin().await?;
            // Taken under the write turn, so versionstamps grow in commit order.
            let vs = versionstamp();
            put(&mut tx, self, key, text, &vs, expires_at).await?;
            tx.commit().await?;
            Ok(vs)
        })
        .await
    }

    /// Deletes `key` and (unless `exact`) its descendants, restricted by `filter`; returns how many
    /// live entries were deleted.
    ///
    /// # Errors
    /// The database failed (nothing is deleted).
    pub async fn delete(&self, key: &Key, opts: &DeleteOptions) -> Result<u64, KvError> {
        self.delete_many(std::slice::from_ref(key), opts).await
    }

    /// Deletes several keys (each as [`Kv::delete`]) in one transaction; returns the total.
    ///
    /// # Errors
    /// More than [`MAX_BATCH`] keys, or the database failed (nothing is deleted).
    pub async fn delete_many(&self, keys: &[Key], opts: &DeleteOptions) -> Result<u64, KvError> {
        if keys.len() > MAX_BATCH {
            return Err(KvError::invalid(format!(
                "keys: at most {MAX_BATCH} keys per batch"
            )));
        }
        self.timed("delete", async {
            let now = now_ms();
            let mut tx = self.begin().await?;
            let mut total = 0;
            for key in keys {
                total += delete_in(&mut tx, key, opts, now).await?;
            }
            tx.commit().await?;
            Ok(total)
        })
        .await
    }
}

/// Deletes inside `tx`; expired rows in range go too, but only live ones are counted and announced.
async fn delete_in(tx: &mut Tx, key: &Key, opts: &DeleteOptions, now: i64) -> Result<u64, KvError> {
    let encoded = key.encode();
    let mut args = vec![Sql::Blob(encoded)];
    let mut sql = String::from("DELETE FROM kv_entries WHERE ");
    if opts.exact {
        sql.push_str("key = ?");
    } else {
        let (start, end) = descendants_range(key);
        sql.push_str("(key = ? OR (key >= ? AND key < ?))");
        args.push(Sql::Blob(start));
        args.push(Sql::Blob(end.unwrap_or_default()));
    }
    if let Some(f) = &opts.filter {
        sql.push_str(" AND ");
        sql.push_str(&f.sql);
        args.extend(f.args.iter().cloned());
    }
    sql.push_str(&format!(" RETURNING key, {LIVE}, rowid"));
    args.push(Sql::Integer(now));
    let res = tx.execute(Statement::with_args(sql, args)).await?;
    let gone: Vec<(Vec<u8>, i64)> = res
        .rows
        .iter()
        .filter_map(|r| match (r.first(), r.get(2)) {
            (Some(Sql::Blob(k)), Some(Sql::Integer(id))) => Some((k.clone(), *id)),
            _ => None,
        })
        .collect();
    crate::fts::on_delete(tx, &gone).await?;
    let mut n = 0;
    for row in res.rows {
        let mut it = row.into_iter();
        if let (Some(Sql::Blob(enc)), Some(Sql::Integer(1))) = (it.next(), it.next()) {
            n += 1;
            if let Ok(key) = Key::decode(&enc) {
                tx.changed(Change {
                    key,
                    encoded: enc,
                    value: None,
                    versionstamp: None,
                });
            }
        }
    }
    Ok(n)
}
