//! Building a generation: scan, validate, order, instantiate and initialise every plugin, then
//! collect routes and services. Boot and reload share this one path.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::app::PoolView;
use crate::config::{Env, RuntimeConfig};
use crate::discovery::{DiscoveredPlugin, discover};
use crate::error::PluginError;
use crate::generation::{Generation, LoadedPlugin, PluginKind};
use crate::order::order;
use crate::plugin::{ContextParts, GlobalConfig, Hooks, NativeRegistry, Plugin, PluginContext, RuntimeInfo};
use crate::problem::Problem;
use crate::public_routes::PublicRoutes;
use crate::script::{ScriptHost, ScriptHostFactory, ScriptPluginSpec, find_entry};
use crate::services::Services;

/// How long a plugin's `on_init` may take.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a generation is built from.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct LoadInputs {
    /// The runtime configuration.
    pub config: Arc<RuntimeConfig>,
    /// The environment plugins read settings from.
    pub env: Arc<Env>,
    /// Compiled-in plugins.
    pub natives: Arc<NativeRegistry>,
    /// Starts a script host when a generation has JS/TS plugins.
    pub scripts: Option<Arc<dyn ScriptHostFactory>>,
    /// The worker pool, for `ctx.pool`.
    pub pool: Option<Arc<dyn PoolView>>,
    /// App hosting, for `ctx.pool.fetch` and the app resolver.
    pub apps: Option<Arc<dyn crate::app::AppBackend>>,
    /// How long `on_init` may take (30 s unless a test shortens it).
    pub init_timeout: Duration,
    /// The runtime's own metrics (plugins read them; the pipeline times their hooks into them).
    pub metrics: Arc<crate::metrics::RuntimeMetrics>,
}

/// The result of one load: the generation (possibly with some plugins left out) and every problem.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The new generation, ready to swap in.
    pub generation: Generation,
    /// Every problem: bad manifests, excluded plugins, failed inits.
    pub problems: Vec<Problem>,
    /// Non-fatal notes.
    pub warnings: Vec<String>,
}

enum Source {
    Native(crate::plugin::NativeFactory),
    Script(std::path::PathBuf),
    AppOnly,
}

/// Builds generation `number`: scan, validate, sort, init every plugin, build its routes.
///
/// Never fails as a whole: plugins that cannot load are left out and reported in
/// [`LoadOutcome::problems`]; the caller decides whether that is acceptable (boot serves the rest,
/// reload keeps the old generation).
pub async fn build_generation(inputs: &LoadInputs, number: u64) -> LoadOutcome {
    let started = Instant::now();
    let config = &inputs.config;
    let reserved = config.reserved_bases();
    // Scanning reads and parses files: keep it off the async threads that serve requests.
    let dirs = config.plugin_dirs.clone();
    let env = inputs.env.clone();
    let found = match tokio::task::spawn_blocking(move || discover(&dirs, &reserved, &env)).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "Plugin discovery task failed.");
            crate::discovery::Discovery {
                problems: vec![Problem { plugin: None, file: None, key: None, message: format!("plugin discovery failed: {e}") }],
                ..Default::default()
            }
        }
    };
    let mut problems = found.problems;
    let mut warnings = found.warnings;
    let ordered = order(&found.plugins, &found.broken);
    problems.extend(ordered.problems);

    let services = Services::default();
    let mut loaded: Vec<LoadedPlugin> = Vec::new();
    let mut loaded_names: HashSet<String> = HashSet::new();
    let mut script_host: Option<Arc<dyn ScriptHost>> = None;
    let mut script_host_error: Option<String> = None;

    for idx in ordered.order {
        let spec = &found.plugins[idx];
        let name = spec.manifest.name.as_str();
        if let Some(dep) = spec.manifest.dependencies.iter().find(|d| !loaded_names.contains(d.as_str())) {
            problems.push(Problem::plugin(name, format!("plugin `{name}` not loaded: depends on `{dep}`, which failed to load")));
            continue;
        }
        let (source, warning) = source_of(spec, &inputs.natives);
        warnings.extend(warning);
        let source = match source {
            Ok(s) => s,
            Err(message) => {
                problems.push(Problem { plugin: Some(name.to_owned()), file: Some(spec.manifest.file.clone()), key: None, message });
                continue;
            }
        };
        let cx = PluginContext::new(ContextParts {
            name: name.to_owned(),
            dir: spec.dir.clone(),
            config: spec.manifest.options(),
            global: GlobalConfig {
                plugin_dirs: config.plugin_dirs.clone(),
                worker_dirs: config.worker_dirs.clone(),
                pool_size: config.pool_size,
                state_dir: config.state_dir.clone(),
            },
            runtime: RuntimeInfo { api: config.api_path.clone(), version: crate::VERSION.to_owned() },
            env: inputs.env.clone(),
            services: services.clone(),
            pool: inputs.pool.clone(),
            apps: inputs.apps.clone(),
            generation: number,
            metrics: inputs.metrics.clone(),
        });
        let result = match source {
            Source::Native(factory) => init_native(&factory, &cx, inputs.init_timeout).await.map(|p| (p, PluginKind::Native)),
            Source::AppOnly => Ok((Arc::new(AppOnly) as Arc<dyn Plugin>, PluginKind::App)),
            Source::Script(entry) => {
                if script_host.is_none() && script_host_error.is_none() {
                    match &inputs.scripts {
                        None => script_host_error = Some("no JavaScript runtime is configured for this binary".to_owned()),
                        Some(f) => match f.start(number).await {
                            Ok(h) => script_host = Some(h),
                            Err(e) => script_host_error = Some(e.to_string()),
                        },
                    }
                }
                match (&script_host, &script_host_error) {
                    (Some(host), _) => {
                        let spec = ScriptPluginSpec {
                            name: name.to_owned(),
                            dir: spec.dir.clone(),
                            entry,
                            base: spec.manifest.base.as_ref().map(|b| b.as_str().to_owned()),
                        };
                        host.load(&spec, &cx).await.map(|p| (p, PluginKind::Script)).map_err(|e| describe("load", &e))
                    }
                    (None, Some(why)) => Err(format!("cannot run JS/TS plugin: {why}")),
                    (None, None) => Err("cannot run JS/TS plugin".to_owned()),
                }
            }
        };
        let (plugin, kind) = match result {
            Ok(ok) => ok,
            Err(message) => {
                tracing::error!(plugin = %name, error = %message, "Plugin failed to load.");
                problems.push(Problem { plugin: Some(name.to_owned()), file: Some(spec.manifest.file.clone()), key: None, message: format!("plugin `{name}`: {message}") });
                continue;
            }
        };
        services.insert(name, plugin.provides(), plugin.provides_json());
        let router = if spec.manifest.base.is_some() { plugin.routes().map(crate::pipeline::mark_claimed) } else { None };
        let public_routes = spec.manifest.raw.get("publicRoutes").and_then(|v| PublicRoutes::from_json(v).ok());
        let hooks = plugin.hooks();
        let menus = plugin.menus().unwrap_or_else(|| spec.manifest.menus.clone());
        let hook_timings = inputs.metrics.plugin_hooks(name);
        hook_timings.implements(hooks);
        tracing::info!(plugin = %name, dir = %spec.dir.display(), generation = number, "Loaded plugin.");
        loaded_names.insert(name.to_owned());
        loaded.push(LoadedPlugin {
            manifest: Arc::new(spec.manifest.clone()),
            dir: spec.dir.clone(),
            kind,
            plugin,
            router,
            public_routes,
            hooks,
            menus,
            hook_timings,
        });
    }
    tracing::info!(generation = number, plugins = loaded.len(), failed = problems.len(), elapsed_ms = started.elapsed().as_millis() as u64, "Loaded {} plugin(s).", loaded.len());
    let generation = Generation::new(number, loaded, services, script_host, problems.clone());
    LoadOutcome { generation, problems, warnings }
}

/// Decides where a plugin's code comes from: `native:` key, then a JS/TS entry, then a native
/// plugin registered under its name, then a bare serverless `entrypoint`.
fn source_of(spec: &DiscoveredPlugin, natives: &NativeRegistry) -> (Result<Source, String>, Option<String>) {
    let m = &spec.manifest;
    if let Some(id) = &m.native {
        return match natives.get(id) {
            Some(f) => (Ok(Source::Native(f.clone())), None),
            None => (
                Err(format!(
                    "{}: key `native`: no native plugin `{id}` is compiled into this binary (available: {}); fix: correct the name or build a binary that registers it",
                    m.file.display(),
                    natives.names().join(", ")
                )),
                None,
            ),
        };
    }
    let (entry, warning) = find_entry(&spec.dir, m.plugin_entry.as_deref());
    if let Some(entry) = entry {
        return (Ok(Source::Script(entry)), warning);
    }
    if let Some(f) = natives.get(m.name.as_str()) {
        return (Ok(Source::Native(f.clone())), None);
    }
    if m.entrypoint.is_some() {
        return (Ok(Source::AppOnly), warning);
    }
    (
        Err(format!(
            "{}: no plugin code found; fix: add plugin.ts (or index.ts), set `pluginEntry`, or set `native:` to a compiled-in plugin",
            m.file.display()
        )),
        warning,
    )
}

async fn init_native(factory: &crate::plugin::NativeFactory, cx: &PluginContext, timeout: Duration) -> Result<Arc<dyn Plugin>, String> {
    let plugin = match std::panic::catch_unwind(AssertUnwindSafe(|| factory(cx))) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(describe("factory", &e)),
        Err(_) => return Err("the factory panicked".to_owned()),
    };
    let init = AssertUnwindSafe(plugin.on_init(cx)).catch_unwind();
    match tokio::time::timeout(timeout, init).await {
        Ok(Ok(Ok(()))) => Ok(plugin),
        Ok(Ok(Err(e))) => Err(describe("on_init", &e)),
        Ok(Err(_)) => Err("on_init panicked".to_owned()),
        Err(_) => Err(format!("on_init timed out after {}ms", timeout.as_millis())),
    }
}

fn describe(hook: &str, e: &PluginError) -> String {
    format!("{hook} failed: {e}")
}

/// The stand-in for a plugin that only declares a serverless `entrypoint`.
struct AppOnly;

#[async_trait::async_trait]
impl Plugin for AppOnly {
    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}
