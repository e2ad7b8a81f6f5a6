//! The contract between app hosting and the worker pool: what a worker runs, and who runs it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buntime_core::{Request, Response};

/// Everything the pool needs to start and serve one app's workers (a validated worker config).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    /// Pool key, `name@version` (spec §9.3); workers are shared per key.
    pub key: String,
    /// The app directory (the worker's `APP_DIR`).
    pub dir: PathBuf,
    /// The module to run, absolute and inside `dir`.
    pub entrypoint: PathBuf,
    /// The path prefix the app is mounted at (`/todo`, `/todo@1`, a plugin base); sent as `x-base`.
    pub base_path: String,
    /// Per-request timeout (504 and the worker is replaced when exceeded).
    pub timeout: Duration,
    /// Sliding time to live; zero means a fresh worker per request (ephemeral).
    pub ttl: Duration,
    /// Idle time after which the app's `onIdle` runs.
    pub idle_timeout: Duration,
    /// Requests after which the worker is recycled.
    pub max_requests: u64,
    /// Run in Bun's reduced-memory mode (`--smol`).
    pub low_memory: bool,
    /// Run `bun install --frozen-lockfile --ignore-scripts` before the first start.
    pub auto_install: bool,
    /// Run in a worker host of its own (process isolation).
    pub isolated: bool,
    /// The app's `env` (manifest plus `.env`), already filtered of sensitive runtime variables.
    pub env: BTreeMap<String, String>,
    /// Largest request body accepted.
    pub max_body_bytes: u64,
    /// `maxMemory`: heap the worker may use before it is stopped (`None`: the runtime default).
    pub max_memory_bytes: Option<u64>,
    /// Inject `<base href>` into HTML responses.
    pub inject_base: bool,
    /// Variables injected as `window.__env__` into HTML responses (those matching `envPrefix`).
    pub public_env: BTreeMap<String, String>,
    /// The full normalized config as JSON (the worker's `WORKER_CONFIG`).
    pub config_json: serde_json::Value,
}

/// Runs JS apps: implemented by the worker pool.
#[async_trait]
pub trait Dispatcher: Send + Sync + 'static {
    /// Serves `req` with a worker for `spec`. `req`'s path is already relative to the app
    /// (`spec.base_path` stripped). Failures are answered, never raised: 502/503/504 JSON.
    async fn dispatch(&self, spec: Arc<WorkerSpec>, req: Request) -> Response;

    /// Retires every worker of `key` gracefully (after in-flight requests), e.g. after an app was
    /// replaced or deleted.
    async fn retire(&self, key: &str);
}
