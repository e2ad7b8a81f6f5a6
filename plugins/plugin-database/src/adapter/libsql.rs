//! The libSQL adapter: a remote sqld (libSQL server) over HRANA-over-HTTP, with read replicas; the
//! root is sqld's `default` namespace and each tenant is a namespace of its own, created and
//! dropped through sqld's admin API.
//!
//! A connection holds no server stream between statements unless a transaction is open: each
//! statement is one pipeline (`execute` + `close`), so reads can go round-robin to the replicas.
//! A statement that opens a transaction (`BEGIN`, `SAVEPOINT`) keeps its stream, on the primary,
//! until the server reports autocommit again.
//!
//! Reads see this runtime's own writes: the adapter remembers, per namespace, the highest
//! replication index the primary reported for them, and a replica answer from before it is
//! thrown away and the read redone on the primary (kept only if the primary is unreachable).

mod client;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::StatusCode;
use serde_json::{Value as Json, json};

use self::client::{HranaClient, Target, execute_response, stmt_json};
use super::sql::{self as lexer, Dialect};
use super::{Adapter, ColumnInfo, Connection, TableInfo};
use crate::error::DbError;
use crate::tenant::TenantId;
use crate::value::{Describe, DescribeCol, DescribeParam, Statement, StmtResult, Value};

/// The root database's namespace unless the adapter's `namespace` says otherwise: the one sqld
/// serves to clients that name none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The root table that lists the tenants this adapter created (sqld's admin API cannot list
/// namespaces); hidden from the studio's table list.
pub const REGISTRY_TABLE: &str = "_buntime_namespaces";

/// What the adapter needs to reach its servers.
#[derive(Debug, Clone)]
pub struct LibsqlOptions {
    /// The primary's URL first, then read replicas'.
    pub urls: Vec<String>,
    /// Sent as `Authorization: Bearer …` to every server and the admin API.
    pub auth_token: Option<String>,
    /// sqld's admin API (`--admin-listen-addr`); the primary's URL when unset.
    pub admin_url: Option<String>,
    /// The root database's namespace.
    pub namespace: String,
    /// Tenants remembered as existing before the cache starts over.
    pub max_tenants: usize,
}

/// What the adapter and its connections share.
#[derive(Debug)]
struct Servers {
    client: HranaClient,
    primary: reqwest::Url,
    replicas: Vec<reqwest::Url>,
    next_replica: AtomicUsize,
    /// Per namespace, the primary's replication index after the latest write made through here.
    written: Mutex<HashMap<String, u64>>,
}

impl Servers {
    /// Records what the primary reported after running something in `namespace`.
    fn wrote(&self, namespace: &str, response: &Json) {
        if let Some(index) = replication_index(response) {
            let mut written = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let at = written.entry(namespace.to_owned()).or_insert(0);
            *at = (*at).max(index);
        }
    }

    /// Whether a replica's answer in `namespace` already includes every write made through here.
    fn is_fresh(&self, namespace: &str, response: &Json) -> bool {
        let written = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match written.get(namespace) {
            None => true,
            Some(&needed) => replication_index(response).is_some_and(|seen| seen >= needed),
        }
    }

    /// The next replica in turn, if there are any.
    fn replica(&self) -> Option<&reqwest::Url> {
        if self.replicas.is_empty() {
            return None;
        }
        let i = self.next_replica.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
        self.replicas.get(i)
    }
}

/// The libSQL adapter.
#[derive(Debug)]
pub struct LibsqlAdapter {
    servers: Arc<Servers>,
    admin: reqwest::Url,
    namespace: String,
    max_tenants: usize,
    /// Tenant namespaces seen to exist, so a checkout does not ask the admin API every time.
    known: Mutex<HashSet<TenantId>>,
}

/// Parses one server URL of the adapter (`http(s)://host:port`, a path prefix allowed).
///
/// # Errors
/// Why the URL is not usable, with an example.
pub fn parse_url(url: &str) -> Result<reqwest::Url, String> {
    if url.starts_with("file:") {
        return Err(format!("`{url}` is a local file: use the `sqlite` adapter for files; `libsql` talks to a sqld server such as http://127.0.0.1:8080"));
    }
    // `libsql://` is what Turso and the libSQL clients call their HTTPS URLs.
    let url = url.strip_prefix("libsql://").map_or_else(|| url.to_owned(), |rest| format!("https://{rest}"));
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("`{url}` is not a URL ({e}); e.g. http://127.0.0.1:8080"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("`{url}` is not an http(s) URL of a sqld server, e.g. http://127.0.0.1:8080"));
    }
    Ok(parsed)
}

impl LibsqlAdapter {
    /// Builds the adapter; no request is made until first use, so sqld may start after the runtime.
    ///
    /// # Errors
    /// A URL that does not parse, no URL at all, or an auth token a header cannot carry.
    pub fn open(options: &LibsqlOptions) -> Result<Self, DbError> {
        let mut urls = options.urls.iter().map(|u| parse_url(u).map_err(DbError::unavailable));
        let primary = urls.next().ok_or_else(|| DbError::unavailable("the libsql adapter has no server URL"))??;
        let replicas = urls.collect::<Result<Vec<_>, _>>()?;
        let admin = match &options.admin_url {
            Some(u) => parse_url(u).map_err(DbError::unavailable)?,
            None => primary.clone(),
        };
        let client = HranaClient::new(options.auth_token.as_deref()).map_err(DbError::unavailable)?;
        Ok(Self {
            servers: Arc::new(Servers { client, primary, replicas, next_replica: AtomicUsize::new(0), written: Mutex::new(HashMap::new()) }),
            admin,
            namespace: options.namespace.clone(),
            max_tenants: options.max_tenants,
            known: Mutex::new(HashSet::new()),
        })
    }

    /// The primary's URL and the replicas', for the start-up log.
    pub fn describe(&self) -> String {
        let mut s = format!("primary {}", self.servers.primary);
        if !self.servers.replicas.is_empty() {
            let replicas: Vec<_> = self.servers.replicas.iter().map(reqwest::Url::as_str).collect();
            s.push_str(&format!(", replicas {}", replicas.join(" ")));
        }
        s
    }

    /// The namespace that holds `tenant`, or why it cannot have one.
    fn namespace_of<'a>(&'a self, tenant: Option<&'a TenantId>) -> Result<&'a str, DbError> {
        match tenant {
            None => Ok(&self.namespace),
            Some(t) if t.as_str() == self.namespace => Err(DbError::BadRequest(format!(
                "tenant id `{t}` is the libsql adapter's root namespace; choose another tenant id (or set the adapter's `namespace`)"
            ))),
            Some(t) => Ok(t.as_str()),
        }
    }

    fn remember(&self, tenant: &TenantId, exists: bool) {
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !exists {
            known.remove(tenant);
            return;
        }
        if known.len() >= self.max_tenants {
            known.clear();
        }
        known.insert(tenant.clone());
    }

    /// Calls the admin API, turning "there is no admin API here" into advice.
    async fn admin(&self, method: reqwest::Method, path: &str) -> Result<(StatusCode, String), DbError> {
        let (status, body) = self.servers.client.admin(method, &self.admin, path).await?;
        // sqld's client port answers its admin paths with an empty 404 (or 405).
        if matches!(status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) && body.trim().is_empty() {
            return Err(DbError::unavailable(format!(
                "no sqld admin API at {} ({status}): set the libsql adapter's `adminUrl` to sqld's --admin-listen-addr (and start sqld with --enable-namespaces)",
                self.admin
            )));
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(DbError::unavailable(format!("sqld's admin API at {} refused the credentials ({status}); set the adapter's `authToken`", self.admin)));
        }
        Ok((status, body))
    }

    /// Runs one statement on the root database.
    async fn root_exec(&self, stmt: Statement) -> Result<StmtResult, DbError> {
        let mut conn = self.connect(None).await?;
        conn.execute(stmt).await
    }

    async fn ensure_registry(&self) -> Result<(), DbError> {
        let sql = format!("CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL DEFAULT (unixepoch()))");
        self.root_exec(Statement::new(sql)).await.map(drop)
    }
}

#[async_trait]
impl Adapter for LibsqlAdapter {
    fn kind(&self) -> &'static str {
        "libsql"
    }

    async fn connect(&self, tenant: Option<&TenantId>) -> Result<Box<dyn Connection>, DbError> {
        let namespace = self.namespace_of(tenant)?.to_owned();
        Ok(Box::new(LibsqlConnection { servers: self.servers.clone(), namespace, tenant: tenant.map(ToString::to_string), stream: None }))
    }

    async fn list_tenants(&self) -> Result<Vec<String>, DbError> {
        self.ensure_registry().await?;
        let res = self.root_exec(Statement::new(format!("SELECT name FROM {REGISTRY_TABLE} ORDER BY name"))).await?;
        Ok(res
            .rows
            .into_iter()
            .filter_map(|row| match row.into_iter().next() {
                Some(Value::Text(name)) => Some(name),
                _ => None,
            })
            .collect())
    }

    async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, DbError> {
        let namespace = self.namespace_of(Some(tenant))?;
        if self.known.lock().is_ok_and(|k| k.contains(tenant)) {
            return Ok(true);
        }
        let (status, body) = self.admin(reqwest::Method::GET, &format!("v1/namespaces/{namespace}/config")).await?;
        let exists = match status {
            s if s.is_success() => true,
            StatusCode::NOT_FOUND => false,
            s => return Err(DbError::unavailable(format!("sqld's admin API at {} answered {s}: {body}", self.admin))),
        };
        self.remember(tenant, exists);
        Ok(exists)
    }

    async fn create_tenant(&self, tenant: &TenantId) -> Result<bool, DbError> {
        let namespace = self.namespace_of(Some(tenant))?.to_owned();
        self.ensure_registry().await?;
        let (status, body) = self.admin(reqwest::Method::POST, &format!("v1/namespaces/{namespace}/create")).await?;
        let created = match status {
            s if s.is_success() => true,
            // Another replica of the runtime (or the operator) was first.
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT if body.contains("already exists") => false,
            s => return Err(DbError::unavailable(format!("sqld could not create namespace `{namespace}` ({s}): {body}"))),
        };
        let register = format!("INSERT INTO {REGISTRY_TABLE} (name) VALUES (?1) ON CONFLICT (name) DO NOTHING");
        self.root_exec(Statement::with_args(register, [Value::from(namespace.as_str())])).await?;
        self.remember(tenant, true);
        Ok(created)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), DbError> {
        let namespace = self.namespace_of(Some(tenant))?.to_owned();
        self.remember(tenant, false);
        let (status, body) = self.admin(reqwest::Method::DELETE, &format!("v1/namespaces/{namespace}")).await?;
        let result = match status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(DbError::TenantNotFound(tenant.to_string())),
            s => return Err(DbError::unavailable(format!("sqld could not delete namespace `{namespace}` ({s}): {body}"))),
        };
        // Gone either way: keep the list true to the server.
        self.ensure_registry().await?;
        self.root_exec(Statement::with_args(format!("DELETE FROM {REGISTRY_TABLE} WHERE name = ?1"), [Value::from(namespace.as_str())])).await?;
        result
    }

    async fn list_tables(&self, conn: &mut dyn Connection) -> Result<Vec<TableInfo>, DbError> {
        let sql = format!(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE 'libsql_%' AND name <> '{REGISTRY_TABLE}' ORDER BY name"
        );
        Ok(super::tables_from(conn.execute(Statement::new(sql)).await?))
    }

    async fn table_columns(&self, conn: &mut dyn Connection, table: &str) -> Result<Vec<ColumnInfo>, DbError> {
        // `NOT "notnull"`: the catalog helper reads a nullable flag.
        let stmt = Statement::with_args(r#"SELECT name, type, NOT "notnull", pk > 0 FROM pragma_table_info(?1)"#, [Value::from(table)]);
        super::columns_from(conn.execute(stmt).await?, table)
    }

    fn quote_ident(&self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    async fn close(&self) {
        // Nothing is held between requests; reqwest's idle connections close with the client.
    }
}

/// A server stream kept open because a transaction is.
#[derive(Debug)]
struct Stream {
    target: Target,
    baton: String,
}

/// A connection to one namespace: a stream on the primary only while a transaction is open.
#[derive(Debug)]
pub struct LibsqlConnection {
    servers: Arc<Servers>,
    namespace: String,
    tenant: Option<String>,
    stream: Option<Stream>,
}

/// Whether a statement may run on a read replica: a plain query. Anything else (and anything a
/// replica would hand to the primary anyway) goes to the primary.
fn is_read(sql: &str) -> bool {
    // SQLite's quoting is PostgreSQL's plus `[…]` and backticks, which cannot come before the verb.
    matches!(lexer::verb(sql, Dialect::Postgres).as_str(), "SELECT" | "VALUES" | "EXPLAIN")
}

/// Whether a statement opens a transaction, so its stream must be kept.
fn opens_transaction(sql: &str) -> bool {
    matches!(lexer::verb(sql, Dialect::Postgres).as_str(), "BEGIN" | "SAVEPOINT")
}

impl LibsqlConnection {
    fn target(&self, base: &reqwest::Url) -> Target {
        Target::new(base.clone(), &self.namespace, self.tenant.clone())
    }

    /// Runs `request` on the open stream, or on a new one on the primary, asking for the
    /// autocommit state after it; keeps the stream iff a transaction is open afterwards.
    async fn on_stream(&mut self, request: Json) -> Result<Json, DbError> {
        let (target, baton) = match self.stream.take() {
            Some(s) => (s.target, Some(s.baton)),
            None => (self.target(&self.servers.primary), None),
        };
        let answer = self.servers.client.pipeline(&target, baton.as_deref(), vec![request, json!({"type": "get_autocommit"})]).await?;
        let mut results = answer.results.into_iter();
        let response = results.next().unwrap_or_else(|| Err(DbError::unavailable("libSQL server sent no result")));
        if let Ok(r) = &response {
            self.servers.wrote(&self.namespace, r);
        }
        let autocommit = match results.next() {
            Some(Ok(r)) => r.get("is_autocommit").and_then(Json::as_bool).unwrap_or(true),
            _ => true,
        };
        if let Some(baton) = answer.baton {
            let target = answer.base_url.as_deref().map_or_else(|| target.clone(), |u| target.moved_to(u));
            let stream = Stream { target, baton };
            if autocommit {
                close_later(self.servers.clone(), stream);
            } else {
                self.stream = Some(stream);
            }
        }
        response
    }

    /// Runs `request` alone on a new stream on `base`, closing it in the same pipeline.
    async fn once(&self, base: &reqwest::Url, request: Json) -> Result<Json, DbError> {
        let target = self.target(base);
        let answer = self.servers.client.pipeline(&target, None, vec![request, json!({"type": "close"})]).await?;
        answer.results.into_iter().next().unwrap_or_else(|| Err(DbError::unavailable("libSQL server sent no result")))
    }

    /// Runs a request alone on the primary, recording the replication index it reports.
    async fn on_primary(&self, request: Json) -> Result<Json, DbError> {
        let primary = self.servers.primary.clone();
        let response = self.once(&primary, request).await;
        if let Ok(r) = &response {
            self.servers.wrote(&self.namespace, r);
        }
        response
    }

    /// Runs a request outside any transaction: reads on the next replica (the primary if that
    /// replica is down, does not have the namespace yet, or is behind this runtime's writes), the
    /// rest on the primary.
    async fn run(&mut self, request: Json, read: bool) -> Result<Json, DbError> {
        if self.stream.is_some() {
            return self.on_stream(request).await;
        }
        let mut behind = None;
        if read && let Some(replica) = self.servers.replica().cloned() {
            match self.once(&replica, request.clone()).await {
                Ok(r) if self.servers.is_fresh(&self.namespace, &r) => return Ok(r),
                Ok(r) => {
                    tracing::debug!(%replica, "libSQL replica is behind this runtime's writes; reading from the primary");
                    behind = Some((replica, r));
                }
                Err(DbError::Unavailable(why)) => tracing::warn!(%replica, %why, "libSQL replica failed; reading from the primary"),
                // Any other refusal is asked again of the primary: a replica that has not yet seen
                // a namespace or a table created would otherwise report it missing.
                Err(_) => {}
            }
        }
        match (self.on_primary(request).await, behind) {
            // With the primary down, an answer that may miss the latest writes beats no answer:
            // replicas are there to keep reads going.
            (Err(DbError::Unavailable(why)), Some((replica, stale))) => {
                tracing::warn!(%replica, %why, "libSQL primary unreachable; answering a read from a replica that may not have the latest writes");
                Ok(stale)
            }
            (answer, _) => answer,
        }
    }
}

/// Closes a stream in the background (rolling back whatever it has open).
fn close_later(servers: Arc<Servers>, stream: Stream) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = servers.client.pipeline(&stream.target, Some(&stream.baton), vec![json!({"type": "close"})]).await;
        });
    }
}

impl Drop for LibsqlConnection {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            close_later(self.servers.clone(), stream);
        }
    }
}

#[async_trait]
impl Connection for LibsqlConnection {
    async fn execute(&mut self, stmt: Statement) -> Result<StmtResult, DbError> {
        let request = json!({"type": "execute", "stmt": stmt_json(&stmt)});
        let response = if opens_transaction(&stmt.sql) {
            self.on_stream(request).await?
        } else {
            let read = is_read(&stmt.sql);
            self.run(request, read).await?
        };
        execute_response(response)
    }

    async fn execute_script(&mut self, sql: String) -> Result<(), DbError> {
        // A script may open a transaction it leaves to later statements.
        self.on_stream(json!({"type": "sequence", "sql": sql})).await.map(drop)
    }

    async fn describe(&mut self, sql: String) -> Result<Describe, DbError> {
        let mut response = self.run(json!({"type": "describe", "sql": sql}), false).await?;
        read_describe(response.get_mut("result").map(Json::take).unwrap_or_default())
    }

    async fn is_autocommit(&mut self) -> Result<bool, DbError> {
        Ok(self.stream.is_none())
    }

    fn begin_statement(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }

    /// One pipeline, one `batch` on the primary: `BEGIN IMMEDIATE`, each statement if the one
    /// before succeeded, `COMMIT` if the last did, and `ROLLBACK` unless `COMMIT` succeeded.
    async fn transaction(&mut self, stmts: Vec<Statement>) -> Result<Vec<StmtResult>, (usize, DbError)> {
        if self.stream.is_some() {
            // Inside a transaction already: run them in it (a savepoint would be the caller's call).
            let mut out = Vec::with_capacity(stmts.len());
            for (i, stmt) in stmts.into_iter().enumerate() {
                out.push(self.execute(stmt).await.map_err(|e| (i, e))?);
            }
            return Ok(out);
        }
        let n = stmts.len();
        let mut steps = vec![json!({"stmt": {"sql": "BEGIN IMMEDIATE"}})];
        for (i, stmt) in stmts.iter().enumerate() {
            steps.push(json!({"stmt": stmt_json(stmt), "condition": {"type": "ok", "step": i}}));
        }
        steps.push(json!({"stmt": {"sql": "COMMIT"}, "condition": {"type": "ok", "step": n}}));
        steps.push(json!({"stmt": {"sql": "ROLLBACK"}, "condition": {"type": "not", "cond": {"type": "ok", "step": n + 1}}}));
        let mut response = self.on_primary(json!({"type": "batch", "batch": {"steps": steps}})).await.map_err(|e| (0, e))?;
        let result = response.get_mut("result").map(Json::take).unwrap_or_default();
        let step_error = |i: usize| {
            result.get("step_errors").and_then(|e| e.get(i)).filter(|e| !e.is_null()).map(|e| DbError::Sql {
                code: e.get("code").and_then(Json::as_str).unwrap_or("SQLITE_ERROR").to_owned(),
                message: e.get("message").and_then(Json::as_str).unwrap_or("the statement failed").to_owned(),
            })
        };
        if let Some(e) = step_error(0) {
            return Err((0, e));
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if let Some(e) = step_error(i + 1) {
                return Err((i, e));
            }
            let r = result.get("step_results").and_then(|r| r.get(i + 1)).cloned().unwrap_or_default();
            out.push(client::stmt_result(r).map_err(|e| (i, e))?);
        }
        if let Some(e) = step_error(n + 1) {
            return Err((n, e));
        }
        Ok(out)
    }
}

/// The replication index a server reported in an `execute` or `batch` response (the highest of
/// a batch's steps).
fn replication_index(response: &Json) -> Option<u64> {
    let index = |r: &Json| match r.get("replication_index") {
        Some(Json::String(s)) => s.parse::<u64>().ok(),
        Some(Json::Number(n)) => n.as_u64(),
        _ => None,
    };
    let result = response.get("result")?;
    let steps = result.get("step_results").and_then(Json::as_array).into_iter().flatten().filter_map(index);
    index(result).into_iter().chain(steps).max()
}

/// Reads a HRANA `DescribeResult`.
fn read_describe(result: Json) -> Result<Describe, DbError> {
    if !result.is_object() {
        return Err(DbError::unavailable("libSQL server answered a describe with another kind of response"));
    }
    let text = |v: &Json, key: &str| v.get(key).and_then(Json::as_str).map(str::to_owned);
    let list = |key: &str| result.get(key).and_then(Json::as_array).cloned().unwrap_or_default();
    Ok(Describe {
        params: list("params").iter().map(|p| DescribeParam { name: text(p, "name") }).collect(),
        cols: list("cols").iter().map(|c| DescribeCol { name: text(c, "name").unwrap_or_default(), decltype: text(c, "decltype") }).collect(),
        is_explain: result.get("is_explain").and_then(Json::as_bool).unwrap_or(false),
        is_readonly: result.get("is_readonly").and_then(Json::as_bool).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_queries_go_to_replicas() {
        assert!(is_read("select 1") && is_read("  -- why\n WITH x AS (SELECT 1) SELECT * FROM x") && is_read("EXPLAIN QUERY PLAN SELECT 1"));
        assert!(!is_read("INSERT INTO t VALUES (1)") && !is_read("PRAGMA user_version = 3") && !is_read("WITH x AS (SELECT 1) DELETE FROM t"));
        assert!(opens_transaction("begin immediate") && opens_transaction("SAVEPOINT a") && !opens_transaction("COMMIT"));
    }

    #[test]
    fn replication_indexes_are_read_from_results_and_batches() {
        assert_eq!(replication_index(&json!({"type": "execute", "result": {"replication_index": "7"}})), Some(7));
        assert_eq!(replication_index(&json!({"type": "batch", "result": {"step_results": [{"replication_index": 3}, null, {"replication_index": "9"}]}})), Some(9));
        assert_eq!(replication_index(&json!({"type": "execute", "result": {"replication_index": null}})), None);
    }

    #[test]
    fn urls_are_http_servers() {
        assert_eq!(parse_url("libsql://db.example.turso.io").unwrap().as_str(), "https://db.example.turso.io/");
        assert!(parse_url("file:./x.db").unwrap_err().contains("use the `sqlite` adapter"));
        assert!(parse_url("postgres://h/db").unwrap_err().contains("not an http(s) URL"));
        assert!(parse_url("http://127.0.0.1:8080/prefix").is_ok());
    }

    #[test]
    fn the_root_namespace_is_not_a_tenant() {
        let a = LibsqlAdapter::open(&LibsqlOptions {
            urls: vec!["http://127.0.0.1:9".into()],
            auth_token: None,
            admin_url: None,
            namespace: DEFAULT_NAMESPACE.into(),
            max_tenants: 10,
        })
        .unwrap();
        let t = TenantId::parse("default").unwrap();
        assert!(matches!(a.namespace_of(Some(&t)), Err(DbError::BadRequest(m)) if m.contains("root namespace")));
        assert_eq!(a.namespace_of(None).unwrap(), "default");
    }
}
