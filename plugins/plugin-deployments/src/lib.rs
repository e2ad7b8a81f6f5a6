//! `@buntime/plugin-deployments`, native: a file manager over the app and plugin directories
//! (list with visibility and config validation, mkdir, rename, move, delete, upload of files and
//! zips, download of files and folders streamed as zip) under `/deployments/api`. Writes need the
//! editor role, reads the viewer role of the REST API; every change reaches the app resolver at
//! once. No UI yet; see `docs/deployments.md`.
#![forbid(unsafe_code)]

mod access;
pub mod config;
pub mod dirinfo;
pub mod download;
pub mod error;
pub mod layout;
mod listing;
pub mod meta;
mod ops;
pub mod paths;
pub mod roots;
mod routes;
pub mod unzip;
mod upload;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use buntime_core::app::AppBackend;
use buntime_core::{ErrorKind, Hooks, Plugin, PluginContext, PluginError};
use serde_json::Value;

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-deployments";

/// Prefix of the hidden folders uploads and deletes stage in (random suffix; never listed).
pub const STAGING_PREFIX: &str = ".buntime-deploy-";

/// What every route reads.
pub(crate) struct State {
    pub(crate) roots: Vec<roots::Root>,
    pub(crate) config: config::Config,
    pub(crate) sizes: dirinfo::DirInfoCache,
    pub(crate) apps: Option<Arc<dyn AppBackend>>,
    /// Serializes changes to the trees, so concurrent uploads and moves each apply whole.
    pub(crate) writes: tokio::sync::Mutex<()>,
}

/// The deployments plugin.
pub struct DeploymentsPlugin {
    state: Arc<State>,
    menus: Option<Value>,
}

impl std::fmt::Debug for DeploymentsPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let roots: Vec<&str> = self.state.roots.iter().map(|r| r.name.as_str()).collect();
        f.debug_struct("DeploymentsPlugin").field("roots", &roots).finish_non_exhaustive()
    }
}

impl DeploymentsPlugin {
    /// Builds the plugin: roots from the runtime's worker and plugin dirs (or the manifest's
    /// `workerDirs` / `pluginDirs`), excludes from `DEPLOYMENTS_EXCLUDES` or `excludes`.
    ///
    /// # Errors
    /// A bad manifest key, naming it.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let env_excludes = cx.env().get_non_blank("DEPLOYMENTS_EXCLUDES").map(str::to_owned);
        let config = config::parse(cx.config(), env_excludes.as_deref(), cx.dir())
            .map_err(|e| PluginError::new(ErrorKind::Internal, e))?;
        let global = cx.global_config();
        let worker_dirs = config.worker_dirs.clone().unwrap_or_else(|| global.worker_dirs.clone());
        let plugin_dirs = config.plugin_dirs.clone().unwrap_or_else(|| global.plugin_dirs.clone());
        let roots = roots::build(&worker_dirs, &plugin_dirs);
        let base = cx.config().get("base").and_then(Value::as_str).unwrap_or("/deployments").to_owned();
        let menus = roots::menus(cx.config().get("menus"), &base, &roots);
        Ok(Self {
            state: Arc::new(State {
                roots,
                config,
                sizes: dirinfo::DirInfoCache::default(),
                apps: cx.apps().cloned(),
                writes: tokio::sync::Mutex::new(()),
            }),
            menus,
        })
    }
}

#[async_trait]
impl Plugin for DeploymentsPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        let roots: Vec<String> = self.state.roots.iter().map(|r| format!("{} ({})", r.name, r.dir.display())).collect();
        cx.logger().info(format!("deployments ready: roots {}", roots.join(", ")));
        Ok(())
    }

    fn routes(&self) -> Option<Router> {
        Some(routes::router(self.state.clone()))
    }

    fn max_body_bytes(&self) -> Option<u64> {
        Some(self.state.config.max_upload_bytes)
    }

    fn menus(&self) -> Option<Value> {
        self.menus.clone()
    }

    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}
