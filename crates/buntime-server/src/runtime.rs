//! The runtime: its builder, the shared state every request reads, and `serve`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use buntime_core::app::{AppBackend, PoolView};
use buntime_core::loader::{INIT_TIMEOUT, LoadInputs};
use buntime_core::pipeline::Pipeline;
use buntime_core::plugin::{NativeRegistry, Plugin, PluginContext, ServerInfo};
use buntime_core::script::ScriptHostFactory;
use buntime_core::{Env, Generation, Live, PluginError, RuntimeConfig, RuntimeMetrics};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::guard::ApiGuard;

/// Why the runtime could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] buntime_core::config::ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `RUNTIME_HOST:PORT` (so a caller can learn the port before building the runtime).
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(config: &RuntimeConfig) -> Result<TcpListener, ServeError> {
    let addr = format!("{}:{}", config.host, config.port);
    TcpListener::bind(&addr).await.map_err(|source| ServeError::Bind { addr, source })
}

/// Assembles a runtime: configuration, native plugins, and the optional app and script hosts.
#[must_use]
pub struct RuntimeBuilder {
    config: RuntimeConfig,
    env: Env,
    natives: NativeRegistry,
    scripts: Option<Arc<dyn ScriptHostFactory>>,
    apps: Option<Arc<dyn AppBackend>>,
    pool: Option<Arc<dyn PoolView>>,
    guard: Option<Arc<dyn ApiGuard>>,
    access: Option<Arc<buntime_auth::AccessControl>>,
    api_routes: Vec<utoipa_axum::router::OpenApiRouter>,
    init_timeout: Duration,
    metrics: Option<Arc<RuntimeMetrics>>,
    on_shutdown: Vec<Box<dyn FnOnce() -> futures_like::BoxFuture + Send>>,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder").field("natives", &self.natives).finish_non_exhaustive()
    }
}

/// Boxed futures without pulling in `futures` for one type.
pub(crate) mod futures_like {
    /// A boxed, sendable unit future.
    pub(crate) type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

impl RuntimeBuilder {
    /// Registers a native plugin under `name`: a manifest whose `name` (or `native:` key) is
    /// `name` instantiates it with `factory`.
    pub fn native<F, P>(mut self, name: &str, factory: F) -> Self
    where
        F: Fn(&PluginContext) -> Result<P, PluginError> + Send + Sync + 'static,
        P: Plugin,
    {
        self.natives.register(name, factory);
        self
    }

    /// Runs JS/TS plugins with `scripts` (the Bun plugin host).
    pub fn scripts(mut self, scripts: Arc<dyn ScriptHostFactory>) -> Self {
        self.scripts = Some(scripts);
        self
    }

    /// Hosts apps with `apps`, and shows `pool` to plugins.
    pub fn apps(mut self, apps: Arc<dyn AppBackend>, pool: Option<Arc<dyn PoolView>>) -> Self {
        self.apps = Some(apps);
        self.pool = pool;
        self
    }

    /// Guards the REST API with `guard` instead of the default API-key and CSRF checks.
    pub fn guard(mut self, guard: Arc<dyn ApiGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Uses `access` for API keys (default: the key store under `RUNTIME_STATE_DIR`, the master
    /// key and proxy trust from the configuration).
    pub fn access_control(mut self, access: Arc<buntime_auth::AccessControl>) -> Self {
        self.access = Some(access);
        self
    }

    /// Adds REST routes (paths relative to the API mount, e.g. `/keys`), guarded like the rest and
    /// documented in `/api/openapi.json` from their `#[utoipa::path]` annotations.
    pub fn api_routes(mut self, router: utoipa_axum::router::OpenApiRouter) -> Self {
        self.api_routes.push(router);
        self
    }

    /// Records the runtime's metrics in `metrics` (shared with the worker pool and the plugin
    /// host, so their restarts are counted there too); default: a fresh registry, on unless
    /// `RUNTIME_METRICS=false`.
    pub fn metrics(mut self, metrics: Arc<RuntimeMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Shortens the `on_init` timeout (tests).
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// Runs `f` at shutdown, after plugins shut down (e.g. stopping the worker pool).
    pub fn on_shutdown<F, Fut>(mut self, f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_shutdown.push(Box::new(move || Box::pin(f())));
        self
    }

    /// Builds the runtime (nothing is loaded or bound yet).
    pub fn build(mut self) -> Runtime {
        let access = self.access.take().unwrap_or_else(|| Arc::new(buntime_auth::AccessControl::from_config(&self.config)));
        if let Err(e) = access.store().check() {
            tracing::warn!(error = %e, "API key store is unusable; key-protected API routes answer 503 until it is fixed.");
        }
        let guard = self.guard.take().unwrap_or_else(|| Arc::new(crate::guard::KeyGuard::new(access.clone())));
        self.api_routes.push(buntime_auth::keys_api(access.clone()));
        let metrics = self.metrics.take().unwrap_or_else(|| Arc::new(RuntimeMetrics::new(self.config.metrics)));
        let config = Arc::new(self.config);
        let socket_limit = buntime_core::websocket::SocketLimit::new(config.max_websockets);
        let inputs = LoadInputs {
            config: config.clone(),
            env: Arc::new(self.env),
            natives: Arc::new(self.natives),
            scripts: self.scripts,
            pool: self.pool,
            apps: self.apps.clone(),
            init_timeout: self.init_timeout,
            metrics: metrics.clone(),
        };
        let shared = Arc::new(Shared {
            api: OnceLock::new(),
            config,
            inputs,
            live: Live::new(Generation::empty()),
            pipeline: Pipeline { apps: self.apps },
            metrics,
            guard,
            gate: buntime_core::access::AccessGate(access.clone()),
            access,
            reload_lock: tokio::sync::Mutex::new(()),
            draining: tokio::sync::watch::channel(false).0,
            server: OnceLock::new(),
            retiring: Mutex::new(Vec::new()),
            socket_limit,
            shutdown_hooks: Mutex::new(self.on_shutdown),
            shutdown: tokio::sync::Notify::new(),
            cluster: OnceLock::new(),
        });
        let api = crate::api::router(&shared, self.api_routes);
        let _ = shared.api.set(api);
        Runtime { shared }
    }
}

/// State shared by every request and the reload coordinator.
pub(crate) struct Shared {
    pub(crate) config: Arc<RuntimeConfig>,
    pub(crate) inputs: LoadInputs,
    pub(crate) live: Live,
    pub(crate) pipeline: Pipeline,
    /// The runtime's own metrics.
    pub(crate) metrics: Arc<RuntimeMetrics>,
    pub(crate) guard: Arc<dyn ApiGuard>,
    /// The key store and CSRF origins behind the default guard and the keys API.
    pub(crate) access: Arc<buntime_auth::AccessControl>,
    /// The same access model for plugin routes, put in every request the pipeline serves.
    pub(crate) gate: buntime_core::access::AccessGate,
    pub(crate) api: OnceLock<Router>,
    /// Serializes reloads.
    pub(crate) reload_lock: tokio::sync::Mutex<()>,
    /// Set once shutdown begins: readiness fails, new work is refused.
    pub(crate) draining: tokio::sync::watch::Sender<bool>,
    /// The bound address, once listening.
    pub(crate) server: OnceLock<ServerInfo>,
    /// Old generations draining in the background.
    pub(crate) retiring: Mutex<Vec<JoinHandle<()>>>,
    /// `RUNTIME_MAX_WEBSOCKETS`, shared by every generation's sockets.
    pub(crate) socket_limit: Arc<buntime_core::websocket::SocketLimit>,
    shutdown_hooks: Mutex<Vec<Box<dyn FnOnce() -> futures_like::BoxFuture + Send>>>,
    /// Woken to stop serving (signals, or [`RuntimeHandle::shutdown`]).
    pub(crate) shutdown: tokio::sync::Notify,
    /// The reload fan-out, when `RUNTIME_CLUSTER_DATABASE_URL` is set (see `cluster`).
    pub(crate) cluster: OnceLock<Arc<crate::cluster::Cluster>>,
}

impl Shared {
    pub(crate) fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }
}

/// A built runtime, ready to serve.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("generation", &self.shared.live.load().number).finish()
    }
}

/// A handle on a runtime serving in the background (tests and embedders).
#[derive(Debug)]
pub struct RuntimeHandle {
    /// The bound address.
    pub addr: SocketAddr,
    runtime: Runtime,
    task: JoinHandle<Result<(), ServeError>>,
}

impl RuntimeHandle {
    /// Returns `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Returns the runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Shuts down as SIGTERM would (drain, `on_shutdown` in reverse) and waits for it.
    ///
    /// # Errors
    /// The server failed while running.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.runtime.shared.shutdown.notify_one();
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        }
    }
}

impl Runtime {
    /// Starts building a runtime from its configuration and environment.
    pub fn builder(config: RuntimeConfig, env: Env) -> RuntimeBuilder {
        RuntimeBuilder {
            config,
            env,
            natives: NativeRegistry::default(),
            scripts: None,
            apps: None,
            pool: None,
            guard: None,
            access: None,
            api_routes: Vec::new(),
            init_timeout: INIT_TIMEOUT,
            metrics: None,
            on_shutdown: Vec::new(),
        }
    }

    /// Returns the live generation.
    pub fn generation(&self) -> Arc<Generation> {
        self.shared.live.load()
    }

    /// Returns the runtime's own metrics.
    pub fn metrics(&self) -> &Arc<RuntimeMetrics> {
        &self.shared.metrics
    }

    /// Returns the configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    /// Reloads plugins: scan, validate, sort, init, swap; the old generation drains, then shuts down.
    ///
    /// # Errors
    /// Every problem found; the old generation keeps serving.
    pub async fn reload(&self) -> Result<crate::ReloadReport, crate::ReloadError> {
        crate::reload::reload(&self.shared).await
    }

    /// Binds `RUNTIME_HOST:PORT`, loads plugins, and serves until SIGINT or SIGTERM; then drains
    /// in-flight requests, runs `on_shutdown` in reverse order, and returns.
    ///
    /// # Errors
    /// The address cannot be bound, or the server fails.
    pub async fn serve(self) -> Result<(), ServeError> {
        let listener = bind(&self.shared.config).await?;
        self.serve_with(listener).await
    }

    /// Serves on `listener` (from [`bind`]) until SIGINT or SIGTERM, like [`Self::serve`].
    ///
    /// # Errors
    /// The server fails.
    pub async fn serve_with(self, listener: TcpListener) -> Result<(), ServeError> {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            crate::shutdown::wait_for_signal().await;
            shared.shutdown.notify_one();
            // A second signal means "now": skip the remaining drain.
            crate::shutdown::wait_for_signal().await;
            tracing::warn!("Second signal: exiting without finishing the drain.");
            std::process::exit(1);
        });
        self.serve_on(listener).await
    }

    /// Serves on an already bound listener in the background (tests bind `127.0.0.1:0`).
    ///
    /// # Errors
    /// The listener's address cannot be read.
    pub async fn spawn(self, listener: TcpListener) -> Result<RuntimeHandle, ServeError> {
        let addr = listener.local_addr()?;
        let runtime = self.clone();
        let task = tokio::spawn(self.serve_on(listener));
        // Wait until the first generation is live, so callers see a ready runtime.
        while runtime.generation().number == 0 && !task.is_finished() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(RuntimeHandle { addr, runtime, task })
    }

    async fn serve_on(self, listener: TcpListener) -> Result<(), ServeError> {
        let addr = listener.local_addr()?;
        let info = ServerInfo { addr, api_path: self.shared.config.api_path.clone() };
        let _ = self.shared.server.set(info.clone());
        self.shared.access.set_listener(addr);
        self.shared.access.warn_if_unconfigured();
        tracing::info!(url = %format!("http://{addr}"), api = %self.shared.config.api_path, "Runtime listening; loading plugins.");

        let app = crate::dispatch::service(self.shared.clone());
        let cluster = match &self.shared.config.cluster_url {
            None => None,
            Some(url) => {
                let cluster = crate::cluster::Cluster::new(url, self.shared.config.replica_id.clone()).map_err(|why| {
                    tracing::error!(error = %why, "RUNTIME_CLUSTER_DATABASE_URL cannot be parsed.");
                    buntime_core::config::ConfigError::Invalid {
                        var: "RUNTIME_CLUSTER_DATABASE_URL",
                        value: url.clone(),
                        accepted: "a PostgreSQL URL such as postgres://user:pass@host:5432/db, or a libpq key=value string",
                    }
                })?;
                let cluster = Arc::new(cluster);
                let _ = self.shared.cluster.set(cluster.clone());
                // Joins while the boot load runs; it applies other replicas' reloads once that is done.
                Some(tokio::spawn(cluster.run(Arc::downgrade(&self.shared))))
            }
        };
        let shared = self.shared.clone();
        let boot = tokio::spawn(async move { crate::reload::boot(&shared).await });

        let shared = self.shared.clone();
        let stop = async move {
            shared.shutdown.notified().await;
            shared.draining.send_replace(true);
            // Sockets get their 1001 now, so clients reconnect elsewhere while HTTP drains.
            shared.live.load().sockets.close_all();
            tracing::info!("Shutdown requested; draining in-flight requests.");
        };
        let limits = crate::listener::ConnLimits { header_read_timeout: self.shared.config.header_read_timeout };
        let server = crate::listener::serve(listener, app, limits, stop);
        let grace = self.shared.config.shutdown_grace;
        let serving = tokio::spawn(server);
        // Once the stop signal fires, give in-flight requests the grace period, then move on.
        let result = {
            let shared = self.shared.clone();
            let mut serving = serving;
            tokio::select! {
                r = &mut serving => r,
                () = async {
                    // The sender lives in `shared`, so this only returns once draining starts.
                    let _ = shared.draining.subscribe().wait_for(|draining| *draining).await;
                    tokio::time::sleep(grace).await;
                } => {
                    tracing::warn!(grace_ms = grace.as_millis() as u64, "Grace period over; closing remaining connections.");
                    serving.abort();
                    Ok(())
                }
            }
        };
        boot.abort();
        if let Some(cluster) = cluster {
            cluster.abort();
        }
        self.finish_shutdown().await;
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        }
    }

    async fn finish_shutdown(&self) {
        let shared = &self.shared;
        // A reload in progress finishes first, so its generation is the one shut down.
        let _lock = shared.reload_lock.lock().await;
        let live = shared.live.load();
        // Event streams never end by themselves: end them so they do not hold the drain.
        live.mark_replaced();
        if !live.drain(shared.config.shutdown_grace).await {
            tracing::warn!(inflight = live.inflight(), "Shutting down with requests still in flight.");
        }
        live.close_sockets(crate::reload::SOCKET_CLOSE_WAIT).await;
        live.shut_down().await;
        let retiring: Vec<_> = std::mem::take(&mut *shared.retiring.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for task in retiring {
            let _ = task.await;
        }
        let hooks: Vec<_> = std::mem::take(&mut *shared.shutdown_hooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for hook in hooks {
            hook().await;
        }
        tracing::info!("Runtime stopped.");
    }
}
