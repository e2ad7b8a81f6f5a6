//! [`Kv`], the engine: the database service and target it stores into, its limits, its metrics and
//! the broadcast channel of committed changes; plus [`Tx`], one write transaction on one connection.
//!
//! The operations themselves live in `entries`, `list`, `atomic` (and `queue`, `fts`); they all
//! write through [`Kv::begin`] so that every check, count and write of one call happens under one
//! `BEGIN IMMEDIATE` lock (§S-3), and announce what they changed when the transaction commits.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use buntime_plugin_database::{Connection, DatabaseService, Statement, StmtResult, Target};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::config::Config;
use crate::dialect::Dialect;
use crate::error::KvError;
use crate::keys::Key;
use crate::metrics::Metrics;

/// How many committed batches a slow watcher may fall behind before it re-reads (it never misses
/// the end state: a lagging watcher re-reads its keys).
const CHANGE_BUFFER: usize = 1024;

/// One committed change to an entry: its new value and versionstamp, or `None` for a deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The key.
    pub key: Key,
    /// The key's encoding (watchers match on it).
    pub encoded: Vec<u8>,
    /// The new value; `None` when the entry was deleted (or expired).
    pub value: Option<Value>,
    /// The new versionstamp; `None` when deleted.
    pub versionstamp: Option<String>,
}

/// Idle connections the engine keeps checked out, so a read does not wait for the pool's blocking
/// check-out (one thread hop less per request). Small, so the database pool keeps connections for
/// everyone else.
const IDLE_MAX: usize = 2;

/// The changes of one commit, in the order they were made.
pub type ChangeBatch = Arc<[Change]>;

/// The KeyVal engine. Cheap to clone; this is what `get_plugin("@buntime/plugin-keyval")` returns.
#[derive(Debug, Clone)]
pub struct Kv(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    db: DatabaseService,
    adapter: String,
    dialect: Dialect,
    config: Config,
    changes: broadcast::Sender<ChangeBatch>,
    metrics: Metrics,
    queue: crate::queue::Shared,
    idle: std::sync::Mutex<Vec<Box<dyn Connection>>>,
    /// Held by every open write transaction. SQLite has one writer at a time anyway; queueing
    /// writers here, in arrival order, keeps them from holding pool connections while they spin
    /// in SQLite's busy handler (which sleeps in steps of up to 100 ms).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// This engine's name in cross-process change notifications (see `remote`).
    origin: String,
}

impl Kv {
    /// Builds the engine over the root database of adapter `adapter` (the schema must exist; see
    /// [`crate::schema::create`]).
    pub fn new(db: DatabaseService, adapter: String, dialect: Dialect, config: Config) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        Self(Arc::new(Inner {
            db,
            adapter,
            dialect,
            config,
            changes,
            metrics: Metrics::default(),
            queue: crate::queue::Shared::default(),
            idle: std::sync::Mutex::new(Vec::new()),
            writer: Arc::default(),
            origin: uuid::Uuid::now_v7().to_string(),
        }))
    }

    /// Returns the SQL dialect of the database.
    pub fn dialect(&self) -> Dialect {
        self.0.dialect
    }

    /// Returns the plugin configuration (limits, intervals).
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Returns the operation metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Returns the queue's in-process state (listener wake-ups, SSE deliveries); see [`crate::queue`].
    pub fn queue_shared(&self) -> &crate::queue::Shared {
        &self.0.queue
    }

    /// Returns this engine's name in cross-process change notifications.
    pub fn origin(&self) -> &str {
        &self.0.origin
    }

    /// Returns the adapter type the entries live in.
    pub fn adapter(&self) -> &str {
        &self.0.adapter
    }

    /// Checks out a connection to the root database (no transaction): an idle one the engine kept,
    /// else one from the database plugin's pool.
    ///
    /// # Errors
    /// The database is unavailable.
    pub async fn connect(&self) -> Result<Box<dyn Connection>, KvError> {
        if let Some(c) = self.0.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(c);
        }
        Ok(self
            .0
            .db
            .connect(Target {
                adapter: Some(&self.0.adapter),
                tenant: None,
            })
            .await?)
    }

    /// Keeps a connection that is outside any transaction for the next [`Kv::connect`] (or lets it
    /// go back to the pool when enough are kept).
    pub fn release(&self, conn: Box<dyn Connection>) {
        if let Ok(mut idle) = self.0.idle.lock()
            && idle.len() < IDLE_MAX
        {
            idle.push(conn);
        }
    }

    /// Returns the kept connections to the database plugin's pool (at shutdown).
    pub fn release_idle(&self) {
        let conns = self
            .0
            .idle
            .lock()
            .map(|mut idle| std::mem::take(&mut *idle))
            .unwrap_or_default();
        drop(conns);
    }

    /// Runs one statement on a pooled connection, in autocommit (so a single-statement write, such
    /// as the queue's claim, is atomic on its own).
    ///
    /// # Errors
    /// The database failed.
    pub async fn query(&self, stmt: Statement) -> Result<StmtResult, KvError> {
        let mut conn = self.connect().await?;
        let res = conn.execute(stmt).await?;
        self.release(conn);
        Ok(res)
    }

    /// Runs one short read (a point lookup) on the calling thread when the engine allows it (see
    /// `Connection::execute_inline`), else like [`Kv::query`].
    ///
    /// # Errors
    /// The database failed.
    pub async fn query_point(&self, stmt: Statement) -> Result<StmtResult, KvError> {
        let mut conn = self.connect().await?;
        let res = match conn.execute_inline(&stmt) {
            Some(r) => r?,
            None => conn.execute(stmt).await?,
        };
        self.release(conn);
        Ok(res)
    }

    /// Opens a write transaction (the dialect's write-locking `BEGIN`) on one connection.
    ///
    /// # Errors
    /// The database is unavailable or the lock could not be taken within the busy timeout.
    pub async fn begin(&self) -> Result<Tx, KvError> {
        let writer = self.0.writer.clone().lock_owned().await;
        let mut conn = self.connect().await?;
        // On failure the connection is dropped: the pool rolls a half-opened transaction back.
        for sql in self.0.dialect.begin_write() {
            conn.execute(Statement::new(*sql)).await?;
        }
        Ok(Tx {
            conn,
            changes: Vec::new(),
            kv: self.clone(),
            _writer: writer,
        })
    }

    /// Runs `stmts` in one write transaction: all of them, or none.
    ///
    /// # Errors
    /// The first failing statement's error (nothing is kept).
    pub async fn transaction(&self, stmts: Vec<Statement>) -> Result<Vec<StmtResult>, KvError> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            match tx.execute(s).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    tx.rollback().await;
                    return Err(e);
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Subscribes to committed changes (each item is one commit's changes).
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeBatch> {
        self.0.changes.subscribe()
    }

    /// Announces changes committed outside a [`Tx`] (none today; for engine extensions).
    pub fn publish(&self, changes: Vec<Change>) {
        if !changes.is_empty() {
            // No receiver is not an error: nobody is watching.
            let _ = self.0.changes.send(changes.into());
        }
    }

    /// Runs `op`, recording its latency and outcome under `name` in the metrics.
    pub async fn timed<T>(
        &self,
        name: &'static str,
        op: impl Future<Output = Result<T, KvError>>,
    ) -> Result<T, KvError> {
        let started = Instant::now();
        let out = op.await;
        // Validation errors are the caller's, not the store's: they count as operations, not errors.
        let ok = !matches!(out, Err(KvError::Storage(_) | KvError::Internal(_)));
        self.0.metrics.record(name, started.elapsed(), ok);
        out
    }
}

/// One open write transaction. Dropping it without [`Tx::commit`] rolls it back (the pool rolls
/// back a connection returned mid-transaction); its changes are announced only on commit.
#[derive(Debug)]
pub struct Tx {
    conn: Box<dyn Connection>,
    changes: Vec<Change>,
    kv: Kv,
    /// This process's write turn, released when the transaction ends (or is dropped), after the
    /// connection (fields drop in order).
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl Tx {
    /// Runs one statement inside the transaction.
    ///
    /// # Errors
    /// The statement failed (the transaction stays open; roll it back or drop it).
    pub async fn execute(&mut self, stmt: Statement) -> Result<StmtResult, KvError> {
        Ok(self.conn.execute(stmt).await?)
    }

    /// Runs a single-row statement (a lookup or an upsert by key) inside the transaction, on the
    /// calling thread when the engine allows it. Inside a write transaction such a statement only
    /// touches cached pages; the `BEGIN` (which may wait for the lock) and the `COMMIT` (which may
    /// checkpoint) still run on a blocking thread.
    ///
    /// # Errors
    /// The statement failed (the transaction stays open; roll it back or drop it).
    pub async fn execute_point(&mut self, stmt: Statement) -> Result<StmtResult, KvError> {
        match self.conn.execute_inline(&stmt) {
            Some(r) => Ok(r?),
            None => Ok(self.conn.execute(stmt).await?),
        }
    }

    /// Records a change to announce when the transaction commits.
    pub fn changed(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Returns the connection, for helpers that take one.
    pub fn conn(&mut self) -> &mut dyn Connection {
        self.conn.as_mut()
    }

    /// Commits and announces the recorded changes.
    ///
    /// # Errors
    /// The commit failed (nothing was written, nothing is announced).
    pub async fn commit(self) -> Result<(), KvError> {
        let Self {
            mut conn,
            changes,
            kv,
            _writer,
        } = self;
        if kv.dialect() == Dialect::Postgres {
            // Other processes on this database learn of the commit when (and only if) it commits.
            for stmt in crate::remote::notify_statements(kv.origin(), &changes) {
                conn.execute(stmt).await?;
            }
        }
        conn.execute(Statement::new("COMMIT")).await?;
        kv.release(conn);
        // Announced while the write turn is still held, so watchers get commits in commit order.
        if !changes.is_empty() {
            // No receiver is not an error: nobody is watching.
            let _ = kv.0.changes.send(changes.into());
        }
        drop(_writer);
        Ok(())
    }

    /// Rolls back. On failure the connection is dropped, and the pool rolls it back.
    pub async fn rollback(self) {
        let Self {
            mut conn,
            kv,
            _writer,
            ..
        } = self;
        if conn.execute(Statement::new("ROLLBACK")).await.is_ok() {
            kv.release(conn);
        }
    }
}
