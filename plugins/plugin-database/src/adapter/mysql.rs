//! The MySQL/MariaDB adapter: one `mysql_async` pool for the server; the root is the URL's
//! database and each tenant a database of its own, selected with `USE` on every checkout (the
//! driver resets the session with `COM_RESET_CONNECTION` whenever a connection goes back).

mod sql;
mod values;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts};

use self::sql::bind;
use self::values::{from_mysql, to_mysql, type_name};
use super::sql::{self as lexer, Compat, Dialect};
use super::{Adapter, ColumnInfo, Connection, TableInfo};
use crate::error::DbError;
use crate::tenant::TenantId;
use crate::value::{Column, Describe, DescribeCol, DescribeParam, Statement, StmtResult, Value};

/// How long a checkout waits for a free connection (or a new one) before failing.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Databases a tenant id may not name.
const RESERVED: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];
/// MySQL's longest database name.
pub const MAX_DATABASE_LEN: usize = 64;

/// The MySQL/MariaDB adapter.
pub struct MysqlAdapter {
    pool: Pool,
    /// The URL's database: the root.
    root: String,
    /// `host:port/db`, for messages (never the password).
    target: String,
    pool_size: usize,
    max_tenants: usize,
    known: Mutex<HashSet<TenantId>>,
}

impl std::fmt::Debug for MysqlAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlAdapter")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Parses a `mysql://user:password@host:port/db` URL; the database is required (it is the root).
///
/// # Errors
/// Why the URL is not usable.
pub fn parse_url(url: &str) -> Result<Opts, String> {
    let opts = Opts::from_url(url).map_err(|e| {
        format!("not a MySQL URL ({e}); e.g. mysql://user:password@127.0.0.1:3306/app")
    })?;
    match opts.db_name() {
        Some(db) if !db.is_empty() => Ok(opts),
        _ => Err("the URL names no database (the root database, e.g. mysql://user:password@127.0.0.1:3306/app)".into()),
    }
}

impl MysqlAdapter {
    /// Builds the pool for `url`; no connection is opened until first use.
    ///
    /// # Errors
    /// The URL does not parse or names no database.
    pub fn open(url: &str, pool_size: u32, max_tenants: usize) -> Result<Self, DbError> {
        let opts = parse_url(url).map_err(DbError::unavailable)?;
        let root = opts.db_name().unwrap_or_default().to_owned();
        let target = format!("{}:{}/{root}", opts.ip_or_hostname(), opts.tcp_port());
        let size = usize::try_from(pool_size).unwrap_or(1).max(1);
        let constraints = PoolConstraints::new(0, size)
            .ok_or_else(|| DbError::unavailable("invalid poolSize"))?;
        let builder = OptsBuilder::from_opts(opts)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    // Without an idle TTL the pool closes every returned connection (min is 0).
                    .with_inactive_connection_ttl(IDLE_TIMEOUT)
                    .with_reset_connection(true),
            )
            // A statement prepared in one tenant's database must never serve another's.
            .stmt_cache_size(0);
        Ok(Self {
            pool: Pool::new(builder),
            root,
            target,
            pool_size: size,
            max_tenants,
            known: Mutex::new(HashSet::new()),
        })
    }

    async fn raw(&self) -> Result<Conn, DbError> {
        match tokio::time::timeout(CHECKOUT_TIMEOUT, self.pool.get_conn()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(DbError::unavailable(format!(
                "cannot connect to MySQL at {}: {e}",
                self.target
            ))),
            Err(_) => Err(DbError::unavailable(format!(
                "no MySQL connection to {} within {} s",
                self.target,
                CHECKOUT_TIMEOUT.as_secs()
            ))),
        }
    }

    fn database_of<'t>(&self, tenant: &'t TenantId) -> Result<&'t str, DbError> {
        let s = tenant.as_str();
        if s.len() > MAX_DATABASE_LEN {
            return Err(DbError::BadRequest(format!(
                "tenant id `{s}` is longer than MySQL's {MAX_DATABASE_LEN}-character database names"
            )));
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)) || s == self.root {
            return Err(DbError::BadRequest(format!(
                "tenant id `{s}` names a reserved or the root database; choose another"
            )));
        }
        Ok(s)
    }

    fn remember(&self, tenant: &TenantId, exists: bool) {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !exists {
            known.remove(tenant);
        } else {
            if known.len() >= self.max_tenants {
                known.clear();
            }
            known.insert(tenant.clone());
        }
    }
}

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Maps a driver error: lost connections are [`DbError::Unavailable`], server errors keep their
/// message and number and get the `SQLITE_*` code libSQL clients match on.
pub fn map_err(e: mysql_async::Error) -> DbError {
    match e {
        mysql_async::Error::Server(s) => {
            let message = format!(
                "{} (MySQL error {}, SQLSTATE {})",
                s.message, s.code, s.state
            );
            let code = match s.code {
                // Server shutdown, killed connection.
                1053 | 1927 | 2006 | 2013 => {
                    return DbError::Unavailable(format!("MySQL: {message}"));
                }
                1062 | 1586 => "SQLITE_CONSTRAINT_UNIQUE",
                1048 | 1364 => "SQLITE_CONSTRAINT_NOTNULL",
                1216 | 1217 | 1451 | 1452 => "SQLITE_CONSTRAINT_FOREIGNKEY",
                3819 | 4025 => "SQLITE_CONSTRAINT_CHECK",
                1205 | 1213 => "SQLITE_BUSY",
                1044 | 1045 | 1142 => "SQLITE_AUTH",
                1264 | 1292 | 1366 => "SQLITE_MISMATCH",
                1406 => "SQLITE_TOOBIG",
                _ => "SQLITE_ERROR",
            };
            DbError::Sql {
                code: code.into(),
                message,
            }
        }
        mysql_async::Error::Io(e) => {
            DbError::Unavailable(format!("the MySQL connection was lost: {e}"))
        }
        mysql_async::Error::Driver(e) => DbError::Unavailable(format!("MySQL driver: {e}")),
        e => DbError::Sql {
            code: "SQLITE_ERROR".into(),
            message: e.to_string(),
        },
    }
}

#[async_trait]
impl Adapter for MysqlAdapter {
    fn kind(&self) -> &'static str {
        "mysql"
    }

    async fn connect(&self, tenant: Option<&TenantId>) -> Result<Box<dyn Connection>, DbError> {
        let db = match tenant {
            None => self.root.clone(),
            Some(t) => self.database_of(t)?.to_owned(),
        };
        let mut attempts = self.pool_size + 1;
        loop {
            let mut conn = self.raw().await?;
            match conn.query_drop(format!("USE {}", quote(&db))).await {
                Ok(()) => {
                    return Ok(Box::new(MyConnection {
                        conn: Some(conn),
                        maybe_in_tx: false,
                    }));
                }
                Err(mysql_async::Error::Server(e)) if e.code == 1049 && tenant.is_some() => {
                    if let Some(t) = tenant {
                        self.remember(t, false);
                    }
                    return Err(DbError::TenantNotFound(db));
                }
                Err(e) => {
                    let err = map_err(e);
                    attempts -= 1;
                    // Idle connections from before a server restart fail first; try another.
                    if !matches!(err, DbError::Unavailable(_)) || attempts == 0 {
                        return Err(err);
                    }
                }
            }
        }
    }

    async fn list_tenants(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.raw().await?;
        let names: Vec<String> = conn
            .query("SELECT schema_name FROM information_schema.schemata")
            .await
            .map_err(map_err)?;
        let mut out: Vec<String> = names
            .into_iter()
            .filter(|n| TenantId::parse(n).is_ok_and(|t| self.database_of(&t).is_ok()))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, DbError> {
        let db = self.database_of(tenant)?;
        if self.known.lock().is_ok_and(|k| k.contains(tenant)) {
            return Ok(true);
        }
        let mut conn = self.raw().await?;
        let found: Option<String> = conn
            .exec_first(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
                (db,),
            )
            .await
            .map_err(map_err)?;
        self.remember(tenant, found.is_some());
        Ok(found.is_some())
    }

    async fn create_tenant(&self, tenant: &TenantId) -> Result<bool, DbError> {
        if self.tenant_exists(tenant).await? {
            return Ok(false);
        }
        let db = self.database_of(tenant)?;
        let mut conn = self.raw().await?;
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", quote(db)))
            .await
            .map_err(map_err)?;
        self.remember(tenant, true);
        Ok(true)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), DbError> {
        let db = self.database_of(tenant)?;
        self.remember(tenant, false);
        if !self.tenant_exists(tenant).await? {
            return Err(DbError::TenantNotFound(tenant.to_string()));
        }
        let mut conn = self.raw().await?;
        conn.query_drop(format!("DROP DATABASE {}", quote(db)))
            .await
            .map_err(map_err)?;
        self.remember(tenant, false);
        Ok(())
    }

    async fn list_tables(&self, conn: &mut dyn Connection) -> Result<Vec<TableInfo>, DbError> {
        let sql = "SELECT table_name, CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END \
                   FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1";
        let res = conn.execute(Statement::new(sql)).await?;
        Ok(super::tables_from(res))
    }

    async fn table_columns(
        &self,
        conn: &mut dyn Connection,
        table: &str,
    ) -> Result<Vec<ColumnInfo>, DbError> {
        let sql = "SELECT column_name, column_type, is_nullable = 'YES', column_key = 'PRI' FROM information_schema.columns \
                   WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position";
        let res = conn
            .execute(Statement::with_args(sql, [Value::from(table)]))
            .await?;
        super::columns_from(res, table)
    }

    fn quote_ident(&self, name: &str) -> String {
        quote(name)
    }

    async fn close(&self) {
        let _ = self.pool.clone().disconnect().await;
    }
}

/// A checked-out connection with its default database set to one tenant (or the root).
pub struct MyConnection {
    // Dropping it returns it to the pool, which resets the session (rolling back any transaction).
    conn: Option<Conn>,
    maybe_in_tx: bool,
}

impl std::fmt::Debug for MyConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyConnection")
            .field("maybe_in_tx", &self.maybe_in_tx)
            .finish_non_exhaustive()
    }
}

impl MyConnection {
    fn conn(&mut self) -> Result<&mut Conn, DbError> {
        self.conn
            .as_mut()
            .ok_or_else(|| DbError::unavailable("the connection was lost"))
    }
}

/// What a statement's result held.
struct Drained {
    columns: Vec<mysql_async::Column>,
    rows: Vec<Vec<Value>>,
    read: u64,
    affected: u64,
    last_id: Option<u64>,
}

/// Reads a result to its end (either protocol), keeping the rows only when wanted.
async fn drain<P: mysql_async::prelude::Protocol>(
    mut result: mysql_async::QueryResult<'_, '_, P>,
    want_rows: bool,
) -> Result<Drained, DbError> {
    let columns: Vec<mysql_async::Column> = result.columns_ref().to_vec();
    let mut rows = Vec::new();
    let mut read = 0u64;
    while let Some(row) = result.next().await.map_err(map_err)? {
        read += 1;
        if want_rows {
            rows.push(
                row.unwrap()
                    .into_iter()
                    .zip(&columns)
                    .map(|(v, c)| from_mysql(v, c))
                    .collect(),
            );
        }
    }
    let (affected, last_id) = (result.affected_rows(), result.last_insert_id());
    result.drop_result().await.map_err(map_err)?;
    Ok(Drained {
        columns,
        rows,
        read,
        affected,
        last_id,
    })
}

/// MySQL's spelling of SQLite's `BEGIN IMMEDIATE` / `BEGIN TRANSACTION READONLY`.
fn begin(read_only: bool) -> &'static str {
    if read_only {
        "START TRANSACTION READ ONLY"
    } else {
        "BEGIN"
    }
}

#[async_trait]
impl Connection for MyConnection {
    async fn execute(&mut self, stmt: Statement) -> Result<StmtResult, DbError> {
        let start = Instant::now();
        let Some(sql) = lexer::server_sql(stmt.sql, begin) else {
            return Ok(StmtResult { query_duration_ms: start.elapsed().as_secs_f64() * 1000.0, ..StmtResult::default() });
        };
        let verb = lexer::verb(&sql, Dialect::MySql);
        let (sql, args) = bind(&sql, &stmt.args, &stmt.named_args)?;
        if matches!(verb.as_str(), "BEGIN" | "START") {
            self.maybe_in_tx = true;
        }
        let conn = self.conn()?;
        let read = if args.is_empty() {
            drain(
                conn.query_iter(sql.as_str()).await.map_err(map_err)?,
                stmt.want_rows,
            )
            .await?
        } else {
            let prepared = conn.prep(sql.as_str()).await.map_err(map_err)?;
            drain(
                conn.exec_iter(
                    prepared,
                    Params::Positional(args.into_iter().map(to_mysql).collect()),
                )
                .await
                .map_err(map_err)?,
                stmt.want_rows,
            )
            .await?
        };
        let Drained {
            columns,
            rows,
            read,
            affected,
            last_id,
        } = read;
        let changed = matches!(verb.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE");
        let affected = if changed { affected } else { 0 };
        let last_id = last_id
            .and_then(|id| i64::try_from(id).ok())
            .filter(|_| verb == "INSERT" || verb == "REPLACE");
        let cols = columns
            .iter()
            .map(|c| Column {
                name: Some(c.name_str().into_owned()),
                decltype: Some(type_name(c)),
            })
            .collect();
        Ok(StmtResult {
            cols,
            rows,
            affected_row_count: affected,
            last_insert_rowid: last_id,
            rows_read: read,
            rows_written: affected,
            query_duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        })
    }

    async fn execute_script(&mut self, sql: String) -> Result<(), DbError> {
        self.maybe_in_tx = true;
        self.conn()?.query_drop(sql).await.map_err(map_err)
    }

    async fn describe(&mut self, sql: String) -> Result<Describe, DbError> {
        let sql = match lexer::sqlite_compat(&sql) {
            Compat::Begin { read_only } => begin(read_only).to_owned(),
            Compat::NoOp | Compat::Pass => sql,
        };
        let verb = lexer::verb(&sql, Dialect::MySql);
        let prepared = self.conn()?.prep(sql.as_str()).await.map_err(map_err)?;
        Ok(Describe {
            params: (0..prepared.num_params())
                .map(|_| DescribeParam { name: None })
                .collect(),
            cols: prepared
                .columns()
                .iter()
                .map(|c| DescribeCol {
                    name: c.name_str().into_owned(),
                    decltype: Some(type_name(c)),
                })
                .collect(),
            is_explain: verb == "EXPLAIN",
            is_readonly: matches!(
                verb.as_str(),
                "SELECT" | "SHOW" | "EXPLAIN" | "DESCRIBE" | "VALUES" | "TABLE"
            ),
        })
    }

    async fn is_autocommit(&mut self) -> Result<bool, DbError> {
        if !self.maybe_in_tx {
            return Ok(true);
        }
        // MariaDB's session flag for an open transaction.
        let open: Option<i64> = self
            .conn()?
            .query_first("SELECT @@in_transaction")
            .await
            .map_err(map_err)?;
        let outside = open == Some(0);
        self.maybe_in_tx = !outside;
        Ok(outside)
    }

    fn begin_statement(&self) -> &'static str {
        "BEGIN"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_database() {
        assert!(parse_url("mysql://u:p@127.0.0.1:3306/app").is_ok());
        assert!(
            parse_url("mysql://u@127.0.0.1:3306")
                .unwrap_err()
                .contains("no database")
        );
        assert!(
            parse_url("postgres://x/y")
                .unwrap_err()
                .contains("not a MySQL URL")
        );
    }
}
