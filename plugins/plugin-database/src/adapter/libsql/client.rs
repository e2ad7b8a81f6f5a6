//! A HRANA-over-HTTP client (protocol version 3, JSON): one `POST {base}/v3/pipeline` per call,
//! with the stream's baton threaded through and the namespace named in `x-namespace-bin`, and
//! sqld's admin API for namespaces.

use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::error::DbError;
use crate::value::{Column, Statement, StmtResult, Value};

/// How long a libSQL server may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one pipeline (or admin call) may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The header sqld reads the namespace from (base64, unpadded), before it looks at `Host`.
///
/// A header rather than the `{namespace}.{host}` subdomain the original used: it needs no
/// wildcard DNS, and works on IP addresses (`Host: 127.0.0.1` would name the namespace `127`).
/// A sqld without `--enable-namespaces` ignores it.
const NAMESPACE_HEADER: &str = "x-namespace-bin";

/// Where a pipeline goes: a server's base URL and the sqld namespace.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The base URL (`http://sqld:8080`, or a path prefix such as `http://host/database/api`).
    pub base: reqwest::Url,
    /// The namespace, already encoded for [`NAMESPACE_HEADER`].
    pub namespace: HeaderValue,
    /// The tenant this target is for, so "namespace does not exist" names it.
    pub tenant: Option<String>,
}

impl Target {
    /// Addresses `namespace` on the server at `base`.
    pub(super) fn new(base: reqwest::Url, namespace: &str, tenant: Option<String>) -> Self {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(namespace);
        // Base64 is always a valid header value.
        let namespace = HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""));
        Self { base, namespace, tenant }
    }

    /// The same server addressed by `base_url`, a server's hint of where the stream lives.
    pub(super) fn moved_to(&self, base_url: &str) -> Self {
        match reqwest::Url::parse(base_url) {
            Ok(base) => Self { base, ..self.clone() },
            Err(_) => self.clone(),
        }
    }
}

/// What one pipeline answered: the baton continuing the stream, and a result per request.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// The baton to send with the next pipeline of this stream; `None` once it is closed.
    pub baton: Option<String>,
    /// Where the next pipeline of this stream should go, when the server says.
    pub base_url: Option<String>,
    /// Each request's response (`{"type":"execute","result":…}`) or error.
    pub results: Vec<Result<Json, DbError>>,
}

#[derive(Deserialize)]
struct RawPipeline {
    #[serde(default)]
    baton: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    results: Vec<RawResult>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawResult {
    Ok { response: Json },
    Error { error: RawError },
}

#[derive(Deserialize)]
struct RawError {
    message: String,
    #[serde(default)]
    code: Option<String>,
}

/// The HTTP side: one connection pool shared by the primary, the replicas and the admin API.
#[derive(Debug, Clone)]
pub(crate) struct HranaClient {
    http: reqwest::Client,
    auth: Option<HeaderValue>,
}

impl HranaClient {
    /// Builds the client; `auth_token` is sent as `Authorization: Bearer …`.
    ///
    /// # Errors
    /// A token that is not a valid header value, or a TLS set-up failure.
    pub(super) fn new(auth_token: Option<&str>) -> Result<Self, String> {
        let auth = auth_token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| "the auth token has characters a header cannot carry".to_owned()))
            .transpose()?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { http, auth })
    }

    /// Runs `requests` on the stream `baton` (a new stream when `None`).
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when the server cannot be reached or answers 5xx;
    /// [`DbError::TenantNotFound`] for a namespace it does not have; [`DbError::Sql`] with code
    /// `LIBSQL_HTTP_<status>` for its other refusals (an expired baton, bad credentials).
    pub(super) async fn pipeline(&self, target: &Target, baton: Option<&str>, requests: Vec<Json>) -> Result<Pipeline, DbError> {
        let url = endpoint(&target.base, "v3/pipeline");
        let body = json!({ "baton": baton, "requests": requests });
        let mut req = self.http.post(url).json(&body).header(NAMESPACE_HEADER, target.namespace.clone());
        if let Some(auth) = &self.auth {
            req = req.header(header::AUTHORIZATION, auth.clone());
        }
        let res = req.send().await.map_err(|e| unreachable(&target.base, &e))?;
        let status = res.status();
        let text = res.text().await.map_err(|e| unreachable(&target.base, &e))?;
        if !status.is_success() {
            return Err(refusal(target, status, &text));
        }
        let raw: RawPipeline = serde_json::from_str(&text)
            .map_err(|e| DbError::unavailable(format!("libSQL server {} sent a pipeline answer that is not HRANA JSON ({e})", target.base)))?;
        let results = raw
            .results
            .into_iter()
            .map(|r| match r {
                RawResult::Ok { response } => Ok(response),
                RawResult::Error { error } => Err(DbError::Sql { code: error.code.unwrap_or_else(|| "SQLITE_ERROR".into()), message: error.message }),
            })
            .collect();
        Ok(Pipeline { baton: raw.baton, base_url: raw.base_url, results })
    }

    /// Calls sqld's admin API (`/v1/namespaces/…`); returns the status and body.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when the admin API cannot be reached.
    pub(super) async fn admin(&self, method: reqwest::Method, admin: &reqwest::Url, path: &str) -> Result<(StatusCode, String), DbError> {
        let mut req = self.http.request(method, endpoint(admin, path));
        if let Some(auth) = &self.auth {
            req = req.header(header::AUTHORIZATION, auth.clone());
        }
        let req = req.header(header::CONTENT_TYPE, "application/json").body("{}");
        let res = req.send().await.map_err(|e| unreachable(admin, &e))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        Ok((status, text))
    }
}

/// `{base}/{path}`, keeping a path prefix of `base`.
fn endpoint(base: &reqwest::Url, path: &str) -> reqwest::Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

fn unreachable(base: &reqwest::Url, e: &reqwest::Error) -> DbError {
    let why = if e.is_timeout() { "timed out".to_owned() } else { std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string()) };
    DbError::unavailable(format!("libSQL server {base} unreachable: {why}"))
}

/// Reads sqld's `{"error": "…"}` answer to a refused pipeline.
fn refusal(target: &Target, status: StatusCode, body: &str) -> DbError {
    let message = serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|j| j.get("error").and_then(Json::as_str).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    if status == StatusCode::NOT_FOUND
        && let Some(tenant) = &target.tenant
        && message.contains("amespace")
    {
        return DbError::TenantNotFound(tenant.clone());
    }
    if status.is_server_error() {
        return DbError::unavailable(format!("libSQL server {} answered {status}: {message}", target.base));
    }
    let hint = if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        " (set the adapter's `authToken` or DATABASE_LIBSQL_AUTH_TOKEN)"
    } else {
        ""
    };
    DbError::Sql { code: format!("LIBSQL_HTTP_{}", status.as_u16()), message: format!("libSQL server answered {status}: {message}{hint}") }
}

/// A statement as a HRANA `stmt` object.
pub(crate) fn stmt_json(stmt: &Statement) -> Json {
    let named: Vec<Json> = stmt.named_args.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect();
    json!({ "sql": stmt.sql, "args": stmt.args, "named_args": named, "want_rows": stmt.want_rows })
}

#[derive(Deserialize)]
struct RawColumn {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    decltype: Option<String>,
}

#[derive(Deserialize)]
struct RawStmtResult {
    #[serde(default)]
    cols: Vec<RawColumn>,
    #[serde(default)]
    rows: Vec<Vec<Value>>,
    #[serde(default)]
    affected_row_count: u64,
    #[serde(default)]
    last_insert_rowid: Option<Json>,
    #[serde(default)]
    rows_read: Option<u64>,
    #[serde(default)]
    rows_written: Option<u64>,
    #[serde(default)]
    query_duration_ms: Option<f64>,
}

/// Reads a HRANA `StmtResult` object.
///
/// # Errors
/// [`DbError::Unavailable`] when it is not one.
pub(crate) fn stmt_result(result: Json) -> Result<StmtResult, DbError> {
    let raw: RawStmtResult = serde_json::from_value(result).map_err(|e| DbError::unavailable(format!("libSQL server sent a statement result that is not HRANA ({e})")))?;
    let last_insert_rowid = match raw.last_insert_rowid {
        Some(Json::String(s)) => s.parse().ok(),
        Some(Json::Number(n)) => n.as_i64(),
        _ => None,
    };
    let rows_read = raw.rows_read.unwrap_or(raw.rows.len() as u64);
    Ok(StmtResult {
        cols: raw.cols.into_iter().map(|c| Column { name: c.name, decltype: c.decltype }).collect(),
        rows: raw.rows,
        affected_row_count: raw.affected_row_count,
        last_insert_rowid,
        rows_read,
        rows_written: raw.rows_written.unwrap_or(raw.affected_row_count),
        query_duration_ms: raw.query_duration_ms.unwrap_or(0.0),
    })
}

/// Reads the response to an `execute` request.
///
/// # Errors
/// [`DbError::Unavailable`] when it is another kind of response.
pub(crate) fn execute_response(mut response: Json) -> Result<StmtResult, DbError> {
    match response.get_mut("result").map(Json::take) {
        Some(result) if response.get("type").and_then(Json::as_str) == Some("execute") => stmt_result(result),
        _ => Err(DbError::unavailable("libSQL server answered an execute with another kind of response")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_path_prefix() {
        let base = reqwest::Url::parse("http://127.0.0.1:9/database/api/").unwrap();
        assert_eq!(endpoint(&base, "v3/pipeline").as_str(), "http://127.0.0.1:9/database/api/v3/pipeline");
        let base = reqwest::Url::parse("http://sqld:8080").unwrap();
        assert_eq!(endpoint(&base, "v1/namespaces/a/create").as_str(), "http://sqld:8080/v1/namespaces/a/create");
    }

    #[test]
    fn statement_results_read_hrana_json() {
        let r = execute_response(json!({"type": "execute", "result": {
            "cols": [{"name": "n", "decltype": "INTEGER"}], "rows": [[{"type": "integer", "value": "7"}]],
            "affected_row_count": 0, "last_insert_rowid": "12", "replication_index": "3"
        }}))
        .unwrap();
        assert_eq!(r.rows, vec![vec![Value::Integer(7)]]);
        assert_eq!((r.last_insert_rowid, r.rows_read), (Some(12), 1));
        assert!(execute_response(json!({"type": "close"})).is_err());
    }

    #[test]
    fn refusals_name_the_tenant_or_the_status() {
        let target = Target::new(reqwest::Url::parse("http://sqld:8080").unwrap(), "acme", Some("acme".into()));
        assert_eq!(target.namespace, "YWNtZQ");
        let e = refusal(&target, StatusCode::NOT_FOUND, r#"{"error":"Namespace `acme` doesn't exist"}"#);
        assert!(matches!(e, DbError::TenantNotFound(ref t) if t == "acme"), "{e:?}");
        let e = refusal(&target, StatusCode::UNAUTHORIZED, r#"{"error":"Unauthorized"}"#);
        assert!(e.to_string().contains("authToken") && e.code() == "LIBSQL_HTTP_401", "{e}");
        assert!(matches!(refusal(&target, StatusCode::BAD_GATEWAY, "down"), DbError::Unavailable(_)));
    }
}
