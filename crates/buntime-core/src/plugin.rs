//! The native plugin API: the [`Plugin`] trait, its hook results and the contexts hooks receive.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::app::{AppBackend, AppInfo, PoolView, WorkerNotice};
use crate::config::Env;
use crate::error::PluginError;
use crate::logger::PluginLogger;
use crate::services::{JsonService, Services};
use crate::{Request, Response};

/// What an `on_request` hook decided.
#[derive(Debug)]
pub enum Flow {
    /// Go on with the (possibly edited in place) request.
    Continue,
    /// Go on with this request instead; every later hook, router and app sees it.
    Replace(Request),
    /// Stop here and answer with this response (short-circuit).
    Respond(Response),
}

/// Which request-path hooks a plugin implements, so the pipeline skips the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hooks {
    /// `on_request` does something.
    pub on_request: bool,
    /// `on_response` does something.
    pub on_response: bool,
    /// `server_fetch` may answer (opt-in: the default [`Plugin::hooks`] leaves it off).
    pub server_fetch: bool,
}

impl Hooks {
    /// Every request hook, `server_fetch` included.
    pub const ALL: Self = Self { on_request: true, on_response: true, server_fetch: true };
    /// What [`Plugin::hooks`] reports by default: `on_request` and `on_response`.
    pub const DEFAULT: Self = Self { on_request: true, on_response: true, server_fetch: false };
    /// No hook.
    pub const NONE: Self = Self { on_request: false, on_response: false, server_fetch: false };
}

/// A unit of runtime behaviour, configured by a `manifest.yaml`.
///
/// Every hook has a no-op default. Hooks run in dependency order (`on_shutdown` in reverse). A hook
/// that returns an error or panics answers the request with a JSON error naming no internals; the
/// log names the plugin and the hook. The process never dies of it.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Runs once when the plugin's generation loads, after its dependencies' `on_init`.
    ///
    /// The default does nothing. An error (or a 30 s timeout) leaves this plugin and its dependents
    /// unloaded; on reload, it keeps the old generation serving.
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        let _ = cx;
        Ok(())
    }

    /// Runs for every request outside the REST API, in dependency order, before routing.
    ///
    /// The default continues. Edit `req` in place or return [`Flow::Replace`] to change what later
    /// steps see; return [`Flow::Respond`] to answer now. An error answers with its status.
    async fn on_request(&self, req: &mut Request, cx: &RequestContext) -> Result<Flow, PluginError> {
        let _ = (req, cx);
        Ok(Flow::Continue)
    }

    /// Runs after every plugin's `on_request` and before routing, in dependency order, for plugins
    /// whose [`Plugin::hooks`] set `server_fetch`: the first answer whose status is not 404 is the
    /// response (the `on_response` hooks still run); `None` or a 404 goes on to the next plugin and
    /// then to routing.
    ///
    /// `req` is the request as the `on_request` hooks left it, unstripped, with its body fully
    /// buffered; whatever the hook does to it, every later step sees the request as it was. An
    /// error answers with its status.
    async fn server_fetch(&self, req: &mut Request, cx: &RequestContext) -> Result<Option<Response>, PluginError> {
        let _ = (req, cx);
        Ok(None)
    }

    /// Runs for every response produced after `on_request` (routers and apps), in dependency order.
    ///
    /// The default leaves the response as it is. An error replaces it with a JSON error.
    async fn on_response(&self, res: &mut Response, cx: &RequestContext) -> Result<(), PluginError> {
        let _ = (res, cx);
        Ok(())
    }

    /// Runs when a plugin loaded after this one answered the request from its `on_request` (a
    /// short-circuit such as authn's 401, or a hook error), for plugins whose `on_request`
    /// already let the request through, in dependency order. `on_response` does not run for such
    /// an answer; this hook lets an edge plugin still decorate it (CORS headers) or record it.
    ///
    /// The default does nothing. An error or a panic is logged and the answer is sent as it is.
    async fn on_short_circuit(&self, res: &mut Response, cx: &RequestContext) -> Result<(), PluginError> {
        let _ = (res, cx);
        Ok(())
    }

    /// Runs once when the runtime starts listening, or when a reload brings this plugin in.
    async fn on_server_start(&self, server: &ServerInfo) {
        let _ = server;
    }

    /// Runs once when the plugin's generation retires (after its requests drained) or at shutdown.
    async fn on_shutdown(&self) {}

    /// Runs when the worker pool has started a worker and it is ready. The default does nothing;
    /// a panic is logged.
    async fn on_worker_spawn(&self, worker: &WorkerNotice) {
        let _ = worker;
    }

    /// Runs when a worker stopped (evicted, expired, recycled, retired, crashed, …).
    async fn on_worker_terminate(&self, worker: &WorkerNotice) {
        let _ = worker;
    }

    /// Returns the routes mounted at the manifest's `base`, which they see stripped.
    ///
    /// A 404 from this router means "not mine": the request goes on to apps.
    fn routes(&self) -> Option<Router> {
        None
    }

    /// Returns the service other plugins get with [`PluginContext::get_plugin`].
    fn provides(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }

    /// Returns a JSON-callable view of the service, for JS plugins' `ctx.getPlugin()`.
    fn provides_json(&self) -> Option<Arc<dyn JsonService>> {
        None
    }

    /// Returns the batch that may run this plugin's `on_request` / `on_response` together with
    /// its neighbours' in one call (plugins of one out-of-process host return the same object).
    ///
    /// The default, `None`, runs this plugin's hooks on their own.
    fn hook_batch(&self) -> Option<Arc<dyn crate::batch::HookBatch>> {
        None
    }

    /// Returns the plugin's menus as `GET /api/plugins/loaded` lists them, read once after
    /// `on_init` (so `on_init` may build them, e.g. sub-items found at start-up).
    ///
    /// The default, `None`, lists the manifest's `menus` as written.
    fn menus(&self) -> Option<Value> {
        None
    }

    /// Returns the largest request body this plugin's own routes accept, when it is not the
    /// runtime's default (10 MiB); the runtime's ceiling (100 MiB) still applies. Asked per
    /// request, before the body is read. A plugin whose manifest has `entrypoint` gets its app's
    /// `maxBodySize` instead.
    fn max_body_bytes(&self) -> Option<u64> {
        None
    }

    /// Returns which request hooks this plugin implements; the default says `on_request` and
    /// `on_response` ([`Hooks::DEFAULT`]). Set `server_fetch` when implementing [`Plugin::server_fetch`].
    fn hooks(&self) -> Hooks {
        Hooks::DEFAULT
    }
}

/// Builds a native plugin from its context (config, logger, …); the Rust twin of a TS factory.
pub type NativeFactory = Arc<dyn Fn(&PluginContext) -> Result<Arc<dyn Plugin>, PluginError> + Send + Sync>;

/// The native plugins compiled into this binary, by the name a manifest refers to them with.
#[derive(Clone, Default)]
pub struct NativeRegistry {
    factories: HashMap<String, NativeFactory>,
}

impl std::fmt::Debug for NativeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeRegistry").field("plugins", &self.names()).finish()
    }
}

impl NativeRegistry {
    /// Registers `factory` under `name` (the manifest's `name` or `native` key).
    pub fn register<F, P>(&mut self, name: &str, factory: F)
    where
        F: Fn(&PluginContext) -> Result<P, PluginError> + Send + Sync + 'static,
        P: Plugin,
    {
        self.register_factory(name, Arc::new(move |cx| factory(cx).map(|p| Arc::new(p) as Arc<dyn Plugin>)));
    }

    /// Registers an already boxed factory under `name` (for wrappers such as the test kit).
    pub fn register_factory(&mut self, name: &str, factory: NativeFactory) {
        self.factories.insert(name.to_owned(), factory);
    }

    /// Returns the factory registered under `name`.
    pub fn get(&self, name: &str) -> Option<&NativeFactory> {
        self.factories.get(name)
    }

    /// Returns the registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<_> = self.factories.keys().cloned().collect();
        v.sort();
        v
    }
}

/// What every plugin learns about the runtime (`ctx.runtime`).
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    /// Where the REST API is mounted (`/api`).
    pub api: String,
    /// The runtime version.
    pub version: String,
}

/// Directories and sizes the runtime was started with (`ctx.globalConfig`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalConfig {
    /// Plugin directories, absolute.
    pub plugin_dirs: Vec<PathBuf>,
    /// App directories, absolute.
    pub worker_dirs: Vec<PathBuf>,
    /// Maximum warm workers.
    pub pool_size: usize,
    /// Where runtime state lives (`RUNTIME_STATE_DIR`, else derived from the plugin dirs):
    /// plugins that keep files (databases, caches) put them under it.
    pub state_dir: PathBuf,
}

/// What `on_server_start` receives.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The address the runtime listens on.
    pub addr: SocketAddr,
    /// The REST API path.
    pub api_path: String,
}

/// The context a plugin is built and initialised with; cheap to clone and keep.
#[derive(Clone)]
pub struct PluginContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    name: String,
    dir: PathBuf,
    config: Map<String, Value>,
    global: GlobalConfig,
    logger: PluginLogger,
    runtime: RuntimeInfo,
    env: Arc<Env>,
    services: Services,
    pool: Option<Arc<dyn PoolView>>,
    apps: Option<Arc<dyn AppBackend>>,
    generation: u64,
    metrics: Arc<crate::metrics::RuntimeMetrics>,
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext").field("name", &self.inner.name).field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

/// Everything needed to build a [`PluginContext`].
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct ContextParts {
    /// The plugin's name.
    pub name: String,
    /// The plugin's directory.
    pub dir: PathBuf,
    /// The plugin options (manifest minus identity keys).
    pub config: Map<String, Value>,
    /// Directories and sizes.
    pub global: GlobalConfig,
    /// Runtime info.
    pub runtime: RuntimeInfo,
    /// The environment (process plus `.env`).
    pub env: Arc<Env>,
    /// The generation's services.
    pub services: Services,
    /// The worker pool, once apps are hosted.
    pub pool: Option<Arc<dyn PoolView>>,
    /// App hosting (`pool.fetch`, the app resolver), once apps are hosted.
    pub apps: Option<Arc<dyn AppBackend>>,
    /// The generation number being loaded.
    pub generation: u64,
    /// The runtime's own metrics.
    pub metrics: Arc<crate::metrics::RuntimeMetrics>,
}

impl PluginContext {
    /// Builds a context from its parts.
    pub fn new(parts: ContextParts) -> Self {
        let logger = PluginLogger::new(&parts.name);
        Self {
            inner: Arc::new(ContextInner {
                name: parts.name,
                dir: parts.dir,
                config: parts.config,
                global: parts.global,
                logger,
                runtime: parts.runtime,
                env: parts.env,
                services: parts.services,
                pool: parts.pool,
                apps: parts.apps,
                generation: parts.generation,
                metrics: parts.metrics,
            }),
        }
    }

    /// Returns the plugin's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Returns the plugin's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Returns the plugin options: the manifest minus `name`, `version`, `enabled`, `entrypoint` and
    /// the dependency lists. Unknown manifest keys are here.
    pub fn config(&self) -> &Map<String, Value> {
        &self.inner.config
    }

    /// Returns the runtime's directories and pool size.
    pub fn global_config(&self) -> &GlobalConfig {
        &self.inner.global
    }

    /// Returns the logger that tags lines with this plugin's name.
    pub fn logger(&self) -> &PluginLogger {
        &self.inner.logger
    }

    /// Returns the REST API path and runtime version.
    pub fn runtime(&self) -> &RuntimeInfo {
        &self.inner.runtime
    }

    /// Returns the environment the runtime started with (process plus `.env` files).
    pub fn env(&self) -> &Env {
        &self.inner.env
    }

    /// Returns the generation this plugin instance belongs to.
    pub fn generation(&self) -> u64 {
        self.inner.generation
    }

    /// Reads a setting with the seed's precedence: the environment variable `env_var`, then the
    /// manifest key `key` (strings as is, numbers and booleans as text), else `None`.
    pub fn setting(&self, env_var: &str, key: &str) -> Option<String> {
        if let Some(v) = self.inner.env.get(env_var) {
            return Some(v.to_owned());
        }
        match self.inner.config.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Reads a setting like [`Self::setting`], falling back to `default`.
    pub fn setting_or(&self, env_var: &str, key: &str, default: &str) -> String {
        self.setting(env_var, key).unwrap_or_else(|| default.to_owned())
    }

    /// Returns the service another plugin provides, if it provides a `T`.
    ///
    /// During `on_init` only plugins loaded earlier (the dependencies) are visible.
    pub fn get_plugin<T: Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        self.inner.services.get::<T>(name)
    }

    /// Returns the generation's service registry.
    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    /// Returns pool metrics and worker stats, once apps are hosted.
    pub fn pool(&self) -> Option<&Arc<dyn PoolView>> {
        self.inner.pool.as_ref()
    }

    /// Returns the runtime's own metrics (requests, hooks, reloads, restarts), for exporters such
    /// as the metrics plugin.
    pub fn metrics(&self) -> &Arc<crate::metrics::RuntimeMetrics> {
        &self.inner.metrics
    }

    /// Returns app hosting, once apps are hosted: the app resolver
    /// ([`AppBackend::resolve_app`]) and serving an app by directory ([`Self::pool_fetch`]).
    pub fn apps(&self) -> Option<&Arc<dyn AppBackend>> {
        self.inner.apps.as_ref()
    }

    /// Serves `req` with the app in `dir` through the worker pool, `config` overriding its
    /// manifest (the original's `ctx.pool.fetch(appDir, workerConfig, req)`); 503 JSON when this
    /// runtime hosts no apps.
    pub async fn pool_fetch(&self, dir: &Path, config: Option<&Map<String, Value>>, req: Request) -> Response {
        match &self.inner.apps {
            Some(apps) => crate::app::fetch_app(apps.as_ref(), dir, config, req).await,
            None => crate::respond::json_error(http::StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "this runtime hosts no apps"),
        }
    }
}

/// Per-request facts every hook receives.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id (also in `x-request-id`).
    pub request_id: Arc<str>,
    /// The generation serving this request.
    pub generation: u64,
    /// Whether the target's `publicRoutes` say this request needs no authentication.
    pub is_public: bool,
    /// The app this request resolves to, if any.
    pub app: Option<Arc<AppInfo>>,
    /// The generation's services.
    pub services: Services,
}

impl RequestContext {
    /// Returns the service another plugin provides, if it provides a `T`.
    pub fn get_plugin<T: Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        self.services.get::<T>(name)
    }
}
