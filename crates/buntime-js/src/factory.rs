//! [`BunScriptHosts`]: the [`ScriptHostFactory`] that gives every generation its own Bun host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use buntime_core::config::Env;
use buntime_core::script::{ScriptHost, ScriptHostFactory};
use buntime_core::{ErrorKind, PluginError};

use crate::host::{BunScriptHost, HostOptions};

/// Starts one Bun plugin host per generation.
///
/// Built with the Bun binary, or with the reason none was found; in the latter case every JS/TS
/// plugin fails to load with that reason (which says how to install Bun) and native plugins keep
/// working.
#[derive(Debug, Clone)]
pub struct BunScriptHosts {
    bun: Result<PathBuf, String>,
    options: HostOptions,
}

impl BunScriptHosts {
    /// Uses the Bun binary at `bun`.
    pub fn new(bun: impl Into<PathBuf>) -> Self {
        Self { bun: Ok(bun.into()), options: HostOptions::default() }
    }

    /// Finds Bun the runtime's way (`BUNTIME_BUN`, the project's `.tools` copy, then `PATH`),
    /// remembering why when it is missing, and reads the host's settings from `env`
    /// ([`HostOptions::from_env`]).
    pub fn discover(env: &Env, base_dir: &Path) -> Self {
        Self { bun: buntime_core::bun::find_bun(env, base_dir).map_err(|e| e.to_string()), options: HostOptions::from_env(env) }
    }

    /// Replaces the timeouts and limits.
    #[must_use]
    pub fn with_options(mut self, options: HostOptions) -> Self {
        self.options = options;
        self
    }

    /// Returns the Bun binary, or why there is none.
    pub fn bun(&self) -> Result<&Path, &str> {
        self.bun.as_deref().map_err(String::as_str)
    }

    /// Returns this factory as the trait object `LoadInputs::scripts` takes.
    pub fn shared(self) -> Arc<dyn ScriptHostFactory> {
        Arc::new(self)
    }
}

#[async_trait]
impl ScriptHostFactory for BunScriptHosts {
    async fn start(&self, generation: u64) -> Result<Arc<dyn ScriptHost>, PluginError> {
        let bun = self.bun.as_ref().map_err(|why| PluginError::new(ErrorKind::Unavailable, why.clone()))?;
        let host = BunScriptHost::new(bun.clone(), generation, self.options.clone()).map_err(|e| PluginError::internal(e.to_string()))?;
        Ok(Arc::new(host))
    }
}
