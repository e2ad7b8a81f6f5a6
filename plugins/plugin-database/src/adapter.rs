//! The engine abstraction: an [`Adapter`] owns one engine's databases (root and tenants) and hands
//! out [`Connection`]s; everything above it (routes, HRANA, the typed service) is engine-neutral.
//!
//! Each engine is one module implementing these two traits plus a `type` arm in `config.rs`;
//! tenancy maps to a file (sqlite), a schema (postgres), a database (mysql) or a namespace
//! (libsql) inside the adapter.

pub mod libsql;
pub mod mysql;
pub mod postgres;
mod sql;
pub mod sqlite;

use async_trait::async_trait;

use crate::error::DbError;
use crate::tenant::TenantId;
use crate::value::{Describe, Statement, StmtResult, Value};

/// A table or view in a database's catalog.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableInfo {
    /// The table name.
    pub name: String,
    /// `table` or `view`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnInfo {
    /// The column name.
    pub name: String,
    /// The declared type (may be empty).
    #[serde(rename = "type")]
    pub decltype: String,
    /// Whether `NULL` is allowed.
    pub nullable: bool,
    /// Whether the column is part of the primary key.
    pub pk: bool,
}

/// Reads a catalog query's `(name, 'table' | 'view')` rows; server engines list their tables so.
pub(crate) fn tables_from(res: StmtResult) -> Vec<TableInfo> {
    res.rows
        .into_iter()
        .filter_map(|row| match (row.first(), row.get(1)) {
            (Some(Value::Text(name)), Some(Value::Text(kind))) => Some(TableInfo { name: name.clone(), kind: kind.clone() }),
            _ => None,
        })
        .collect()
}

/// Reads a catalog query's `(name, type, nullable, primary key)` rows for `table`; no rows means
/// the table does not exist.
///
/// # Errors
/// [`DbError::TableNotFound`].
pub(crate) fn columns_from(res: StmtResult, table: &str) -> Result<Vec<ColumnInfo>, DbError> {
    if res.rows.is_empty() {
        return Err(DbError::TableNotFound(table.to_owned()));
    }
    Ok(res
        .rows
        .into_iter()
        .map(|row| {
            // MySQL's catalog answers some text columns as bytes.
            let text = |i: usize| match row.get(i) {
                Some(Value::Text(s)) => s.clone(),
                Some(Value::Blob(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            let flag = |i: usize| matches!(row.get(i), Some(Value::Integer(n)) if *n != 0);
            ColumnInfo { name: text(0), decltype: text(1), nullable: flag(2), pk: flag(3) }
        })
        .collect())
}

/// One engine's databases.
#[async_trait]
pub trait Adapter: Send + Sync + std::fmt::Debug + 'static {
    /// Returns the adapter type as written in the manifest (`sqlite`, `postgres`).
    fn kind(&self) -> &'static str;

    /// PostgreSQL only: the settings for a dedicated connection of the caller's own, for
    /// `LISTEN` (pooled connections drop their `LISTEN`s at every checkout). `None` elsewhere.
    fn listen_config(&self) -> Option<tokio_postgres::Config> {
        None
    }

    /// Checks out a connection to the root database (`None`) or a tenant's.
    ///
    /// The tenant must exist (see [`Adapter::tenant_exists`]); the service creates it first when
    /// `tenancy.autoCreate` is on. Dropping the connection returns it to the pool, rolling back a
    /// transaction left open.
    async fn connect(&self, tenant: Option<&TenantId>) -> Result<Box<dyn Connection>, DbError>;

    /// Returns the existing tenants, sorted.
    async fn list_tenants(&self) -> Result<Vec<String>, DbError>;

    /// Returns whether the tenant exists.
    async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, DbError>;

    /// Creates a tenant; returns false when it already existed.
    async fn create_tenant(&self, tenant: &TenantId) -> Result<bool, DbError>;

    /// Deletes a tenant and all its data, closing its pool first.
    ///
    /// # Errors
    /// [`DbError::TenantNotFound`] when it does not exist.
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), DbError>;

    /// Returns the user tables and views of the database behind `conn`.
    async fn list_tables(&self, conn: &mut dyn Connection) -> Result<Vec<TableInfo>, DbError>;

    /// Returns the columns of `table`, or [`DbError::TableNotFound`].
    async fn table_columns(&self, conn: &mut dyn Connection, table: &str) -> Result<Vec<ColumnInfo>, DbError>;

    /// Quotes an identifier for this engine's SQL.
    fn quote_ident(&self, name: &str) -> String;

    /// Closes every pool; connections checked out stay usable until dropped.
    async fn close(&self);
}

/// One database connection, checked out of its adapter's pool.
///
/// Statements run one at a time, in order. A connection is pinned to a HRANA stream (baton) for as
/// long as a transaction is open on it.
#[async_trait]
pub trait Connection: Send + std::fmt::Debug {
    /// Runs one statement.
    async fn execute(&mut self, stmt: Statement) -> Result<StmtResult, DbError>;

    /// Runs a script of several statements separated by `;`, discarding rows.
    async fn execute_script(&mut self, sql: String) -> Result<(), DbError>;

    /// Prepares a statement without running it and reports its parameters and columns.
    async fn describe(&mut self, sql: String) -> Result<Describe, DbError>;

    /// Returns whether the connection is outside any transaction.
    async fn is_autocommit(&mut self) -> Result<bool, DbError>;

    /// Returns the statement that opens a write transaction in this engine's dialect
    /// (`BEGIN IMMEDIATE` on SQLite, so the write lock is taken up front; `BEGIN` on PostgreSQL).
    fn begin_statement(&self) -> &'static str;
    /// Runs a short statement on the calling thread, when the engine can do that without waiting on
    /// the network (an embedded engine reading cached pages); `None` means "use
    /// [`Connection::execute`]". Callers use it for point reads, where handing the work to a
    /// blocking thread costs more than the read itself.
    fn execute_inline(&mut self, stmt: &Statement) -> Option<Result<StmtResult, DbError>> {
        let _ = stmt;
        None
    }

    /// Runs `stmts` in one transaction: all of them, or none if one fails.
    ///
    /// # Errors
    /// The first failing statement's error, with its index in `stmts`.
    async fn transaction(&mut self, stmts: Vec<Statement>) -> Result<Vec<StmtResult>, (usize, DbError)> {
        let begin = |e| (0, e);
        self.execute(Statement::new(self.begin_statement())).await.map_err(begin)?;
        let mut out = Vec::with_capacity(stmts.len());
        for (i, stmt) in stmts.into_iter().enumerate() {
            match self.execute(stmt).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    let _ = self.execute(Statement::new("ROLLBACK")).await;
                    return Err((i, e));
                }
            }
        }
        let len = out.len();
        self.execute(Statement::new("COMMIT")).await.map_err(|e| (len, e))?;
        Ok(out)
    }
}
