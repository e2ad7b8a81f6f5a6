//! `@buntime/plugin-vhosts`, native: serves a worker app at the root of a custom domain.
//!
//! Its `server_fetch` hook matches the request's `Host` against the manifest's `hosts` ([`hosts`]):
//! exact names first, then `*.domain` wildcards in the order written (the subdomain becomes the
//! `x-vhost-tenant` header). A match is served by the app the runtime's own resolver finds for
//! `app` (`name[@range]`), through the worker pool, with `x-base: /`. No match goes on down the
//! pipeline. It owns no routes, storage or services. See `docs/vhosts.md`.
#![forbid(unsafe_code)]

pub mod hosts;

use std::sync::OnceLock;

use async_trait::async_trait;
use axum::body::Body;
use buntime_core::{
    ErrorKind, Hooks, Plugin, PluginContext, PluginError, PluginLogger, Request, RequestContext,
    Response,
};
use http::{HeaderValue, StatusCode, header};

pub use hosts::{Host, Hosts, Matched};

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-vhosts";

/// The header that carries a wildcard host's subdomain to the app.
pub const TENANT_HEADER: &str = "x-vhost-tenant";

/// The virtual hosts plugin.
#[derive(Debug)]
pub struct VhostsPlugin {
    hosts: Hosts,
    cx: OnceLock<PluginContext>,
    logger: PluginLogger,
}

impl VhostsPlugin {
    /// Builds the plugin from its manifest (`hosts` validated here).
    ///
    /// # Errors
    /// Every invalid `hosts` entry, each named.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let hosts = Hosts::from_json(cx.config().get("hosts"))
            .map_err(|e| PluginError::new(ErrorKind::Internal, e.join("; ")))?;
        Ok(Self {
            hosts,
            cx: OnceLock::new(),
            logger: cx.logger().clone(),
        })
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let mut res = Response::new(Body::from(
        serde_json::json!({ "error": message }).to_string(),
    ));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[async_trait]
impl Plugin for VhostsPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        if cx.apps().is_none() && !self.hosts.is_empty() {
            self.logger
                .warn("this runtime hosts no apps: every virtual host will answer 503");
        }
        let _ = self.cx.set(cx.clone());
        Ok(())
    }

    async fn server_fetch(
        &self,
        req: &mut Request,
        _cx: &RequestContext,
    ) -> Result<Option<Response>, PluginError> {
        let Some(cx) = self.cx.get() else {
            return Ok(None);
        };
        let Some(host) = hosts::request_host(req) else {
            return Ok(None);
        };
        let Some(matched) = self.hosts.find(&host, req.uri().path()) else {
            return Ok(None);
        };
        let Some(apps) = cx.apps() else {
            return Ok(Some(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "this runtime hosts no apps",
            )));
        };
        let app = match apps.resolve_app(&matched.host.app).await {
            Ok(Some(app)) => app,
            Ok(None) => {
                return Ok(Some(json_error(
                    StatusCode::BAD_GATEWAY,
                    &format!("Virtual host app not found: {}", matched.host.app),
                )));
            }
            Err(e) => {
                self.logger.warn(format!(
                    "virtual host `{host}`: app `{}` cannot be used: {e}",
                    matched.host.app
                ));
                return Ok(Some(json_error(
                    StatusCode::BAD_GATEWAY,
                    &format!("Virtual host app cannot be used: {}", matched.host.app),
                )));
            }
        };
        let mut forwarded = std::mem::take(req);
        let headers = forwarded.headers_mut();
        headers.insert("x-base", HeaderValue::from_static("/"));
        // Only this plugin says which tenant a request is for.
        headers.remove(TENANT_HEADER);
        if let Some(tenant) = &matched.tenant
            && let Ok(v) = HeaderValue::from_str(tenant)
        {
            headers.insert(TENANT_HEADER, v);
        }
        Ok(Some(cx.pool_fetch(&app.info.dir, None, forwarded).await))
    }

    fn hooks(&self) -> Hooks {
        Hooks {
            on_request: false,
            on_response: false,
            server_fetch: true,
        }
    }
}
