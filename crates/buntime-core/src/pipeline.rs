//! The request pipeline outside the REST API: resolve the target, enforce the body limit, run
//! `on_request` hooks, then `server_fetch` hooks, route (plugin routers, serverless plugin apps, worker apps), run
//! `on_response` hooks, and stamp the request id and generation.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::OriginalUri;
use futures_util::FutureExt;
use http::{HeaderValue, StatusCode, Uri};
use tower::ServiceExt;

use crate::app::{AppBackend, ResolvedApp};
use crate::batch::HookStep;
use crate::body::{GuardedBody, declared_too_large, has_body, limited};
use crate::config::{DEFAULT_BODY_LIMIT, MAX_BODY_LIMIT};
use crate::generation::{Generation, LoadedPlugin};
use crate::metrics::RouteKind;
use crate::plugin::{Flow, RequestContext};
use crate::respond;
use crate::{GENERATION_HEADER, REQUEST_ID_HEADER, Request, Response};

/// The pipeline's fixed collaborators.
#[derive(Clone, Default)]
#[allow(missing_debug_implementations)]
pub struct Pipeline {
    /// Hosts worker apps and serverless plugin apps; `None` serves plugins only.
    pub apps: Option<Arc<dyn AppBackend>>,
}

/// The app a plugin's request may fall through to (`Err`: one exists but cannot be used).
type NextApp = Result<Option<ResolvedApp>, crate::error::PluginError>;

/// Where a request is headed, decided before any hook runs.
enum Target {
    /// A plugin owns the first path segment.
    Plugin(usize),
    /// A worker app owns it.
    App(ResolvedApp),
    /// An app was found but cannot be used; answered after the hooks ran.
    BrokenApp(crate::error::PluginError),
    Nothing,
}

impl Pipeline {
    /// Serves `req` with `generation`. The request must already carry `x-request-id`.
    pub async fn handle(&self, generation: Arc<Generation>, req: Request) -> Response {
        self.serve(generation, req).await.0
    }

    /// Serves `req` like [`Self::handle`] and says where it went (the `kind` label of the request
    /// metrics), as decided by its path before any hook ran.
    pub async fn serve(&self, generation: Arc<Generation>, req: Request) -> (Response, RouteKind) {
        let mut kind = RouteKind::Other;
        let res = self.run(generation, req, &mut kind).await;
        (res, kind)
    }

    async fn run(&self, generation: Arc<Generation>, mut req: Request, kind: &mut RouteKind) -> Response {
        let guard = generation.enter();
        if crate::ws_relay::is_upgrade(&req) {
            // A WebSocket accepted for this request (by a hook, a route or an app) belongs to this
            // generation: `websocket::WsUpgrade` finds its scope here.
            req.extensions_mut().insert(generation.sockets.clone());
        }
        let request_id_header = req.headers().get(REQUEST_ID_HEADER).cloned();
        let request_id: Arc<str> = request_id_header.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default().into();
        let request_id = Stamp { id: request_id, header: request_id_header };
        // `Uri` clones share their bytes, so this borrows the path without copying it.
        let uri = req.uri().clone();
        let path = uri.path();
        let target = self.resolve(&generation, path).await;

        let (app, plugin_app, limit, public) = match &target {
            Target::Plugin(i) => {
                let p = &generation.plugins[*i];
                let base = p.manifest.base.as_ref().expect("plugins in by_base have a base");
                let rel = base.strip(path).unwrap_or("/");
                let public = p.public_routes.as_ref().is_some_and(|r| r.matches(req.method().as_str(), rel));
                let app = match self.plugin_app(p).await {
                    Ok(a) => a,
                    Err(e) => return finish(respond::plugin_error(&e), &request_id, &generation, guard),
                };
                let own = || p.plugin.max_body_bytes().map_or(DEFAULT_BODY_LIMIT, |b| b.min(MAX_BODY_LIMIT));
                let limit = app.as_ref().map_or_else(own, |a| a.max_body_bytes);
                (app.as_ref().map(|a| a.info.clone()), app, limit, public)
            }
            Target::App(a) => {
                let rel = path.strip_prefix(a.base_path.as_str()).filter(|r| !r.is_empty()).unwrap_or("/");
                let public = a.public_routes.as_ref().is_some_and(|r| r.matches(req.method().as_str(), rel));
                (Some(a.info.clone()), None, a.max_body_bytes, public)
            }
            Target::BrokenApp(_) | Target::Nothing => (None, None, DEFAULT_BODY_LIMIT, false),
        };
        *kind = match (&target, &plugin_app, &self.apps) {
            (Target::Plugin(i), _, _) if generation.plugins[*i].router.is_some() => RouteKind::Plugin,
            (Target::Plugin(_), Some(a), Some(apps)) | (Target::App(a), _, Some(apps)) => apps.route_kind(a),
            (Target::Plugin(_), _, _) => RouteKind::Plugin,
            (Target::App(_) | Target::BrokenApp(_), _, _) => RouteKind::App,
            (Target::Nothing, _, _) => RouteKind::Other,
        };
        let public = public
            || generation.global_public.iter().any(|&i| {
                generation.plugins[i].public_routes.as_ref().is_some_and(|r| r.matches(req.method().as_str(), path))
            });

        if declared_too_large(req.headers(), limit) {
            return finish(respond::text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"), &request_id, &generation, guard);
        }
        if carries_body(&req) {
            let (parts, body) = req.into_parts();
            req = Request::from_parts(parts, limited(body, limit));
        }

        let cx = RequestContext {
            request_id: request_id.id.clone(),
            generation: generation.number,
            is_public: public,
            app,
            services: generation.services.clone(),
        };

        for (k, step) in generation.request_steps.iter().enumerate() {
            let started = generation.plugins[step_first(step)].hook_timings.clock();
            let (outcome, culprit) = match step {
                HookStep::One(i) => (AssertUnwindSafe(generation.plugins[*i].plugin.on_request(&mut req, &cx)).catch_unwind().await.map(|r| r.map_err(|e| (0, e))), *i),
                HookStep::Batch { batch, plugins, names } => {
                    let outcome = AssertUnwindSafe(batch.on_request(names, &mut req, &cx)).catch_unwind().await;
                    let culprit = blamed(plugins, &outcome);
                    (outcome, culprit)
                }
            };
            record_step(&generation, step, started, |t| &t.on_request);
            let p = &generation.plugins[culprit];
            match outcome {
                Ok(Ok(Flow::Continue)) => {}
                Ok(Ok(Flow::Replace(next))) => req = next,
                Ok(Ok(Flow::Respond(res))) => {
                    let res = run_short_circuit_hooks(&generation, k, res, &cx).await;
                    return finish(res, &request_id, &generation, guard);
                }
                Ok(Err((_, e))) => {
                    log_hook_error(p, "on_request", &e);
                    let res = run_short_circuit_hooks(&generation, k, respond::plugin_error(&e), &cx).await;
                    return finish(res, &request_id, &generation, guard);
                }
                Err(_) => {
                    tracing::error!(plugin = %p.name(), hook = "on_request", request_id = %request_id.id, "Plugin hook panicked.");
                    return finish(respond::plugin_panic(), &request_id, &generation, guard);
                }
            }
        }

        if !generation.server_fetch_hooks.is_empty() {
            match run_server_fetch(&generation, &mut req, &cx).await {
                Ok(None) => {}
                Ok(Some(res)) => {
                    let res = run_response_hooks(&generation, res, &cx).await;
                    return finish(res, &request_id, &generation, guard);
                }
                Err(res) => return finish(res, &request_id, &generation, guard),
            }
        }

        // A replaced request is what every later step sees: route it by its own path.
        let (target, plugin_app) = if req.uri().path() == path {
            (target, plugin_app)
        } else {
            let new_path = req.uri().path().to_owned();
            let target = self.resolve(&generation, &new_path).await;
            let plugin_app = match &target {
                Target::Plugin(i) => self.plugin_app(&generation.plugins[*i]).await.ok().flatten(),
                _ => None,
            };
            (target, plugin_app)
        };
        let res = self.route(&generation, target, plugin_app, req).await;
        let res = run_response_hooks(&generation, res, &cx).await;
        finish(res, &request_id, &generation, guard)
    }

    /// Returns the app a plugin's request falls through to, resolving the worker app for `path`
    /// the first time it is asked.
    async fn next_app<'a>(&self, next: &'a mut Option<NextApp>, path: &str) -> Option<&'a ResolvedApp> {
        if next.is_none() {
            *next = Some(match &self.apps {
                Some(apps) => apps.resolve(path).await,
                None => Ok(None),
            });
        }
        next.as_ref().and_then(|r| r.as_ref().ok()).and_then(Option::as_ref)
    }

    /// Resolves the serverless app of a plugin whose manifest has `entrypoint`.
    async fn plugin_app(&self, p: &LoadedPlugin) -> Result<Option<ResolvedApp>, crate::error::PluginError> {
        match (&p.manifest.entrypoint, &p.manifest.base, &self.apps) {
            (Some(_), Some(base), Some(apps)) => apps.resolve_plugin_app(&p.dir, base.as_str(), &p.manifest.raw).await.map(Some),
            _ => Ok(None),
        }
    }

    async fn resolve(&self, generation: &Generation, path: &str) -> Target {
        let segment = first_segment(path);
        if let Some(&i) = generation.by_base.get(segment) {
            return Target::Plugin(i);
        }
        let Some(apps) = &self.apps else { return Target::Nothing };
        match apps.resolve(path).await {
            Ok(Some(app)) => Target::App(app),
            Ok(None) => Target::Nothing,
            Err(e) => Target::BrokenApp(e),
        }
    }

    async fn route(&self, generation: &Generation, target: Target, plugin_app: Option<ResolvedApp>, mut req: Request) -> Response {
        match target {
            Target::Plugin(i) => {
                let p = &generation.plugins[i];
                let uri = req.uri().clone();
                let path = uri.path();
                // Where the request goes when the plugin's router says 404 (or it has none): its
                // serverless app, else a worker app of the same name — looked up at most once.
                let mut next: Option<NextApp> = plugin_app.map(|a| Ok(Some(a)));
                if let Some(router) = &p.router {
                    // Keep a body replayable only when something may come after the router.
                    let replay = if carries_body(&req) && self.next_app(&mut next, path).await.is_some() {
                        let (parts, body) = req.into_parts();
                        match axum::body::to_bytes(body, usize::MAX).await {
                            Ok(bytes) => {
                                req = Request::from_parts(parts, Body::from(bytes.clone()));
                                Some(bytes)
                            }
                            Err(_) => return respond::text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
                        }
                    } else {
                        None
                    };
                    // Keep the request's parts for a fall-through only when one is possible. The
                    // clone shares hyper's `OnUpgrade` extension; whichever copy's handler takes it
                    // (axum's `WebSocketUpgrade`) owns the connection once the 101 is sent.
                    let (parts, body) = req.into_parts();
                    let kept = (next.is_some() || self.apps.is_some()).then(|| parts.clone());
                    let mut inner = Request::from_parts(parts, body);
                    let base = p.manifest.base.as_ref().expect("routed plugins have a base");
                    rewrite_path(&mut inner, base.strip(path).unwrap_or("/"));
                    let res = match AssertUnwindSafe(router.clone().oneshot(inner)).catch_unwind().await {
                        Ok(Ok(res)) => res,
                        Ok(Err(never)) => match never {},
                        Err(_) => {
                            tracing::error!(plugin = %p.name(), hook = "routes", "Plugin route handler panicked.");
                            return respond::plugin_panic();
                        }
                    };
                    let Some(parts) = kept else { return res };
                    // A 404 from a route the router has (`Key not found`) is the plugin's answer;
                    // only a path no route claims falls through to the plugin's UI or an app.
                    if res.status() != StatusCode::NOT_FOUND || res.extensions().get::<Claimed>().is_some() || self.next_app(&mut next, path).await.is_none() {
                        return res;
                    }
                    req = Request::from_parts(parts, replay.map(Body::from).unwrap_or_default());
                }
                self.next_app(&mut next, path).await;
                match (next, &self.apps) {
                    (Some(Ok(Some(app))), Some(apps)) => apps.serve(&app, req).await,
                    (Some(Err(e)), _) => respond::plugin_error(&e),
                    _ => not_found(),
                }
            }
            Target::App(app) => match &self.apps {
                Some(apps) => apps.serve(&app, req).await,
                None => not_found(),
            },
            Target::BrokenApp(e) => {
                tracing::error!(error = %e, path = %req.uri().path(), "App cannot be served.");
                respond::plugin_error(&e)
            }
            Target::Nothing => not_found(),
        }
    }
}

/// Marks the answers of a plugin router's routes (not of its fallback) with [`Claimed`].
///
/// A router without routes (a JS plugin's catch-all fallback) is left alone: its 404s still fall
/// through, as before. `route_layer` panics on a router without routes, hence the check.
pub(crate) fn mark_claimed(router: axum::Router) -> axum::Router {
    if !router.has_routes() {
        return router;
    }
    router.route_layer(tower::util::MapResponseLayer::new(|mut res: Response| {
        res.extensions_mut().insert(Claimed);
        res
    }))
}

/// Set on a response that one of a plugin router's own routes produced.
#[derive(Debug, Clone, Copy)]
struct Claimed;

/// Runs the `server_fetch` hooks in registry order with the body buffered (each hook, and what
/// comes after, gets it whole): the first answer that is not a 404 wins. `Err` is the answer for a
/// failed hook or an unreadable body.
async fn run_server_fetch(generation: &Generation, req: &mut Request, cx: &RequestContext) -> Result<Option<Response>, Response> {
    let body = if carries_body(req) {
        match axum::body::to_bytes(std::mem::take(req.body_mut()), usize::MAX).await {
            Ok(bytes) => Some(bytes),
            Err(_) => return Err(respond::text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large")),
        }
    } else {
        None
    };
    let mut answer = None;
    for &i in &generation.server_fetch_hooks {
        let p = &generation.plugins[i];
        if let Some(bytes) = &body {
            *req.body_mut() = Body::from(bytes.clone());
        }
        let started = p.hook_timings.clock();
        let outcome = AssertUnwindSafe(p.plugin.server_fetch(req, cx)).catch_unwind().await;
        p.hook_timings.server_fetch.observe_since(started);
        match outcome {
            Ok(Ok(Some(res))) if res.status() != StatusCode::NOT_FOUND => {
                answer = Some(res);
                break;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                log_hook_error(p, "server_fetch", &e);
                return Err(respond::plugin_error(&e));
            }
            Err(_) => {
                tracing::error!(plugin = %p.name(), hook = "server_fetch", request_id = %cx.request_id, "Plugin hook panicked.");
                return Err(respond::plugin_panic());
            }
        }
    }
    if let Some(bytes) = body {
        *req.body_mut() = Body::from(bytes);
    }
    Ok(answer)
}

/// Shows an answer that the request step `k` gave from `on_request` (a short-circuit or a hook
/// error) to the native plugins whose `on_request` already ran, in order, through
/// [`crate::Plugin::on_short_circuit`] (edge plugins add CORS to a 401 and log it). Their errors
/// and panics are logged and leave the answer as it is.
async fn run_short_circuit_hooks(generation: &Generation, k: usize, mut res: Response, cx: &RequestContext) -> Response {
    for step in &generation.request_steps[..k] {
        let HookStep::One(i) = step else { continue };
        let p = &generation.plugins[*i];
        match AssertUnwindSafe(p.plugin.on_short_circuit(&mut res, cx)).catch_unwind().await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log_hook_error(p, "on_short_circuit", &e),
            Err(_) => tracing::error!(plugin = %p.name(), hook = "on_short_circuit", request_id = %cx.request_id, "Plugin hook panicked."),
        }
    }
    res
}

async fn run_response_hooks(generation: &Generation, mut res: Response, cx: &RequestContext) -> Response {
    for step in &generation.response_steps {
        let started = generation.plugins[step_first(step)].hook_timings.clock();
        let (outcome, culprit) = match step {
            HookStep::One(i) => (AssertUnwindSafe(generation.plugins[*i].plugin.on_response(&mut res, cx)).catch_unwind().await.map(|r| r.map_err(|e| (0, e))), *i),
            HookStep::Batch { batch, plugins, names } => {
                let outcome = AssertUnwindSafe(batch.on_response(names, &mut res, cx)).catch_unwind().await;
                let culprit = blamed(plugins, &outcome);
                (outcome, culprit)
            }
        };
        record_step(generation, step, started, |t| &t.on_response);
        let p = &generation.plugins[culprit];
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err((_, e))) => {
                log_hook_error(p, "on_response", &e);
                return respond::plugin_error(&e);
            }
            Err(_) => {
                tracing::error!(plugin = %p.name(), hook = "on_response", request_id = %cx.request_id, "Plugin hook panicked.");
                return respond::plugin_panic();
            }
        }
    }
    res
}

/// The first plugin a step runs (whose timings say whether the clock is on).
fn step_first(step: &HookStep) -> usize {
    match step {
        HookStep::One(i) => *i,
        HookStep::Batch { plugins, .. } => plugins[0],
    }
}

/// Records a step's duration in its plugins' hook series. The plugins of a batch share one round
/// trip, so each is charged an equal part of it.
fn record_step(generation: &Generation, step: &HookStep, started: Option<std::time::Instant>, series: impl Fn(&crate::metrics::HookTimings) -> &crate::metrics::Histogram) {
    let Some(started) = started else { return };
    let took = started.elapsed();
    match step {
        HookStep::One(i) => series(&generation.plugins[*i].hook_timings).observe(took),
        HookStep::Batch { plugins, .. } => {
            let share = took / u32::try_from(plugins.len()).unwrap_or(u32::MAX);
            for &i in plugins {
                series(&generation.plugins[i].hook_timings).observe(share);
            }
        }
    }
}

/// The plugin a batch's outcome is logged against: the failing hook's, else the batch's first.
fn blamed<T>(plugins: &[usize], outcome: &std::thread::Result<Result<T, (usize, crate::error::PluginError)>>) -> usize {
    match outcome {
        Ok(Err((k, _))) => plugins.get(*k).copied().unwrap_or(plugins[0]),
        _ => plugins[0],
    }
}

fn log_hook_error(p: &LoadedPlugin, hook: &str, e: &crate::error::PluginError) {
    if e.kind() == crate::error::ErrorKind::Internal {
        tracing::error!(plugin = %p.name(), hook, error = %e, "Plugin hook failed.");
    } else {
        tracing::debug!(plugin = %p.name(), hook, error = %e, "Plugin hook answered with an error.");
    }
}

/// Returns whether `req` may carry a body. Headers are not enough: HTTP/2 and in-process requests
/// can send a body without `Content-Length` or `Transfer-Encoding`, so the body is asked too.
fn carries_body(req: &Request) -> bool {
    has_body(req.headers()) || !http_body::Body::is_end_stream(req.body())
}

/// The request id, as hooks see it and as the response header repeats it.
struct Stamp {
    id: Arc<str>,
    header: Option<HeaderValue>,
}

fn finish(res: Response, request_id: &Stamp, generation: &Generation, guard: crate::generation::InflightGuard) -> Response {
    let (mut parts, body) = res.into_parts();
    if let Some(v) = &request_id.header {
        parts.headers.insert(REQUEST_ID_HEADER, v.clone());
    }
    parts.headers.insert(GENERATION_HEADER, generation.header_value.clone());
    let event_stream = parts.headers.get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body = if event_stream {
        GuardedBody::ending_when(body, guard, generation.replaced())
    } else {
        GuardedBody::new(body, guard)
    };
    Response::from_parts(parts, Body::new(body))
}

fn not_found() -> Response {
    respond::text(StatusCode::NOT_FOUND, "Not Found")
}

/// Returns `/seg` for `/seg/rest` (or `/seg`), `/` for `/`.
pub fn first_segment(path: &str) -> &str {
    let rest = &path[1.min(path.len())..];
    match rest.find('/') {
        Some(i) => &path[..=i],
        None => path,
    }
}

/// Points `req` at `path`, keeping the query; the original URI stays available as `OriginalUri`.
pub fn rewrite_path(req: &mut Request, path: &str) {
    let original = req.uri().clone();
    let pq = match original.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = original.clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            if req.extensions().get::<OriginalUri>().is_none() {
                req.extensions_mut().insert(OriginalUri(original));
            }
            *req.uri_mut() = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_segment_takes_one_segment() {
        assert_eq!(first_segment("/hello/api/x"), "/hello");
        assert_eq!(first_segment("/hello"), "/hello");
        assert_eq!(first_segment("/"), "/");
    }

    #[test]
    fn rewrite_keeps_query_and_original() {
        let mut req = http::Request::builder().uri("/hello/api/x?a=1").body(Body::empty()).unwrap();
        rewrite_path(&mut req, "/api/x");
        assert_eq!(req.uri().to_string(), "/api/x?a=1");
        assert_eq!(req.extensions().get::<OriginalUri>().unwrap().0.path(), "/hello/api/x");
    }
}
