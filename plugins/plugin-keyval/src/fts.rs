//! Full-text search (§A.13): one SQLite FTS5 table per indexed key prefix, kept in step with the
//! entries by [`on_set`] / [`on_delete`] inside the writing transaction, back-filled when created.
//!
//! The FTS table is `kv_fts_<16 hex of sha256(encoded prefix)>` with columns `doc_key UNINDEXED`
//! (the entry's encoded key) and `f0, f1, …` (the index's fields, in order); its rowid is the
//! entry's `kv_entries` rowid. Searches join on both rowid and key, so a row left behind by the
//! expiry sweeper can never surface (it is replaced on the key's next set).

use buntime_plugin_database::{DbError, Statement, StmtResult, Value as Sql};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::KvError;
use crate::keys::{Key, descendants_range, is_descendant};
use crate::store::{Kv, Tx};
use crate::value::{from_stored, now_ms};

/// The most fields one index may have.
pub const MAX_FIELDS: usize = 32;
/// The longest field path.
pub const MAX_FIELD_LEN: usize = 256;
/// The longest accepted query, in bytes.
pub const MAX_QUERY_LEN: usize = 4096;
/// Rows read per step while back-filling an index.
const BACKFILL_CHUNK: i64 = 500;

/// An FTS5 tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tokenizer {
    /// Unicode-aware words, case- and diacritic-folded (FTS5's default).
    #[default]
    Unicode61,
    /// English stemming over `unicode61` (`running` matches `run`).
    Porter,
    /// ASCII-only folding.
    Ascii,
}

impl Tokenizer {
    /// Parses `unicode61`, `porter` or `ascii`.
    ///
    /// # Errors
    /// Any other name; the message lists the choices.
    pub fn parse(name: &str) -> Result<Self, KvError> {
        match name {
            "unicode61" => Ok(Self::Unicode61),
            "porter" => Ok(Self::Porter),
            "ascii" => Ok(Self::Ascii),
            other => Err(KvError::invalid(format!(
                "options.tokenize must be one of unicode61, porter, ascii (got `{}`)",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    /// Returns the manifest/API name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unicode61 => "unicode61",
            Self::Porter => "porter",
            Self::Ascii => "ascii",
        }
    }

    fn fts5_option(self) -> &'static str {
        match self {
            Self::Unicode61 => "unicode61",
            Self::Porter => "porter unicode61",
            Self::Ascii => "ascii",
        }
    }
}

/// An index's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// The indexed prefix (its strict descendants are indexed).
    pub prefix: Key,
    /// Dot paths into the values (`title`, `author.name`, `tags.0`).
    pub fields: Vec<String>,
    /// The tokenizer.
    pub tokenize: Tokenizer,
}

impl Index {
    /// Validates `fields` (1..=32 distinct non-empty paths) and builds the definition.
    ///
    /// # Errors
    /// An empty, over-long or duplicated field; the message names it.
    pub fn new(prefix: Key, fields: Vec<String>, tokenize: Tokenizer) -> Result<Self, KvError> {
        if fields.is_empty() {
            return Err(KvError::invalid("At least one field must be specified"));
        }
        if fields.len() > MAX_FIELDS {
            return Err(KvError::invalid(format!(
                "options.fields is limited to {MAX_FIELDS} fields"
            )));
        }
        for (i, f) in fields.iter().enumerate() {
            if f.is_empty() || f.len() > MAX_FIELD_LEN {
                return Err(KvError::invalid(format!(
                    "options.fields[{i}] must be a non-empty path of at most {MAX_FIELD_LEN} bytes"
                )));
            }
            if fields[..i].contains(f) {
                return Err(KvError::invalid(format!(
                    "options.fields[{i}] repeats `{f}`"
                )));
            }
        }
        Ok(Self {
            prefix,
            fields,
            tokenize,
        })
    }

    /// Returns the FTS5 table name of this prefix.
    pub fn table_name(&self) -> String {
        table_name(&self.prefix.encode())
    }

    /// Returns `{fields, prefix, tableName, tokenize}`.
    pub fn to_json(&self) -> Value {
        json!({"fields": self.fields, "prefix": self.prefix.to_json(), "tableName": self.table_name(), "tokenize": self.tokenize.name()})
    }
}

/// Returns `kv_fts_<first 16 hex digits of sha256(encoded prefix)>`.
pub fn table_name(encoded_prefix: &[u8]) -> String {
    let digest = Sha256::digest(encoded_prefix);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("kv_fts_{hex}")
}

/// Returns the text indexed for `field` of `value`: strings as they are, numbers and booleans as
/// their JSON text, arrays and objects as their leaves' texts joined by spaces; `None` when the
/// path is absent or `null`.
pub fn extract(value: &Value, field: &str) -> Option<String> {
    let mut cur = value;
    for seg in field.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    let mut out = String::new();
    flatten(cur, &mut out);
    (!out.is_empty()).then_some(out)
}

fn flatten(v: &Value, out: &mut String) {
    let mut push = |s: &str| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
    };
    match v {
        Value::Null => {}
        Value::String(s) => push(s),
        Value::Bool(_) | Value::Number(_) => push(&v.to_string()),
        Value::Array(items) => items.iter().for_each(|x| flatten(x, out)),
        Value::Object(m) => m.values().for_each(|x| flatten(x, out)),
    }
}

const LIST_SQL: &str = "SELECT prefix, fields, tokenize FROM kv_indexes ORDER BY prefix";

fn indexes_of(res: &StmtResult) -> Vec<Index> {
    res.rows
        .iter()
        .filter_map(|r| index_from_row(&r[0], &r[1], &r[2]))
        .collect()
}

/// Reads every index definition inside `tx`.
async fn list(tx: &mut Tx) -> Result<Vec<Index>, KvError> {
    Ok(indexes_of(&tx.execute(Statement::new(LIST_SQL)).await?))
}

fn index_from_row(prefix: &Sql, fields: &Sql, tokenize: &Sql) -> Option<Index> {
    let prefix = match prefix {
        Sql::Blob(b) => Key::decode(b).ok()?,
        _ => return None,
    };
    let fields: Vec<String> = match fields {
        Sql::Text(t) => serde_json::from_str(t).ok()?,
        _ => return None,
    };
    let tokenize = match tokenize {
        Sql::Text(t) => Tokenizer::parse(t).ok()?,
        _ => return None,
    };
    Some(Index {
        prefix,
        fields,
        tokenize,
    })
}

async fn index_of(kv: &Kv, encoded_prefix: &[u8]) -> Result<Option<Index>, KvError> {
    let res = kv
        .query(Statement::with_args(
            "SELECT prefix, fields, tokenize FROM kv_indexes WHERE prefix = ?",
            [Sql::Blob(encoded_prefix.to_vec())],
        ))
        .await?;
    Ok(res
        .rows
        .first()
        .and_then(|r| index_from_row(&r[0], &r[1], &r[2])))
}

/// Indexes (or re-indexes) the entry `encoded` with `value` in every index whose prefix it is
/// under. Call it inside the writing transaction, after the entry row is written.
///
/// # Errors
/// The database failed.
pub async fn on_set(conn: &mut Tx, encoded: &[u8], value: &Value) -> Result<(), KvError> {
    let indexes: Vec<Index> = list(conn)
        .await?
        .into_iter()
        .filter(|i| is_descendant(encoded, &i.prefix.encode()))
        .collect();
    if indexes.is_empty() {
        return Ok(());
    }
    let res = conn
        .execute(Statement::with_args(
            "SELECT rowid FROM kv_entries WHERE key = ?",
            [Sql::Blob(encoded.to_vec())],
        ))
        .await?;
    let Some(Sql::Integer(rowid)) = res.rows.first().and_then(|r| r.first()).cloned() else {
        return Ok(());
    };
    for index in &indexes {
        let table = index.table_name();
        conn.execute(Statement::with_args(
            format!("DELETE FROM {table} WHERE rowid = ?"),
            [Sql::Integer(rowid)],
        ))
        .await?;
        conn.execute(insert_row(&table, index, rowid, encoded, value))
            .await?;
    }
    Ok(())
}

/// Removes deleted entries, given as `(encoded key, kv_entries rowid)`, from every index that
/// covers them. Call it inside the deleting transaction (a `DELETE … RETURNING key, rowid` gives
/// both).
///
/// # Errors
/// The database failed.
pub async fn on_delete(conn: &mut Tx, deleted: &[(Vec<u8>, i64)]) -> Result<(), KvError> {
    if deleted.is_empty() {
        return Ok(());
    }
    for index in &list(conn).await? {
        let prefix = index.prefix.encode();
        let table = index.table_name();
        for (_, rowid) in deleted.iter().filter(|(k, _)| is_descendant(k, &prefix)) {
            conn.execute(Statement::with_args(
                format!("DELETE FROM {table} WHERE rowid = ?"),
                [Sql::Integer(*rowid)],
            ))
            .await?;
        }
    }
    Ok(())
}

/// Removes the entry `encoded` from every index that covers it; call it inside the deleting
/// transaction *before* the row is deleted (it finds the FTS row by the entry's rowid).
///
/// # Errors
/// The database failed.
pub async fn on_delete_key(tx: &mut Tx, encoded: &[u8]) -> Result<(), KvError> {
    for index in list(tx)
        .await?
        .iter()
        .filter(|i| is_descendant(encoded, &i.prefix.encode()))
    {
        let sql = format!(
            "DELETE FROM {} WHERE rowid IN (SELECT rowid FROM kv_entries WHERE key = ?)",
            index.table_name()
        );
        tx.execute(Statement::with_args(sql, [Sql::Blob(encoded.to_vec())]))
            .await?;
    }
    Ok(())
}

fn insert_row(table: &str, index: &Index, rowid: i64, encoded: &[u8], value: &Value) -> Statement {
    let cols: String = (0..index.fields.len()).map(|i| format!(", f{i}")).collect();
    let marks: String = (0..index.fields.len()).map(|_| ", ?").collect();
    let mut args = vec![Sql::Integer(rowid), Sql::Blob(encoded.to_vec())];
    args.extend(
        index
            .fields
            .iter()
            .map(|f| extract(value, f).map_or(Sql::Null, Sql::Text)),
    );
    Statement::with_args(
        format!("INSERT INTO {table} (rowid, doc_key{cols}) VALUES (?, ?{marks})"),
        args,
    )
}

impl Kv {
    /// Creates (or replaces) the index on `index.prefix` and indexes the live entries already under
    /// it, all in one transaction.
    ///
    /// # Errors
    /// The database failed (nothing changed).
    pub async fn create_index(&self, index: &Index) -> Result<(), KvError> {
        if !self.dialect().has_fts() {
            return Err(KvError::invalid(format!(
                "full-text indexes need the sqlite adapter; this keyval stores into {}",
                self.adapter()
            )));
        }
        let mut tx = self.begin().await?;
        let out = create_in(&mut tx, index).await;
        match out {
            Ok(()) => tx.commit().await,
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Drops the index on `prefix`; returns whether there was one.
    ///
    /// # Errors
    /// The database failed.
    pub async fn remove_index(&self, prefix: &Key) -> Result<bool, KvError> {
        let encoded = prefix.encode();
        let mut tx = self.begin().await?;
        let out = async {
            tx.execute(Statement::new(format!(
                "DROP TABLE IF EXISTS {}",
                table_name(&encoded)
            )))
            .await?;
            Ok::<_, KvError>(
                tx.execute(Statement::with_args(
                    "DELETE FROM kv_indexes WHERE prefix = ?",
                    [Sql::Blob(encoded.clone())],
                ))
                .await?
                .affected_row_count
                    > 0,
            )
        }
        .await;
        match out {
            Ok(existed) => {
                tx.commit().await?;
                Ok(existed)
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Returns every index.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list_indexes(&self) -> Result<Vec<Index>, KvError> {
        Ok(indexes_of(&self.query(Statement::new(LIST_SQL)).await?))
    }

    /// Searches the index on exactly `prefix` for `query` (FTS5 syntax: words, `"phrases"`,
    /// `AND`/`OR`/`NOT`, `prefix*`), best matches first, returning live entries as
    /// `(key, value, versionstamp)`. `filter` is an extra SQL condition on `value` (a compiled
    /// `where`) with its arguments.
    ///
    /// # Errors
    /// [`KvError::NotFound`] when no index covers exactly `prefix`; [`KvError::Invalid`] naming
    /// `query` when it is empty, too long or not valid FTS5 syntax; or the database failed.
    pub async fn search(
        &self,
        prefix: &Key,
        query: &str,
        limit: u32,
        filter: Option<(String, Vec<Sql>)>,
    ) -> Result<Vec<(Key, Value, String)>, KvError> {
        if query.trim().is_empty() {
            return Err(KvError::invalid("query is required"));
        }
        if query.len() > MAX_QUERY_LEN {
            return Err(KvError::invalid(format!(
                "query is limited to {MAX_QUERY_LEN} bytes"
            )));
        }
        let encoded = prefix.encode();
        if index_of(self, &encoded).await?.is_none() {
            return Err(KvError::NotFound(format!(
                "No search index on prefix {}; create one with POST /api/indexes",
                prefix.to_json()
            )));
        }
        let t = table_name(&encoded);
        let (cond, mut extra) = filter.map_or((String::new(), Vec::new()), |(sql, args)| {
            (format!(" AND ({sql})"), args)
        });
        let sql = format!(
            "SELECT e.key, e.value, e.versionstamp FROM {t} JOIN kv_entries e ON e.rowid = {t}.rowid AND e.key = {t}.doc_key \
             WHERE {t} MATCH ? AND (e.expires_at IS NULL OR e.expires_at > ?){cond} ORDER BY {t}.rank LIMIT ?"
        );
        let mut args = vec![Sql::from(query), Sql::Integer(now_ms())];
        args.append(&mut extra);
        args.push(Sql::Integer(i64::from(limit)));
        let res = match self.query(Statement::with_args(sql, args)).await {
            Ok(r) => r,
            // Our statement is fixed; a plain SQLITE_ERROR from it is the user's FTS5 expression.
            Err(KvError::Storage(DbError::Sql { code, message })) if code == "SQLITE_ERROR" => {
                return Err(KvError::invalid(format!(
                    "query is not a valid full-text query: {message}"
                )));
            }
            Err(e) => return Err(e),
        };
        Ok(rows_to_entries(res))
    }
}

/// Parses a stored value (JSON text, in a TEXT or BLOB column).
fn stored(v: &Sql) -> Value {
    match v {
        Sql::Blob(b) => from_stored(b),
        Sql::Text(t) => from_stored(t.as_bytes()),
        _ => Value::Null,
    }
}

fn rows_to_entries(res: StmtResult) -> Vec<(Key, Value, String)> {
    res.rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            let (Some(Sql::Blob(k)), Some(v), Some(Sql::Text(vs))) =
                (it.next(), it.next(), it.next())
            else {
                return None;
            };
            let value = stored(&v);
            Some((Key::decode(&k).ok()?, value, vs))
        })
        .collect()
}

async fn create_in(conn: &mut Tx, index: &Index) -> Result<(), KvError> {
    let encoded = index.prefix.encode();
    let table = index.table_name();
    let cols: String = (0..index.fields.len()).map(|i| format!(", f{i}")).collect();
    // A re-created index may have other fields: start from an empty table either way.
    conn.execute(Statement::new(format!("DROP TABLE IF EXISTS {table}")))
        .await?;
    conn.execute(Statement::new(format!(
        "CREATE VIRTUAL TABLE {table} USING fts5(doc_key UNINDEXED{cols}, tokenize = '{}')",
        index.tokenize.fts5_option()
    )))
    .await?;
    let fields =
        serde_json::to_string(&index.fields).map_err(|e| KvError::Internal(e.to_string()))?;
    conn.execute(Statement::with_args(
        "INSERT INTO kv_indexes (prefix, fields, tokenize, created_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT(prefix) DO UPDATE SET fields = excluded.fields, tokenize = excluded.tokenize, created_at = excluded.created_at",
        [Sql::Blob(encoded), Sql::Text(fields), Sql::from(index.tokenize.name()), Sql::Integer(now_ms())],
    ))
    .await?;
    backfill(conn, index, &table).await
}

/// Indexes the live entries under the prefix, in key order, a chunk at a time.
async fn backfill(conn: &mut Tx, index: &Index, table: &str) -> Result<(), KvError> {
    let (start, end) = descendants_range(&index.prefix);
    let mut after: Option<Vec<u8>> = None;
    loop {
        let mut sql = String::from(
            "SELECT rowid, key, value FROM kv_entries WHERE (expires_at IS NULL OR expires_at > ?)",
        );
        let mut args = vec![Sql::Integer(now_ms())];
        match &after {
            Some(k) => {
                sql.push_str(" AND key > ?");
                args.push(Sql::Blob(k.clone()));
            }
            None => {
                sql.push_str(" AND key >= ?");
                args.push(Sql::Blob(start.clone()));
            }
        }
        if let Some(end) = &end {
            sql.push_str(" AND key < ?");
            args.push(Sql::Blob(end.clone()));
        }
        sql.push_str(" ORDER BY key LIMIT ?");
        args.push(Sql::Integer(BACKFILL_CHUNK));
        let res = conn.execute(Statement::with_args(sql, args)).await?;
        let n = res.rows.len();
        for row in res.rows {
            let (Sql::Integer(rowid), Sql::Blob(key)) = (&row[0], &row[1]) else {
                continue;
            };
            let value = stored(&row[2]);
            conn.execute(insert_row(table, index, *rowid, key, &value))
                .await?;
            after = Some(key.clone());
        }
        if i64::try_from(n).unwrap_or(0) < BACKFILL_CHUNK {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_extracted_by_dot_path_and_stringified() {
        let v = json!({"title": "Hello", "n": 42, "ok": true, "author": {"name": "Ana"}, "tags": ["a", "b"], "none": null});
        assert_eq!(extract(&v, "title").as_deref(), Some("Hello"));
        assert_eq!(extract(&v, "n").as_deref(), Some("42"));
        assert_eq!(extract(&v, "ok").as_deref(), Some("true"));
        assert_eq!(extract(&v, "author.name").as_deref(), Some("Ana"));
        assert_eq!(extract(&v, "tags").as_deref(), Some("a b"));
        assert_eq!(extract(&v, "tags.1").as_deref(), Some("b"));
        assert_eq!(extract(&v, "none"), None);
        assert_eq!(extract(&v, "missing.deep"), None);
    }

    #[test]
    fn table_names_hash_the_encoded_prefix() {
        let a = table_name(b"\x02posts");
        assert_eq!(a.len(), "kv_fts_".len() + 16);
        assert!(a.starts_with("kv_fts_") && a[7..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, table_name(b"\x02users"));
    }

    #[test]
    fn index_fields_are_validated() {
        let p = Key::prefix(vec![]).unwrap();
        assert_eq!(
            Index::new(p.clone(), vec![], Tokenizer::Porter)
                .unwrap_err()
                .to_string(),
            "At least one field must be specified"
        );
        assert!(
            Index::new(p.clone(), vec!["a".into(), "a".into()], Tokenizer::Porter)
                .unwrap_err()
                .to_string()
                .starts_with("options.fields[1]")
        );
        assert!(
            Index::new(p, vec![String::new()], Tokenizer::Porter)
                .unwrap_err()
                .to_string()
                .starts_with("options.fields[0]")
        );
        assert!(
            Tokenizer::parse("trigram")
                .unwrap_err()
                .to_string()
                .starts_with("options.tokenize")
        );
    }
}
