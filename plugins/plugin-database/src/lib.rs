//! `@buntime/plugin-database`, native: owns the process's database connections.
//!
//! It builds one [`Adapter`] per configured engine (`sqlite`, `postgres`, `mysql`, `libsql`), serves the studio API
//! and a HRANA-over-HTTP server under its base (`/database`), and provides a typed
//! [`DatabaseService`] to other native plugins and the same operations as a JSON service to
//! TypeScript plugins. It does not own a UI or the WebSocket HRANA transport yet; see
//! `docs/database.md`.
#![forbid(unsafe_code)]

pub mod adapter;
pub mod config;
pub mod error;
pub mod hrana;
pub mod json_service;
pub mod hrana_ws;
pub mod routes;
pub mod service;
pub mod tenant;
pub mod value;

use std::any::Any;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use buntime_core::{ErrorKind, Hooks, Plugin, PluginContext, PluginError, PluginLogger};

pub use adapter::{Adapter, Connection};
pub use error::DbError;
pub use service::{DatabaseService, Target};
pub use tenant::TenantId;
/// The PostgreSQL client the `postgres` adapter is built on (for [`Adapter::listen_config`] users).
pub use tokio_postgres;
pub use value::{Column, Statement, StmtResult, Value};

use crate::adapter::libsql::LibsqlAdapter;
use crate::adapter::mysql::MysqlAdapter;
use crate::adapter::postgres::PostgresAdapter;
use crate::adapter::sqlite::SqliteAdapter;
use crate::config::AdapterConfig;
use crate::hrana::Streams;

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-database";

/// The database plugin.
#[derive(Debug)]
pub struct DatabasePlugin {
    service: DatabaseService,
    streams: Arc<Streams>,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    logger: PluginLogger,
}

impl DatabasePlugin {
    /// Builds the plugin from its manifest: validates `adapters` and `tenancy` and opens the adapters
    /// (directories are created; connections open on first use).
    ///
    /// # Errors
    /// Every configuration problem, each naming its manifest key; or an adapter that cannot start.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let state_dir = cx.global_config().state_dir.clone();
        let config = config::parse(cx.config(), &state_dir, &cwd, cx.env()).map_err(|errors| PluginError::new(ErrorKind::Internal, errors.join("; ")))?;
        let mut adapters: Vec<Arc<dyn Adapter>> = Vec::new();
        for a in &config.adapters {
            match a {
                AdapterConfig::Sqlite { base_dir, pool_size } => {
                    let sqlite = SqliteAdapter::open(base_dir, *pool_size, config.tenancy.max_tenants).map_err(|e| PluginError::new(ErrorKind::Internal, e.to_string()))?;
                    adapters.push(Arc::new(sqlite));
                }
                AdapterConfig::Postgres { url, pool_size } => {
                    let pg = PostgresAdapter::open(url, *pool_size, config.tenancy.max_tenants).map_err(|e| PluginError::new(ErrorKind::Internal, e.to_string()))?;
                    adapters.push(Arc::new(pg));
                }
                AdapterConfig::Mysql { url, pool_size } => {
                    let my = MysqlAdapter::open(url, *pool_size, config.tenancy.max_tenants).map_err(|e| PluginError::new(ErrorKind::Internal, e.to_string()))?;
                    adapters.push(Arc::new(my));
                }
                AdapterConfig::Libsql(options) => {
                    let libsql = LibsqlAdapter::open(options).map_err(|e| PluginError::new(ErrorKind::Internal, e.to_string()))?;
                    cx.logger().info(format!("libsql adapter: {} (namespace `{}`)", libsql.describe(), options.namespace));
                    adapters.push(Arc::new(libsql));
                }
            }
        }
        let service = DatabaseService::new(adapters, config.default, config.tenancy);
        Ok(Self { service, streams: Arc::new(Streams::default()), sweeper: Mutex::new(None), logger: cx.logger().clone() })
    }

    /// Returns the service (the same one [`Plugin::provides`] hands out).
    pub fn service(&self) -> &DatabaseService {
        &self.service
    }
}

#[async_trait]
impl Plugin for DatabasePlugin {
    async fn on_init(&self, _cx: &PluginContext) -> Result<(), PluginError> {
        let handle = Streams::spawn_sweeper(&self.streams);
        if let Ok(mut s) = self.sweeper.lock() {
            *s = Some(handle);
        }
        self.logger.info(format!("database ready; adapters: {} (default {})", self.service.adapter_types().join(", "), self.service.default_type()));
        Ok(())
    }

    async fn on_shutdown(&self) {
        if let Some(h) = self.sweeper.lock().ok().and_then(|mut s| s.take()) {
            h.abort();
        }
        // Open HRANA streams roll back, then tenant pools close before the roots.
        self.streams.clear();
        self.service.close().await;
        self.logger.info("database closed");
    }

    fn routes(&self) -> Option<Router> {
        Some(routes::router(self.service.clone(), self.streams.clone()))
    }

    fn provides(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(Arc::new(self.service.clone()))
    }

    fn provides_json(&self) -> Option<Arc<dyn buntime_core::services::JsonService>> {
        Some(Arc::new(json_service::DatabaseJson(self.service.clone())))
    }

    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}
