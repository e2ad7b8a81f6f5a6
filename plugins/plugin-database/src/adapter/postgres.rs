//! The PostgreSQL adapter: one `deadpool-postgres` pool for the whole database; the root is the
//! `public` schema and each tenant is a schema of its own, pinned with `search_path` on every
//! checkout after the session has been reset, so nothing of one tenant's session reaches another.

mod sql;
mod values;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use futures_util::{TryStreamExt, pin_mut};
use tokio_postgres::config::Host;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use super::sql::{self as lexer, Compat, Dialect};
use self::values::{Arg, Cell};
use super::{Adapter, ColumnInfo, Connection, TableInfo};
use crate::error::DbError;
use crate::tenant::TenantId;
use crate::value::{Column, Describe, DescribeCol, DescribeParam, Statement, StmtResult, Value};

/// How long a checkout waits for a free connection before failing.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The schema of the root database.
pub const ROOT_SCHEMA: &str = "public";
/// PostgreSQL truncates longer identifiers, which would merge tenants; they are refused instead.
pub const MAX_SCHEMA_LEN: usize = 63;

/// Runs on every checkout, before `search_path` is pinned: undoes whatever the previous user of the
/// connection left in its session (settings, role, temporary tables, listeners, advisory locks,
/// cursors), so a tenant never sees another's session state. (Prepared statements are not cached
/// at all: one prepared under another tenant's `search_path` would read that tenant's tables.)
const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// The PostgreSQL adapter.
pub struct PostgresAdapter {
    pool: Pool,
    /// The connection settings the pool was built from (for [`Adapter::listen_config`]).
    config: tokio_postgres::Config,
    /// `host:port/dbname`, for messages (never the password).
    target: String,
    pool_size: usize,
    max_tenants: usize,
    /// Tenant schemas seen to exist, so a checkout does not ask the catalog every time.
    known: Mutex<HashSet<TenantId>>,
}

impl std::fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("target", &self.target)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl PostgresAdapter {
    /// Builds the pool for `url`; no connection is opened until first use, so the server may
    /// start after the runtime.
    ///
    /// # Errors
    /// The URL does not parse or asks for TLS (not built in).
    pub fn open(url: &str, pool_size: u32, max_tenants: usize) -> Result<Self, DbError> {
        let mut config = parse_url(url).map_err(DbError::unavailable)?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("buntime");
        }
        let target = describe_target(&config);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool_size = usize::try_from(pool_size).unwrap_or(1);
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .wait_timeout(Some(CHECKOUT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::unavailable(format!("cannot build the PostgreSQL pool: {e}")))?;
        Ok(Self {
            pool,
            config,
            target,
            pool_size,
            max_tenants,
            known: Mutex::new(HashSet::new()),
        })
    }

    fn pool_error(&self, e: PoolError) -> DbError {
        match e {
            PoolError::Backend(e) => DbError::unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.target,
                error_text(&e)
            )),
            PoolError::Timeout(_) => DbError::unavailable(format!(
                "no PostgreSQL connection to {} within {} s (all {} of the pool busy, or the server does not answer)",
                self.target,
                CHECKOUT_TIMEOUT.as_secs(),
                self.pool_size
            )),
            e => DbError::unavailable(format!("PostgreSQL at {}: {e}", self.target)),
        }
    }

    /// A pooled connection for catalog work (schema-qualified queries only, no session setup).
    async fn raw(&self) -> Result<Object, DbError> {
        self.pool.get().await.map_err(|e| self.pool_error(e))
    }

    fn remember(&self, tenant: &TenantId, exists: bool) {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !exists {
            known.remove(tenant);
            return;
        }
        if known.len() >= self.max_tenants {
            known.clear();
        }
        known.insert(tenant.clone());
    }
}

/// Parses a `postgres://` URL or a `key=value` connection string, refusing TLS modes that would
/// need a TLS connector (this build has none).
///
/// # Errors
/// Why the URL is not usable.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| {
        format!("not a PostgreSQL URL ({e}); e.g. postgres://user:password@127.0.0.1:5432/app")
    })?;
    if matches!(
        config.get_ssl_mode(),
        tokio_postgres::config::SslMode::Require
    ) {
        return Err("sslmode=require is not supported yet (no TLS in this build); reach the server over a trusted network or a unix socket".into());
    }
    Ok(config)
}

fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config.get_dbname().unwrap_or("postgres")
    )
}

/// Returns the error's own message, without tokio-postgres's "db error:" prefix.
fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}

/// Maps a PostgreSQL error to the plugin's: lost connections and server shutdowns are
/// [`DbError::Unavailable`] (503), SQL errors keep their message plus SQLSTATE and get the
/// `SQLITE_*` code libSQL clients match on.
pub fn map_err(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let state = db.code().code();
        let message = format!("{} (SQLSTATE {state})", db.message());
        if state.starts_with("08") || state.starts_with("57P") || state == "53300" {
            return DbError::Unavailable(format!("PostgreSQL: {message}"));
        }
        return DbError::Sql {
            code: sqlstate_name(state).into(),
            message,
        };
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return DbError::Unavailable(format!("the PostgreSQL connection was lost: {e}"));
    }
    DbError::Sql {
        code: "SQLITE_ERROR".into(),
        message: e.to_string(),
    }
}

/// The `SQLITE_*` name a libSQL client expects for a SQLSTATE.
fn sqlstate_name(state: &str) -> &'static str {
    match state {
        "23505" => "SQLITE_CONSTRAINT_UNIQUE",
        "23503" => "SQLITE_CONSTRAINT_FOREIGNKEY",
        "23502" => "SQLITE_CONSTRAINT_NOTNULL",
        "23514" => "SQLITE_CONSTRAINT_CHECK",
        "40001" | "40P01" | "55P03" => "SQLITE_BUSY",
        "25006" => "SQLITE_READONLY",
        "57014" => "SQLITE_INTERRUPT",
        "42501" => "SQLITE_AUTH",
        "54000" | "54001" => "SQLITE_TOOBIG",
        s if s.starts_with("23") => "SQLITE_CONSTRAINT",
        s if s.starts_with("22") => "SQLITE_MISMATCH",
        _ => "SQLITE_ERROR",
    }
}

/// A tenant id as a schema name, or why it cannot be one.
fn schema_of(tenant: &TenantId) -> Result<&str, DbError> {
    let s = tenant.as_str();
    if s.len() > MAX_SCHEMA_LEN {
        return Err(DbError::BadRequest(format!(
            "tenant id `{s}` is longer than PostgreSQL's {MAX_SCHEMA_LEN}-byte schema names"
        )));
    }
    if s == ROOT_SCHEMA || s == "information_schema" || s.starts_with("pg_") {
        return Err(DbError::BadRequest(format!(
            "tenant id `{s}` is a reserved PostgreSQL schema name; choose another"
        )));
    }
    Ok(s)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl Adapter for PostgresAdapter {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn listen_config(&self) -> Option<tokio_postgres::Config> {
        Some(self.config.clone())
    }

    async fn connect(&self, tenant: Option<&TenantId>) -> Result<Box<dyn Connection>, DbError> {
        let schema = match tenant {
            None => ROOT_SCHEMA.to_owned(),
            Some(t) => quote(schema_of(t)?),
        };
        // `current_schema()` is NULL when the schema in `search_path` does not exist.
        let setup = format!("{RESET_SESSION} SET search_path TO {schema}; SELECT current_schema()");
        let mut attempts = self.pool_size + 1;
        loop {
            let client = self.raw().await?;
            match client.simple_query(&setup).await {
                Ok(messages) => {
                    let current = messages.iter().find_map(|m| match m {
                        SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
                        _ => None,
                    });
                    if let (Some(t), Some(None)) = (tenant, &current) {
                        self.remember(t, false);
                        return Err(DbError::TenantNotFound(t.to_string()));
                    }
                    return Ok(Box::new(PgConnection {
                        client: Some(client),
                        maybe_in_tx: false,
                    }));
                }
                Err(e) => {
                    // Never hand this one out again.
                    drop(Object::take(client));
                    let err = map_err(e);
                    attempts -= 1;
                    // Idle connections from before a server restart fail first; try the next one.
                    if !matches!(err, DbError::Unavailable(_)) || attempts == 0 {
                        return Err(err);
                    }
                }
            }
        }
    }

    async fn list_tenants(&self) -> Result<Vec<String>, DbError> {
        let client = self.raw().await?;
        let rows = client
            .query("SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname <> 'public' AND nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'", &[])
            .await
            .map_err(map_err)?;
        let mut out: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .filter(|n| TenantId::parse(n).is_ok_and(|t| schema_of(&t).is_ok()))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, DbError> {
        let schema = schema_of(tenant)?;
        if self.known.lock().is_ok_and(|k| k.contains(tenant)) {
            return Ok(true);
        }
        let client = self.raw().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .await
            .map_err(map_err)?;
        self.remember(tenant, row.is_some());
        Ok(row.is_some())
    }

    async fn create_tenant(&self, tenant: &TenantId) -> Result<bool, DbError> {
        if self.tenant_exists(tenant).await? {
            return Ok(false);
        }
        let schema = schema_of(tenant)?;
        let client = self.raw().await?;
        match client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema)))
            .await
        {
            Ok(()) => {}
            // Two concurrent creations: the loser sees a catalog unique violation; the schema exists.
            Err(e)
                if e.code()
                    .is_some_and(|c| c.code() == "23505" || c.code() == "42P06") => {}
            Err(e) => return Err(map_err(e)),
        }
        self.remember(tenant, true);
        Ok(true)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), DbError> {
        let schema = schema_of(tenant)?;
        self.remember(tenant, false);
        if !self.tenant_exists(tenant).await? {
            return Err(DbError::TenantNotFound(tenant.to_string()));
        }
        let client = self.raw().await?;
        client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", quote(schema)))
            .await
            .map_err(map_err)?;
        self.remember(tenant, false);
        Ok(())
    }

    async fn list_tables(&self, conn: &mut dyn Connection) -> Result<Vec<TableInfo>, DbError> {
        let sql = "SELECT table_name::text, CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END \
                   FROM information_schema.tables WHERE table_schema = current_schema() AND table_type <> 'LOCAL TEMPORARY' ORDER BY 1";
        let res = conn.execute(Statement::new(sql)).await?;
        Ok(super::tables_from(res))
    }

    async fn table_columns(
        &self,
        conn: &mut dyn Connection,
        table: &str,
    ) -> Result<Vec<ColumnInfo>, DbError> {
        let sql = "SELECT c.column_name::text, c.data_type::text, c.is_nullable = 'YES', EXISTS ( \
                     SELECT 1 FROM information_schema.table_constraints t \
                     JOIN information_schema.key_column_usage k \
                       ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name AND k.table_name = t.table_name \
                     WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema AND t.table_name = c.table_name AND k.column_name = c.column_name) \
                   FROM information_schema.columns c \
                   WHERE c.table_schema = current_schema() AND c.table_name = $1 ORDER BY c.ordinal_position";
        let res = conn
            .execute(Statement::with_args(sql, [Value::from(table)]))
            .await?;
        super::columns_from(res, table)
    }

    fn quote_ident(&self, name: &str) -> String {
        quote(name)
    }

    async fn close(&self) {
        self.pool.close();
    }
}

/// A checked-out connection, its `search_path` pinned to one tenant (or the root).
pub struct PgConnection {
    // `None` only after drop has taken it.
    client: Option<Object>,
    /// Set once a statement may have opened a transaction; cleared when the server says none is open.
    maybe_in_tx: bool,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection")
            .field("maybe_in_tx", &self.maybe_in_tx)
            .finish_non_exhaustive()
    }
}

impl PgConnection {
    fn client(&self) -> Result<&Object, DbError> {
        self.client
            .as_ref()
            .ok_or_else(|| DbError::unavailable("the connection was lost"))
    }
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.maybe_in_tx {
            return;
        }
        // A client vanished mid-transaction (request cancelled, baton expired): roll back now so
        // its locks are released, and only then give the connection back to the pool.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            // No runtime to roll back on: close the connection instead (the server rolls back).
            Err(_) => drop(Object::take(client)),
        }
    }
}

/// PostgreSQL's spelling of SQLite's `BEGIN IMMEDIATE` / `BEGIN TRANSACTION READONLY`.
fn begin(read_only: bool) -> &'static str {
    if read_only { "BEGIN READ ONLY" } else { "BEGIN" }
}

/// Whether `sql` certainly ends the transaction (`COMMIT`, `ROLLBACK`, … without `AND CHAIN` or `TO`).
fn ends_transaction(sql: &str) -> bool {
    let words: Vec<String> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["COMMIT" | "END" | "ROLLBACK" | "ABORT"]
            | [
                "COMMIT" | "END" | "ROLLBACK" | "ABORT",
                "WORK" | "TRANSACTION"
            ]
    )
}

#[async_trait]
impl Connection for PgConnection {
    async fn execute(&mut self, stmt: Statement) -> Result<StmtResult, DbError> {
        let start = Instant::now();
        let Some(sql) = lexer::server_sql(stmt.sql, begin) else {
            return Ok(StmtResult { query_duration_ms: start.elapsed().as_secs_f64() * 1000.0, ..StmtResult::default() });
        };
        let verb = lexer::verb(&sql, Dialect::Postgres);
        let translate = !stmt.args.is_empty();
        let bound = sql::bind(&sql, stmt.args, stmt.named_args, translate)?;
        // The field, not `self.client()`: `maybe_in_tx` is updated while it is borrowed.
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| DbError::unavailable("the connection was lost"))?;
        let prepared = client.prepare(&bound.sql).await.map_err(map_err)?;
        let types = prepared.params();
        if types.len() != bound.args.len() {
            return Err(DbError::Sql {
                code: "SQLITE_RANGE".into(),
                message: format!(
                    "{} arguments given, the statement takes {}",
                    bound.args.len(),
                    types.len()
                ),
            });
        }
        let args: Vec<Arg<'_>> = bound.args.iter().map(Arg).collect();
        for (i, (arg, ty)) in args.iter().zip(types).enumerate() {
            arg.check(ty).map_err(|why| DbError::Sql {
                code: "SQLITE_MISMATCH".into(),
                message: format!("argument {} {why}", i + 1),
            })?;
        }
        let cols: Vec<Column> = prepared
            .columns()
            .iter()
            .map(|c| Column {
                name: Some(c.name().to_owned()),
                decltype: Some(c.type_().name().to_owned()),
            })
            .collect();
        if matches!(verb.as_str(), "BEGIN" | "START") {
            self.maybe_in_tx = true;
        }
        let stream = client
            .query_raw(
                &prepared,
                args.iter().map(|a| a as &dyn tokio_postgres::types::ToSql),
            )
            .await
            .map_err(map_err)?;
        pin_mut!(stream);
        let mut rows = Vec::new();
        let mut read = 0u64;
        while let Some(row) = stream.try_next().await.map_err(map_err)? {
            read += 1;
            if stmt.want_rows {
                let mut vals = Vec::with_capacity(cols.len());
                for (i, col) in prepared.columns().iter().enumerate() {
                    let cell = row.try_get::<_, Cell>(i).map_err(|e| {
                        let why = std::error::Error::source(&e)
                            .map_or_else(|| e.to_string(), ToString::to_string);
                        DbError::Sql {
                            code: "SQLITE_MISMATCH".into(),
                            message: format!("column `{}`: {why}", col.name()),
                        }
                    })?;
                    vals.push(cell.0);
                }
                rows.push(vals);
            }
        }
        // The command tag counts rows for every verb; HRANA's count is for changed rows only.
        let affected = if matches!(verb.as_str(), "INSERT" | "UPDATE" | "DELETE" | "MERGE") {
            stream.rows_affected().unwrap_or(0)
        } else {
            0
        };
        if ends_transaction(&bound.sql) {
            self.maybe_in_tx = false;
        }
        Ok(StmtResult {
            cols,
            rows,
            affected_row_count: affected,
            last_insert_rowid: None,
            rows_read: read,
            rows_written: affected,
            query_duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        })
    }

    async fn execute_script(&mut self, sql: String) -> Result<(), DbError> {
        // A script may open a transaction it does not close.
        self.maybe_in_tx = true;
        self.client()?.batch_execute(&sql).await.map_err(map_err)
    }

    async fn describe(&mut self, sql: String) -> Result<Describe, DbError> {
        let sql = match lexer::sqlite_compat(&sql) {
            Compat::Begin { read_only } => begin(read_only).to_owned(),
            Compat::NoOp | Compat::Pass => sql,
        };
        let verb = lexer::verb(&sql, Dialect::Postgres);
        let bound = sql::bind(&sql, Vec::new(), Vec::new(), true)?;
        let prepared = self.client()?.prepare(&bound.sql).await.map_err(map_err)?;
        Ok(Describe {
            params: prepared
                .params()
                .iter()
                .map(|_| DescribeParam { name: None })
                .collect(),
            cols: prepared
                .columns()
                .iter()
                .map(|c| DescribeCol {
                    name: c.name().to_owned(),
                    decltype: Some(c.type_().name().to_owned()),
                })
                .collect(),
            is_explain: verb == "EXPLAIN",
            is_readonly: matches!(
                verb.as_str(),
                "SELECT" | "VALUES" | "TABLE" | "SHOW" | "EXPLAIN"
            ),
        })
    }

    async fn is_autocommit(&mut self) -> Result<bool, DbError> {
        if !self.maybe_in_tx {
            return Ok(true);
        }
        // Outside a transaction block every statement is its own transaction, so its start time is
        // the transaction's; inside one, `now()` is the older `BEGIN`'s. An aborted block refuses
        // the query with 25P02, which also means "inside".
        match self
            .client()?
            .simple_query("SELECT now() = statement_timestamp()")
            .await
        {
            Ok(messages) => {
                let outside = messages
                    .iter()
                    .any(|m| matches!(m, SimpleQueryMessage::Row(r) if r.get(0) == Some("t")));
                self.maybe_in_tx = !outside;
                Ok(outside)
            }
            Err(e) if e.code().is_some_and(|c| c.code() == "25P02") => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    fn begin_statement(&self) -> &'static str {
        "BEGIN"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_described_without_the_password() {
        let c = parse_url("postgres://app:secret@db.local:6543/shop").unwrap();
        assert_eq!(describe_target(&c), "db.local:6543/shop");
        assert!(
            parse_url("http://x")
                .unwrap_err()
                .contains("not a PostgreSQL URL")
        );
        assert!(
            parse_url("postgres://a@h/d?sslmode=require")
                .unwrap_err()
                .contains("sslmode=require")
        );
    }

    #[test]
    fn reserved_and_overlong_tenants_are_refused_as_schemas() {
        for bad in [
            "public",
            "pg_catalog",
            "information_schema",
            &"x".repeat(64),
        ] {
            assert!(
                matches!(
                    schema_of(&TenantId::parse(bad).unwrap()),
                    Err(DbError::BadRequest(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            schema_of(&TenantId::parse("Acme-1").unwrap()).unwrap(),
            "Acme-1"
        );
    }

    #[test]
    fn transaction_ends_are_recognised_exactly() {
        assert!(
            ends_transaction("COMMIT")
                && ends_transaction("rollback;")
                && ends_transaction("END TRANSACTION")
        );
        assert!(
            !ends_transaction("ROLLBACK TO SAVEPOINT a") && !ends_transaction("COMMIT AND CHAIN")
        );
    }
}
