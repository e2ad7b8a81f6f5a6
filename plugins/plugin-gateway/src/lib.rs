//! `@buntime/plugin-gateway`, native: the edge of every request. CORS preflights and headers, a
//! token bucket per client, a response cache, the micro-frontend app shell for browser
//! navigations, a request log, metrics history (in KeyVal when it is loaded) and the dashboard
//! API with its SSE feed under `/gateway/api`. See `docs/gateway.md`.
//!
//! It does not authenticate anyone: it loads before plugin-authn (no dependency on it), so
//! preflights and floods are answered before authentication runs.
#![forbid(unsafe_code)]

pub mod bucket;
pub mod cache;
pub mod config;
pub mod cors;
pub mod gateway;
pub mod guard;
pub mod history;
pub mod log;
pub mod pending;
pub mod routes;
pub mod shell;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use buntime_core::{
    ErrorKind, Flow, Hooks, Plugin, PluginContext, PluginError, Request, RequestContext, Response,
    ServerInfo,
};

pub use config::Config;
pub use gateway::{Gateway, now_ms};

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-gateway";

/// The gateway plugin.
#[derive(Debug)]
pub struct GatewayPlugin {
    gw: Arc<Gateway>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl GatewayPlugin {
    /// Builds the plugin from its manifest and the `GATEWAY_*` env vars.
    ///
    /// # Errors
    /// Every invalid key, each named with its fix, and the manifest file.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let config = config::parse(cx.config(), cx.env()).map_err(|errors| {
            let file = cx.dir().join("manifest.yaml");
            PluginError::new(
                ErrorKind::Internal,
                format!("{}: {}", file.display(), errors.join("; ")),
            )
        })?;
        let cwd = std::env::current_dir().unwrap_or_default();
        let runtime = buntime_core::RuntimeConfig::from_env(cx.env(), &cwd)
            .map_err(|e| PluginError::internal(format!("runtime configuration: {e}")))?;
        let access = Arc::new(buntime_auth::AccessControl::from_config(&runtime));
        Ok(Self {
            gw: Arc::new(Gateway::new(config, cx, runtime.trust_proxy, access)),
            ticker: Mutex::new(None),
        })
    }

    /// The shared state (for tests and embedders).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gw
    }
}

#[async_trait]
impl Plugin for GatewayPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        let gw = self.gw.clone();
        let handle = tokio::spawn(async move {
            let mut every = tokio::time::interval_at(
                tokio::time::Instant::now() + Gateway::TICK,
                Gateway::TICK,
            );
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0u64;
            loop {
                every.tick().await;
                n += 1;
                gw.tick(n).await;
            }
        });
        if let Ok(mut t) = self.ticker.lock() {
            *t = Some(handle);
        }
        let c = &self.gw.config;
        let on = |b: bool| if b { "on" } else { "off" };
        cx.logger().info(format!(
            "gateway ready: rate limit {}, cors {}, cache {}, shell {}",
            c.rate_limit.as_ref().map_or_else(
                || "off".to_owned(),
                |r| format!(
                    "{} per {} by {}",
                    r.requests,
                    r.window_text,
                    r.key_by.as_str()
                )
            ),
            on(c.cors.is_some()),
            on(c.cache.is_some()),
            c.shell.as_ref().map_or("off", |s| s.dir.as_str()),
        ));
        Ok(())
    }

    async fn on_server_start(&self, server: &ServerInfo) {
        self.gw.access.set_listener(server.addr);
        self.gw.ensure_loaded().await;
    }

    async fn on_request(
        &self,
        req: &mut Request,
        cx: &RequestContext,
    ) -> Result<Flow, PluginError> {
        Ok(match self.gw.on_request(req, cx).await {
            Some(res) => Flow::Respond(res),
            None => Flow::Continue,
        })
    }

    async fn on_response(
        &self,
        res: &mut Response,
        cx: &RequestContext,
    ) -> Result<(), PluginError> {
        self.gw.on_response(res, cx).await;
        Ok(())
    }

    async fn on_short_circuit(
        &self,
        res: &mut Response,
        cx: &RequestContext,
    ) -> Result<(), PluginError> {
        self.gw.on_short_circuit(res, cx);
        Ok(())
    }

    async fn on_shutdown(&self) {
        if let Some(h) = self.ticker.lock().ok().and_then(|mut t| t.take()) {
            h.abort();
        }
        self.gw.stopping.send_replace(true);
    }

    fn routes(&self) -> Option<Router> {
        Some(routes::router(self.gw.clone()))
    }

    fn hooks(&self) -> Hooks {
        Hooks::DEFAULT
    }
}
