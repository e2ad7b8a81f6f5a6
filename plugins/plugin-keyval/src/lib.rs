//! `@buntime/plugin-keyval`, native: a Deno-KV-style ordered key/value store on the database plugin.
//!
//! Entries live in the root database of one database-plugin adapter (`database` in the manifest);
//! the HTTP API under `/keyval` and the typed [`Kv`] engine (`provides()`) share one engine, whose
//! writes each run in one write-locked transaction (`BEGIN IMMEDIATE` on SQLite, a table lock on
//! PostgreSQL, see [`dialect`]) and feed the watch streams (of every process sharing a PostgreSQL,
//! see [`remote`]). See `docs/keyval.md`.
#![forbid(unsafe_code)]

pub mod atomic;
pub mod config;
pub mod dialect;
pub mod entries;
pub mod error;
pub mod expiry;
pub mod filter;
pub mod fts;
pub mod json_service;
pub mod keys;
pub mod list;
pub mod metrics;
pub mod queue;
pub mod remote;
pub mod request;
pub mod routes;
pub mod schema;
pub mod store;
pub mod value;
pub mod watch;

use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use axum::Router;
use buntime_core::services::JsonService;
use buntime_core::{ErrorKind, Hooks, Plugin, PluginContext, PluginError, PluginLogger};
use buntime_plugin_database::DatabaseService;

pub use atomic::{AtomicOp, Check, Mutation, MutationKind};
pub use config::Config;
pub use entries::{DeleteOptions, Entry};
pub use error::KvError;
pub use keys::{Key, KeyPart};
pub use list::{ListOptions, Page, Selector};
pub use store::{Change, Kv};

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-keyval";

/// The KeyVal plugin.
#[derive(Debug)]
pub struct KeyvalPlugin {
    config: Config,
    kv: OnceLock<Kv>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    flushed: Arc<metrics::Flushed>,
    logger: PluginLogger,
}

impl KeyvalPlugin {
    /// Builds the plugin from its manifest (validated here; storage opens in `on_init`).
    ///
    /// # Errors
    /// Every invalid manifest key, each named.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let config = config::parse(cx.config())
            .map_err(|errors| PluginError::new(ErrorKind::Internal, errors.join("; ")))?;
        Ok(Self {
            config,
            kv: OnceLock::new(),
            tasks: Mutex::new(Vec::new()),
            flushed: Arc::default(),
            logger: cx.logger().clone(),
        })
    }

    /// Returns the engine once `on_init` has run.
    pub fn kv(&self) -> Option<&Kv> {
        self.kv.get()
    }

    fn keep_task(&self, handle: tokio::task::JoinHandle<()>) {
        if let Ok(mut t) = self.tasks.lock() {
            t.push(handle);
        }
    }
}

#[async_trait]
impl Plugin for KeyvalPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        let db = DatabaseService::from_context(cx, "keyval")?;
        let handle = db
            .adapter(self.config.database.as_deref())
            .map_err(|e| PluginError::internal(format!("`database`: {e}")))?;
        let adapter = handle.kind().to_owned();
        let listen = handle.listen_config();
        let dialect = dialect::Dialect::for_adapter(&adapter).map_err(PluginError::internal)?;
        let kv = Kv::new(db, adapter.clone(), dialect, self.config.clone());
        let mut conn = kv.connect().await.map_err(|e| {
            PluginError::internal(format!("cannot open the {adapter} root database: {e}"))
        })?;
        schema::create(conn.as_mut(), dialect)
            .await
            .map_err(|e| PluginError::internal(format!("cannot create the keyval tables: {e}")))?;
        drop(conn);
        self.keep_task(expiry::spawn(
            kv.clone(),
            self.config.sweep_interval,
            self.logger.clone(),
        ));
        if let Some(config) = listen {
            self.keep_task(remote::spawn(kv.clone(), config, self.logger.clone()));
        }
        if let Some(every) = self.config.queue_cleanup_interval {
            self.keep_task(queue::spawn_cleanup(kv.clone(), every, self.logger.clone()));
        }
        if self.config.metrics_persistent {
            self.keep_task(metrics::spawn_flusher(
                kv.clone(),
                self.flushed.clone(),
                self.config.metrics_flush_interval,
                self.logger.clone(),
            ));
        }
        let _ = self.kv.set(kv);
        self.logger
            .info(format!("keyval ready on the {adapter} root database"));
        Ok(())
    }

    async fn on_shutdown(&self) {
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        if let Some(kv) = self.kv.get() {
            kv.queue_shared().shutdown();
        }
        for t in tasks {
            t.abort();
        }
        if self.config.metrics_persistent
            && let Some(kv) = self.kv.get()
            && let Err(e) = metrics::flush(kv, &self.flushed).await
        {
            self.logger.warn(format!("final metrics flush failed: {e}"));
        }
        if let Some(kv) = self.kv.get() {
            kv.release_idle();
        }
        self.logger.info("keyval stopped");
    }

    fn routes(&self) -> Option<Router> {
        self.kv.get().map(|kv| routes::router(kv.clone()))
    }

    fn provides(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.kv
            .get()
            .map(|kv| Arc::new(kv.clone()) as Arc<dyn Any + Send + Sync>)
    }

    fn provides_json(&self) -> Option<Arc<dyn JsonService>> {
        self.kv
            .get()
            .map(|kv| Arc::new(json_service::KvJson(kv.clone())) as Arc<dyn JsonService>)
    }

    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}
