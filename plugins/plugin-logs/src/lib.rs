//! `@buntime/plugin-logs`, native: a ring buffer of recent log entries under `/logs`, fed by the
//! runtime's own `tracing` events (through [`buntime_core::logsink`], so plugins' `ctx.logger`
//! lines arrive too) and by callers (`POST /logs/api`, the `addLog` service), secrets redacted.
//! Filters, stats and an SSE feed of new entries; no UI yet. See `docs/logs.md`.
#![forbid(unsafe_code)]

pub mod config;
mod routes;
pub mod service;
pub mod store;

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use buntime_core::{ErrorKind, Hooks, Plugin, PluginContext, PluginError, PluginLogger};
use tokio::sync::watch;

pub use service::LogsService;
pub use store::{Entry, Filter, LogStore, NewEntry};

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-logs";

/// How often the runtime's pending log events are moved into the ring when nobody reads.
const FEED_EVERY: Duration = Duration::from_millis(250);

/// The logs plugin.
#[derive(Debug)]
pub struct LogsPlugin {
    config: config::Config,
    store: Arc<LogStore>,
    feeder: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stopping: watch::Sender<bool>,
    logger: PluginLogger,
}

impl LogsPlugin {
    /// Builds the plugin from its manifest; from then on it receives the runtime's log events. A
    /// reload's new instance starts with the entries of the one it replaces.
    ///
    /// # Errors
    /// A bad `maxEntries` or `sseInterval`, each naming its key.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let config = config::parse(cx.config())
            .map_err(|e| PluginError::new(ErrorKind::Internal, e.join("; ")))?;
        Ok(Self {
            store: LogStore::open(cx.dir(), config.max_entries),
            config,
            feeder: Mutex::new(None),
            stopping: watch::channel(false).0,
            logger: cx.logger().clone(),
        })
    }

    /// Returns the service (the one [`Plugin::provides`] hands out).
    pub fn service(&self) -> LogsService {
        LogsService::new(self.store.clone())
    }
}

#[async_trait]
impl Plugin for LogsPlugin {
    async fn on_init(&self, _cx: &PluginContext) -> Result<(), PluginError> {
        // Drain regularly so a burst between two reads is kept, not dropped by the sink's queue.
        let store = Arc::downgrade(&self.store);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(FEED_EVERY);
            loop {
                tick.tick().await;
                let Some(store) = store.upgrade() else { return };
                store.absorb();
            }
        });
        if let Ok(mut f) = self.feeder.lock() {
            *f = Some(task);
        }
        self.logger.info(format!(
            "logs ready: keeping the last {} entries",
            self.config.max_entries
        ));
        Ok(())
    }

    async fn on_shutdown(&self) {
        self.stopping.send_replace(true);
        if let Some(task) = self.feeder.lock().ok().and_then(|mut f| f.take()) {
            task.abort();
        }
        self.store.detach();
    }

    fn routes(&self) -> Option<Router> {
        Some(routes::router(routes::AppState {
            store: self.store.clone(),
            max: self.config.max_entries,
            sse_interval: self.config.sse_interval,
            stopping: self.stopping.subscribe(),
        }))
    }

    fn provides(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(Arc::new(self.service()))
    }

    fn provides_json(&self) -> Option<Arc<dyn buntime_core::services::JsonService>> {
        Some(Arc::new(service::LogsJson {
            service: self.service(),
            max: self.config.max_entries,
        }))
    }

    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}
