//! The one place SQL differs by engine: DDL types, the write lock, the queue claim, JSON paths and
//! the pieces `where` filters are built from.
//!
//! Everything else is plain SQL with `?` placeholders, which the database plugin's PostgreSQL
//! adapter rewrites to `$n`. On PostgreSQL the JSON helpers are small SQL functions created with
//! the tables (`kv_json_type`, `kv_json_num`, …, see [`crate::schema`]) that mirror SQLite's JSON1
//! results, so a filter means the same on both engines.

use crate::error::KvError;

/// An SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.38+ (bundled): JSON1, `RETURNING`, partial indexes, `BEGIN IMMEDIATE`.
    Sqlite,
    /// PostgreSQL 12+: `bytea` keys, JSON text values read as `jsonb`, a table lock for writers.
    Postgres,
}

impl Dialect {
    /// Picks the dialect for a database adapter type.
    ///
    /// # Errors
    /// An adapter type with no dialect yet (the message names it).
    pub fn for_adapter(kind: &str) -> Result<Self, String> {
        match kind {
            "sqlite" | "libsql" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            other => Err(format!(
                "the keyval plugin has no SQL dialect for database adapter `{other}` yet (supported: sqlite, postgres)"
            )),
        }
    }

    /// The statements that open a transaction holding the write lock from its first statement, so
    /// reads inside it (atomic checks, counts) cannot be invalidated before it commits.
    ///
    /// PostgreSQL: `SHARE ROW EXCLUSIVE` conflicts with itself and with plain writes but not with
    /// reads, so write transactions of every process sharing the database run one at a time while
    /// readers go on (the same guarantee as SQLite's single writer).
    pub fn begin_write(self) -> &'static [&'static str] {
        match self {
            Self::Sqlite => &["BEGIN IMMEDIATE"],
            Self::Postgres => &["BEGIN", "LOCK TABLE kv_entries IN SHARE ROW EXCLUSIVE MODE"],
        }
    }

    /// The column type for binary data (keys, queue values).
    pub fn blob(self) -> &'static str {
        match self {
            Self::Sqlite => "BLOB",
            Self::Postgres => "BYTEA",
        }
    }

    /// The column type of `kv_entries.value` (bound as JSON text). SQLite keeps its historic
    /// `BLOB` declaration (it stores the text as given).
    pub fn json_text(self) -> &'static str {
        match self {
            Self::Sqlite => "BLOB",
            Self::Postgres => "TEXT",
        }
    }

    /// The 64-bit integer column type (epoch milliseconds do not fit PostgreSQL's `INTEGER`).
    pub fn int(self) -> &'static str {
        match self {
            Self::Sqlite => "INTEGER",
            Self::Postgres => "BIGINT",
        }
    }

    /// The double-precision column type.
    pub fn real(self) -> &'static str {
        match self {
            Self::Sqlite => "REAL",
            Self::Postgres => "DOUBLE PRECISION",
        }
    }

    /// Extra `kv_entries` columns: PostgreSQL has no implicit `rowid`, which deletes return.
    pub fn entries_extra(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => ", rowid BIGINT GENERATED ALWAYS AS IDENTITY",
        }
    }

    /// An upsert of one entry; parameters: key, value, versionstamp, expires_at.
    pub fn upsert_entry(self) -> &'static str {
        // The same spelling on both engines.
        "INSERT INTO kv_entries (key, value, versionstamp, expires_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, versionstamp = excluded.versionstamp, expires_at = excluded.expires_at"
    }

    /// The queue's claim: one `UPDATE … RETURNING`; parameters `?1` lock-until, `?2` now.
    ///
    /// SQLite takes the write lock before it reads. PostgreSQL (read committed) would let two
    /// claimers pick the same row in the subquery, so there the row is locked as it is picked and
    /// a row another claimer holds is skipped.
    pub fn claim_message(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "UPDATE kv_queue SET status = 'processing', locked_until = ?1, attempts = attempts + 1, updated_at = ?2 \
                 WHERE id = (SELECT id FROM kv_queue WHERE status = 'pending' AND ready_at <= ?2 ORDER BY ready_at, created_at, id LIMIT 1) \
                 RETURNING id, value, attempts"
            }
            Self::Postgres => {
                "UPDATE kv_queue SET status = 'processing', locked_until = ?1, attempts = attempts + 1, updated_at = ?2 \
                 WHERE id = (SELECT id FROM kv_queue WHERE status = 'pending' AND ready_at <= ?2 ORDER BY ready_at, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, value, attempts"
            }
        }
    }

    /// The bytes of all stored keys and values (storage gauge).
    pub fn storage_bytes(self) -> &'static str {
        match self {
            Self::Sqlite => "SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM kv_entries",
            Self::Postgres => {
                "SELECT COALESCE(SUM(length(key) + octet_length(value)), 0)::bigint FROM kv_entries"
            }
        }
    }

    /// Whether full-text indexes exist on this engine (SQLite's FTS5 only, for now).
    pub fn has_fts(self) -> bool {
        self == Self::Sqlite
    }

    // ---- `where` filter pieces. Each takes the bound path parameter (see `bind_path`) first. ----

    /// The path parameter for a SQLite JSON path (`$."a"[0]`): as is on SQLite, a PostgreSQL
    /// `text[]` literal (`{"a","0"}`) on PostgreSQL.
    ///
    /// # Errors
    /// A path PostgreSQL cannot express (the message names it).
    pub fn bind_path(self, path: &str) -> Result<String, KvError> {
        match self {
            Self::Sqlite => Ok(path.to_owned()),
            Self::Postgres => {
                let parts = parse_path(path).ok_or_else(|| {
                    KvError::invalid(format!(
                        "where: JSON path `{path}` is not supported on postgres (use $.a.b, $.\"a b\" or $.a[0])"
                    ))
                })?;
                let quoted: Vec<String> = parts
                    .iter()
                    .map(|p| format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                Ok(format!("{{{}}}", quoted.join(",")))
            }
        }
    }

    /// "True" as an SQL boolean expression.
    pub fn true_sql(self) -> &'static str {
        match self {
            Self::Sqlite => "1",
            Self::Postgres => "TRUE",
        }
    }

    /// "False" as an SQL boolean expression.
    pub fn false_sql(self) -> &'static str {
        match self {
            Self::Sqlite => "0",
            Self::Postgres => "FALSE",
        }
    }

    /// The JSON type name at the path (`null`, `true`, `false`, `integer`, `real`, `text`,
    /// `array`, `object`), NULL when absent.
    pub fn json_type(self) -> &'static str {
        match self {
            Self::Sqlite => "json_type(value, ?)",
            Self::Postgres => "kv_json_type(value, ?::text[])",
        }
    }

    /// The number at the path (compared with a numeric parameter).
    pub fn json_num(self) -> &'static str {
        match self {
            Self::Sqlite => "json_extract(value, ?)",
            Self::Postgres => "kv_json_num(value, ?::text[])",
        }
    }

    /// The string at the path (compared with a text parameter).
    pub fn json_str(self) -> &'static str {
        match self {
            Self::Sqlite => "json_extract(value, ?)",
            Self::Postgres => "kv_json_str(value, ?::text[])",
        }
    }

    /// "The JSON document at the path equals the JSON text parameter".
    pub fn json_doc_eq(self) -> &'static str {
        match self {
            Self::Sqlite => "json_extract(value, ?) = json(?)",
            Self::Postgres => "(value::jsonb #> ?::text[]) = ?::jsonb",
        }
    }

    /// The length of the JSON array at the path.
    pub fn json_array_length(self) -> &'static str {
        match self {
            Self::Sqlite => "json_array_length(value, ?)",
            Self::Postgres => "kv_json_array_length(value, ?::text[])",
        }
    }

    /// A text parameter in a position where PostgreSQL cannot infer its type (`length(?)`).
    pub fn text_arg(self) -> &'static str {
        match self {
            Self::Sqlite => "?",
            Self::Postgres => "?::text",
        }
    }

    /// "`x` contains the parameter" (case-sensitive).
    pub fn contains(self, x: &str) -> String {
        match self {
            Self::Sqlite => format!("instr({x}, ?) > 0"),
            Self::Postgres => format!("strpos({x}, ?::text) > 0"),
        }
    }

    /// "`x` ends with the parameter"; three parameters, all the suffix.
    pub fn ends_with(self, x: &str) -> String {
        match self {
            Self::Sqlite => format!("(substr({x}, -length(?)) = ? OR length(?) = 0)"),
            Self::Postgres => {
                format!("(right({x}, length(?::text)) = ?::text OR length(?::text) = 0)")
            }
        }
    }
}

/// Splits a SQLite JSON path (`$`, `.key`, `."quoted"`, `[N]`) into its steps; `None` for any other
/// form (`[#-1]`, unterminated quotes).
fn parse_path(path: &str) -> Option<Vec<String>> {
    let mut rest = path.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[") {
            let end = r.find(']')?;
            let idx = &r[..end];
            if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            out.push(idx.to_owned());
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix(".\"") {
            let mut seg = String::new();
            let mut chars = r.char_indices();
            let mut close = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => seg.push(chars.next()?.1),
                    '"' => {
                        close = Some(i);
                        break;
                    }
                    c => seg.push(c),
                }
            }
            out.push(seg);
            rest = &r[close? + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(r[..end].to_owned());
            rest = &r[end..];
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_become_postgres_text_arrays() {
        let pg = Dialect::Postgres;
        assert_eq!(pg.bind_path("$").unwrap(), "{}");
        assert_eq!(
            pg.bind_path("$.\"items\"[0].\"name\"").unwrap(),
            r#"{"items","0","name"}"#
        );
        assert_eq!(pg.bind_path("$.x[12].y").unwrap(), r#"{"x","12","y"}"#);
        assert_eq!(pg.bind_path(r#"$."we\"ird""#).unwrap(), r#"{"we\"ird"}"#);
        for bad in ["$[#-1]", "$.\"open", "x", "$..a", "$[a]"] {
            assert!(pg.bind_path(bad).is_err(), "{bad}");
        }
        assert_eq!(Dialect::Sqlite.bind_path("$[#-1]").unwrap(), "$[#-1]");
    }

    #[test]
    fn postgres_is_a_dialect_and_mysql_is_named_when_refused() {
        assert_eq!(Dialect::for_adapter("postgres"), Ok(Dialect::Postgres));
        let e = Dialect::for_adapter("mysql").unwrap_err();
        assert!(
            e.contains("`mysql`") && e.contains("sqlite, postgres"),
            "{e}"
        );
    }
}
