//! [`Apps`]: the [`AppBackend`] that resolves worker and plugin apps and serves them (static or pool).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use buntime_core::app::{AppBackend, AppInfo, AppsChanged, ResolvedApp};
use buntime_core::config::DEFAULT_BODY_LIMIT;
use buntime_core::{Env, PluginError, Request, Response, RuntimeConfig, respond};
use http::{HeaderValue, StatusCode, Uri, header};
use serde_json::{Map, Value};

use crate::config::{AppConfig, ConfigCache, ConfigError, ms};
use crate::env::public_env;
use crate::inject::Injection;
use crate::resolver::{Resolver, package_version, parse_app_path};
use crate::static_files::{StaticFiles, StaticSite};
use crate::worker_spec::{Dispatcher, WorkerSpec};

/// Largest worker HTML response buffered for injection; larger ones pass through unchanged.
const MAX_INJECT_BYTES: usize = 16 * 1024 * 1024;
/// Default lifetime of the resolver and config caches.
const DEFAULT_CACHE_TTL_MS: u64 = 1000;

/// How a resolved app is served (the `ResolvedApp::target` of this backend).
#[derive(Debug)]
enum Target {
    /// An `.html` entrypoint served from disk.
    Static(StaticSite),
    /// A JS app served by the pool.
    Worker { spec: Arc<WorkerSpec>, injection: Option<Injection> },
    /// The app exists but cannot be served; answered with this JSON error.
    Broken { status: StatusCode, code: &'static str, message: String },
}

/// Hosts worker apps and serverless plugin apps: the runtime's [`AppBackend`].
///
/// Cheap to clone; clones share caches and the dispatcher.
#[derive(Clone)]
pub struct Apps {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<RuntimeConfig>,
    env: Arc<Env>,
    dispatcher: Option<Arc<dyn Dispatcher>>,
    resolver: Resolver,
    configs: ConfigCache,
    statics: StaticFiles,
    /// Resolved apps built from a given config, reused while the config is unchanged.
    prepared: Mutex<HashMap<String, (Arc<AppConfig>, ResolvedApp)>>,
    /// The directory last served under each pool key, to retire workers when it changes.
    dirs_by_key: Mutex<HashMap<String, PathBuf>>,
    inject_worker_html: AtomicBool,
    /// Serializes uploads and deletes so two of them never interleave their renames.
    installs: tokio::sync::Mutex<()>,
    /// Upload slots: at most `RUNTIME_MAX_UPLOADS` archives are received and unpacked at once,
    /// so concurrent uploads cannot hold unbounded memory.
    uploads: Arc<tokio::sync::Semaphore>,
    /// First path segments never served as apps (`api`, `health`, `.well-known`).
    reserved: Vec<String>,
    /// Every change made here to app files, for the cluster fan-out (no receiver: dropped).
    changes: tokio::sync::broadcast::Sender<AppsChanged>,
}

impl std::fmt::Debug for Apps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apps")
            .field("worker_dirs", &self.inner.config.worker_dirs)
            .field("dispatcher", &self.inner.dispatcher.is_some())
            .finish_non_exhaustive()
    }
}

fn ttl_from_env(env: &Env, var: &str) -> Duration {
    let ms = env.get_non_blank(var).and_then(|v| v.parse::<u64>().ok()).unwrap_or(DEFAULT_CACHE_TTL_MS);
    Duration::from_millis(ms)
}

impl Apps {
    /// Creates the backend. Without a dispatcher, static apps still work and JS apps answer 503
    /// `WORKER_POOL_UNAVAILABLE`.
    ///
    /// Cache lifetimes come from `RUNTIME_WORKER_RESOLVER_CACHE_TTL_MS` and
    /// `RUNTIME_WORKER_CONFIG_CACHE_TTL_MS` (milliseconds, default 1000, 0 disables).
    pub fn new(config: Arc<RuntimeConfig>, env: Arc<Env>, dispatcher: Option<Arc<dyn Dispatcher>>) -> Self {
        let reserved = config.reserved_bases().iter().map(|b| b.trim_start_matches('/').to_owned()).collect();
        let resolver = Resolver::new(config.worker_dirs.clone(), ttl_from_env(&env, "RUNTIME_WORKER_RESOLVER_CACHE_TTL_MS"));
        let configs = ConfigCache::new(ttl_from_env(&env, "RUNTIME_WORKER_CONFIG_CACHE_TTL_MS"));
        let max_uploads = config.max_uploads;
        Self {
            inner: Arc::new(Inner {
                config,
                env,
                dispatcher,
                resolver,
                configs,
                statics: StaticFiles::new(),
                prepared: Mutex::new(HashMap::new()),
                dirs_by_key: Mutex::new(HashMap::new()),
                inject_worker_html: AtomicBool::new(false),
                reserved,
                installs: tokio::sync::Mutex::new(()),
                uploads: Arc::new(tokio::sync::Semaphore::new(max_uploads)),
                // Changes are rare (deploys); a listener that falls this far behind treats every
                // app as changed (see `Lagged` in the cluster link).
                changes: tokio::sync::broadcast::channel(64).0,
            }),
        }
    }

    /// Chooses whether HTML responses from workers get `<base href>`/`window.__env__` injected here.
    ///
    /// Off by default: the pool's worker host injects from [`WorkerSpec::inject_base`] and
    /// [`WorkerSpec::public_env`]. Turn it on only for a dispatcher that does not, so HTML is never
    /// injected twice.
    pub fn set_inject_worker_html(&self, on: bool) {
        self.inner.inject_worker_html.store(on, Ordering::Relaxed);
    }

    /// Returns the runtime configuration.
    pub fn runtime_config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Returns the runtime environment the backend was created with.
    pub fn env(&self) -> &Env {
        &self.inner.env
    }

    /// Returns the dispatcher, if a pool is configured.
    pub fn dispatcher(&self) -> Option<&Arc<dyn Dispatcher>> {
        self.inner.dispatcher.as_ref()
    }

    /// Forgets every cached resolution, config and static file (after uploads and deletes).
    pub fn invalidate(&self) {
        self.inner.resolver.invalidate();
        self.inner.configs.invalidate();
        self.inner.statics.invalidate();
        if let Ok(mut p) = self.inner.prepared.lock() {
            p.clear();
        }
    }

    /// Tells other replicas (through [`AppBackend::subscribe_changes`]) that app files under
    /// `paths` changed here and the workers of `keys` were retired.
    pub fn announce(&self, paths: Vec<PathBuf>, keys: Vec<String>) {
        let _ = self.inner.changes.send(AppsChanged { paths, keys });
    }

    /// Drops the caches and retires the workers of every app whose directory overlaps `paths`.
    async fn forget(&self, paths: &[PathBuf]) -> Vec<String> {
        self.invalidate();
        let overlaps = |dir: &Path| paths.iter().any(|p| dir.starts_with(p) || p.starts_with(dir));
        let keys: Vec<String> = match self.inner.dirs_by_key.lock() {
            Ok(m) => m.iter().filter(|(_, dir)| overlaps(dir)).map(|(k, _)| k.clone()).collect(),
            Err(_) => Vec::new(),
        };
        for key in &keys {
            tracing::info!(key = %key, "App files changed; retiring its workers.");
            self.retire(key).await;
        }
        keys
    }

    /// Retires the workers of pool `key`, if a pool is configured.
    ///
    /// Returns once the dispatcher has taken the first step (for the pool: the key is out of its
    /// cache); draining in-flight requests continues in the background, so callers never wait
    /// for a slow request of the old app.
    pub async fn retire(&self, key: &str) {
        if let Ok(mut m) = self.inner.dirs_by_key.lock() {
            m.remove(key);
        }
        if let Some(d) = &self.inner.dispatcher {
            retire_in_background(d.clone(), key.to_owned()).await;
        }
    }

    /// Takes an upload slot, or `None` when `RUNTIME_MAX_UPLOADS` uploads are already running.
    pub(crate) fn try_upload_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.uploads.clone().try_acquire_owned().ok()
    }

    /// Waits for exclusive access to the installed apps and plugins (uploads and deletes).
    pub(crate) async fn lock_installs(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.installs.lock().await
    }

    /// The REST routes for apps and plugins (see [`crate::admin::router`]).
    pub fn admin_router(&self) -> utoipa_axum::router::OpenApiRouter {
        crate::admin::router(self.clone())
    }

    /// Returns the app's config from the cache, loading (and parsing) it on a blocking thread
    /// when the cache cannot answer without touching the disk.
    async fn app_config(&self, app: &str, dir: &Path, manifest: Option<&Map<String, Value>>) -> Result<Arc<AppConfig>, ConfigError> {
        if let Some(cfg) = self.inner.configs.fresh(dir, manifest) {
            return Ok(cfg);
        }
        let inner = self.inner.clone();
        let (app, dir, manifest) = (app.to_owned(), dir.to_owned(), manifest.cloned());
        let failed = |e: tokio::task::JoinError, app: &str, dir: &Path| ConfigError {
            app: app.to_owned(),
            file: dir.to_owned(),
            problems: vec![crate::config::Problem { key: "(dir)".into(), message: format!("the config load failed: {e}"), fix: "see the runtime log".into() }],
        };
        let (app2, dir2) = (app.clone(), dir.clone());
        tokio::task::spawn_blocking(move || inner.configs.get_with(&app, &dir, manifest.as_ref()))
            .await
            .unwrap_or_else(|e| Err(failed(e, &app2, &dir2)))
    }

    /// Returns how many times an app config was loaded from disk (for tests and diagnostics).
    pub fn config_loads(&self) -> u64 {
        self.inner.configs.loads()
    }

    fn is_reserved(&self, path: &str) -> bool {
        let first = path.split('/').nth(1).unwrap_or_default();
        self.inner.reserved.iter().any(|b| b == first)
    }

    /// Builds what serves `cfg` under `base_path`; `plugin_ui` for a plugin's `entrypoint` UI.
    fn prepare(&self, cfg: &Arc<AppConfig>, name: &str, base_path: &str, key: String, plugin_ui: bool) -> ResolvedApp {
        let cache_key = format!("{base_path}\0{}", cfg.dir.display());
        if let Ok(p) = self.inner.prepared.lock()
            && let Some((c, app)) = p.get(&cache_key)
            && Arc::ptr_eq(c, cfg)
        {
            return app.clone();
        }
        let c = &cfg.config;
        let info = AppInfo {
            name: name.to_owned(),
            version: cfg.version.clone(),
            dir: cfg.dir.clone(),
            config: c.to_info_json(&cfg.entrypoint_rel),
        };
        let public = public_env(&c.env, &c.env_prefix);
        let injection = Injection::new(c.inject_base, base_path, &public);
        let target = if let Some(entry) = plugin_ui.then(|| missing_configured(cfg)).flatten() {
            // A plugin's UI is served from its configured entrypoint's directory only. Unbuilt
            // (`ui/dist` missing), detection would root it at the plugin's own directory and serve
            // its sources and build files: answer 404 until it is built instead.
            let root = entry.parent().unwrap_or(&cfg.dir).to_owned();
            Target::Static(StaticSite { root, entry, injection, fallback_any_get: true })
        } else if cfg.is_static() {
            let root = cfg.entrypoint.parent().unwrap_or(&cfg.dir).to_owned();
            Target::Static(StaticSite { root, entry: cfg.entrypoint.clone(), injection, fallback_any_get: plugin_ui })
        } else {
            let spec = WorkerSpec {
                key,
                dir: cfg.dir.clone(),
                entrypoint: cfg.entrypoint.clone(),
                base_path: base_path.to_owned(),
                timeout: ms(c.timeout_ms),
                ttl: ms(c.ttl_ms),
                idle_timeout: ms(c.idle_timeout_ms),
                max_requests: c.max_requests,
                low_memory: c.low_memory,
                auto_install: c.auto_install,
                isolated: c.isolated,
                env: c.env.clone(),
                max_body_bytes: c.max_body_bytes,
                max_memory_bytes: c.max_memory_bytes,
                inject_base: c.inject_base,
                public_env: public,
                config_json: c.to_json(&cfg.entrypoint_rel),
            };
            Target::Worker { spec: Arc::new(spec), injection }
        };
        let app = ResolvedApp {
            info: Arc::new(info),
            base_path: base_path.to_owned(),
            max_body_bytes: c.max_body_bytes,
            public_routes: cfg.public_routes.clone(),
            target: Arc::new(target),
        };
        if let Ok(mut p) = self.inner.prepared.lock() {
            if p.len() >= 10_000 {
                p.clear();
            }
            p.insert(cache_key, (cfg.clone(), app.clone()));
        }
        app
    }

    async fn serve_worker(&self, spec: &Arc<WorkerSpec>, injection: Option<&Injection>, base_path: &str, req: Request) -> Response {
        let Some(dispatcher) = &self.inner.dispatcher else {
            return respond::json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "WORKER_POOL_UNAVAILABLE",
                "No worker pool is configured, so JavaScript apps cannot be served.",
            );
        };
        let moved = match self.inner.dirs_by_key.lock() {
            Ok(mut m) => match m.get(&spec.key) {
                Some(old) if *old == spec.dir => false,
                Some(_) => {
                    m.insert(spec.key.clone(), spec.dir.clone());
                    true
                }
                None => {
                    m.insert(spec.key.clone(), spec.dir.clone());
                    false
                }
            },
            Err(_) => false,
        };
        if moved {
            tracing::info!(key = %spec.key, dir = %spec.dir.display(), "App directory changed; retiring its old workers.");
            retire_in_background(dispatcher.clone(), spec.key.clone()).await;
        }
        let mut req = req;
        let rel = strip_base(req.uri().path(), base_path).to_owned();
        rewrite_path(&mut req, &rel);
        if let Ok(v) = HeaderValue::from_str(base_path) {
            req.headers_mut().insert("x-base", v);
        }
        let res = dispatcher.dispatch(spec.clone(), req).await;
        match injection {
            Some(inj) if self.inner.inject_worker_html.load(Ordering::Relaxed) => inject_response(res, inj).await,
            _ => res,
        }
    }
}

/// Polls `dispatcher.retire(key)` once (its synchronous start runs now), then lets it finish on
/// its own task.
async fn retire_in_background(dispatcher: Arc<dyn Dispatcher>, key: String) {
    let mut fut = Box::pin(async move { dispatcher.retire(&key).await });
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    if first.is_pending() {
        tokio::spawn(fut);
    }
}

/// Strips the mount prefix from `path`: `/todo/a` → `/a`, `/todo` → `/`.
pub fn strip_base<'a>(path: &'a str, base_path: &str) -> &'a str {
    if base_path.is_empty() || base_path == "/" {
        return if path.is_empty() { "/" } else { path };
    }
    match path.strip_prefix(base_path) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => "/",
    }
}

fn rewrite_path(req: &mut Request, path: &str) {
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}

async fn inject_response(res: Response, inj: &Injection) -> Response {
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/html"));
    let encoded = res.headers().get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes() != b"identity");
    let declared = res
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if !is_html || encoded || declared.is_some_and(|n| n > MAX_INJECT_BYTES) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_INJECT_BYTES).await else {
        return respond::json_error(StatusCode::BAD_GATEWAY, "WORKER_RESPONSE_FAILED", "The app's HTML response could not be read.");
    };
    let out = inj.apply(&bytes);
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    Response::from_parts(parts, Body::from(out))
}

fn broken(name: &str, dir: &Path, base_path: &str, status: StatusCode, code: &'static str, message: String) -> ResolvedApp {
    ResolvedApp {
        info: Arc::new(AppInfo {
            name: name.to_owned(),
            version: package_version(dir).unwrap_or_else(|| "0.0.0".to_owned()),
            dir: dir.to_owned(),
            config: Value::Null,
        }),
        base_path: base_path.to_owned(),
        max_body_bytes: DEFAULT_BODY_LIMIT,
        public_routes: None,
        target: Arc::new(Target::Broken { status, code, message }),
    }
}

#[async_trait]
impl AppBackend for Apps {
    async fn resolve(&self, path: &str) -> Result<Option<ResolvedApp>, PluginError> {
        if self.is_reserved(path) {
            return Ok(None);
        }
        let resolved = match self.inner.resolver.cached(path) {
            Some(answer) => Ok(answer),
            None => {
                // Directory scans and manifest parsing block: keep them off the request threads.
                let inner = self.inner.clone();
                let owned = path.to_owned();
                match tokio::task::spawn_blocking(move || inner.resolver.resolve(&owned)).await {
                    Ok(r) => r,
                    Err(e) => return Err(PluginError::internal(format!("app lookup task failed: {e}"))),
                }
            }
        };
        let resolution = match resolved {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::error!(error = %e, path = %path, "App key collision.");
                let app = parse_app_path(path);
                let (name, base) = app.map(|a| (a.display, a.base_path)).unwrap_or_default();
                let dir = match &e {
                    crate::resolver::ResolveError::Collision { first, .. } => first.clone(),
                };
                return Ok(Some(broken(&name, &dir, &base, StatusCode::INTERNAL_SERVER_ERROR, "APP_KEY_COLLISION", e.to_string())));
            }
        };
        let name = &resolution.app.display;
        match self.app_config(name, &resolution.dir, None).await {
            Ok(cfg) => Ok(Some(self.prepare(&cfg, name, &resolution.app.base_path, resolution.key.clone(), false))),
            Err(e) => {
                tracing::error!(error = %e, "Invalid app config.");
                Ok(Some(broken(
                    name,
                    &resolution.dir,
                    &resolution.app.base_path,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INVALID_WORKER_CONFIG",
                    e.to_string(),
                )))
            }
        }
    }

    async fn resolve_plugin_app(&self, dir: &Path, base: &str, manifest: &Map<String, Value>) -> Result<ResolvedApp, PluginError> {
        let name = match base.trim_start_matches('/') {
            "" => "root",
            n => n,
        };
        let plugin = manifest.get("name").and_then(Value::as_str).filter(|s| !s.is_empty()).map_or_else(
            || dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| name.to_owned()),
            str::to_owned,
        );
        match self.app_config(name, dir, Some(manifest)).await {
            Ok(cfg) => {
                let version = manifest
                    .get("version")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .or_else(|| package_version(dir))
                    .unwrap_or_else(|| "latest".to_owned());
                Ok(self.prepare(&cfg, name, base, format!("{plugin}@{version}"), true))
            }
            Err(e) => {
                tracing::error!(error = %e, plugin = %plugin, "Invalid plugin app config.");
                Ok(broken(name, dir, base, StatusCode::INTERNAL_SERVER_ERROR, "INVALID_WORKER_CONFIG", e.to_string()))
            }
        }
    }

    async fn app_at(&self, dir: &Path, config: Option<&Map<String, Value>>) -> Result<ResolvedApp, PluginError> {
        let dir = dir.canonicalize().map_err(|e| PluginError::new(buntime_core::ErrorKind::NotFound, format!("app dir `{}`: {e}", dir.display())))?;
        if !dir.is_dir() {
            return Err(PluginError::new(buntime_core::ErrorKind::NotFound, format!("app dir `{}` is not a directory", dir.display())));
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "app".to_owned());
        // `config` goes over the app's own manifest, key by key.
        let merged = match config {
            Some(overrides) if !overrides.is_empty() => {
                let own = {
                    let dir = dir.clone();
                    tokio::task::spawn_blocking(move || match buntime_core::yaml::locate(&dir) {
                        Ok(Some(located)) => buntime_core::yaml::read_mapping(&located.file).unwrap_or_default(),
                        _ => Map::new(),
                    })
                    .await
                    .unwrap_or_default()
                };
                let mut merged = own;
                for (k, v) in overrides {
                    merged.insert(k.clone(), v.clone());
                }
                Some(merged)
            }
            _ => None,
        };
        let cfg = self.app_config(&name, &dir, merged.as_ref()).await.map_err(|e| PluginError::internal(e.to_string()))?;
        let version = package_version(&dir).unwrap_or_else(|| "latest".to_owned());
        Ok(self.prepare(&cfg, &name, "/", format!("{name}@{version}"), false))
    }

    async fn files_changed(&self, paths: &[PathBuf]) -> Vec<String> {
        let keys = self.forget(paths).await;
        self.announce(paths.to_vec(), keys.clone());
        keys
    }

    fn subscribe_changes(&self) -> Option<tokio::sync::broadcast::Receiver<AppsChanged>> {
        Some(self.inner.changes.subscribe())
    }

    async fn apply_change(&self, change: &AppsChanged) {
        let retired = self.forget(&change.paths).await;
        for key in change.keys.iter().filter(|k| !retired.contains(k)) {
            self.retire(key).await;
        }
    }

    fn route_kind(&self, app: &ResolvedApp) -> buntime_core::RouteKind {
        match app.target.downcast_ref::<Target>() {
            Some(Target::Static(_)) => buntime_core::RouteKind::Static,
            _ => buntime_core::RouteKind::App,
        }
    }

    async fn serve(&self, app: &ResolvedApp, req: Request) -> Response {
        let Some(target) = app.target.downcast_ref::<Target>() else {
            tracing::error!(app = %app.info.name, "Resolved app was not created by this backend.");
            return respond::json_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "The app cannot be served.");
        };
        match target {
            Target::Broken { status, code, message } => respond::json_error(*status, code, message),
            Target::Static(site) => {
                let rel = strip_base(req.uri().path(), &app.base_path);
                self.inner.statics.serve(site, req.method(), req.headers(), rel).await
            }
            Target::Worker { spec, injection } => self.serve_worker(spec, injection.as_ref(), &app.base_path, req).await,
        }
    }
}

/// The configured `entrypoint` of `cfg` when that file does not exist (another one was detected).
fn missing_configured(cfg: &AppConfig) -> Option<std::path::PathBuf> {
    let rel = cfg.config.entrypoint.as_deref().map(str::trim).filter(|r| !r.is_empty())?;
    let path = cfg.dir.join(rel);
    (!path.is_file()).then_some(path)
}

#[cfg(test)]
pub(crate) mod tests;
