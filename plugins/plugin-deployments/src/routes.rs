//! The HTTP routes under `/deployments/api` (spec §7), behind the access guard.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Query, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::State;
use crate::download::{self, Item};
use crate::error::{ApiError, ApiResult};
use crate::listing::{self, excludes_for};
use crate::ops;
use crate::paths;

type St = AxState<Arc<State>>;
type Q = Result<Query<HashMap<String, String>>, QueryRejection>;
type Body = Result<axum::Json<Value>, JsonRejection>;

/// Builds the router (mounted at the plugin base, which it sees stripped).
pub(crate) fn router(state: Arc<State>) -> Router {
    let limit = usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/api/list", get(list))
        .route("/api/mkdir", post(mkdir))
        .route("/api/delete", axum::routing::delete(delete).post(delete))
        .route("/api/rename", post(rename))
        .route("/api/move", post(move_one))
        .route("/api/upload", post(upload))
        .route("/api/refresh", get(refresh_get).post(refresh_post))
        .route("/api/download", get(download_one))
        .route("/api/delete-batch", post(delete_batch))
        .route("/api/move-batch", post(move_batch))
        .route("/api/download-batch", get(download_batch))
        .layer(DefaultBodyLimit::max(limit))
        // Only the API routes are guarded: a path none of them claims falls through to the UI
        // (`entrypoint`), which is a page like any other and asks for nothing itself.
        .route_layer(axum::middleware::from_fn(crate::access::guard))
        .with_state(state)
}

fn reply(r: ApiResult<Value>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn query(q: Q) -> ApiResult<HashMap<String, String>> {
    q.map(|Query(m)| m).map_err(|e| ApiError::bad("INVALID_QUERY", format!("the query string cannot be read: {}", e.body_text())))
}

/// A JSON object body; an empty body counts as `{}` so the route names the missing field.
fn body(b: Body) -> ApiResult<Value> {
    match b {
        Ok(axum::Json(v)) if v.is_object() => Ok(v),
        Ok(_) => Err(ApiError::bad("INVALID_BODY", "the body must be a JSON object")),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad("INVALID_BODY", "send the body as JSON (`Content-Type: application/json`)")),
        Err(e) => Err(ApiError::bad("INVALID_BODY", format!("the JSON body cannot be read: {}", e.body_text()))),
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Runs read-only work on a blocking thread.
async fn read<T: Send + 'static>(st: &Arc<State>, f: impl FnOnce(&State) -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    let st = st.clone();
    tokio::task::spawn_blocking(move || f(&st))
        .await
        .map_err(|_| ApiError::internal("INTERNAL_SERVER_ERROR", "the file operation failed unexpectedly; the runtime log has details"))?
}

async fn list(AxState(st): St, q: Q) -> Response {
    let path = match query(q) {
        Ok(mut m) => m.remove("path").unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    reply(read(&st, move |st| listing::list(st, &path)).await)
}

async fn mkdir(AxState(st): St, b: Body) -> Response {
    let v = match body(b) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    reply(ops::write(&st, move |st| ops::mkdir(st, field(&v, "path"))).await)
}

async fn delete(AxState(st): St, q: Q, b: Body) -> Response {
    // DELETE bodies are unusual: `?path=` works too.
    let from_query = query(q).ok().and_then(|mut m| m.remove("path"));
    let v = match (body(b), from_query) {
        (Ok(v), _) if v.get("path").is_some() => v,
        (_, Some(p)) => serde_json::json!({ "path": p }),
        (Ok(v), None) => v,
        (Err(e), None) => return e.into_response(),
    };
    reply(ops::write(&st, move |st| ops::delete(st, field(&v, "path"))).await)
}

async fn rename(AxState(st): St, b: Body) -> Response {
    let v = match body(b) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    reply(ops::write(&st, move |st| ops::rename(st, field(&v, "path"), field(&v, "newName"))).await)
}

async fn move_one(AxState(st): St, b: Body) -> Response {
    let v = match body(b) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    reply(ops::write(&st, move |st| ops::move_to(st, field(&v, "path"), field(&v, "destPath"))).await)
}

async fn upload(AxState(st): St, m: Result<Multipart, MultipartRejection>) -> Response {
    reply(crate::upload::upload(st, m).await)
}

fn refresh(st: &State, raw: &str) -> ApiResult<Value> {
    match paths::parse(&st.roots, raw, "path")? {
        Some(t) => st.sizes.invalidate(&t.abs()),
        None => {
            for r in &st.roots {
                st.sizes.invalidate(&r.real);
            }
        }
    }
    Ok(serde_json::json!({"success": true}))
}

async fn refresh_get(AxState(st): St, q: Q) -> Response {
    let path = match query(q) {
        Ok(mut m) => m.remove("path").unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    reply(refresh(&st, &path))
}

async fn refresh_post(AxState(st): St, b: Body) -> Response {
    // An empty body refreshes everything.
    let path = body(b).ok().and_then(|v| field(&v, "path").map(str::to_owned)).unwrap_or_default();
    reply(refresh(&st, &path))
}

/// What a download sends: one file, or archive items.
enum Plan {
    File(std::path::PathBuf, String),
    Zip(Vec<Item>, String),
}

fn download_plan(st: &State, raw: &str) -> ApiResult<Plan> {
    if raw.trim().is_empty() {
        return Err(ApiError::bad("PATH_REQUIRED", "`path` is required"));
    }
    let not_found = |e: ApiError| if e.status == http::StatusCode::NOT_FOUND { e.with_code(http::StatusCode::NOT_FOUND, "FILE_NOT_FOUND") } else { e };
    let t = match paths::parse(&st.roots, raw, "path").map_err(not_found)? {
        Some(t) if !t.is_root() => t,
        _ => return Err(ApiError::bad("CANNOT_DOWNLOAD_ROOT", format!("`path` `{raw}` is a root; download its folders instead"))),
    };
    let abs = paths::existing(&t)?.ok_or_else(|| ApiError::not_found("FILE_NOT_FOUND", format!("`{}` does not exist", t.display())))?;
    if abs.is_dir() {
        let item = Item { abs, name: String::new(), excludes: Arc::new(excludes_for(st, &t)) };
        Ok(Plan::Zip(vec![item], format!("{}.zip", t.name())))
    } else {
        Ok(Plan::File(abs, t.name().to_owned()))
    }
}

async fn send(plan: Plan) -> Response {
    match plan {
        Plan::File(abs, name) => match download::file_response(abs, &name).await {
            Ok(res) => res,
            Err(e) => ApiError::internal("DOWNLOAD_FAILED", format!("`{name}` cannot be read: {}", e.kind())).into_response(),
        },
        Plan::Zip(items, name) => download::zip_response(items, &name),
    }
}

async fn download_one(AxState(st): St, q: Q) -> Response {
    let path = match query(q) {
        Ok(mut m) => m.remove("path").unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    match read(&st, move |st| download_plan(st, &path)).await {
        Ok(plan) => send(plan).await,
        Err(e) => e.into_response(),
    }
}

async fn download_batch(AxState(st): St, q: Q) -> Response {
    let raw = match query(q) {
        Ok(mut m) => m.remove("paths").unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    let paths: Vec<String> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if paths.is_empty() {
        return ApiError::bad("PATHS_REQUIRED", "`paths` must list paths separated by commas").into_response();
    }
    let plan = read(&st, move |st| {
        let mut items: Vec<Item> = Vec::new();
        for p in &paths {
            // Roots, traversal and missing paths are skipped: the archive holds what is valid.
            let Ok(Some(t)) = paths::parse(&st.roots, p, "paths") else { continue };
            if t.is_root() {
                continue;
            }
            let Ok(Some(abs)) = paths::existing(&t) else { continue };
            let mut name = t.name().to_owned();
            let mut n = 2;
            while items.iter().any(|i| i.name == name) {
                name = format!("{}-{n}", t.name());
                n += 1;
            }
            items.push(Item { abs, name, excludes: Arc::new(excludes_for(st, &t)) });
        }
        if items.is_empty() {
            return Err(ApiError::not_found("NO_VALID_PATHS", "none of `paths` names an existing file or folder"));
        }
        Ok(items)
    })
    .await;
    match plan {
        Ok(items) => download::zip_response(items, "download.zip"),
        Err(e) => e.into_response(),
    }
}

async fn delete_batch(AxState(st): St, b: Body) -> Response {
    let paths = match body(b).and_then(|v| ops::path_list(&v)) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    reply(ops::write(&st, move |st| Ok::<_, ApiError>(ops::batch(st, &paths, |st, p| ops::delete(st, Some(p))))).await)
}

async fn move_batch(AxState(st): St, b: Body) -> Response {
    let v = match body(b) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let paths = match ops::path_list(&v) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(dest) = field(&v, "destPath").filter(|d| !d.trim().is_empty()).map(str::to_owned) else {
        return ApiError::bad("DEST_PATH_REQUIRED", "`destPath` is required").into_response();
    };
    reply(ops::write(&st, move |st| Ok::<_, ApiError>(ops::batch(st, &paths, |st, p| ops::move_to(st, Some(p), Some(&dest))))).await)
}
