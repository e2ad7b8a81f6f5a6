//! The seam between the pipeline and app hosting: app identity, resolution and serving.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::PluginError;
use crate::pool_stats::{PoolMetrics, WorkerStat, worker_stats_json};
use crate::public_routes::PublicRoutes;
use crate::{Request, Response};

/// What hooks learn about the app a request is for (the original's `AppInfo`).
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// The app name (first path segment, including any `@range`, or the plugin base without `/`).
    pub name: String,
    /// The `package.json` version, else `0.0.0`.
    pub version: String,
    /// The app directory.
    pub dir: PathBuf,
    /// `{autoInstall, entrypoint, idleTimeout, lowMemory, maxRequests, publicRoutes, timeout, ttl}`.
    pub config: Value,
}

/// App files that changed on this runtime outside a reload (an upload, a delete, a file
/// manager's write): what a replica sharing the same directories must forget and retire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppsChanged {
    /// The directories or files written, moved or removed.
    pub paths: Vec<PathBuf>,
    /// The pool keys retired here (a replica on the same directories uses the same keys).
    pub keys: Vec<String>,
}

/// An app that will serve a request, as resolved from its path.
#[derive(Clone)]
pub struct ResolvedApp {
    /// Identity for hooks.
    pub info: Arc<AppInfo>,
    /// The path prefix the app is mounted at (`/todo`, `/todo@1`, or a plugin base).
    pub base_path: String,
    /// The request body limit for this app.
    pub max_body_bytes: u64,
    /// The app's public routes, relative to `base_path`.
    pub public_routes: Option<Arc<PublicRoutes>>,
    /// Backend-specific data (the worker config, the static root, …).
    pub target: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for ResolvedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedApp").field("info", &self.info).field("base_path", &self.base_path).finish_non_exhaustive()
    }
}

/// Hosts apps: resolves paths to apps and serves requests for them.
#[async_trait]
pub trait AppBackend: Send + Sync + 'static {
    /// Resolves the worker app for `path`, if any (`/todo/x` → the `todo` app).
    ///
    /// # Errors
    /// An app was found but cannot be used (for example, an invalid manifest).
    async fn resolve(&self, path: &str) -> Result<Option<ResolvedApp>, PluginError>;

    /// Resolves the serverless app of a plugin whose manifest has `entrypoint`.
    ///
    /// # Errors
    /// The plugin's worker config is invalid.
    async fn resolve_plugin_app(&self, dir: &std::path::Path, base: &str, manifest: &serde_json::Map<String, Value>) -> Result<ResolvedApp, PluginError>;

    /// Serves `req` (whose path still includes `app.base_path`) with `app`.
    async fn serve(&self, app: &ResolvedApp, req: Request) -> Response;

    /// Says how `app` is served, for the request metrics' `kind` label; the default says a
    /// worker app.
    fn route_kind(&self, app: &ResolvedApp) -> crate::metrics::RouteKind {
        let _ = app;
        crate::metrics::RouteKind::App
    }

    /// Resolves `name[@range]` the way request paths are resolved (the runtime's app resolver,
    /// for plugins such as vhosts): the app's directory, version and config, or `None`.
    ///
    /// # Errors
    /// The app exists but cannot be used (for example, an invalid manifest).
    async fn resolve_app(&self, spec: &str) -> Result<Option<ResolvedApp>, PluginError> {
        let spec = spec.trim_start_matches('/');
        if spec.is_empty() || spec.contains('/') {
            return Ok(None);
        }
        self.resolve(&format!("/{spec}")).await
    }

    /// Tells the backend that files under `paths` changed outside a reload (written, moved,
    /// renamed or deleted by a file manager): cached resolutions and configs are dropped at once,
    /// so the next request sees the new tree, and the workers of every app whose directory is one
    /// of `paths`, below one or above one retire gracefully (in-flight requests finish; the next
    /// request starts a worker from the new files). Returns the pool keys retired.
    ///
    /// The default does nothing.
    async fn files_changed(&self, paths: &[PathBuf]) -> Vec<String> {
        let _ = paths;
        Vec::new()
    }

    /// The changes this backend makes to app files from now on ([`AppsChanged`]), for telling
    /// other replicas; `None` when it never changes files.
    fn subscribe_changes(&self) -> Option<tokio::sync::broadcast::Receiver<AppsChanged>> {
        None
    }

    /// Applies a change another replica made to the shared app directories: like
    /// [`AppBackend::files_changed`], and the `keys` retired there retire here too, but it is not
    /// announced again. The default does nothing.
    async fn apply_change(&self, change: &AppsChanged) {
        let _ = change;
    }

    /// Prepares the app in `dir` to serve requests as they are (mounted at `/`): the original's
    /// `pool.fetch(appDir, workerConfig, req)`. `config` (manifest keys, such as the `config` of
    /// [`AppBackend::resolve_app`]) overrides the app's own manifest key by key.
    ///
    /// The default refuses: this backend cannot host apps by directory.
    ///
    /// # Errors
    /// `dir` is not an app directory, or the merged config is invalid.
    async fn app_at(&self, dir: &std::path::Path, config: Option<&serde_json::Map<String, Value>>) -> Result<ResolvedApp, PluginError> {
        let _ = (dir, config);
        Err(PluginError::new(crate::error::ErrorKind::Unavailable, "this runtime cannot serve apps by directory"))
    }
}

/// Serves `req` with the app in `dir` through `apps` (the original's `pool.fetch`): the worker
/// sees the request's path as is.
pub async fn fetch_app(apps: &dyn AppBackend, dir: &std::path::Path, config: Option<&serde_json::Map<String, Value>>, req: Request) -> Response {
    match apps.app_at(dir, config).await {
        Ok(app) => apps.serve(&app, req).await,
        Err(e) => crate::respond::plugin_error(&e),
    }
}

/// What plugins can see of the worker pool (spec §9.8).
///
/// Implementations give typed snapshots, built under their locks without JSON; the JSON views
/// (`getMetrics()`, `getWorkerStats()`) are derived from them, so every reader sees one shape.
pub trait PoolView: Send + Sync + 'static {
    /// The pool's counters now.
    fn pool_metrics(&self) -> PoolMetrics;
    /// One entry per app key the pool has numbers for, in `getWorkerStats()`'s order.
    fn worker_stat_list(&self) -> Vec<WorkerStat>;
    /// `getMetrics()`.
    fn metrics(&self) -> Value {
        self.pool_metrics().to_json()
    }
    /// `getWorkerStats()`.
    fn worker_stats(&self) -> Value {
        worker_stats_json(&self.worker_stat_list())
    }
}

/// A worker lifecycle notification for plugins (`onWorkerSpawn` / `onWorkerTerminate`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerNotice {
    /// The app key, `name@version`.
    pub key: String,
    /// The worker's id.
    pub worker_id: String,
    /// The app directory.
    pub dir: PathBuf,
    /// Whether the worker served a single request (`ttl: 0`).
    pub ephemeral: bool,
    /// Why it stopped (`evicted`, `expired`, `recycled`, `retired`, `timeout`, `crashed`, …);
    /// empty for spawns.
    pub reason: String,
}
