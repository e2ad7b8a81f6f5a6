//! The pool's configuration: sizes, limits, timeouts and the fixed worker environment.

use std::path::PathBuf;
use std::time::Duration;

use buntime_core::{Env, RuntimeConfig};

/// Values of the fixed worker variables (spec §9.7) that come from the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerEnvDefaults {
    /// `NODE_ENV` (the runtime's value, else `development`).
    pub node_env: String,
    /// `RUNTIME_API_URL`, e.g. `http://127.0.0.1:8000`.
    pub runtime_api_url: String,
    /// `RUNTIME_LOG_LEVEL` (default `info`).
    pub log_level: String,
    /// `RUNTIME_PLUGIN_DIRS`, raw.
    pub plugin_dirs: String,
    /// `RUNTIME_WORKER_DIRS`, raw.
    pub worker_dirs: String,
    /// Further variables the runtime hands every worker (e.g. `BUNTIME_WORKER_TOKEN`).
    pub extra: Vec<(String, String)>,
}

impl Default for WorkerEnvDefaults {
    fn default() -> Self {
        Self {
            node_env: "development".to_owned(),
            runtime_api_url: "http://127.0.0.1:8000".to_owned(),
            log_level: "info".to_owned(),
            plugin_dirs: String::new(),
            worker_dirs: String::new(),
            extra: Vec::new(),
        }
    }
}

/// How the pool runs workers.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most warm (ttl > 0) workers alive at once; the least recently used is evicted beyond it.
    pub pool_size: usize,
    /// Ephemeral (ttl = 0) requests running at once (`RUNTIME_EPHEMERAL_CONCURRENCY`).
    pub ephemeral_concurrency: usize,
    /// Ephemeral requests allowed to wait (`RUNTIME_EPHEMERAL_QUEUE_LIMIT`).
    pub ephemeral_queue_limit: usize,
    /// The Bun binary.
    pub bun: PathBuf,
    /// The fixed worker variables.
    pub worker_env: WorkerEnvDefaults,
    /// How long a worker (and its host) may take to get ready before the request gets 503.
    pub ready_timeout: Duration,
    /// Shared hosts for warm workers (apps are spread over them).
    pub warm_hosts: usize,
    /// Blank worker threads each warm host keeps booted to hide cold starts.
    pub warm_spares: usize,
    /// Blank worker threads the ephemeral host keeps booted.
    pub ephemeral_spares: usize,
    /// Time the app's `onTerminate` gets before its thread is stopped.
    pub terminate_grace: Duration,
    /// Extra time a stopping worker gets to exit before its whole host is killed.
    pub kill_grace: Duration,
    /// Longest wait for in-flight requests when a worker is evicted, recycled or retired.
    pub drain_timeout: Duration,
    /// How often TTL expiry and idle notification are checked.
    pub reap_interval: Duration,
    /// Workers a host starts before it is replaced by a fresh one (Bun 1.4.5 still leaks about
    /// 12 KB per ended worker thread, so the default bounds that to ~12 MB per host).
    pub host_max_spawns: u64,
    /// Resident memory above which a host is killed (its apps get 502, then fresh workers in a
    /// restarted host); `None` disables the watchdog. Protects the machine from a memory hog.
    pub host_max_rss_bytes: Option<u64>,
    /// Heap a worker may use before it is stopped, for apps whose manifest sets no `maxMemory`
    /// (`RUNTIME_WORKER_MAX_MEMORY`, a size like `512mb`); `None`: no per-worker limit.
    pub worker_max_memory_bytes: Option<u64>,
    /// Where sockets and the host script go (default `$XDG_RUNTIME_DIR`, else the temp dir).
    pub runtime_dir: Option<PathBuf>,
    /// Variables the host processes get (the host env is otherwise cleared): `PATH` and `HOME`.
    pub host_env: Vec<(String, String)>,
    /// Where host restarts are counted (the runtime's registry; a detached one by default).
    pub metrics: std::sync::Arc<buntime_core::RuntimeMetrics>,
}

impl PoolConfig {
    /// Creates a configuration with the defaults for `pool_size` and the Bun at `bun`.
    pub fn new(bun: PathBuf, pool_size: usize) -> Self {
        let pool_size = pool_size.max(1);
        let host_env = ["PATH", "HOME"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
            .collect();
        Self {
            pool_size,
            ephemeral_concurrency: pool_size.min(2),
            ephemeral_queue_limit: 100,
            bun,
            worker_env: WorkerEnvDefaults::default(),
            ready_timeout: Duration::from_secs(30),
            warm_hosts: 2,
            warm_spares: 1,
            ephemeral_spares: 2,
            terminate_grace: Duration::from_millis(500),
            kill_grace: Duration::from_millis(1500),
            drain_timeout: Duration::from_secs(30),
            reap_interval: Duration::from_millis(500),
            host_max_spawns: 1000,
            host_max_rss_bytes: Some(3 * 1024 * 1024 * 1024),
            worker_max_memory_bytes: None,
            runtime_dir: None,
            host_env,
            metrics: std::sync::Arc::default(),
        }
    }

    /// Derives the configuration from the runtime's: pool size, `RUNTIME_EPHEMERAL_*`, the fixed
    /// worker variables, and `PATH`/`HOME` for the hosts. Unreadable numbers fall back to defaults.
    pub fn from_runtime(runtime: &RuntimeConfig, env: &Env, bun: PathBuf) -> Self {
        let mut cfg = Self::new(bun, runtime.pool_size);
        let number = |key: &str| env.get_non_blank(key).and_then(|v| v.parse::<usize>().ok());
        if let Some(n) = number("RUNTIME_EPHEMERAL_CONCURRENCY") {
            cfg.ephemeral_concurrency = n.max(1);
        }
        if let Some(n) = number("RUNTIME_EPHEMERAL_QUEUE_LIMIT") {
            cfg.ephemeral_queue_limit = n;
        }
        cfg.ephemeral_spares = cfg.ephemeral_concurrency.min(4);
        if let Some(v) = env.get_non_blank("RUNTIME_WORKER_MAX_MEMORY") {
            match buntime_apps::config::max_memory_bytes(&serde_json::Value::String(v.to_owned())) {
                Ok(limit) => cfg.worker_max_memory_bytes = limit,
                Err(e) => tracing::warn!(value = %v, error = %e, "RUNTIME_WORKER_MAX_MEMORY is not a valid size; workers get no memory limit."),
            }
        }
        cfg.worker_env = WorkerEnvDefaults {
            node_env: env.get_non_blank("NODE_ENV").unwrap_or("development").to_owned(),
            runtime_api_url: format!("http://127.0.0.1:{}", runtime.port),
            log_level: env.get_non_blank("RUNTIME_LOG_LEVEL").unwrap_or("info").to_owned(),
            plugin_dirs: env.get("RUNTIME_PLUGIN_DIRS").unwrap_or_default().to_owned(),
            worker_dirs: env.get("RUNTIME_WORKER_DIRS").unwrap_or_default().to_owned(),
            extra: Vec::new(),
        };
        cfg.host_env = ["PATH", "HOME"]
            .iter()
            .filter_map(|k| env.get(k).map(|v| ((*k).to_owned(), v.to_owned())))
            .collect();
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_concurrency_defaults_to_at_most_two() {
        assert_eq!(PoolConfig::new(PathBuf::from("bun"), 1).ephemeral_concurrency, 1);
        assert_eq!(PoolConfig::new(PathBuf::from("bun"), 10).ephemeral_concurrency, 2);
        assert_eq!(PoolConfig::new(PathBuf::from("bun"), 0).pool_size, 1);
    }

    #[test]
    fn runtime_env_sets_gate_limits_and_worker_defaults() {
        let env = Env::from_pairs([
            ("RUNTIME_EPHEMERAL_CONCURRENCY", "5"),
            ("RUNTIME_EPHEMERAL_QUEUE_LIMIT", "7"),
            ("RUNTIME_WORKER_MAX_MEMORY", "256mb"),
            ("NODE_ENV", "production"),
            ("RUNTIME_WORKER_DIRS", "./apps"),
            ("PATH", "/bin"),
            ("SECRET_TOKEN", "x"),
        ]);
        let runtime = RuntimeConfig::from_env(&env, std::path::Path::new("/tmp")).unwrap();
        let cfg = PoolConfig::from_runtime(&runtime, &env, PathBuf::from("bun"));
        assert_eq!((cfg.ephemeral_concurrency, cfg.ephemeral_queue_limit), (5, 7));
        assert_eq!(cfg.worker_env.node_env, "production");
        assert_eq!(cfg.worker_max_memory_bytes, Some(256 << 20));
        assert_eq!(cfg.worker_env.worker_dirs, "./apps");
        assert_eq!(cfg.host_env, vec![("PATH".to_owned(), "/bin".to_owned())]);
    }
}
