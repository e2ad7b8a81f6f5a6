//! `PluginHarness`: one plugin, loaded from its manifest by the real loader, served in-process.

use std::sync::Arc;

use axum::body::Body;
use buntime_core::config::Env;
use buntime_core::loader::{LoadInputs, build_generation};
use buntime_core::manifest::Manifest;
use buntime_core::pipeline::Pipeline;
use buntime_core::plugin::{NativeRegistry, Plugin, PluginContext};
use buntime_core::problem::Problem;
use buntime_core::app::{AppBackend, PoolView};
use buntime_core::{Generation, PluginError, RuntimeConfig, RuntimeMetrics};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::capture::LogCapture;

/// Why a harness could not start the plugin.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The manifest or the plugin failed to load.
    #[error("plugin did not load: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Load(Vec<Problem>),
    /// The temporary plugin directory could not be written.
    #[error("cannot prepare the plugin dir: {0}")]
    Io(#[from] std::io::Error),
}

use buntime_core::plugin::NativeFactory as Factory;

/// Configures one plugin for an in-process test.
#[must_use]
pub struct PluginHarness {
    manifest: String,
    factory: Factory,
    env: Vec<(String, String)>,
    files: Vec<(String, String)>,
    pool: Option<Arc<dyn PoolView>>,
    apps: Option<Arc<dyn AppBackend>>,
    metrics: Arc<RuntimeMetrics>,
    others: Vec<(String, Factory)>,
}

impl std::fmt::Debug for PluginHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHarness").field("manifest", &self.manifest).finish_non_exhaustive()
    }
}

impl PluginHarness {
    /// Tests the plugin built by `factory`, configured by the manifest text `manifest_yaml`.
    pub fn new<F, P>(manifest_yaml: &str, factory: F) -> Self
    where
        F: Fn(&PluginContext) -> Result<P, PluginError> + Send + Sync + 'static,
        P: Plugin,
    {
        Self {
            manifest: manifest_yaml.to_owned(),
            factory: Arc::new(move |cx| factory(cx).map(|p| Arc::new(p) as Arc<dyn Plugin>)),
            env: Vec::new(),
            files: Vec::new(),
            pool: None,
            apps: None,
            metrics: Arc::default(),
            others: Vec::new(),
        }
    }

    /// Loads another plugin alongside, from its own manifest: a dependency the tested plugin
    /// gets with `get_plugin` (the real loader orders them by their `dependencies`).
    pub fn with_plugin<F, P>(mut self, manifest_yaml: &str, factory: F) -> Self
    where
        F: Fn(&PluginContext) -> Result<P, PluginError> + Send + Sync + 'static,
        P: Plugin,
    {
        self.others.push((manifest_yaml.to_owned(), Arc::new(move |cx| factory(cx).map(|p| Arc::new(p) as Arc<dyn Plugin>))));
        self
    }

    /// Tests the plugin with the manifest file at `path` (e.g. the crate's own `manifest.yaml`).
    ///
    /// # Panics
    /// When the file cannot be read (a test setup mistake).
    pub fn from_manifest_file<F, P>(path: impl AsRef<std::path::Path>, factory: F) -> Self
    where
        F: Fn(&PluginContext) -> Result<P, PluginError> + Send + Sync + 'static,
        P: Plugin,
    {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Self::new(&text, factory)
    }

    /// Sets an environment variable the plugin sees (through `ctx.setting`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Shows `pool` to the plugin as `ctx.pool()` (a fake pool for plugins that read its metrics).
    pub fn pool(mut self, pool: Arc<dyn PoolView>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Shows `apps` to the plugin as `ctx.apps()` (a fake app backend for plugins that resolve
    /// apps or announce file changes). Requests still go to the plugin only.
    pub fn apps(mut self, apps: Arc<dyn AppBackend>) -> Self {
        self.apps = Some(apps);
        self
    }

    /// Uses `metrics` as the runtime's registry (`ctx.metrics()`; the harness times hooks into it).
    pub fn metrics(mut self, metrics: Arc<RuntimeMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Writes an extra file into the plugin's directory.
    pub fn file(mut self, rel_path: &str, contents: &str) -> Self {
        self.files.push((rel_path.to_owned(), contents.to_owned()));
        self
    }

    /// Loads the plugin (manifest validation, factory, `on_init`) and returns a running harness.
    ///
    /// # Errors
    /// The manifest is invalid or the plugin failed to load; the error lists why.
    pub async fn start(self) -> Result<StartedHarness, HarnessError> {
        let logs = LogCapture::default();
        let _guard = tracing::dispatcher::set_default(&logs.dispatch());
        let root = tempfile::tempdir()?;
        let dir = root.path().join("plugins").join("plugin");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("manifest.yaml"), &self.manifest)?;
        for (rel, contents) in &self.files {
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, contents)?;
        }
        let env = Env::from_pairs(self.env.clone());
        let mut pairs = self.env.clone();
        pairs.push(("RUNTIME_PLUGIN_DIRS".into(), root.path().join("plugins").display().to_string()));
        pairs.push(("RUNTIME_WORKER_DIRS".into(), root.path().join("apps").display().to_string()));
        let config = RuntimeConfig::from_env(&Env::from_pairs(pairs), root.path()).map_err(|e| HarnessError::Io(std::io::Error::other(e)))?;
        // An invalid manifest gets no factory; the loader then reports exactly what is wrong.
        let name = Manifest::parse(&self.manifest, &dir.join("manifest.yaml"), &[]).map(|(m, _)| m.name.as_str().to_owned()).unwrap_or_default();
        let mut natives = NativeRegistry::default();
        natives.register_factory(&name, self.factory.clone());
        for (i, (manifest, factory)) in self.others.iter().enumerate() {
            let other = root.path().join("plugins").join(format!("with-{i}"));
            std::fs::create_dir_all(&other)?;
            std::fs::write(other.join("manifest.yaml"), manifest)?;
            let other_name = Manifest::parse(manifest, &other.join("manifest.yaml"), &[]).map(|(m, _)| m.name.as_str().to_owned()).unwrap_or_default();
            natives.register_factory(&other_name, factory.clone());
        }
        let inputs = LoadInputs {
            config: Arc::new(config),
            env: Arc::new(env),
            natives: Arc::new(natives),
            scripts: None,
            pool: self.pool.clone(),
            apps: self.apps.clone(),
            init_timeout: buntime_core::loader::INIT_TIMEOUT,
            metrics: self.metrics.clone(),
        };
        let outcome = build_generation(&inputs, 1).await;
        if !outcome.problems.is_empty() {
            return Err(HarnessError::Load(outcome.problems));
        }
        Ok(StartedHarness { generation: Arc::new(outcome.generation), pipeline: Pipeline::default(), logs, _root: root })
    }
}

/// A loaded plugin, ready for requests.
pub struct StartedHarness {
    generation: Arc<Generation>,
    pipeline: Pipeline,
    logs: LogCapture,
    _root: tempfile::TempDir,
}

impl std::fmt::Debug for StartedHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedHarness").field("generation", &self.generation).finish_non_exhaustive()
    }
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status code (compare with a number: `res.status == 200`).
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TestResponse {
    /// Returns the body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Returns the body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl StartedHarness {
    /// Sends `GET path` through the pipeline.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, Body::empty()).await
    }

    /// Sends a request through the pipeline (hooks, the plugin's routes, base stripping).
    ///
    /// # Panics
    /// When `path` is not a valid URI path (a test mistake).
    pub async fn request(&self, method: Method, path: &str, body: impl Into<Body>) -> TestResponse {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", "test-request")
            .body(body.into())
            .expect("test request parts are valid");
        self.send(req).await
    }

    /// Sends a prepared request through the pipeline.
    pub async fn send(&self, req: buntime_core::Request) -> TestResponse {
        let _guard = tracing::dispatcher::set_default(&self.logs.dispatch());
        let res = self.pipeline.handle(self.generation.clone(), req).await;
        let (parts, body) = res.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        TestResponse { status: parts.status, headers: parts.headers, body }
    }

    /// Sends a prepared request and returns the response unread, for streamed bodies (SSE).
    pub async fn send_streaming(&self, req: buntime_core::Request) -> buntime_core::Response {
        let _guard = tracing::dispatcher::set_default(&self.logs.dispatch());
        self.pipeline.handle(self.generation.clone(), req).await
    }

    /// Returns the log lines captured so far (init logs included).
    pub fn logs(&self) -> &LogCapture {
        &self.logs
    }

    /// Returns the loaded generation (to inspect services or hook lists).
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// Runs `on_shutdown` and returns the captured logs.
    pub async fn shutdown(self) -> LogCapture {
        let _guard = tracing::dispatcher::set_default(&self.logs.dispatch());
        self.generation.shut_down().await;
        self.logs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buntime_core::{Hooks, RequestContext};

    /// Answers every request from `server_fetch` (a hook the harness must not drop).
    struct Fetcher;

    #[async_trait::async_trait]
    impl Plugin for Fetcher {
        async fn server_fetch(&self, _req: &mut buntime_core::Request, _cx: &RequestContext) -> Result<Option<buntime_core::Response>, PluginError> {
            Ok(Some(buntime_core::Response::new(Body::from("fetched"))))
        }
        fn hooks(&self) -> Hooks {
            Hooks { server_fetch: true, ..Hooks::NONE }
        }
    }

    #[tokio::test]
    async fn every_hook_of_the_plugin_runs_in_the_harness() {
        let h = PluginHarness::new("name: fetcher\n", |_| Ok(Fetcher)).start().await.unwrap();
        let res = h.get("/anything").await;
        assert_eq!((res.status.as_u16(), res.text().as_str()), (200, "fetched"));
    }

    /// Sleeps a little in `on_request` and does nothing in `on_response`.
    struct Slow;

    #[async_trait::async_trait]
    impl Plugin for Slow {
        async fn on_request(&self, _req: &mut buntime_core::Request, _cx: &RequestContext) -> Result<buntime_core::Flow, PluginError> {
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            Ok(buntime_core::Flow::Continue)
        }
    }

    #[tokio::test]
    async fn the_pipeline_times_each_hook_into_the_plugins_series() {
        let metrics = Arc::new(RuntimeMetrics::default());
        let h = PluginHarness::new("name: slow
", |_| Ok(Slow)).metrics(metrics.clone()).start().await.unwrap();
        h.get("/x").await;
        h.get("/y").await;
        let t = metrics.plugin_hooks("slow");
        assert_eq!((t.on_request.count(), t.on_response.count(), t.server_fetch.count()), (2, 2, 0));
        let mut text = String::new();
        metrics.render(&mut text);
        // Two 3 ms sleeps: both land above the 2.5 ms bucket.
        assert!(text.contains("buntime_plugin_hook_duration_seconds_bucket{plugin=\"slow\",hook=\"on_request\",le=\"0.0025\"} 0\n"), "{text}");
        assert!(text.contains("buntime_plugin_hook_duration_seconds_count{plugin=\"slow\",hook=\"on_request\"} 2\n"), "{text}");
    }
}
