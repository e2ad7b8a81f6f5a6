//! The plugin's tables (§2 Storage), created idempotently at start-up; on PostgreSQL also the JSON
//! helper functions `where` filters use (see [`crate::dialect`]).
//!
//! Times are epoch **milliseconds** throughout (`expires_at` included, unlike the original's
//! seconds, so an `expiresIn` under a second is honoured).

use buntime_plugin_database::{Connection, DbError, Statement};

use crate::dialect::Dialect;

/// PostgreSQL functions mirroring SQLite's JSON1 results over the JSON text in `value`. `CASE`
/// guards every cast, so a filter never fails on a value of another shape: it just does not match.
const PG_FUNCTIONS: &[&str] = &[
    "CREATE OR REPLACE FUNCTION kv_json_type(v text, p text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$ \
     SELECT CASE jsonb_typeof(v::jsonb #> p) \
       WHEN 'number' THEN CASE WHEN (v::jsonb #>> p) ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END \
       WHEN 'string' THEN 'text' WHEN 'boolean' THEN v::jsonb #>> p \
       ELSE jsonb_typeof(v::jsonb #> p) END $$",
    "CREATE OR REPLACE FUNCTION kv_json_num(v text, p text[]) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ \
     SELECT CASE WHEN jsonb_typeof(v::jsonb #> p) = 'number' THEN (v::jsonb #>> p)::numeric END $$",
    "CREATE OR REPLACE FUNCTION kv_json_str(v text, p text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$ \
     SELECT CASE WHEN jsonb_typeof(v::jsonb #> p) = 'string' THEN v::jsonb #>> p END $$",
    "CREATE OR REPLACE FUNCTION kv_json_array_length(v text, p text[]) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ \
     SELECT CASE WHEN jsonb_typeof(v::jsonb #> p) = 'array' THEN jsonb_array_length(v::jsonb #> p) END $$",
];

/// The advisory lock key replicas take while creating the schema (PostgreSQL's `CREATE … IF NOT
/// EXISTS` and `CREATE OR REPLACE FUNCTION` are not safe to run concurrently).
const PG_SCHEMA_LOCK: i64 = 0x6b76_7363_6865_6d61; // "kvschema"

/// The DDL, in order; every statement is `IF NOT EXISTS` (or `OR REPLACE`).
pub fn statements(d: Dialect) -> Vec<String> {
    let blob = d.blob();
    let json = d.json_text();
    let int = d.int();
    let real = d.real();
    let extra = d.entries_extra();
    let mut out = vec![
        format!("CREATE TABLE IF NOT EXISTS kv_entries (key {blob} PRIMARY KEY, value {json} NOT NULL, versionstamp TEXT NOT NULL, expires_at {int}{extra})"),
        "CREATE INDEX IF NOT EXISTS idx_kv_entries_expires ON kv_entries (expires_at) WHERE expires_at IS NOT NULL".into(),
        format!(
            "CREATE TABLE IF NOT EXISTS kv_queue (id TEXT PRIMARY KEY, value {blob} NOT NULL, ready_at {int} NOT NULL, \
             attempts {int} NOT NULL DEFAULT 0, max_attempts {int} NOT NULL, backoff_schedule TEXT NOT NULL, \
             keys_if_undelivered TEXT, status TEXT NOT NULL DEFAULT 'pending', locked_until {int}, \
             created_at {int} NOT NULL, updated_at {int} NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS idx_kv_queue_pending ON kv_queue (ready_at) WHERE status = 'pending'".into(),
        "CREATE INDEX IF NOT EXISTS idx_kv_queue_processing ON kv_queue (locked_until) WHERE status = 'processing'".into(),
        format!(
            "CREATE TABLE IF NOT EXISTS kv_dlq (id TEXT PRIMARY KEY, original_id TEXT NOT NULL, value {blob} NOT NULL, \
             error_message TEXT, attempts {int} NOT NULL, original_created_at {int} NOT NULL, failed_at {int} NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS idx_kv_dlq_failed ON kv_dlq (failed_at)".into(),
        format!("CREATE TABLE IF NOT EXISTS kv_metrics (id TEXT PRIMARY KEY, operation TEXT NOT NULL UNIQUE, count {int} NOT NULL DEFAULT 0, \
         errors {int} NOT NULL DEFAULT 0, latency_sum {real} NOT NULL DEFAULT 0, updated_at {int} NOT NULL)"),
        format!("CREATE TABLE IF NOT EXISTS kv_indexes (prefix {blob} PRIMARY KEY, fields TEXT NOT NULL, tokenize TEXT NOT NULL, created_at {int} NOT NULL)"),
    ];
    if d == Dialect::Postgres {
        out.extend(PG_FUNCTIONS.iter().map(|s| (*s).to_owned()));
    }
    out
}

/// Creates every table and index that does not exist yet. On PostgreSQL this runs in one
/// transaction under an advisory lock, so replicas starting together do not trip over each other.
///
/// # Errors
/// The database refused a statement.
pub async fn create(conn: &mut dyn Connection, d: Dialect) -> Result<(), DbError> {
    let run = |sql: String| Statement {
        want_rows: false,
        ..Statement::new(sql)
    };
    if d == Dialect::Postgres {
        conn.execute(run("BEGIN".into())).await?;
        conn.execute(Statement::new(format!(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock({PG_SCHEMA_LOCK})) AS l"
        )))
        .await?;
    }
    for sql in statements(d) {
        if let Err(e) = conn.execute(run(sql)).await {
            if d == Dialect::Postgres {
                let _ = conn.execute(run("ROLLBACK".into())).await;
            }
            return Err(e);
        }
    }
    if d == Dialect::Postgres {
        conn.execute(run("COMMIT".into())).await?;
    }
    Ok(())
}
