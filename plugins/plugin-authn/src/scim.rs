//! SCIM 2.0 provisioning (RFC 7643/7644) under `/auth/api/scim/v2`: bearer-token checks, the
//! request dispatcher Bulk reuses, list parameters, and the error envelope.

pub mod bulk;
pub mod discovery;
pub mod filter;
pub mod groups;
pub mod projection;
pub mod tokens;
pub mod users;
pub mod version;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::any;
use buntime_core::Response;
use buntime_plugin_database::DbError;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use serde_json::{Value, json};

use crate::Authn;

/// The error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The list answer schema.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The media type of every answer.
pub const SCIM_JSON: &str = "application/scim+json";
/// The largest request body read (also Bulk's advertised `maxPayloadSize`).
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// One SCIM answer, before it becomes an HTTP response (Bulk embeds it instead).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body, when there is one (not for 204).
    pub body: Option<Value>,
    /// The resource's URL, for creations.
    pub location: Option<String>,
}

impl Reply {
    /// An answer with a body.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            location: None,
        }
    }

    /// A 201 with the created resource and its location.
    pub fn created(body: Value) -> Self {
        let location = body["meta"]["location"].as_str().map(str::to_owned);
        Self {
            status: StatusCode::CREATED,
            body: Some(body),
            location,
        }
    }

    /// A 204.
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            location: None,
        }
    }

    /// The SCIM error envelope.
    pub fn error(status: StatusCode, scim_type: Option<&str>, detail: impl Into<String>) -> Self {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": detail.into(),
        });
        if let Some(t) = scim_type {
            body["scimType"] = t.into();
        }
        Self::json(status, body)
    }

    /// 400 `invalidValue`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    /// 404 for a resource id.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::error(
            StatusCode::NOT_FOUND,
            None,
            format!("{kind} `{id}` not found"),
        )
    }

    /// 500 for a database failure (logged; the detail does not leak SQL).
    pub fn db(st: &Authn, e: &DbError) -> Self {
        st.logger.error(format!("SCIM: database error: {e}"));
        Self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "the database failed; nothing was changed",
        )
    }

    /// The version of the one resource this answers with, if it is one (sent as `ETag`).
    pub fn etag(&self) -> Option<&str> {
        let body = self.body.as_ref().filter(|b| b.get("Resources").is_none())?;
        body.get("meta")?.get("version")?.as_str()
    }

    fn into_response(self) -> Response {
        let etag = self.etag().and_then(|e| http::HeaderValue::from_str(e).ok());
        // A 304 carries the version but no body.
        let body = self.body.as_ref().filter(|_| self.status != StatusCode::NOT_MODIFIED);
        let mut res = match body {
            Some(b) => axum::response::IntoResponse::into_response((self.status, b.to_string())),
            None => axum::response::IntoResponse::into_response(self.status),
        };
        if let Some(e) = etag {
            res.headers_mut().insert(header::ETAG, e);
        }
        if body.is_some() {
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(SCIM_JSON),
            );
        }
        if let Some(l) = self
            .location
            .and_then(|l| http::HeaderValue::from_str(&l).ok())
        {
            res.headers_mut().insert(header::LOCATION, l);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        res
    }
}

/// Returns the public URL of the SCIM root (`<first trusted origin><base>/api/scim/v2`).
pub fn base_url(st: &Authn) -> String {
    let origin = st
        .config
        .trusted_origins
        .first()
        .map_or("http://localhost:8000", String::as_str);
    format!("{origin}{}/api/scim/v2", st.config.base)
}

/// Formats Unix milliseconds as RFC 3339 (what `meta.created` carries).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The list parameters of a `GET /Users` or `/Groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The filter, when given.
    pub filter: Option<String>,
    /// 1-based index of the first resource.
    pub start_index: u64,
    /// How many resources at most (capped at `maxResults`).
    pub count: u64,
    /// The attribute to sort by.
    pub sort_by: Option<String>,
    /// Whether the sort is descending.
    pub descending: bool,
}

impl ListQuery {
    /// Reads the query string; bad numbers and sort orders are refused.
    ///
    /// # Errors
    /// The 400 to send.
    pub fn parse(query: Option<&str>, max_results: usize) -> Result<Self, Reply> {
        let max = u64::try_from(max_results).unwrap_or(100);
        let mut q = Self {
            filter: None,
            start_index: 1,
            count: max,
            sort_by: None,
            descending: false,
        };
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let number = |v: &str| -> Result<i64, Reply> {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| Reply::invalid(format!("`{k}` must be an integer, not `{v}`")))
            };
            match k.as_ref() {
                "filter" => q.filter = Some(v.into_owned()),
                // RFC 7644 §3.4.2.4: below 1 means 1, a negative count means 0.
                "startIndex" => q.start_index = u64::try_from(number(&v)?.max(1)).unwrap_or(1),
                "count" => q.count = u64::try_from(number(&v)?.max(0)).unwrap_or(0).min(max),
                "sortBy" => q.sort_by = Some(v.into_owned()),
                "sortOrder" => match v.to_ascii_lowercase().as_str() {
                    "ascending" => q.descending = false,
                    "descending" => q.descending = true,
                    _ => {
                        return Err(Reply::invalid(
                            "`sortOrder` must be `ascending` or `descending`",
                        ));
                    }
                },
                _ => {}
            }
        }
        Ok(q)
    }

    /// Counts the rows of `from` (a table and its alias, e.g. `authn_user u`) that match the
    /// filter and reads this page of them (`select` columns, ordered by `sortBy` or `created_at`,
    /// then by id for a stable order). Every filter value is a bound argument.
    ///
    /// # Errors
    /// The 400 for a bad filter or sort attribute, or the database error to send.
    pub async fn page(
        &self,
        st: &Authn,
        from: &str,
        alias: &str,
        select: &str,
        attrs: filter::Attributes,
    ) -> Result<(i64, Vec<Vec<buntime_plugin_database::Value>>), Reply> {
        let (cond, mut args) = match self.filter.as_deref().map(|f| filter::compile(f, attrs)) {
            None => ("1 = 1".to_owned(), Vec::new()),
            Some(Ok(c)) => (c.sql, c.args),
            Some(Err(e)) => {
                return Err(Reply::error(
                    StatusCode::BAD_REQUEST,
                    Some("invalidFilter"),
                    e.0,
                ));
            }
        };
        let order = match self.sort_by.as_deref().map(|s| filter::column(attrs, s)) {
            None => format!("{alias}.created_at"),
            Some(Ok(c)) => c.sql.to_owned(),
            Some(Err(e)) => return Err(Reply::invalid(format!("`sortBy`: {}", e.0))),
        };
        let dir = if self.descending { "DESC" } else { "ASC" };
        let count_sql = format!("SELECT COUNT(*) FROM {from} WHERE {cond}");
        let total = match st.store.run(st.store.stmt(&count_sql, args.clone())).await {
            Ok(r) => r.rows.first().map_or(0, |r| crate::store::int(&r[0])),
            Err(e) => return Err(Reply::db(st, &e)),
        };
        if self.count == 0 {
            return Ok((total, Vec::new()));
        }
        args.push(i64::try_from(self.count).unwrap_or(i64::MAX).into());
        args.push(i64::try_from(self.start_index - 1).unwrap_or(0).into());
        let sql = format!(
            "SELECT {select} FROM {from} WHERE {cond} ORDER BY {order} {dir}, {alias}.id {dir} LIMIT ? OFFSET ?"
        );
        match st.store.run(st.store.stmt(&sql, args)).await {
            Ok(r) => Ok((total, r.rows)),
            Err(e) => Err(Reply::db(st, &e)),
        }
    }

    /// Wraps one page of resources.
    pub fn answer(&self, total: i64, resources: Vec<Value>) -> Reply {
        Reply::json(
            StatusCode::OK,
            json!({
                "schemas": [LIST_SCHEMA],
                "totalResults": total,
                "startIndex": self.start_index,
                "itemsPerPage": resources.len(),
                "Resources": resources,
            }),
        )
    }
}

/// Runs one SCIM request (already authenticated): the HTTP route and each Bulk operation. The
/// answer's resources carry their `meta.version`, and only the attributes the request asked for.
pub async fn dispatch(
    st: &Arc<Authn>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Reply {
    let (mut reply, projection) = route(st, method, path, query, body).await;
    version::stamp(&mut reply);
    if let Some(b) = reply.body.as_mut() {
        projection.answer(b);
    }
    reply
}

/// A `POST …/.search` body (RFC 7644 §3.4.3) as the query string of the same `GET`, and its
/// projection.
fn search_query(body: &Value) -> (String, projection::Projection) {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for key in ["filter", "sortBy", "sortOrder", "startIndex", "count"] {
        match body.get(key) {
            Some(Value::String(s)) => {
                q.append_pair(key, s);
            }
            Some(Value::Number(n)) => {
                q.append_pair(key, &n.to_string());
            }
            _ => {}
        }
    }
    (q.finish(), projection::Projection::from_search(body))
}

async fn route(
    st: &Arc<Authn>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> (Reply, projection::Projection) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let data = || -> Result<Value, Reply> {
        serde_json::from_slice(body).map_err(|e| {
            Reply::error(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                format!("the body is not JSON: {e}"),
            )
        })
    };
    macro_rules! with_body {
        ($v:ident => $call:expr) => {
            match data() {
                Ok($v) => $call.await,
                Err(r) => r,
            }
        };
    }
    if let ("POST", [kind @ ("Users" | "Groups"), ".search"]) = (method.as_str(), segments.as_slice()) {
        let search = match data() {
            Ok(v) => v,
            Err(r) => return (r, projection::Projection::default()),
        };
        let (q, projection) = search_query(&search);
        let reply = if *kind == "Users" { users::list(st, Some(&q)).await } else { groups::list(st, Some(&q)).await };
        return (reply, projection);
    }
    let projection = projection::Projection::from_query(query);
    let reply = match (method.as_str(), segments.as_slice()) {
        ("POST", [".search"]) => Reply::error(
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
            "search one resource type at a time: POST /Users/.search or /Groups/.search",
        ),
        ("GET", ["Users"]) => users::list(st, query).await,
        ("POST", ["Users"]) => with_body!(v => users::create(st, v)),
        ("GET", ["Users", id]) => users::get(st, id).await,
        ("PUT", ["Users", id]) => with_body!(v => users::replace(st, id, v)),
        ("PATCH", ["Users", id]) => with_body!(v => users::patch(st, id, v)),
        ("DELETE", ["Users", id]) => users::delete(st, id).await,
        ("GET", ["Groups"]) => groups::list(st, query).await,
        ("POST", ["Groups"]) => with_body!(v => groups::create(st, v)),
        ("GET", ["Groups", id]) => groups::get(st, id).await,
        ("PUT", ["Groups", id]) => with_body!(v => groups::replace(st, id, v)),
        ("PATCH", ["Groups", id]) => with_body!(v => groups::patch(st, id, v)),
        ("DELETE", ["Groups", id]) => groups::delete(st, id).await,
        (_, ["Users" | "Groups"] | ["Users" | "Groups", _]) => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            format!("{method} is not supported on /{}", segments.join("/")),
        ),
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            None,
            format!("no SCIM endpoint at /{}", segments.join("/")),
        ),
    };
    (reply, projection)
}

/// Mounts the SCIM routes (and the admin token routes) on the plugin's router.
pub fn router(st: Arc<Authn>) -> Router {
    Router::new()
        .route("/api/scim/v2", any(handle))
        .route("/api/scim/v2/{*rest}", any(handle))
        .merge(tokens::router())
        .with_state(st)
}

async fn handle(
    State(st): State<Arc<Authn>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let prefix = format!("{}/api/scim/v2", st.config.base);
    let path = uri.path();
    // Behind the runtime the router sees the path without the base; accept both.
    let rel = path
        .strip_prefix(&prefix)
        .or_else(|| path.strip_prefix("/api/scim/v2"))
        .unwrap_or(path)
        .trim_end_matches('/')
        .to_owned();
    if let Some(r) = discovery::answer(&st, &method, &rel) {
        return r.into_response();
    }
    if let Err(r) = tokens::authenticate(&st, &headers).await {
        return r.into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAYLOAD).await else {
        return Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("the request body is larger than {MAX_PAYLOAD} bytes"),
        )
        .into_response();
    };
    let reply = if rel == "/Bulk" {
        if method == Method::POST {
            bulk::run(&st, &bytes).await
        } else {
            Reply::error(StatusCode::METHOD_NOT_ALLOWED, None, "Bulk takes POST")
        }
    } else {
        let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let one = rel.trim_matches('/').split('/').count() == 2 && !rel.ends_with("/.search");
        if let (true, Some(wanted)) = (one && [Method::PUT, Method::PATCH, Method::DELETE].contains(&method), header(header::IF_MATCH))
            && let Err(refused) = version::check(&st, &rel, wanted).await
        {
            return refused.into_response();
        }
        let mut reply = dispatch(&st, &method, &rel, uri.query(), &bytes).await;
        if let (Some(etag), Some(seen)) = (reply.etag(), header(header::IF_NONE_MATCH))
            && method == Method::GET
            && version::matches(seen, etag)
        {
            reply.status = StatusCode::NOT_MODIFIED;
        }
        reply
    };
    reply.into_response()
}

/// Reads a SCIM boolean: JSON `true`/`false`, or the strings some clients (Azure AD) send.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Reads `Operations[]` of a PatchOp body as `(op, path, value)`, ops lower-cased.
///
/// # Errors
/// The 400 to send.
pub fn patch_ops(body: &Value) -> Result<Vec<(String, Option<String>, Value)>, Reply> {
    let Some(ops) = body.get("Operations").and_then(Value::as_array) else {
        return Err(Reply::invalid("a PATCH body needs `Operations`, a list"));
    };
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !["add", "replace", "remove"].contains(&name.as_str()) {
            return Err(Reply::invalid(format!(
                "`Operations[{i}].op` must be add, replace or remove"
            )));
        }
        let path = op.get("path").and_then(Value::as_str).map(str::to_owned);
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        if name == "remove" && path.is_none() {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                Some("noTarget"),
                format!("`Operations[{i}]`: remove needs a `path`"),
            ));
        }
        if name != "remove" && path.is_none() && !value.is_object() {
            return Err(Reply::invalid(format!(
                "`Operations[{i}]`: without a `path`, `value` must be an object of attributes"
            )));
        }
        out.push((name, path, value));
    }
    Ok(out)
}
