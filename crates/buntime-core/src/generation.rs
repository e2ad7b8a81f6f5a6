//! One immutable generation of loaded plugins, the single `ArcSwap` that serves it, and the
//! in-flight accounting that lets a retired generation drain before its plugins shut down.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use futures_util::FutureExt;
use tokio::sync::Notify;

use crate::batch::{self, HookStep};
use crate::manifest::Manifest;
use crate::plugin::{Hooks, Plugin, ServerInfo};
use crate::problem::Problem;
use crate::public_routes::PublicRoutes;
use crate::script::ScriptHost;
use crate::services::Services;

/// How a plugin's code is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Compiled into this binary.
    Native,
    /// JavaScript/TypeScript, run by the script host.
    Script,
    /// No hooks: the manifest only declares a serverless `entrypoint`.
    App,
}

/// A plugin as loaded into a generation.
pub struct LoadedPlugin {
    /// The manifest it was loaded from.
    pub manifest: Arc<Manifest>,
    /// Its directory.
    pub dir: PathBuf,
    /// Where its code comes from.
    pub kind: PluginKind,
    /// The instance.
    pub plugin: Arc<dyn Plugin>,
    /// Its routes, mounted at the manifest's base.
    pub router: Option<Router>,
    /// Its public routes (relative to its base; absolute when it has none).
    pub public_routes: Option<PublicRoutes>,
    /// Which request hooks it implements.
    pub hooks: Hooks,
    /// Its menus as they are after `on_init` ([`Plugin::menus`], else the manifest's).
    pub menus: serde_json::Value,
    /// Where the pipeline records how long its hooks take.
    pub hook_timings: Arc<crate::metrics::HookTimings>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("name", &self.manifest.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// Returns the plugin's name.
    pub fn name(&self) -> &str {
        self.manifest.name.as_str()
    }
}

/// Everything a request reads, frozen: the ordered plugins, their hook lists and routes, and the
/// services they provide.
pub struct Generation {
    /// Counts up from 1 with every successful load.
    pub number: u64,
    /// Loaded plugins in dependency (registry) order.
    pub plugins: Vec<LoadedPlugin>,
    /// Indices of plugins with `on_request`, in order.
    pub request_hooks: Vec<usize>,
    /// Indices of plugins with `on_response`, in order.
    pub response_hooks: Vec<usize>,
    /// `request_hooks` as the pipeline walks them: neighbours of one host batched.
    pub request_steps: Vec<HookStep>,
    /// `response_hooks` as the pipeline walks them: neighbours of one host batched.
    pub response_steps: Vec<HookStep>,
    /// Indices of plugins with `server_fetch`, in order.
    pub server_fetch_hooks: Vec<usize>,
    /// Base path → plugin index.
    pub by_base: HashMap<String, usize>,
    /// Indices of base-less plugins with public routes (matched against absolute paths).
    pub global_public: Vec<usize>,
    /// The services the plugins provide.
    pub services: Services,
    /// The script host running this generation's JS plugins, if any.
    pub script_host: Option<Arc<dyn ScriptHost>>,
    /// What did not load (the runtime serves the rest).
    pub problems: Vec<Problem>,
    /// `number` as a header value, made once (every response carries it).
    pub header_value: http::HeaderValue,
    /// The WebSockets its plugins accepted: they outlive their requests, so they drain apart.
    pub sockets: crate::websocket::SocketScope,
    inflight: Arc<Inflight>,
    /// Set once a newer generation serves (or the runtime stops): ends SSE streams.
    replaced: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation").field("number", &self.number).field("plugins", &self.plugins).finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Inflight {
    count: AtomicUsize,
    idle: Notify,
}

/// Keeps a generation counted as in flight until dropped.
#[derive(Debug)]
pub struct InflightGuard {
    inflight: Arc<Inflight>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if self.inflight.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inflight.idle.notify_waiters();
        }
    }
}

impl Generation {
    /// Assembles a generation from loaded plugins, computing hook lists and the base table.
    pub fn new(number: u64, plugins: Vec<LoadedPlugin>, services: Services, script_host: Option<Arc<dyn ScriptHost>>, problems: Vec<Problem>) -> Self {
        let request_hooks: Vec<usize> = (0..plugins.len()).filter(|&i| plugins[i].hooks.on_request).collect();
        let response_hooks: Vec<usize> = (0..plugins.len()).filter(|&i| plugins[i].hooks.on_response).collect();
        let batch_of = |i: usize| plugins[i].plugin.hook_batch();
        let name_of = |i: usize| Arc::<str>::from(plugins[i].name());
        let request_steps = batch::group(&request_hooks, batch_of, name_of);
        let response_steps = batch::group(&response_hooks, batch_of, name_of);
        let server_fetch_hooks = (0..plugins.len()).filter(|&i| plugins[i].hooks.server_fetch).collect();
        let by_base = plugins
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.manifest.base.as_ref().map(|b| (b.as_str().to_owned(), i)))
            .collect();
        let global_public = (0..plugins.len())
            .filter(|&i| plugins[i].manifest.base.is_none() && plugins[i].public_routes.as_ref().is_some_and(|r| !r.is_empty()))
            .collect();
        Self {
            number,
            plugins,
            request_hooks,
            response_hooks,
            request_steps,
            response_steps,
            server_fetch_hooks,
            by_base,
            global_public,
            services,
            script_host,
            problems,
            header_value: http::HeaderValue::from(number),
            sockets: crate::websocket::SocketScope::default(),
            inflight: Arc::default(),
            replaced: tokio::sync::watch::Sender::new(false),
        }
    }

    /// An empty generation (number 0): what serves before the first load finishes.
    pub fn empty() -> Self {
        Self::new(0, Vec::new(), Services::default(), None, Vec::new())
    }

    /// Counts one request in flight until the guard drops.
    pub fn enter(&self) -> InflightGuard {
        self.inflight.count.fetch_add(1, Ordering::AcqRel);
        InflightGuard { inflight: self.inflight.clone() }
    }

    /// Marks this generation as replaced by a newer one (or the runtime as stopping): its
    /// Server-Sent Events streams end now, so their clients reconnect to what serves next.
    pub fn mark_replaced(&self) {
        self.replaced.send_replace(true);
    }

    /// Resolves once [`Generation::mark_replaced`] was called.
    pub fn replaced(&self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.replaced.subscribe();
        async move {
            let _ = rx.wait_for(|replaced| *replaced).await;
        }
    }

    /// Returns how many requests are in flight on this generation.
    pub fn inflight(&self) -> usize {
        self.inflight.count.load(Ordering::Acquire)
    }

    /// Waits until no request is in flight, or `grace` passes. Returns whether it drained.
    pub async fn drain(&self, grace: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.inflight.idle.notified();
                if self.inflight() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(grace, wait).await.is_ok()
    }

    /// Closes this generation's WebSockets with 1001 and waits up to `wait` for their handlers to
    /// let go. Returns whether they all did.
    pub async fn close_sockets(&self, wait: Duration) -> bool {
        let open = self.sockets.open();
        self.sockets.close_all();
        if open == 0 {
            return true;
        }
        let closed = self.sockets.wait_closed(wait).await;
        if closed {
            tracing::info!(generation = self.number, sockets = open, "Closed WebSockets with 1001 (going away).");
        } else {
            tracing::warn!(generation = self.number, open = self.sockets.open(), "WebSocket handlers still running after 1001; shutting the generation down anyway.");
        }
        closed
    }

    /// Runs every plugin's `on_server_start`, in order; a panic is logged and the rest still run.
    pub async fn server_started(&self, server: &ServerInfo) {
        for p in &self.plugins {
            if AssertUnwindSafe(p.plugin.on_server_start(server)).catch_unwind().await.is_err() {
                tracing::error!(plugin = %p.name(), hook = "on_server_start", "Plugin hook panicked.");
            }
        }
    }

    /// Tells every plugin, in order, that a worker started (`spawned`) or stopped.
    pub async fn worker_event(&self, notice: &crate::app::WorkerNotice, spawned: bool) {
        for p in &self.plugins {
            let hook = if spawned { "on_worker_spawn" } else { "on_worker_terminate" };
            let run = async {
                if spawned {
                    p.plugin.on_worker_spawn(notice).await;
                } else {
                    p.plugin.on_worker_terminate(notice).await;
                }
            };
            if AssertUnwindSafe(run).catch_unwind().await.is_err() {
                tracing::error!(plugin = %p.name(), hook, "Plugin hook panicked.");
            }
        }
    }

    /// Runs every plugin's `on_shutdown` in reverse order (each bounded by 30 s), then stops the
    /// script host. Failures are logged; every plugin still gets its turn.
    pub async fn shut_down(&self) {
        for p in self.plugins.iter().rev() {
            let run = AssertUnwindSafe(p.plugin.on_shutdown()).catch_unwind();
            match tokio::time::timeout(Duration::from_secs(30), run).await {
                Ok(Ok(())) => tracing::debug!(plugin = %p.name(), generation = self.number, "Plugin shut down."),
                Ok(Err(_)) => tracing::error!(plugin = %p.name(), hook = "on_shutdown", "Plugin hook panicked."),
                Err(_) => tracing::error!(plugin = %p.name(), hook = "on_shutdown", "Plugin hook timed out after 30s."),
            }
        }
        if let Some(host) = &self.script_host {
            host.shutdown().await;
        }
    }

    /// Returns the plugin named `name`.
    pub fn plugin(&self, name: &str) -> Option<&LoadedPlugin> {
        self.plugins.iter().find(|p| p.name() == name)
    }
}

/// The live generation: one `ArcSwap` that requests load once and keep to the end.
#[derive(Debug)]
pub struct Live {
    current: ArcSwap<Generation>,
}

impl Live {
    /// Starts with `generation` live.
    pub fn new(generation: Generation) -> Self {
        Self { current: ArcSwap::from_pointee(generation) }
    }

    /// Returns the live generation.
    pub fn load(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Makes `next` live and returns the generation it replaced.
    pub fn swap(&self, next: Arc<Generation>) -> Arc<Generation> {
        self.current.swap(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::WorkerNotice;
    use std::sync::Mutex;

    struct Watcher(Arc<Mutex<Vec<String>>>);

    #[async_trait::async_trait]
    impl Plugin for Watcher {
        async fn on_worker_spawn(&self, w: &WorkerNotice) {
            self.0.lock().unwrap().push(format!("spawn {}", w.key));
        }
        async fn on_worker_terminate(&self, w: &WorkerNotice) {
            if w.reason == "boom" {
                panic!("watcher panics");
            }
            self.0.lock().unwrap().push(format!("terminate {} {}", w.key, w.reason));
        }
    }

    fn loaded(name: &str, plugin: Arc<dyn Plugin>) -> LoadedPlugin {
        let (manifest, _) = crate::manifest::Manifest::parse(&format!("name: {name}\n"), std::path::Path::new("m.yaml"), &[]).unwrap();
        LoadedPlugin { manifest: Arc::new(manifest), dir: PathBuf::new(), kind: PluginKind::Native, plugin, router: None, public_routes: None, hooks: Hooks::NONE, menus: serde_json::Value::Array(Vec::new()), hook_timings: Arc::default() }
    }

    #[tokio::test]
    async fn worker_events_reach_every_plugin_in_order_and_panics_are_contained() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let g = Generation::new(
            1,
            vec![loaded("a", Arc::new(Watcher(log.clone()))), loaded("b", Arc::new(Watcher(log.clone())))],
            Services::default(),
            None,
            Vec::new(),
        );
        let notice = |reason: &str| WorkerNotice { key: "todo@1.0.0".into(), worker_id: "w1".into(), dir: PathBuf::from("/apps/todo"), ephemeral: false, reason: reason.into() };
        g.worker_event(&notice(""), true).await;
        g.worker_event(&notice("evicted"), false).await;
        g.worker_event(&notice("boom"), false).await;
        assert_eq!(*log.lock().unwrap(), vec![
            "spawn todo@1.0.0", "spawn todo@1.0.0", "terminate todo@1.0.0 evicted", "terminate todo@1.0.0 evicted",
        ]);
    }

    #[tokio::test]
    async fn drain_waits_for_guards_and_times_out_otherwise() {
        let g = Arc::new(Generation::empty());
        let guard = g.enter();
        assert_eq!(g.inflight(), 1);
        assert!(!g.drain(Duration::from_millis(20)).await);
        let g2 = g.clone();
        let waiter = tokio::spawn(async move { g2.drain(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(guard);
        assert!(waiter.await.unwrap());
        assert_eq!(g.inflight(), 0);
    }
}
