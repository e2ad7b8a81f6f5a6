//! The HTTP routes under the plugin base: the studio API (`/api/adapters`, `/api/tenants`,
//! `/api/tables…`, `/api/query`, `/api/health`) and the HRANA pipeline endpoints.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::error::DbError;
use crate::hrana::{self, PipelineRequest, Streams};
use crate::service::{DatabaseService, Target};
use crate::value::{Statement, Value};

/// Rows a page returns unless `limit` says otherwise.
pub const DEFAULT_PAGE: u64 = 100;
/// The largest page.
pub const MAX_PAGE: u64 = 1000;

#[derive(Debug, Clone)]
struct AppState {
    service: DatabaseService,
    streams: Arc<Streams>,
}

/// Builds the router (mounted at the plugin base, which it sees stripped).
pub fn router(service: DatabaseService, streams: Arc<Streams>) -> Router {
    let pipeline = post(pipeline);
    Router::new()
        .route("/api/adapters", get(adapters))
        .route("/api/tenants", get(list_tenants).post(create_tenant))
        .route("/api/tenants/{id}", delete(delete_tenant))
        .route("/api/tables", get(tables))
        .route("/api/tables/{name}/schema", get(schema))
        .route("/api/tables/{name}/rows", get(rows))
        .route("/api/query", post(query))
        .route("/api/health", get(health))
        .route("/api/pipeline", pipeline.clone())
        // libSQL clients: `url: http://host/database/api/` posts to `api/v2/pipeline`; without the
        // trailing slash WHATWG URL resolution drops `api`, so serve both spellings.
        .route("/api/v2", get(version))
        .route("/api/v2/pipeline", pipeline.clone())
        .route("/api/v3/pipeline", pipeline.clone())
        .route("/v2", get(version))
        .route("/v2/pipeline", pipeline.clone())
        .route("/v3/pipeline", pipeline)
        // HRANA over WebSocket: `ws://host/database/api` connects to `/api` itself.
        .route("/api", get(hrana_ws))
        .route("/api/", get(hrana_ws))
        .route("/api/ws", get(hrana_ws))
        .with_state(AppState { service, streams })
}

fn error(e: &DbError) -> Response {
    (e.status(), axum::Json(json!({"error": e.to_string(), "code": e.code()}))).into_response()
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": message}))).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct Params {
    #[serde(rename = "type")]
    kind: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Returns the tenant a request targets: the explicit one (`?tenant=`, `x-database-namespace`),
/// else with `tenancy.enabled` the tenancy header, then `tenancy.defaultTenant`; else the root.
fn tenant_of(service: &DatabaseService, explicit: Option<&str>, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = non_empty(explicit) {
        return Some(t.to_owned());
    }
    let tenancy = service.tenancy();
    if !tenancy.enabled {
        return None;
    }
    let from_header = non_empty(headers.get(tenancy.header.as_str()).and_then(|v| v.to_str().ok()));
    Some(from_header.map_or_else(|| tenancy.default_tenant.to_string(), str::to_owned))
}

/// The adapter and tenant a HRANA request targets: `x-database-adapter`, then the tenant as
/// [`tenant_of`] picks it with `x-database-namespace` as the explicit one.
fn hrana_target(service: &DatabaseService, headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let header = |name: &str| non_empty(headers.get(name).and_then(|v| v.to_str().ok())).map(str::to_owned);
    let tenant = tenant_of(service, header("x-database-namespace").as_deref(), headers);
    (header("x-database-adapter"), tenant)
}

async fn adapters(State(st): State<AppState>) -> Response {
    axum::Json(json!({"adapters": st.service.adapter_types(), "default": st.service.default_type()})).into_response()
}

async fn list_tenants(State(st): State<AppState>, Query(q): Query<Params>) -> Response {
    let kind = non_empty(q.kind.as_deref());
    match st.service.list_tenants(kind).await {
        Ok(t) => axum::Json(json!({"tenants": t, "type": kind.unwrap_or(st.service.default_type())})).into_response(),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
struct CreateTenant {
    id: Option<Json>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn create_tenant(State(st): State<AppState>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<CreateTenant>(&body) else { return bad_request("Missing or invalid tenant id") };
    let Some(Json::String(id)) = req.id else { return bad_request("Missing or invalid tenant id") };
    let kind = non_empty(req.kind.as_deref());
    match st.service.create_tenant(kind, &id).await {
        Ok(created) => {
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            (status, axum::Json(json!({"ok": true, "id": id, "type": kind.unwrap_or(st.service.default_type()), "created": created}))).into_response()
        }
        Err(e) => error(&e),
    }
}

async fn delete_tenant(State(st): State<AppState>, Path(id): Path<String>, Query(q): Query<Params>) -> Response {
    match st.service.delete_tenant(non_empty(q.kind.as_deref()), &id).await {
        Ok(()) => axum::Json(json!({"ok": true})).into_response(),
        Err(e) => error(&e),
    }
}

async fn tables(State(st): State<AppState>, Query(q): Query<Params>, headers: HeaderMap) -> Response {
    let tenant = tenant_of(&st.service, q.tenant.as_deref(), &headers);
    let kind = non_empty(q.kind.as_deref());
    let run = async {
        let adapter = st.service.adapter(kind)?.clone();
        let mut conn = st.service.connect(Target { adapter: kind, tenant: tenant.as_deref() }).await?;
        adapter.list_tables(conn.as_mut()).await
    };
    match run.await {
        Ok(t) => axum::Json(json!({"tables": t, "type": kind.unwrap_or(st.service.default_type())})).into_response(),
        Err(e) => error(&e),
    }
}

async fn schema(State(st): State<AppState>, Path(name): Path<String>, Query(q): Query<Params>, headers: HeaderMap) -> Response {
    let tenant = tenant_of(&st.service, q.tenant.as_deref(), &headers);
    let kind = non_empty(q.kind.as_deref());
    let run = async {
        let adapter = st.service.adapter(kind)?.clone();
        let mut conn = st.service.connect(Target { adapter: kind, tenant: tenant.as_deref() }).await?;
        adapter.table_columns(conn.as_mut(), &name).await
    };
    match run.await {
        Ok(columns) => axum::Json(json!({"columns": columns, "table": name, "type": kind.unwrap_or(st.service.default_type())})).into_response(),
        Err(e) => error(&e),
    }
}

fn page_param(raw: Option<&str>, default: u64, key: &str) -> Result<u64, DbError> {
    match non_empty(raw) {
        None => Ok(default),
        Some(s) => s.parse::<u64>().map_err(|_| DbError::BadRequest(format!("`{key}` must be a whole number"))),
    }
}

async fn rows(State(st): State<AppState>, Path(name): Path<String>, Query(q): Query<Params>, headers: HeaderMap) -> Response {
    let tenant = tenant_of(&st.service, q.tenant.as_deref(), &headers);
    let kind = non_empty(q.kind.as_deref());
    let run = async {
        let limit = page_param(q.limit.as_deref(), DEFAULT_PAGE, "limit")?.clamp(1, MAX_PAGE);
        let offset = page_param(q.offset.as_deref(), 0, "offset")?;
        let adapter = st.service.adapter(kind)?.clone();
        let mut conn = st.service.connect(Target { adapter: kind, tenant: tenant.as_deref() }).await?;
        // Confirms the table exists (404 otherwise) before its name goes into SQL, quoted.
        adapter.table_columns(conn.as_mut(), &name).await?;
        let table = adapter.quote_ident(&name);
        let total = conn.execute(Statement::new(format!("SELECT COUNT(*) FROM {table}"))).await?;
        let total = match total.rows.first().and_then(|r| r.first()) {
            Some(Value::Integer(n)) => *n,
            _ => 0,
        };
        let page = Statement::with_args(
            format!("SELECT * FROM {table} LIMIT ? OFFSET ?"),
            [Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)), Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX))],
        );
        let res = conn.execute(page).await?;
        Ok::<_, DbError>(json!({"limit": limit, "offset": offset, "rows": res.rows_as_objects(), "table": name, "total": total}))
    };
    match run.await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
struct QueryBody {
    sql: Option<Json>,
    #[serde(default)]
    args: Vec<Json>,
    tenant: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn query(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<QueryBody>(&body) else { return bad_request("Missing or invalid SQL query") };
    let Some(Json::String(sql)) = req.sql.filter(|s| s.as_str().is_some_and(|s| !s.trim().is_empty())) else {
        return bad_request("Missing or invalid SQL query");
    };
    let tenant = tenant_of(&st.service, req.tenant.as_deref(), &headers);
    let start = Instant::now();
    let stmt = Statement::with_args(sql, req.args.iter().map(Value::from_plain_json));
    match st.service.execute(Target { adapter: non_empty(req.kind.as_deref()), tenant: tenant.as_deref() }, stmt).await {
        Ok(res) => {
            let rows = res.rows_as_objects();
            axum::Json(json!({
                "duration": start.elapsed().as_secs_f64() * 1000.0,
                "rowCount": rows.len(),
                "rows": rows,
                "affectedRows": res.affected_row_count,
                "lastInsertRowid": res.last_insert_rowid,
            }))
            .into_response()
        }
        Err(e) => error(&e),
    }
}

async fn health(State(st): State<AppState>, Query(q): Query<Params>) -> Response {
    async fn probe(service: &DatabaseService, kind: &str) -> Result<(), DbError> {
        service.execute(Target { adapter: Some(kind), tenant: None }, Statement::new("SELECT 1")).await.map(drop)
    }
    if let Some(kind) = non_empty(q.kind.as_deref()) {
        if let Err(e @ DbError::UnknownAdapter { .. }) = st.service.adapter(Some(kind)).map(drop) {
            return error(&e);
        }
        return match probe(&st.service, kind).await {
            Ok(()) => axum::Json(json!({"status": "healthy", "type": kind})).into_response(),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"error": e.to_string(), "status": "unhealthy", "type": kind}))).into_response(),
        };
    }
    let mut adapters = serde_json::Map::new();
    let mut healthy = true;
    for kind in st.service.adapter_types() {
        let state = match probe(&st.service, kind).await {
            Ok(()) => "healthy".to_owned(),
            Err(e) => {
                healthy = false;
                e.to_string()
            }
        };
        adapters.insert(kind.to_owned(), Json::String(state));
    }
    axum::Json(json!({"status": if healthy { "healthy" } else { "degraded" }, "adapters": adapters})).into_response()
}

async fn version() -> Response {
    axum::Json(json!({"hrana": [2, 3], "encoding": "json"})).into_response()
}

fn pipeline_error(status: StatusCode, code: &str, message: &str) -> Response {
    // `message`/`code` at the top for libSQL clients (they read them from non-2xx bodies), a
    // one-element `results` and `error` for the original @buntime/database client.
    let err = json!({"message": message, "code": code});
    (status, axum::Json(json!({"error": message, "message": message, "code": code, "baton": null, "base_url": null, "results": [{"type": "error", "error": err}]})))
        .into_response()
}

async fn pipeline(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    // The runtime already capped the body at the plugin's `maxBodySize`.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return pipeline_error(StatusCode::BAD_REQUEST, "PARSE_ERROR", "the request body could not be read");
    };
    let req: PipelineRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return pipeline_error(StatusCode::BAD_REQUEST, "PARSE_ERROR", &format!("invalid pipeline body: {e}")),
    };
    let (adapter, tenant) = hrana_target(&st.service, &headers);
    match hrana::pipeline(&st.service, &st.streams, Target { adapter: adapter.as_deref(), tenant: tenant.as_deref() }, req).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            let status = if e.code == "TOO_MANY_STREAMS" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_REQUEST };
            pipeline_error(status, e.code, &e.message)
        }
    }
}

/// Upgrades to HRANA over WebSocket; the adapter and tenant headers of the upgrade request pick
/// the target of every stream on the socket, as they do for an HTTP pipeline.
async fn hrana_ws(State(st): State<AppState>, headers: HeaderMap, ws: buntime_core::websocket::WsUpgrade) -> Response {
    let (adapter, tenant) = hrana_target(&st.service, &headers);
    let ws = ws.protocols(crate::hrana_ws::SUBPROTOCOLS);
    if ws.selected_protocol().is_none() {
        return bad_request("Sec-WebSocket-Protocol must offer hrana3 or hrana2");
    }
    ws.on_upgrade(move |socket| crate::hrana_ws::serve(socket, st.service, adapter, tenant)).into_response()
}
