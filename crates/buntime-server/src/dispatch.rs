//! The top-level service: request ids, the REST API (behind the guard), `/.well-known/buntime`,
//! and everything else through the plugin pipeline.

use std::sync::Arc;

use std::convert::Infallible;
use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use buntime_core::pipeline::rewrite_path;
use buntime_core::{GENERATION_HEADER, REQUEST_ID_HEADER, Response, RouteKind, VERSION, respond};
use http::{HeaderValue, StatusCode};
use tower::ServiceExt;

use crate::runtime::Shared;

/// Builds the service the listener serves: one function, no routing table in front of it (the
/// pipeline does its own routing by first path segment).
pub(crate) fn service(shared: Arc<Shared>) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future = impl Future<Output = Result<Response, Infallible>> + Send> + Clone + Send + 'static {
    tower::service_fn(move |req: Request| {
        let shared = shared.clone();
        async move { Ok(dispatch(shared, req).await) }
    })
}

async fn dispatch(shared: Arc<Shared>, req: Request) -> Response {
    let started = shared.metrics.clock();
    let (res, kind) = route(&shared, req).await;
    shared.metrics.request(kind, res.status(), started);
    res
}

/// Answers `req` and says where it went (the request metrics' `kind`).
async fn route(shared: &Arc<Shared>, mut req: Request) -> (Response, RouteKind) {
    let request_id = ensure_request_id(&mut req);
    // One canonical path, before anything reads it: hooks and routing must never disagree.
    if let Err(mut res) = canonicalize_path(&mut req) {
        stamp(&mut res, &request_id, &shared.live.load().header_value);
        return (res, RouteKind::Other);
    }
    // Bodies without a length (HTTP/2, chunked) count too: ask the body, not the headers.
    if !http_body::Body::is_end_stream(req.body()) {
        let (parts, body) = req.into_parts();
        req = Request::from_parts(parts, buntime_core::body::idle_timeout(body, shared.config.body_read_timeout));
    }
    // Plugin routes that gate themselves (deployments) ask the REST API's access model.
    req.extensions_mut().insert(shared.gate.clone());
    let path = req.uri().path();
    let api_path = shared.config.api_path.as_str();
    if let Some(rest) = path.strip_prefix(api_path).filter(|r| r.is_empty() || r.starts_with('/')) {
        let rel = if rest.is_empty() { "/".to_owned() } else { rest.to_owned() };
        let mut res = api(shared, req, &rel).await;
        stamp(&mut res, &request_id, &shared.live.load().header_value);
        return (res, RouteKind::Api);
    }
    if path == "/.well-known/buntime" {
        let mut res = respond::json(StatusCode::OK, &serde_json::json!({ "api": api_path, "version": VERSION }));
        stamp(&mut res, &request_id, &shared.live.load().header_value);
        return (res, RouteKind::Other);
    }
    let generation = shared.live.load();
    if generation.number == 0 {
        let mut res = respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "STARTING", "The runtime is still loading its plugins.");
        res.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        stamp(&mut res, &request_id, &generation.header_value);
        return (res, RouteKind::Other);
    }
    let homepage = shared.config.homepage.as_deref().filter(|_| path == "/" && matches!(*req.method(), http::Method::GET | http::Method::HEAD));
    let Some(homepage) = homepage else { return shared.pipeline.serve(generation, req).await };
    // The pipeline goes first so that a plugin or app answering `/` keeps it; only its 404 redirects.
    let (res, kind) = shared.pipeline.serve(generation.clone(), req).await;
    // The config only accepts a path, which is always a valid header value; if not, keep the 404.
    let (StatusCode::NOT_FOUND, Ok(location)) = (res.status(), HeaderValue::from_str(homepage)) else { return (res, kind) };
    let mut redirect = respond::text(StatusCode::FOUND, "");
    redirect.headers_mut().insert(http::header::LOCATION, location);
    stamp(&mut redirect, &request_id, &generation.header_value);
    (redirect, RouteKind::Other)
}

async fn api(shared: &Shared, mut req: Request, rel: &str) -> Response {
    if let Err(res) = shared.guard.check(&mut req, rel).await {
        return res;
    }
    rewrite_path(&mut req, rel);
    let Some(router) = shared.api.get() else {
        return respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "STARTING", "The runtime is starting.");
    };
    match router.clone().oneshot(req).await {
        Ok(res) => json_errors(res).await,
        Err(never) => match never {},
    }
}

/// Replaces the request's path with its [canonical form](buntime_core::canonical::canonicalize),
/// keeping the query; answers 400 for a path that climbs above the root.
#[allow(clippy::result_large_err, reason = "the error is the 400 sent as is, on a path that ends the request; boxing it buys nothing")]
fn canonicalize_path(req: &mut Request) -> Result<(), Response> {
    let canonical = match buntime_core::canonical::canonicalize(req.uri().path()) {
        Ok(std::borrow::Cow::Borrowed(_)) => return Ok(()),
        Ok(std::borrow::Cow::Owned(p)) => p,
        Err(e) => {
            return Err(respond::json_error(StatusCode::BAD_REQUEST, "INVALID_PATH", &format!("Invalid request path: {e}.")));
        }
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical,
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|_| respond::json_error(StatusCode::BAD_REQUEST, "INVALID_PATH", "Invalid request path."))?);
    *req.uri_mut() = http::Uri::from_parts(parts).map_err(|_| respond::json_error(StatusCode::BAD_REQUEST, "INVALID_PATH", "Invalid request path."))?;
    Ok(())
}

/// The most of a non-JSON error body kept as the message of its JSON replacement.
const MAX_ERROR_TEXT: usize = 4096;

/// Makes every API error JSON like the others (`respond::json_error`): answers the routes did not
/// write themselves — an extractor's 413 for a body over its limit, a 405, a 415 — come as plain
/// text (or empty), and are rewritten with their text as the message. Headers such as `Allow` are kept.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned()).unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = reason.to_ascii_uppercase().replace([' ', '-'], "_");
    let message = if text.is_empty() { format!("{reason}.") } else { text };
    let json = respond::json_error(status, &code, &message);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.remove(http::header::CONTENT_ENCODING);
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

/// Keeps a sane incoming `x-request-id` (visible ASCII, at most 200 bytes), else sets a fresh
/// UUIDv4; returns it.
fn ensure_request_id(req: &mut Request<Body>) -> HeaderValue {
    if let Some(v) = req.headers().get(REQUEST_ID_HEADER)
        && !v.is_empty() && v.len() <= 200 && v.to_str().is_ok() {
            return v.clone();
        }
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let text = uuid.hyphenated().encode_lower(&mut buf);
    let v = HeaderValue::from_str(text).expect("a hyphenated UUID is a valid header value");
    req.headers_mut().insert(REQUEST_ID_HEADER, v.clone());
    v
}

fn stamp(res: &mut Response, request_id: &HeaderValue, generation: &HeaderValue) {
    res.headers_mut().insert(REQUEST_ID_HEADER, request_id.clone());
    res.headers_mut().insert(GENERATION_HEADER, generation.clone());
}
