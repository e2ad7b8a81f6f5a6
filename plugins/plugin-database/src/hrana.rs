//! A HRANA-over-HTTP server (the JSON encoding of protocol versions 2 and 3): pipelines of stream
//! requests, with batons naming a stream that keeps one connection pinned while a transaction is
//! open on it, so `BEGIN` … `COMMIT` across requests is one real transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::adapter::Connection;
use crate::error::DbError;
use crate::service::{DatabaseService, Target};
use crate::value::{Statement, StmtResult, Value};

/// How long a stream may sit unused before its baton expires (and its transaction rolls back).
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams open at once; beyond this, a pipeline that would keep one open is refused.
pub const MAX_STREAMS: usize = 4096;

/// The body of `POST …/pipeline`.
#[derive(Debug, Deserialize)]
pub struct PipelineRequest {
    /// The stream to continue, from an earlier response; `None` opens a new stream.
    #[serde(default)]
    pub baton: Option<String>,
    /// The stream requests, run in order.
    pub requests: Vec<Json>,
}

/// A failure of the pipeline as a whole (as opposed to one request's error result).
#[derive(Debug)]
pub struct PipelineError {
    /// `INVALID_BATON`, `PARSE_ERROR`, `TOO_MANY_STREAMS`, `INTERNAL_ERROR`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

#[derive(Debug, Deserialize)]
struct RawStmt {
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    sql_id: Option<i64>,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    named_args: Vec<NamedArg>,
    #[serde(default)]
    want_rows: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct NamedArg {
    name: String,
    value: Value,
}

#[derive(Debug, Deserialize)]
struct RawBatch {
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
struct RawStep {
    #[serde(default)]
    condition: Option<Cond>,
    stmt: RawStmt,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Cond {
    Ok { step: usize },
    Error { step: usize },
    Not { cond: Box<Cond> },
    And { conds: Vec<Cond> },
    Or { conds: Vec<Cond> },
    IsAutocommit,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamRequest {
    Close,
    Execute { stmt: RawStmt },
    Batch { batch: RawBatch },
    Sequence {
        #[serde(default)]
        sql: Option<String>,
        #[serde(default)]
        sql_id: Option<i64>,
    },
    Describe {
        #[serde(default)]
        sql: Option<String>,
        #[serde(default)]
        sql_id: Option<i64>,
    },
    StoreSql { sql_id: i64, sql: String },
    CloseSql { sql_id: i64 },
    GetAutocommit,
}

const REQUEST_TYPES: [&str; 8] = ["close", "execute", "batch", "sequence", "describe", "store_sql", "close_sql", "get_autocommit"];

/// SQL texts one stream (HTTP) or one socket (WebSocket) may store with `store_sql`.
pub(crate) const MAX_STORED_SQL: usize = 1024;

/// One stream's state: where it points, its stored SQL and, while needed, its connection.
#[derive(Debug)]
pub(crate) struct Stream {
    adapter: Option<String>,
    tenant: Option<String>,
    conn: Option<Box<dyn Connection>>,
    sqls: HashMap<i64, String>,
    closed: bool,
}

#[derive(Debug)]
struct Entry {
    stream: Arc<tokio::sync::Mutex<Stream>>,
    last_used: Instant,
}

/// The open streams, by baton.
#[derive(Debug, Default)]
pub struct Streams {
    map: Mutex<HashMap<String, Entry>>,
}

impl Stream {
    /// A stream for `target` with no connection yet (one is taken on its first statement).
    pub(crate) fn new(target: Target<'_>) -> Self {
        Self { adapter: target.adapter.map(str::to_owned), tenant: target.tenant.map(str::to_owned), conn: None, sqls: HashMap::new(), closed: false }
    }

    /// Gives the pinned connection back to its pool when no transaction is open on it: outside a
    /// transaction it holds no state worth pinning.
    pub(crate) async fn release_if_idle(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && conn.is_autocommit().await.unwrap_or(false)
        {
            self.conn = None;
        }
    }
}

/// Runs one stream request (a JSON object with a `type`, as in a pipeline) on `s`, with `sqls`
/// as the stored SQL `sql_id` refers to. The WebSocket side keeps its SQL per socket rather than
/// per stream, so it lends its store to the stream for the request.
pub(crate) async fn run_request(service: &DatabaseService, s: &mut Stream, sqls: &mut HashMap<i64, String>, raw: Json) -> Result<Json, DbError> {
    std::mem::swap(&mut s.sqls, sqls);
    let out = match parse_request(raw) {
        Ok(r) => handle(service, s, r).await,
        Err(e) => Err(e),
    };
    std::mem::swap(&mut s.sqls, sqls);
    out
}

impl Streams {
    /// Returns how many streams are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Returns whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops streams idle for longer than [`STREAM_IDLE_TIMEOUT`]; their transactions roll back.
    pub fn sweep(&self, now: Instant) {
        let expired: Vec<Entry> = {
            let mut map = self.lock();
            let keys: Vec<String> = map
                .iter()
                .filter(|(_, e)| now.duration_since(e.last_used) > STREAM_IDLE_TIMEOUT && e.stream.try_lock().is_ok())
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        // Dropped outside the map lock: dropping a connection may run a ROLLBACK.
        drop(expired);
    }

    /// Drops every stream (shutdown).
    pub fn clear(&self) {
        let all: Vec<Entry> = self.lock().drain().map(|(_, e)| e).collect();
        drop(all);
    }

    /// Starts a task that sweeps every few seconds for as long as `streams` is alive.
    pub fn spawn_sweeper(streams: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(streams);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(streams) = weak.upgrade() else { break };
                streams.sweep(Instant::now());
            }
        })
    }
}

/// Runs a pipeline for `target` (the request's adapter and tenant headers; a baton's stream keeps
/// the target it was opened with).
///
/// # Errors
/// An unknown or expired baton, or too many open streams.
pub async fn pipeline(service: &DatabaseService, streams: &Streams, target: Target<'_>, req: PipelineRequest) -> Result<Json, PipelineError> {
    streams.sweep(Instant::now());
    let (baton, stream) = match &req.baton {
        Some(b) => {
            let mut map = streams.lock();
            let entry = map.get_mut(b).ok_or_else(invalid_baton)?;
            entry.last_used = Instant::now();
            (b.clone(), entry.stream.clone())
        }
        None => {
            let s = Stream::new(target);
            (uuid::Uuid::new_v4().simple().to_string(), Arc::new(tokio::sync::Mutex::new(s)))
        }
    };
    // Requests on one baton run one pipeline at a time.
    let mut s = stream.lock().await;
    if s.closed {
        return Err(invalid_baton());
    }
    let mut results = Vec::with_capacity(req.requests.len());
    for raw in req.requests {
        let out = match parse_request(raw) {
            Ok(r) => handle(service, &mut s, r).await,
            Err(e) => Err(e),
        };
        results.push(match out {
            Ok(response) => json!({"type": "ok", "response": response}),
            Err(e) => json!({"type": "error", "error": error_json(&e)}),
        });
    }
    let keep = !s.closed;
    if keep {
        s.release_if_idle().await;
    } else {
        s.conn = None;
    }
    drop(s);
    let baton_out = if keep {
        let mut map = streams.lock();
        if req.baton.is_none() {
            if map.len() >= MAX_STREAMS {
                return Err(PipelineError { code: "TOO_MANY_STREAMS", message: format!("{MAX_STREAMS} streams are open; close streams you no longer need") });
            }
            map.insert(baton.clone(), Entry { stream, last_used: Instant::now() });
        } else if let Some(e) = map.get_mut(&baton) {
            e.last_used = Instant::now();
        }
        Some(baton)
    } else {
        if req.baton.is_some() {
            let removed = streams.lock().remove(&baton);
            drop(removed);
        }
        None
    };
    Ok(json!({"baton": baton_out, "base_url": null, "results": results}))
}

fn invalid_baton() -> PipelineError {
    PipelineError { code: "INVALID_BATON", message: "the baton is unknown, expired or closed; start a new stream without a baton".into() }
}

/// Returns a HRANA error object.
pub fn error_json(e: &DbError) -> Json {
    json!({"message": e.to_string(), "code": e.code()})
}

fn parse_request(raw: Json) -> Result<StreamRequest, DbError> {
    let ty = raw.get("type").and_then(Json::as_str).map(str::to_owned);
    serde_json::from_value(raw).map_err(|e| match ty {
        Some(t) if !REQUEST_TYPES.contains(&t.as_str()) => DbError::Sql { code: "UNKNOWN_REQUEST".into(), message: format!("unknown request type `{}`", t.chars().take(40).collect::<String>()) },
        None => DbError::Sql { code: "INVALID_REQUEST".into(), message: "a stream request needs a `type`".into() },
        Some(t) => DbError::Sql { code: "INVALID_REQUEST".into(), message: format!("invalid `{t}` request: {e}") },
    })
}

async fn conn<'s>(service: &DatabaseService, s: &'s mut Stream) -> Result<&'s mut Box<dyn Connection>, DbError> {
    if s.conn.is_none() {
        let target = Target { adapter: s.adapter.as_deref(), tenant: s.tenant.as_deref() };
        s.conn = Some(service.connect(target).await?);
    }
    Ok(s.conn.as_mut().expect("the connection was just set"))
}

fn sql_of(s: &Stream, sql: Option<String>, sql_id: Option<i64>) -> Result<String, DbError> {
    match (sql, sql_id) {
        (Some(sql), None) => Ok(sql),
        (None, Some(id)) => s.sqls.get(&id).cloned().ok_or_else(|| DbError::Sql { code: "SQL_NOT_FOUND".into(), message: format!("no SQL is stored under id {id}") }),
        _ => Err(DbError::Sql { code: "INVALID_REQUEST".into(), message: "give exactly one of `sql` and `sql_id`".into() }),
    }
}

fn statement(s: &Stream, raw: RawStmt) -> Result<Statement, DbError> {
    Ok(Statement {
        sql: sql_of(s, raw.sql, raw.sql_id)?,
        args: raw.args,
        named_args: raw.named_args.into_iter().map(|a| (a.name, a.value)).collect(),
        want_rows: raw.want_rows.unwrap_or(true),
    })
}

async fn handle(service: &DatabaseService, s: &mut Stream, req: StreamRequest) -> Result<Json, DbError> {
    Ok(match req {
        StreamRequest::Close => {
            s.closed = true;
            json!({"type": "close"})
        }
        StreamRequest::Execute { stmt } => {
            let stmt = statement(s, stmt)?;
            let result = conn(service, s).await?.execute(stmt).await?;
            json!({"type": "execute", "result": result})
        }
        StreamRequest::Batch { batch } => json!({"type": "batch", "result": run_batch(service, s, batch).await?}),
        StreamRequest::Sequence { sql, sql_id } => {
            let sql = sql_of(s, sql, sql_id)?;
            conn(service, s).await?.execute_script(sql).await?;
            json!({"type": "sequence"})
        }
        StreamRequest::Describe { sql, sql_id } => {
            let sql = sql_of(s, sql, sql_id)?;
            json!({"type": "describe", "result": conn(service, s).await?.describe(sql).await?})
        }
        StreamRequest::StoreSql { sql_id, sql } => {
            if s.sqls.len() >= MAX_STORED_SQL && !s.sqls.contains_key(&sql_id) {
                return Err(DbError::Sql { code: "SQL_STORE_FULL".into(), message: format!("at most {MAX_STORED_SQL} SQL texts may be stored per stream") });
            }
            s.sqls.insert(sql_id, sql);
            json!({"type": "store_sql"})
        }
        StreamRequest::CloseSql { sql_id } => {
            s.sqls.remove(&sql_id);
            json!({"type": "close_sql"})
        }
        StreamRequest::GetAutocommit => {
            // A stream without a pinned connection is outside any transaction.
            let auto = match s.conn.as_mut() {
                Some(c) => c.is_autocommit().await?,
                None => true,
            };
            json!({"type": "get_autocommit", "is_autocommit": auto})
        }
    })
}

async fn run_batch(service: &DatabaseService, s: &mut Stream, batch: RawBatch) -> Result<Json, DbError> {
    let n = batch.steps.len();
    let mut results: Vec<Option<StmtResult>> = Vec::with_capacity(n);
    let mut errors: Vec<Option<Json>> = Vec::with_capacity(n);
    for (i, step) in batch.steps.into_iter().enumerate() {
        let run = match &step.condition {
            None => true,
            Some(c) => eval(c, i, &results, &errors, s.conn.as_mut()).await?,
        };
        if !run {
            results.push(None);
            errors.push(None);
            continue;
        }
        let outcome = match statement(s, step.stmt) {
            Ok(stmt) => match conn(service, s).await {
                Ok(c) => c.execute(stmt).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(r) => {
                results.push(Some(r));
                errors.push(None);
            }
            Err(e) => {
                results.push(None);
                errors.push(Some(error_json(&e)));
            }
        }
    }
    Ok(json!({"step_results": results, "step_errors": errors}))
}

async fn eval(c: &Cond, current: usize, results: &[Option<StmtResult>], errors: &[Option<Json>], mut conn: Option<&mut Box<dyn Connection>>) -> Result<bool, DbError> {
    fn check(step: usize, current: usize) -> Result<(), DbError> {
        if step >= current {
            return Err(DbError::Sql { code: "INVALID_BATCH".into(), message: format!("a condition of step {current} refers to step {step}, which has not run yet") });
        }
        Ok(())
    }
    Ok(match c {
        Cond::Ok { step } => {
            check(*step, current)?;
            results[*step].is_some()
        }
        Cond::Error { step } => {
            check(*step, current)?;
            errors[*step].is_some()
        }
        Cond::Not { cond } => !Box::pin(eval(cond, current, results, errors, conn)).await?,
        Cond::And { conds } => {
            for c in conds {
                if !Box::pin(eval(c, current, results, errors, conn.as_deref_mut())).await? {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Or { conds } => {
            for c in conds {
                if Box::pin(eval(c, current, results, errors, conn.as_deref_mut())).await? {
                    return Ok(true);
                }
            }
            false
        }
        Cond::IsAutocommit => match conn {
            Some(c) => c.is_autocommit().await?,
            None => true,
        },
    })
}
