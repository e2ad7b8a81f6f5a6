//! `@buntime/plugin-metrics`, native: the worker pool's metrics and per-app worker stats as JSON,
//! SSE and Prometheus text under `/metrics`, with the runtime's own metrics (requests, latency,
//! plugin hooks, reloads, restarts) in the same exposition. No UI yet; see `docs/metrics.md`.
#![forbid(unsafe_code)]

pub mod config;
pub mod prometheus;
mod routes;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use buntime_core::app::PoolView;
use buntime_core::{
    ErrorKind, Hooks, Plugin, PluginContext, PluginError, PluginLogger, RuntimeMetrics,
};
use tokio::sync::watch;

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-metrics";

/// The metrics plugin.
pub struct MetricsPlugin {
    config: config::Config,
    pool: Option<Arc<dyn PoolView>>,
    runtime: Arc<RuntimeMetrics>,
    stopping: watch::Sender<bool>,
    logger: PluginLogger,
}

impl std::fmt::Debug for MetricsPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsPlugin")
            .field("config", &self.config)
            .field("pool", &self.pool.is_some())
            .finish_non_exhaustive()
    }
}

impl MetricsPlugin {
    /// Builds the plugin from its manifest and the host's pool handle (`ctx.pool()`).
    ///
    /// # Errors
    /// A bad `sseInterval`, naming the key.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let config =
            config::parse(cx.config()).map_err(|e| PluginError::new(ErrorKind::Internal, e))?;
        Ok(Self {
            config,
            pool: cx.pool().cloned(),
            runtime: cx.metrics().clone(),
            stopping: watch::channel(false).0,
            logger: cx.logger().clone(),
        })
    }
}

#[async_trait]
impl Plugin for MetricsPlugin {
    async fn on_init(&self, _cx: &PluginContext) -> Result<(), PluginError> {
        let pool = if self.pool.is_some() {
            "worker pool attached"
        } else {
            "no worker pool (pool endpoints answer 503)"
        };
        let measuring = if self.runtime.enabled() {
            ""
        } else {
            "; RUNTIME_METRICS=false: requests and hooks are not measured"
        };
        self.logger
            .info(format!("metrics ready: {pool}{measuring}"));
        Ok(())
    }

    async fn on_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    fn routes(&self) -> Option<Router> {
        Some(routes::router(routes::AppState {
            pool: self.pool.clone(),
            runtime: self.runtime.clone(),
            sse_interval: self.config.sse_interval,
            stopping: self.stopping.subscribe(),
        }))
    }

    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}
