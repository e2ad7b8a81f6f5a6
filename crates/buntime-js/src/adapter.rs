//! The [`Plugin`] adapter for a JS plugin: forwards only the hooks the plugin has to its host.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use buntime_core::services::JsonService;
use buntime_core::{Flow, Hooks, Plugin, PluginError, Request, RequestContext, Response, ServerInfo, respond};
use http::StatusCode;
use serde_json::Value;

use crate::error::CallError;
use crate::host::HostInner;
use crate::http_conv::{absolute_url, buffer_request_body, pairs, replaced_request, response, to_bytes};
use crate::protocol::{CoreRequest, HttpReply, PluginHooks};

/// A JS plugin as the pipeline sees it.
pub(crate) struct JsPlugin {
    name: Arc<str>,
    host: Arc<HostInner>,
    hooks: PluginHooks,
}

impl JsPlugin {
    pub(crate) fn new(name: String, host: Arc<HostInner>, hooks: PluginHooks) -> Self {
        Self { name: name.into(), host, hooks }
    }
}

fn app_json(cx: &RequestContext) -> Option<Value> {
    cx.app.as_ref().and_then(|a| serde_json::to_value(a.as_ref()).ok())
}

/// The parts of a request the host needs, taken before any await (bodies are not `Sync`).
struct Head {
    method: String,
    url: String,
    headers: crate::protocol::HeaderPairs,
}

impl Head {
    fn of(req: &Request) -> Self {
        Self { method: req.method().as_str().to_owned(), url: absolute_url(req), headers: pairs(req.headers()) }
    }
}

/// Calls `routes.fetch` or `server.fetch` with a request and returns the JS response.
async fn fetch(host: &HostInner, plugin: &str, target: &str, head: &Head, body: &[u8]) -> Result<Response, CallError> {
    host.sync_services().await;
    let msg = CoreRequest::Fetch { plugin, target, method: &head.method, url: &head.url, headers: &head.headers };
    let frame = host.call(&msg, body, host.opts.call_timeout).await?;
    let reply: HttpReply = frame.parse().map_err(|e| CallError::Protocol(e.to_string()))?;
    Ok(response(reply.status, &reply.headers, frame.body))
}

/// Answers a route request that failed in the host: 503 JSON when the host is down or silent,
/// 500 JSON (details logged) when the plugin's code threw.
fn route_error(plugin: &str, e: &CallError) -> Response {
    if e.is_unavailable() {
        tracing::warn!(plugin, error = %e, "JS plugin route unavailable.");
        respond::json_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", &format!("plugin `{plugin}` is unavailable; try again shortly"))
    } else {
        tracing::error!(plugin, hook = "routes", error = %e, "JS plugin route failed.");
        respond::plugin_panic()
    }
}

#[async_trait]
impl Plugin for JsPlugin {
    async fn on_request(&self, req: &mut Request, cx: &RequestContext) -> Result<Flow, PluginError> {
        let host = &self.host;
        if self.hooks.on_request {
            host.sync_services().await;
            let body = match buffer_request_body(req).await {
                Ok(b) => b,
                Err(e) => return Ok(Flow::Respond(e.response())),
            };
            let (url, headers, app) = (absolute_url(req), pairs(req.headers()), app_json(cx));
            let msg = CoreRequest::OnRequest { plugin: &self.name, method: req.method().as_str(), url: &url, headers: &headers, app: app.as_ref() };
            match host.call(&msg, &body, host.opts.call_timeout).await {
                Ok(frame) => {
                    let head: HttpReply = frame.parse().map_err(|e| PluginError::internal(e.to_string()))?;
                    match head.action.as_deref() {
                        Some("respond") => return Ok(Flow::Respond(response(head.status, &head.headers, frame.body))),
                        Some("replace") => {
                            let next = replaced_request(req, head.method.as_deref(), head.url.as_deref(), &head.headers, frame.body);
                            if !self.hooks.server_fetch {
                                return Ok(Flow::Replace(next));
                            }
                            *req = next;
                        }
                        _ => {}
                    }
                }
                // Like the original: a throwing onRequest is logged and skipped (fail-open).
                Err(CallError::Remote { message, .. }) => {
                    tracing::error!(plugin = %self.name, hook = "onRequest", request_id = %cx.request_id, error = %message, "JS hook threw; continuing.");
                }
                Err(e) => return Err(e.into_plugin_error(&self.name)),
            }
        }
        if self.hooks.server_fetch {
            // `server.fetch` sees the unstripped request; a non-404 answer is final.
            let body = match buffer_request_body(req).await {
                Ok(b) => b,
                Err(e) => return Ok(Flow::Respond(e.response())),
            };
            let head = Head::of(req);
            let res = fetch(host, &self.name, "server", &head, &body).await.map_err(|e| e.into_plugin_error(&self.name))?;
            if res.status() != StatusCode::NOT_FOUND {
                return Ok(Flow::Respond(res));
            }
        }
        Ok(Flow::Continue)
    }

    async fn on_response(&self, res: &mut Response, cx: &RequestContext) -> Result<(), PluginError> {
        if !self.hooks.on_response {
            return Ok(());
        }
        let host = &self.host;
        host.sync_services().await;
        let body = to_bytes(std::mem::take(res.body_mut())).await.map_err(|_| PluginError::internal("cannot read the response body for onResponse"))?;
        let (headers, app) = (pairs(res.headers()), app_json(cx));
        let msg = CoreRequest::OnResponse { plugin: &self.name, status: res.status().as_u16(), headers: &headers, app: app.as_ref() };
        match host.call(&msg, &body, host.opts.call_timeout).await {
            Ok(frame) => {
                let head: HttpReply = frame.parse().map_err(|e| PluginError::internal(e.to_string()))?;
                if head.action.as_deref() == Some("replace") {
                    *res = response(head.status, &head.headers, frame.body);
                } else {
                    *res.body_mut() = Body::from(body);
                }
                Ok(())
            }
            Err(e) => Err(e.into_plugin_error(&self.name)),
        }
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

    fn routes(&self) -> Option<Router> {
        if !self.hooks.routes {
            return None;
        }
        let (host, name) = (self.host.clone(), self.name.clone());
        Some(Router::new().fallback(move |req: Request| {
            let (host, name) = (host.clone(), name.clone());
            async move {
                let mut req = req;
                let body = match buffer_request_body(&mut req).await {
                    Ok(b) => b,
                    Err(e) => return e.response(),
                };
                let head = Head::of(&req);
                drop(req);
                match fetch(&host, &name, "routes", &head, &body).await {
                    Ok(res) => res,
                    Err(e) => route_error(&name, &e),
                }
            }
        }))
    }

    fn provides_json(&self) -> Option<Arc<dyn JsonService>> {
        self.hooks.provides.then(|| Arc::new(JsService { host: self.host.clone(), name: self.name.clone() }) as Arc<dyn JsonService>)
    }

    fn hooks(&self) -> Hooks {
        Hooks { on_request: self.hooks.on_request || self.hooks.server_fetch, on_response: self.hooks.on_response }
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
