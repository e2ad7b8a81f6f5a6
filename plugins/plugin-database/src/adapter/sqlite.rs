//! The embedded SQLite adapter: `<baseDir>/_default.db` plus `<baseDir>/tenants/<id>.db`, each
//! file in WAL mode behind a small r2d2 pool whose work runs on Tokio's blocking threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::ToSql;
use scheduled_thread_pool::ScheduledThreadPool;

use super::{Adapter, ColumnInfo, Connection, TableInfo};
use crate::error::DbError;
use crate::tenant::TenantId;
use crate::value::{Column, Describe, DescribeCol, DescribeParam, Statement, StmtResult, Value};

/// The root database's file name inside `baseDir`.
pub const ROOT_FILE: &str = "_default.db";
/// How long a statement waits for another connection's write lock before `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a checkout waits for a free connection before failing.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// The SQLite adapter.
pub struct SqliteAdapter {
    base_dir: PathBuf,
    pool_size: u32,
    max_tenants: usize,
    // One helper thread for every pool's housekeeping (r2d2 would start three per pool).
    threads: Arc<ScheduledThreadPool>,
    root: Pool,
    tenants: Mutex<TenantCache>,
}

impl std::fmt::Debug for SqliteAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteAdapter").field("base_dir", &self.base_dir).field("pool_size", &self.pool_size).field("max_tenants", &self.max_tenants).finish_non_exhaustive()
    }
}

/// Open tenant pools, least recently used evicted first.
#[derive(Debug, Default)]
struct TenantCache {
    pools: HashMap<TenantId, (Pool, u64)>,
    tick: u64,
}

impl SqliteAdapter {
    /// Creates `base_dir` (and `tenants/`) and the root pool; no connection is opened yet.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(base_dir: &Path, pool_size: u32, max_tenants: usize) -> Result<Self, DbError> {
        create_private_dir(&base_dir.join("tenants"))
            .map_err(|e| DbError::unavailable(format!("cannot create the SQLite directory `{}`: {e}", base_dir.display())))?;
        let threads = Arc::new(ScheduledThreadPool::builder().num_threads(1).thread_name_pattern("sqlite-pool-{}").build());
        let root = build_pool(&base_dir.join(ROOT_FILE), pool_size, &threads);
        Ok(Self { base_dir: base_dir.to_path_buf(), pool_size, max_tenants, threads, root, tenants: Mutex::new(TenantCache::default()) })
    }

    /// Returns the file that holds `tenant` (or the root database).
    pub fn file_of(&self, tenant: Option<&TenantId>) -> PathBuf {
        match tenant {
            None => self.base_dir.join(ROOT_FILE),
            Some(t) => self.base_dir.join("tenants").join(format!("{t}.db")),
        }
    }

    /// Returns how many tenant databases are open (at most `tenancy.maxTenants`).
    pub fn open_tenants(&self) -> usize {
        self.tenants.lock().map(|c| c.pools.len()).unwrap_or(0)
    }

    fn pool_of(&self, tenant: Option<&TenantId>) -> Pool {
        let Some(t) = tenant else { return self.root.clone() };
        let mut cache = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.tick += 1;
        let tick = cache.tick;
        if let Some((pool, used)) = cache.pools.get_mut(t) {
            *used = tick;
            return pool.clone();
        }
        while cache.pools.len() >= self.max_tenants {
            // Evict the least recently used; its idle connections close now, checked-out ones when
            // they are returned.
            let Some(oldest) = cache.pools.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) else { break };
            cache.pools.remove(&oldest);
        }
        let pool = build_pool(&self.file_of(Some(t)), self.pool_size, &self.threads);
        cache.pools.insert(t.clone(), (pool.clone(), tick));
        pool
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn build_pool(file: &Path, size: u32, threads: &Arc<ScheduledThreadPool>) -> Pool {
    let manager = SqliteConnectionManager::file(file).with_init(|c| {
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "NORMAL")?;
        c.pragma_update(None, "foreign_keys", true)?;
        c.busy_timeout(BUSY_TIMEOUT)
    });
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .idle_timeout(Some(Duration::from_secs(300)))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .thread_pool(threads.clone())
        .build_unchecked(manager)
}

#[async_trait]
impl Adapter for SqliteAdapter {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn connect(&self, tenant: Option<&TenantId>) -> Result<Box<dyn Connection>, DbError> {
        let pool = self.pool_of(tenant);
        let conn = tokio::task::spawn_blocking(move || pool.get())
            .await
            .map_err(DbError::unavailable)?
            .map_err(|e| DbError::unavailable(format!("no SQLite connection: {e}")))?;
        Ok(Box::new(SqliteConnection { conn: Some(Guarded(conn)) }))
    }

    async fn list_tenants(&self) -> Result<Vec<String>, DbError> {
        let dir = self.base_dir.join("tenants");
        let mut out = Vec::new();
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(DbError::unavailable)?;
        while let Some(entry) = entries.next_entry().await.map_err(DbError::unavailable)? {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".db")) else { continue };
            if TenantId::parse(stem).is_ok() {
                out.push(stem.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, DbError> {
        tokio::fs::try_exists(self.file_of(Some(tenant))).await.map_err(DbError::unavailable)
    }

    async fn create_tenant(&self, tenant: &TenantId) -> Result<bool, DbError> {
        if self.tenant_exists(tenant).await? {
            return Ok(false);
        }
        // Opening a connection creates the file (in WAL mode).
        drop(self.connect(Some(tenant)).await?);
        Ok(true)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), DbError> {
        let file = self.file_of(Some(tenant));
        if !self.tenant_exists(tenant).await? {
            return Err(DbError::TenantNotFound(tenant.to_string()));
        }
        if let Ok(mut cache) = self.tenants.lock() {
            cache.pools.remove(tenant);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = file.clone().into_os_string();
            p.push(suffix);
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(DbError::unavailable(format!("cannot delete tenant `{tenant}`: {e}"))),
            }
        }
        Ok(())
    }

    async fn list_tables(&self, conn: &mut dyn Connection) -> Result<Vec<TableInfo>, DbError> {
        let sql = "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name";
        let res = conn.execute(Statement::new(sql)).await?;
        Ok(res
            .rows
            .into_iter()
            .filter_map(|row| match (row.first(), row.get(1)) {
                (Some(Value::Text(name)), Some(Value::Text(kind))) => Some(TableInfo { name: name.clone(), kind: kind.clone() }),
                _ => None,
            })
            .collect())
    }

    async fn table_columns(&self, conn: &mut dyn Connection, table: &str) -> Result<Vec<ColumnInfo>, DbError> {
        let stmt = Statement::with_args(r#"SELECT name, type, "notnull", pk FROM pragma_table_info(?1)"#, [Value::from(table)]);
        let res = conn.execute(stmt).await?;
        if res.rows.is_empty() {
            return Err(DbError::TableNotFound(table.to_owned()));
        }
        Ok(res
            .rows
            .into_iter()
            .map(|row| {
                let text = |i: usize| match row.get(i) {
                    Some(Value::Text(s)) => s.clone(),
                    _ => String::new(),
                };
                let int = |i: usize| matches!(row.get(i), Some(Value::Integer(n)) if *n != 0);
                ColumnInfo { name: text(0), decltype: text(1), nullable: !int(2), pk: int(3) }
            })
            .collect())
    }

    fn quote_ident(&self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    async fn close(&self) {
        if let Ok(mut cache) = self.tenants.lock() {
            cache.pools.clear();
        }
    }
}

/// A pooled connection that never goes back to the pool inside a transaction.
struct Guarded(r2d2::PooledConnection<SqliteConnectionManager>);

impl Drop for Guarded {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            // A client vanished mid-transaction (request cancelled, baton expired): undo it so the
            // next user of this connection starts clean and the write lock is released.
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

/// A checked-out SQLite connection; each call runs on a blocking thread.
pub struct SqliteConnection {
    // `None` only while a call is running, or after its thread died.
    conn: Option<Guarded>,
}

impl std::fmt::Debug for SqliteConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConnection").field("present", &self.conn.is_some()).finish()
    }
}

impl SqliteConnection {
    async fn run<T: Send + 'static>(&mut self, f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, DbError> + Send + 'static) -> Result<T, DbError> {
        let mut conn = self.conn.take().ok_or_else(|| DbError::unavailable("the connection was lost"))?;
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut conn.0);
            (conn, out)
        })
        .await
        .map_err(|e| DbError::unavailable(format!("the database thread failed: {e}")))?;
        self.conn = Some(conn);
        out
    }
}

#[async_trait]
impl Connection for SqliteConnection {
    async fn execute(&mut self, stmt: Statement) -> Result<StmtResult, DbError> {
        self.run(move |c| execute(c, &stmt)).await
    }

    async fn execute_script(&mut self, sql: String) -> Result<(), DbError> {
        self.run(move |c| c.execute_batch(&sql).map_err(DbError::from)).await
    }

    async fn describe(&mut self, sql: String) -> Result<Describe, DbError> {
        self.run(move |c| {
            let st = c.prepare(&sql)?;
            let params = (1..=st.parameter_count()).map(|i| DescribeParam { name: st.parameter_name(i).map(str::to_owned) }).collect();
            let cols = st.columns().iter().map(|c| DescribeCol { name: c.name().to_owned(), decltype: c.decl_type().map(str::to_owned) }).collect();
            Ok(Describe { params, cols, is_explain: st.is_explain() > 0, is_readonly: st.readonly() })
        })
        .await
    }

    fn execute_inline(&mut self, stmt: &Statement) -> Option<Result<StmtResult, DbError>> {
        // WAL readers never wait for the writer, so a point read only touches the page cache and,
        // at worst, the file: microseconds, fine on an async worker.
        self.conn.as_mut().map(|c| execute(&c.0, stmt))
    }

    async fn is_autocommit(&mut self) -> Result<bool, DbError> {
        // A flag read, no I/O: fine on the async thread.
        self.conn.as_ref().map(|c| c.0.is_autocommit()).ok_or_else(|| DbError::unavailable("the connection was lost"))
    }

    fn begin_statement(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Integer(i) => ValueRef::Integer(*i),
            Self::Float(f) => ValueRef::Real(*f),
            Self::Text(s) => ValueRef::Text(s.as_bytes()),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn named_index(st: &rusqlite::Statement<'_>, name: &str) -> Result<usize, DbError> {
    let found = if name.starts_with([':', '@', '$']) {
        st.parameter_index(name)?
    } else {
        [":", "@", "$"].iter().find_map(|p| st.parameter_index(&format!("{p}{name}")).ok().flatten())
    };
    found.ok_or_else(|| DbError::Sql { code: "SQLITE_RANGE".into(), message: format!("the statement has no parameter named `{name}`") })
}

fn execute(c: &rusqlite::Connection, stmt: &Statement) -> Result<StmtResult, DbError> {
    let start = Instant::now();
    // Cached: the same statements come back (keyval's point reads, HRANA clients' queries), and
    // preparing costs more than the read itself.
    let mut st = c.prepare_cached(&stmt.sql)?;
    let count = st.parameter_count();
    if stmt.args.len() > count {
        return Err(DbError::Sql { code: "SQLITE_RANGE".into(), message: format!("{} arguments given, the statement takes {count}", stmt.args.len()) });
    }
    for (i, v) in stmt.args.iter().enumerate() {
        st.raw_bind_parameter(i + 1, v)?;
    }
    for (name, v) in &stmt.named_args {
        let i = named_index(&st, name)?;
        st.raw_bind_parameter(i, v)?;
    }
    let cols: Vec<Column> = st.columns().iter().map(|c| Column { name: Some(c.name().to_owned()), decltype: c.decl_type().map(str::to_owned) }).collect();
    let readonly = st.readonly();
    let before = c.total_changes();
    let mut rows_out = Vec::new();
    let mut read = 0u64;
    {
        let mut rows = st.raw_query();
        while let Some(row) = rows.next()? {
            read += 1;
            if stmt.want_rows {
                let mut vals = Vec::with_capacity(cols.len());
                for i in 0..cols.len() {
                    vals.push(match row.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(n) => Value::Integer(n),
                        ValueRef::Real(f) => Value::Float(f),
                        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    });
                }
                rows_out.push(vals);
            }
        }
    }
    // `changes()` keeps the last DML's count across DDL; only trust it when this statement changed something.
    let affected = if c.total_changes() != before { c.changes() } else { 0 };
    Ok(StmtResult {
        cols,
        rows: rows_out,
        affected_row_count: affected,
        last_insert_rowid: (!readonly).then(|| c.last_insert_rowid()),
        rows_read: read,
        rows_written: affected,
        query_duration_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(dir: &Path, max_tenants: usize) -> SqliteAdapter {
        SqliteAdapter::open(dir, 2, max_tenants).unwrap()
    }

    #[tokio::test]
    async fn counts_rows_and_rowids_for_real() {
        let dir = tempfile::tempdir().unwrap();
        let a = adapter(dir.path(), 10);
        let mut c = a.connect(None).await.unwrap();
        let r = c.execute(Statement::new("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")).await.unwrap();
        assert_eq!(r.affected_row_count, 0);
        let r = c.execute(Statement::with_args("INSERT INTO t (v) VALUES (?), (?)", ["a".into(), "b".into()])).await.unwrap();
        assert_eq!((r.affected_row_count, r.last_insert_rowid), (2, Some(2)));
        let r = c.execute(Statement::new("CREATE INDEX i ON t (v)")).await.unwrap();
        assert_eq!(r.affected_row_count, 0, "DDL after DML reports no changes");
        let stmt = Statement { sql: "SELECT v FROM t WHERE id = :id".into(), named_args: vec![("id".into(), Value::Integer(2))], want_rows: true, args: vec![] };
        let r = c.execute(stmt).await.unwrap();
        assert_eq!(r.rows, vec![vec![Value::Text("b".into())]]);
        assert_eq!(r.last_insert_rowid, None);
        let mode = c.execute(Statement::new("PRAGMA journal_mode")).await.unwrap();
        assert_eq!(mode.rows[0][0], Value::Text("wal".into()));
    }

    #[tokio::test]
    async fn inline_statements_share_the_connection_and_its_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let a = adapter(dir.path(), 10);
        let mut c = a.connect(None).await.unwrap();
        c.execute(Statement::new("CREATE TABLE t (v)")).await.unwrap();
        c.execute(Statement::new("BEGIN IMMEDIATE")).await.unwrap();
        c.execute_inline(&Statement::with_args("INSERT INTO t VALUES (?)", [Value::Integer(7)])).unwrap().unwrap();
        let r = c.execute_inline(&Statement::new("SELECT v FROM t")).unwrap().unwrap();
        assert_eq!(r.rows, vec![vec![Value::Integer(7)]], "an inline read sees the open transaction's write");
        c.execute(Statement::new("ROLLBACK")).await.unwrap();
        let r = c.execute_inline(&Statement::new("SELECT count(*) FROM t")).unwrap().unwrap();
        assert_eq!(r.rows[0][0], Value::Integer(0));
        assert!(c.execute_inline(&Statement::new("SELEC nonsense")).unwrap().is_err(), "errors come back, not panics");
    }

    #[tokio::test]
    async fn a_connection_dropped_mid_transaction_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = adapter(dir.path(), 10);
        let mut c = a.connect(None).await.unwrap();
        c.execute_script("CREATE TABLE t (v); BEGIN; INSERT INTO t VALUES (1);".into()).await.unwrap();
        assert!(!c.is_autocommit().await.unwrap());
        drop(c);
        let mut c = a.connect(None).await.unwrap();
        assert!(c.is_autocommit().await.unwrap());
        let r = c.execute(Statement::new("SELECT count(*) FROM t")).await.unwrap();
        assert_eq!(r.rows[0][0], Value::Integer(0));
    }

    #[tokio::test]
    async fn tenants_are_files_kept_open_in_an_lru() {
        let dir = tempfile::tempdir().unwrap();
        let a = adapter(dir.path(), 2);
        for t in ["a", "b", "c"] {
            assert!(a.create_tenant(&TenantId::parse(t).unwrap()).await.unwrap());
        }
        assert_eq!(a.open_tenants(), 2);
        assert_eq!(a.list_tenants().await.unwrap(), ["a", "b", "c"]);
        assert!(!a.create_tenant(&TenantId::parse("a").unwrap()).await.unwrap());
        a.delete_tenant(&TenantId::parse("b").unwrap()).await.unwrap();
        assert!(!dir.path().join("tenants/b.db").exists());
        assert!(matches!(a.delete_tenant(&TenantId::parse("b").unwrap()).await, Err(DbError::TenantNotFound(_))));
        assert_eq!(a.list_tenants().await.unwrap(), ["a", "c"]);
    }
}
