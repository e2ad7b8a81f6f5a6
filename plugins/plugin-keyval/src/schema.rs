//! The plugin's tables (§2 Storage), created idempotently at start-up.
//!
//! Times are epoch **milliseconds** throughout (`expires_at` included, unlike the original's
//! seconds, so an `expiresIn` under a second is honoured).

use buntime_plugin_database::{Connection, DbError};

use crate::dialect::Dialect;

/// The DDL, in order; every statement is `IF NOT EXISTS`.
pub fn statements(d: Dialect) -> Vec<String> {
    let blob = d.blob();
    vec![
        format!("CREATE TABLE IF NOT EXISTS kv_entries (key {blob} PRIMARY KEY, value {blob} NOT NULL, versionstamp TEXT NOT NULL, expires_at INTEGER)"),
        "CREATE INDEX IF NOT EXISTS idx_kv_entries_expires ON kv_entries (expires_at) WHERE expires_at IS NOT NULL".into(),
        format!(
            "CREATE TABLE IF NOT EXISTS kv_queue (id TEXT PRIMARY KEY, value {blob} NOT NULL, ready_at INTEGER NOT NULL, \
             attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, backoff_schedule TEXT NOT NULL, \
             keys_if_undelivered TEXT, status TEXT NOT NULL DEFAULT 'pending', locked_until INTEGER, \
             created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS idx_kv_queue_pending ON kv_queue (ready_at) WHERE status = 'pending'".into(),
        "CREATE INDEX IF NOT EXISTS idx_kv_queue_processing ON kv_queue (locked_until) WHERE status = 'processing'".into(),
        format!(
            "CREATE TABLE IF NOT EXISTS kv_dlq (id TEXT PRIMARY KEY, original_id TEXT NOT NULL, value {blob} NOT NULL, \
             error_message TEXT, attempts INTEGER NOT NULL, original_created_at INTEGER NOT NULL, failed_at INTEGER NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS idx_kv_dlq_failed ON kv_dlq (failed_at)".into(),
        "CREATE TABLE IF NOT EXISTS kv_metrics (id TEXT PRIMARY KEY, operation TEXT NOT NULL UNIQUE, count INTEGER NOT NULL DEFAULT 0, \
         errors INTEGER NOT NULL DEFAULT 0, latency_sum REAL NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL)"
            .into(),
        format!("CREATE TABLE IF NOT EXISTS kv_indexes (prefix {blob} PRIMARY KEY, fields TEXT NOT NULL, tokenize TEXT NOT NULL, created_at INTEGER NOT NULL)"),
    ]
}

/// Creates every table and index that does not exist yet.
///
/// # Errors
/// The database refused a statement.
pub async fn create(conn: &mut dyn Connection, d: Dialect) -> Result<(), DbError> {
    for sql in statements(d) {
        conn.execute(buntime_plugin_database::Statement {
            want_rows: false,
            ..buntime_plugin_database::Statement::new(sql)
        })
        .await?;
    }
    Ok(())
}
