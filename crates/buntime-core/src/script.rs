//! The seam for plugins written in JavaScript/TypeScript: a host process per generation that loads
//! them and hands back [`Plugin`] adapters, so they interleave with native plugins in hook order.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::PluginError;
use crate::plugin::{Plugin, PluginContext};

/// A JS/TS plugin to load: its manifest and the module file found for it.
#[derive(Debug, Clone)]
pub struct ScriptPluginSpec {
    /// The plugin's name.
    pub name: String,
    /// The plugin's directory.
    pub dir: PathBuf,
    /// The module to import (`pluginEntry`, else `plugin.ts|js`, `index.ts|js`).
    pub entry: PathBuf,
    /// The manifest's `base`, if any.
    pub base: Option<String>,
}

/// Starts script hosts; one host serves one generation.
#[async_trait]
pub trait ScriptHostFactory: Send + Sync + 'static {
    /// Starts a host for generation `generation`.
    ///
    /// # Errors
    /// The host cannot start (for example, Bun is not installed); the message says how to fix it.
    async fn start(&self, generation: u64) -> Result<Arc<dyn ScriptHost>, PluginError>;
}

/// A running script host.
#[async_trait]
pub trait ScriptHost: Send + Sync + 'static {
    /// Imports `spec`, calls its factory and `onInit`, and returns the adapter that forwards hooks.
    ///
    /// # Errors
    /// The module is missing, malformed, or its factory or `onInit` failed.
    async fn load(&self, spec: &ScriptPluginSpec, cx: &PluginContext) -> Result<Arc<dyn Plugin>, PluginError>;

    /// Names the plugins that are currently unavailable (host down), for readiness.
    fn unavailable(&self) -> Vec<String> {
        Vec::new()
    }

    /// Stops the host after its plugins' `onShutdown` ran.
    async fn shutdown(&self);
}

/// Finds the module of a script plugin: `pluginEntry` when the file exists, else the first of
/// `plugin.ts`, `plugin.js`, `index.ts`, `index.js`. Returns the entry and a warning when a
/// configured `pluginEntry` was missing.
pub fn find_entry(dir: &std::path::Path, plugin_entry: Option<&str>) -> (Option<PathBuf>, Option<String>) {
    let mut warning = None;
    if let Some(entry) = plugin_entry {
        let path = dir.join(entry);
        if crate::config::normalize(&path).starts_with(dir) && path.is_file() {
            return (Some(path), None);
        }
        warning = Some(format!(
            "pluginEntry `{entry}` not found in {}; falling back to plugin.ts/index.ts (build it, e.g. `bun run build`)",
            dir.display()
        ));
    }
    let found = ["plugin.ts", "plugin.js", "index.ts", "index.js"].iter().map(|n| dir.join(n)).find(|p| p.is_file());
    (found, warning)
}
