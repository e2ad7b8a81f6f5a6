//! The one place SQL differs by engine: DDL types, the upsert, JSON paths and the write lock.
//!
//! Only SQLite is implemented. A PostgreSQL arm would use `BYTEA`/`BIGINT`, `jsonb` (`value #> ?`),
//! `INSERT … ON CONFLICT` (same spelling) and `BEGIN` + `LOCK TABLE kv_entries IN SHARE ROW
//! EXCLUSIVE MODE` for [`Dialect::begin_write`]; every statement elsewhere is plain SQL with `?`
//! placeholders.

/// An SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.38+ (bundled): JSON1, `RETURNING`, partial indexes, `BEGIN IMMEDIATE`.
    Sqlite,
}

impl Dialect {
    /// Picks the dialect for a database adapter type.
    ///
    /// # Errors
    /// An adapter type with no dialect yet (the message names it).
    pub fn for_adapter(kind: &str) -> Result<Self, String> {
        match kind {
            "sqlite" | "libsql" => Ok(Self::Sqlite),
            other => Err(format!(
                "the keyval plugin has no SQL dialect for database adapter `{other}` yet (supported: sqlite)"
            )),
        }
    }

    /// The statement that opens a transaction holding the write lock from its first statement, so
    /// reads inside it (atomic checks, counts) cannot be invalidated before it commits.
    pub fn begin_write(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
        }
    }

    /// The column type for binary data (keys, values).
    pub fn blob(self) -> &'static str {
        match self {
            Self::Sqlite => "BLOB",
        }
    }

    /// An upsert of one entry; parameters: key, value, versionstamp, expires_at.
    pub fn upsert_entry(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "INSERT INTO kv_entries (key, value, versionstamp, expires_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, versionstamp = excluded.versionstamp, expires_at = excluded.expires_at"
            }
        }
    }

    /// The SQL for "the JSON at the bound path parameter inside the stored value".
    pub fn json_extract(self) -> &'static str {
        match self {
            Self::Sqlite => "json_extract(value, ?)",
        }
    }

    /// The SQL for "the JSON type name at the bound path" (`null`, `text`, `array`, … or NULL when absent).
    pub fn json_type(self) -> &'static str {
        match self {
            Self::Sqlite => "json_type(value, ?)",
        }
    }

    /// The SQL for "the length of the JSON array at the bound path".
    pub fn json_array_length(self) -> &'static str {
        match self {
            Self::Sqlite => "json_array_length(value, ?)",
        }
    }

    /// The bytes of all stored keys and values (storage gauge).
    pub fn storage_bytes(self) -> &'static str {
        match self {
            Self::Sqlite => "SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM kv_entries",
        }
    }
}
