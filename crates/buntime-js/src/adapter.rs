//! The [`Plugin`] adapter for a JS plugin: routes go over HTTP, the hooks it has over the protocol.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use buntime_core::batch::HookBatch;
use buntime_core::services::JsonService;
use buntime_core::{Flow, Hooks, Plugin, PluginError, Request, RequestContext, Response, ServerInfo, WorkerNotice, respond};
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::hooks;
use crate::host::HostInner;
use crate::http_conv::{absolute_url, buffer_request_body, pairs, response};
use crate::protocol::{CoreRequest, HttpReply, PluginHooks};
use crate::route_link::{LinkError, ROUTE_ERROR_HEADER, route_request};

/// A JS plugin as the pipeline sees it.
pub(crate) struct JsPlugin {
    name: Arc<str>,
    host: Arc<HostInner>,
    hooks: PluginHooks,
    menus: Option<Value>,
}

impl JsPlugin {
    pub(crate) fn new(name: String, host: Arc<HostInner>, hooks: PluginHooks, menus: Option<Value>) -> Self {
        Self { name: name.into(), host, hooks, menus }
    }

    /// Sends `onWorkerSpawn` / `onWorkerTerminate`; a failure is logged.
    async fn worker_event(&self, worker: &WorkerNotice, spawned: bool) {
        let worker = serde_json::to_value(worker).unwrap_or(Value::Null);
        let (msg, hook) = if spawned {
            (CoreRequest::OnWorkerSpawn { plugin: &self.name, worker: &worker }, "onWorkerSpawn")
        } else {
            (CoreRequest::OnWorkerTerminate { plugin: &self.name, worker: &worker }, "onWorkerTerminate")
        };
        if let Err(e) = self.host.call(&msg, b"", self.host.opts.call_timeout).await {
            tracing::error!(plugin = %self.name, hook, error = %e, "JS hook failed.");
        }
    }
}

/// The 503 JSON of a plugin whose host cannot answer.
fn unavailable(plugin: &str) -> Response {
    respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", &format!("plugin `{plugin}` is unavailable; try again shortly"))
}

/// Answers a route request the host did not answer: 503 JSON when it is down, broke the
/// connection or stayed silent; 413 when the body went over its limit. A host that is down is
/// logged once per incident (by [`HostInner::note_refused`]), not once per request.
/// Relays a WebSocket upgrade to the host's Bun.serve socket, where the plugin answers it with
/// `server.upgrade()` (the `onServerStart` server, or Hono's `upgradeWebSocket`).
async fn upgrade(req: Request, link: &crate::route_link::RouteLink, plugin: &HeaderValue, timeout: std::time::Duration) -> Response {
    let mut headers = http::HeaderMap::new();
    headers.insert(crate::route_link::PLUGIN_HEADER, plugin.clone());
    let upstream = buntime_core::ws_relay::UnixUpstream { socket: link.path(), headers, timeout };
    match buntime_core::ws_relay::relay_unix(req, upstream, ()).await {
        Ok(res) => res,
        Err(e) => {
            tracing::warn!(plugin = %plugin.to_str().unwrap_or_default(), error = %e, "WebSocket upgrade to the plugin host failed.");
            respond::json_error(StatusCode::BAD_GATEWAY, "PLUGIN_WEBSOCKET_FAILED", &format!("the WebSocket upgrade could not reach plugin `{}`: {e}", plugin.to_str().unwrap_or_default()))
        }
    }
}

async fn route_error(host: &HostInner, plugin: &str, e: &LinkError) -> Response {
    match e {
        LinkError::TooLarge => return respond::text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
        LinkError::Timeout(d) => tracing::warn!(
            plugin = %plugin,
            hook = "routes",
            generation = host.generation,
            budget_ms = d.as_millis() as u64,
            "JS hook did not answer within its budget; answering 503."
        ),
        LinkError::Broken(_) => {
            host.settle_after_broken_route().await;
            if host.route_link().is_none() {
                host.note_refused(plugin, "routes");
            } else {
                tracing::warn!(plugin = %plugin, error = %e, "JS plugin route connection broke; answering 503.");
            }
        }
    }
    unavailable(plugin)
}

/// Answers a method Bun's HTTP server would refuse (it closes the connection on a method outside
/// its list, such as `FOO` or a lowercase `get`): 501 JSON, without bothering the host.
fn unsupported_method(plugin: &str, method: &http::Method) -> Response {
    respond::json_error(
        StatusCode::NOT_IMPLEMENTED,
        "METHOD_NOT_IMPLEMENTED",
        &format!("method `{method}` is not supported by the routes of plugin `{plugin}` (methods are case-sensitive: use e.g. `GET`)"),
    )
}

#[async_trait]
impl Plugin for JsPlugin {
    async fn on_request(&self, req: &mut Request, cx: &RequestContext) -> Result<Flow, PluginError> {
        if !self.hooks.on_request {
            return Ok(Flow::Continue);
        }
        hooks::on_request(&self.host, std::slice::from_ref(&self.name), req, cx).await.map_err(|(_, e)| e)
    }

    async fn server_fetch(&self, req: &mut Request, _cx: &RequestContext) -> Result<Option<Response>, PluginError> {
        if !self.hooks.server_fetch {
            return Ok(None);
        }
        // `server.fetch` sees the unstripped request; the pipeline treats a 404 as "not mine".
        let body = match buffer_request_body(req).await {
            Ok(b) => b,
            Err(e) => return Ok(Some(e.response())),
        };
        let host = &self.host;
        host.sync_services().await;
        let (url, headers) = (absolute_url(req), pairs(req.headers()));
        let msg = CoreRequest::Fetch { plugin: &self.name, method: req.method().as_str(), url: &url, headers: &headers };
        let frame = host.call(&msg, &body, host.opts.call_timeout).await.map_err(|e| e.into_plugin_error(&self.name))?;
        let reply: HttpReply = frame.parse().map_err(|e| PluginError::internal(e.to_string()))?;
        Ok(Some(response(reply.status, &reply.headers, frame.body)))
    }

    async fn on_response(&self, res: &mut Response, cx: &RequestContext) -> Result<(), PluginError> {
        if !self.hooks.on_response {
            return Ok(());
        }
        hooks::on_response(&self.host, std::slice::from_ref(&self.name), res, cx).await.map_err(|(_, e)| e)
    }

    async fn on_server_start(&self, server: &ServerInfo) {
        if !self.hooks.on_server_start {
            return;
        }
        let info = serde_json::json!({
            "hostname": server.addr.ip().to_string(),
            "port": server.addr.port(),
            "url": format!("http://{}/", server.addr),
        });
        if let Err(e) = self.host.call(&CoreRequest::OnServerStart { plugin: &self.name, server: &info }, b"", self.host.opts.call_timeout).await {
            tracing::error!(plugin = %self.name, hook = "onServerStart", error = %e, "JS hook failed.");
        }
    }

    async fn on_shutdown(&self) {
        if !self.hooks.on_shutdown {
            return;
        }
        if let Err(e) = self.host.call(&CoreRequest::OnShutdown { plugin: &self.name }, b"", self.host.opts.shutdown_timeout).await {
            tracing::error!(plugin = %self.name, hook = "onShutdown", error = %e, "JS hook failed.");
        }
    }

    async fn on_worker_spawn(&self, worker: &WorkerNotice) {
        if self.hooks.on_worker_spawn {
            self.worker_event(worker, true).await;
        }
    }

    async fn on_worker_terminate(&self, worker: &WorkerNotice) {
        if self.hooks.on_worker_terminate {
            self.worker_event(worker, false).await;
        }
    }

    fn routes(&self) -> Option<Router> {
        if !self.hooks.routes {
            return None;
        }
        let (host, name) = (self.host.clone(), self.name.clone());
        // Names are manifest names; one that is not a valid header value cannot be routed to.
        let plugin = HeaderValue::from_str(&name).ok()?;
        Some(Router::new().fallback(move |req: Request| {
            let (host, name, plugin) = (host.clone(), name.clone(), plugin.clone());
            async move {
                if !buntime_core::bun::serves_method(req.method()) {
                    return unsupported_method(&name, req.method());
                }
                host.sync_services().await;
                let Some(link) = host.route_link() else {
                    host.note_refused(&name, "routes");
                    return unavailable(&name);
                };
                if buntime_core::ws_relay::is_upgrade(&req) {
                    return upgrade(req, &link, &plugin, host.opts.call_timeout).await;
                }
                match link.send(route_request(req, &plugin), host.opts.call_timeout).await {
                    Ok(res) if res.headers().contains_key(ROUTE_ERROR_HEADER) => respond::plugin_panic(),
                    Ok(res) => res,
                    Err(e) => route_error(&host, &name, &e).await,
                }
            }
        }))
    }

    fn provides_json(&self) -> Option<Arc<dyn JsonService>> {
        self.hooks.provides.then(|| Arc::new(JsService { host: self.host.clone(), name: self.name.clone() }) as Arc<dyn JsonService>)
    }

    fn menus(&self) -> Option<Value> {
        self.menus.clone()
    }

    fn hook_batch(&self) -> Option<Arc<dyn HookBatch>> {
        Some(self.host.batch.clone())
    }

    fn hooks(&self) -> Hooks {
        Hooks { on_request: self.hooks.on_request, on_response: self.hooks.on_response, server_fetch: self.hooks.server_fetch }
    }
}

/// A JS plugin's `provides()` value, callable from native plugins with JSON arguments.
struct JsService {
    host: Arc<HostInner>,
    name: Arc<str>,
}

#[async_trait]
impl JsonService for JsService {
    async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, PluginError> {
        let msg = CoreRequest::Invoke { plugin: &self.name, method, args: &args };
        let frame = self.host.call(&msg, b"", self.host.opts.call_timeout).await.map_err(|e| e.into_plugin_error(&self.name))?;
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(default)]
            value: Value,
        }
        Ok(frame.parse::<Reply>().map_err(|e| PluginError::internal(e.to_string()))?.value)
    }
}
