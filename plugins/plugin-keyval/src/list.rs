//! Range reads (§A.5): list, count and cursor pagination over the strict descendants of a prefix,
//! narrowed by `start` (inclusive) / `end` (exclusive) and an optional `where` filter.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use buntime_plugin_database::{Statement, Value as Sql};

use crate::entries::{Entry, LIVE};
use crate::error::KvError;
use crate::filter::Filter;
use crate::keys::{Key, descendants_range};
use crate::store::Kv;
use crate::value::now_ms;

/// Entries a list returns unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` (larger ones are capped).
pub const MAX_LIMIT: usize = 1000;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// Only strict descendants of this key (empty: every key).
    pub prefix: Option<Key>,
    /// Only keys ≥ this one.
    pub start: Option<Key>,
    /// Only keys < this one.
    pub end: Option<Key>,
    /// Only entries whose value matches.
    pub filter: Option<Filter>,
}

/// How to read a list.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// At most this many entries (capped at [`MAX_LIMIT`]).
    pub limit: usize,
    /// Newest-key-first order.
    pub reverse: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            reverse: false,
        }
    }
}

/// One page of a paginated list.
#[derive(Debug, Clone)]
pub struct Page {
    /// The entries.
    pub entries: Vec<Entry>,
    /// The cursor of the next page (base64 of the last key's encoding), when there is one.
    pub cursor: Option<String>,
    /// Whether more entries follow.
    pub has_more: bool,
}

impl Selector {
    /// The `WHERE` clause (with `now` bound) and its arguments.
    fn clause(&self, now: i64, after: Option<(&[u8], bool)>) -> (String, Vec<Sql>) {
        let mut conds = vec![LIVE.to_owned()];
        let mut args = vec![Sql::Integer(now)];
        if let Some(p) = self.prefix.as_ref().filter(|p| !p.is_empty()) {
            let (lo, hi) = descendants_range(p);
            conds.push("key >= ?".into());
            args.push(Sql::Blob(lo));
            if let Some(hi) = hi {
                conds.push("key < ?".into());
                args.push(Sql::Blob(hi));
            }
        }
        if let Some(s) = &self.start {
            conds.push("key >= ?".into());
            args.push(Sql::Blob(s.encode()));
        }
        if let Some(e) = &self.end {
            conds.push("key < ?".into());
            args.push(Sql::Blob(e.encode()));
        }
        if let Some((cursor, reverse)) = after {
            conds.push(if reverse { "key < ?" } else { "key > ?" }.into());
            args.push(Sql::Blob(cursor.to_vec()));
        }
        if let Some(f) = &self.filter {
            conds.push(f.sql.clone());
            args.extend(f.args.iter().cloned());
        }
        (conds.join(" AND "), args)
    }
}

fn clamp(limit: usize) -> usize {
    limit.min(MAX_LIMIT)
}

/// Decodes a pagination cursor.
///
/// # Errors
/// Not base64 or not a key encoding.
pub fn decode_cursor(cursor: &str) -> Result<Vec<u8>, KvError> {
    let bytes = B64
        .decode(cursor.trim())
        .map_err(|_| KvError::invalid("cursor is not a cursor returned by paginate"))?;
    Key::decode(&bytes)
        .map_err(|_| KvError::invalid("cursor is not a cursor returned by paginate"))?;
    Ok(bytes)
}

impl Kv {
    async fn select(
        &self,
        sel: &Selector,
        limit: usize,
        reverse: bool,
        after: Option<&[u8]>,
    ) -> Result<Vec<Entry>, KvError> {
        let (clause, mut args) = sel.clause(now_ms(), after.map(|c| (c, reverse)));
        args.push(Sql::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        let order = if reverse { "DESC" } else { "ASC" };
        let res = self.query(Statement::with_args(format!("SELECT key, value, versionstamp FROM kv_entries WHERE {clause} ORDER BY key {order} LIMIT ?"), args)).await?;
        Ok(res.rows.into_iter().filter_map(Entry::from_row).collect())
    }

    /// Lists live entries in key order.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list(&self, sel: &Selector, opts: &ListOptions) -> Result<Vec<Entry>, KvError> {
        self.timed(
            "list",
            self.select(sel, clamp(opts.limit), opts.reverse, None),
        )
        .await
    }

    /// Counts the live entries a list with the same selector would return (without a limit).
    ///
    /// # Errors
    /// The database failed.
    pub async fn count(&self, sel: &Selector) -> Result<u64, KvError> {
        self.timed("count", async {
            let (clause, args) = sel.clause(now_ms(), None);
            let res = self
                .query(Statement::with_args(
                    format!("SELECT COUNT(*) FROM kv_entries WHERE {clause}"),
                    args,
                ))
                .await?;
            match res.rows.first().and_then(|r| r.first()) {
                Some(Sql::Integer(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
                _ => Err(KvError::Internal("COUNT returned no integer".into())),
            }
        })
        .await
    }

    /// Reads one page after `cursor` (a value from a previous [`Page::cursor`]).
    ///
    /// # Errors
    /// A bad cursor, or the database failed.
    pub async fn paginate(
        &self,
        sel: &Selector,
        opts: &ListOptions,
        cursor: Option<&str>,
    ) -> Result<Page, KvError> {
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()?;
        self.timed("paginate", async {
            let limit = clamp(opts.limit).max(1);
            let mut entries = self
                .select(sel, limit + 1, opts.reverse, after.as_deref())
                .await?;
            let has_more = entries.len() > limit;
            entries.truncate(limit);
            let cursor = if has_more {
                entries.last().map(|e| B64.encode(e.key.encode()))
            } else {
                None
            };
            Ok(Page {
                entries,
                cursor,
                has_more,
            })
        })
        .await
    }
}
