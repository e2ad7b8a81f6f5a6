//! Runtime configuration: the environment (process plus `.env` files) and its validated form.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default request body limit (10 MiB).
pub const DEFAULT_BODY_LIMIT: u64 = 10 * 1024 * 1024;
/// Ceiling for any configured body limit (100 MiB).
pub const MAX_BODY_LIMIT: u64 = 100 * 1024 * 1024;

/// A snapshot of environment variables.
///
/// The runtime never mutates its own process environment: `.env` files are merged into this map,
/// which is then handed to whatever needs it (config parsing, plugin settings, child processes).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Creates an environment from explicit pairs (used by tests and embedders).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// Reads the process environment, then fills gaps from `.env` files in `dir` the way Bun does:
    /// `.env.local` (skipped when `NODE_ENV=test`), then `.env.<NODE_ENV>`, then `.env`.
    /// Variables already set in the process always win.
    ///
    /// # Errors
    /// Returns the file and the parse error when a `.env` file exists but cannot be read.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let mut env = Self { vars: std::env::vars().collect() };
        env.merge_dotenv_files(dir)?;
        Ok(env)
    }

    /// Merges `.env` files from `dir` without overriding variables already present.
    ///
    /// # Errors
    /// Returns the file and the parse error when a `.env` file cannot be parsed.
    pub fn merge_dotenv_files(&mut self, dir: &Path) -> Result<(), ConfigError> {
        let node_env = self.get("NODE_ENV").unwrap_or("development").to_owned();
        let mut files = Vec::new();
        if node_env != "test" {
            files.push(".env.local".to_owned());
        }
        files.push(format!(".env.{node_env}"));
        files.push(".env".to_owned());
        for name in files {
            let path = dir.join(&name);
            if !path.is_file() {
                continue;
            }
            let iter = dotenvy::from_path_iter(&path).map_err(|e| ConfigError::DotEnv { file: path.clone(), message: e.to_string() })?;
            for item in iter {
                let (key, value) = item.map_err(|e| ConfigError::DotEnv { file: path.clone(), message: e.to_string() })?;
                self.vars.entry(key).or_insert(value);
            }
        }
        Ok(())
    }

    /// Returns a variable's value, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// Returns a variable's value when it is set and not blank.
    pub fn get_non_blank(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Iterates over every variable.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets a variable in this snapshot (never in the process).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(key.into(), value.into());
    }
}

/// A configuration error that stops start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// An environment variable has a value the runtime cannot use.
    #[error("invalid {var}={value:?}: expected {accepted}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// The value found.
        value: String,
        /// What would have been accepted.
        accepted: &'static str,
    },
    /// A `.env` file could not be parsed.
    #[error("cannot read {}: {message}", file.display())]
    DotEnv {
        /// The file.
        file: PathBuf,
        /// What the parser said.
        message: String,
    },
}

/// The deployment environment, from `NODE_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeEnv {
    /// `development` (the default): pretty logs, debug level.
    Development,
    /// `production`: JSON logs, info level, error messages hidden.
    Production,
    /// `staging`.
    Staging,
    /// `test`.
    Test,
}

impl NodeEnv {
    /// Returns the value as written in `NODE_ENV`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
            Self::Staging => "staging",
            Self::Test => "test",
        }
    }

    fn default_pool_size(self) -> usize {
        match self {
            Self::Development => 10,
            Self::Staging => 50,
            Self::Production => 500,
            Self::Test => 5,
        }
    }
}

/// Log verbosity, from `RUNTIME_LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Informational and above.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// Returns the level as a `tracing` filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (development).
    Pretty,
    /// One JSON object per line (production).
    Json,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `NODE_ENV`.
    pub node_env: NodeEnv,
    /// `PORT` (0 lets the OS choose).
    pub port: u16,
    /// `RUNTIME_HOST`: the address to bind.
    pub host: String,
    /// `RUNTIME_PLUGIN_DIRS`, absolute, in priority order.
    pub plugin_dirs: Vec<PathBuf>,
    /// `RUNTIME_WORKER_DIRS`, absolute, in priority order.
    pub worker_dirs: Vec<PathBuf>,
    /// `RUNTIME_API_PREFIX`, without a trailing `/`.
    pub api_prefix: String,
    /// Where the REST API is mounted: `<prefix>/api`.
    pub api_path: String,
    /// `RUNTIME_LOG_LEVEL`.
    pub log_level: LogLevel,
    /// `RUNTIME_LOG_FORMAT`, else JSON in production and pretty otherwise.
    pub log_format: LogFormat,
    /// `RUNTIME_STATE_DIR`, else derived from the plugin dirs.
    pub state_dir: PathBuf,
    /// `RUNTIME_POOL_SIZE`.
    pub pool_size: usize,
    /// `RUNTIME_MAX_WEBSOCKETS`: how many WebSockets may be open at once (over it: 503).
    pub max_websockets: usize,
    /// `RUNTIME_SHUTDOWN_GRACE_MS`: how long shutdown and reload wait for in-flight requests.
    pub shutdown_grace: Duration,
    /// `RUNTIME_MASTER_KEY`, then `BUNTIME_MASTER_KEY`.
    pub master_key: Option<String>,
    /// `RUNTIME_TRUST_PROXY`: honour `X-Forwarded-Host` for CSRF checks.
    pub trust_proxy: bool,
    /// `RUNTIME_PUBLIC_URL`: the origins (`scheme://host[:port]`, lowercase, default port omitted)
    /// browsers use to reach the runtime; CSRF checks accept these besides the listener's own.
    pub public_origins: Vec<String>,
    /// `RUNTIME_HEADER_READ_TIMEOUT_MS`: how long a client may take to send a request head, counted
    /// from the connection's start or the end of its previous response (so also the keep-alive
    /// idle timeout).
    pub header_read_timeout: Duration,
    /// `RUNTIME_BODY_READ_TIMEOUT_MS`: the longest a request body may go without sending data.
    pub body_read_timeout: Duration,
    /// `RUNTIME_MAX_UPLOADS`: app and plugin uploads processed at once; more answer 429.
    pub max_uploads: usize,
    /// `RUNTIME_HOMEPAGE`: where `GET /` redirects when nothing is mounted at `/` (`None`: off).
    pub homepage: Option<String>,
    /// `RUNTIME_METRICS`: measure every request and plugin hook (on by default; off only to
    /// measure what the measuring costs).
    pub metrics: bool,
    /// `RUNTIME_CLUSTER_DATABASE_URL`: the PostgreSQL that replicas of one runtime share for the
    /// reload fan-out (`None`: a single runtime). Checked for shape here, parsed by the server.
    pub cluster_url: Option<String>,
    /// `RUNTIME_REPLICA_ID`, else `<HOSTNAME>-<pid>`: how this replica is named in health answers
    /// and in the fan-out.
    pub replica_id: String,
    /// The directory relative paths resolve against (the working directory).
    pub base_dir: PathBuf,
}

impl RuntimeConfig {
    /// Parses and validates the configuration from `env`, resolving relative paths against `base_dir`.
    ///
    /// # Errors
    /// Returns the first variable whose value is unusable, with what would be accepted.
    pub fn from_env(env: &Env, base_dir: &Path) -> Result<Self, ConfigError> {
        let node_env = match env.get("NODE_ENV") {
            None => NodeEnv::Development,
            Some("development") => NodeEnv::Development,
            Some("production") => NodeEnv::Production,
            Some("staging") => NodeEnv::Staging,
            Some("test") => NodeEnv::Test,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "NODE_ENV",
                    value: other.to_owned(),
                    accepted: "one of development, production, staging, test",
                });
            }
        };
        let port = match env.get_non_blank("PORT") {
            None => 8000,
            Some(v) => v.parse::<u16>().map_err(|_| ConfigError::Invalid {
                var: "PORT",
                value: v.to_owned(),
                accepted: "a port number from 0 to 65535",
            })?,
        };
        let host = env.get_non_blank("RUNTIME_HOST").unwrap_or("0.0.0.0").to_owned();
        let plugin_dirs = path_list(env.get_non_blank("RUNTIME_PLUGIN_DIRS").unwrap_or("./plugins"), base_dir);
        let worker_dirs = path_list(env.get_non_blank("RUNTIME_WORKER_DIRS").unwrap_or("./apps"), base_dir);
        let api_prefix = match env.get_non_blank("RUNTIME_API_PREFIX") {
            None => String::new(),
            Some(p) => {
                let p = collapse_slashes(p);
                let p = p.trim_end_matches('/').to_owned();
                if !p.is_empty() && (!p.starts_with('/') || !p[1..].split('/').all(is_path_segment)) {
                    return Err(ConfigError::Invalid {
                        var: "RUNTIME_API_PREFIX",
                        value: env.get("RUNTIME_API_PREFIX").unwrap_or_default().to_owned(),
                        accepted: "a path such as /_ or /internal (letters, digits, - and _ segments)",
                    });
                }
                p
            }
        };
        let api_path = format!("{api_prefix}/api");
        let log_level = match env.get_non_blank("RUNTIME_LOG_LEVEL").map(str::to_ascii_lowercase).as_deref() {
            None => {
                if node_env == NodeEnv::Production {
                    LogLevel::Info
                } else {
                    LogLevel::Debug
                }
            }
            Some("debug") => LogLevel::Debug,
            Some("info") => LogLevel::Info,
            Some("warn") => LogLevel::Warn,
            Some("error") => LogLevel::Error,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: "RUNTIME_LOG_LEVEL",
                    value: env.get("RUNTIME_LOG_LEVEL").unwrap_or_default().to_owned(),
                    accepted: "one of debug, info, warn, error",
                });
            }
        };
        let log_format = match env.get_non_blank("RUNTIME_LOG_FORMAT") {
            None if node_env == NodeEnv::Production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "RUNTIME_LOG_FORMAT",
                    value: other.to_owned(),
                    accepted: "json or pretty",
                });
            }
        };
        let state_dir = match env.get_non_blank("RUNTIME_STATE_DIR") {
            Some(dir) => absolute(dir, base_dir),
            None => derive_state_dir(&plugin_dirs, base_dir),
        };
        let pool_size = positive(env, "RUNTIME_POOL_SIZE", node_env.default_pool_size())?;
        let max_websockets = positive(env, "RUNTIME_MAX_WEBSOCKETS", 10_000)?;
        let shutdown_grace = match env.get_non_blank("RUNTIME_SHUTDOWN_GRACE_MS") {
            None => Duration::from_secs(30),
            Some(v) => Duration::from_millis(v.parse::<u64>().map_err(|_| ConfigError::Invalid {
                var: "RUNTIME_SHUTDOWN_GRACE_MS",
                value: v.to_owned(),
                accepted: "a whole number of milliseconds, such as 30000",
            })?),
        };
        let master_key = env
            .get_non_blank("RUNTIME_MASTER_KEY")
            .or_else(|| env.get_non_blank("BUNTIME_MASTER_KEY"))
            .map(str::to_owned);
        let trust_proxy = boolean(env, "RUNTIME_TRUST_PROXY", false)?;
        let metrics = boolean(env, "RUNTIME_METRICS", true)?;
        let public_origins = match env.get_non_blank("RUNTIME_PUBLIC_URL") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| public_origin(s).ok_or_else(|| ConfigError::Invalid {
                    var: "RUNTIME_PUBLIC_URL",
                    value: s.to_owned(),
                    accepted: "comma-separated http(s) URLs such as https://buntime.example.com",
                }))
                .collect::<Result<_, _>>()?,
        };
        let header_read_timeout = millis(env, "RUNTIME_HEADER_READ_TIMEOUT_MS", 15_000)?;
        let body_read_timeout = millis(env, "RUNTIME_BODY_READ_TIMEOUT_MS", 30_000)?;
        let max_uploads = positive(env, "RUNTIME_MAX_UPLOADS", 2)?;
        let homepage = homepage(env)?;
        let cluster_url = match env.get_non_blank("RUNTIME_CLUSTER_DATABASE_URL") {
            None => None,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains('=') => {
                Some(url.trim().to_owned())
            }
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "RUNTIME_CLUSTER_DATABASE_URL",
                    value: other.to_owned(),
                    accepted: "a PostgreSQL URL such as postgres://user:pass@host:5432/db, or a libpq key=value string",
                });
            }
        };
        let replica_id = match env.get_non_blank("RUNTIME_REPLICA_ID") {
            Some(id) => id.trim().to_owned(),
            None => format!("{}-{}", env.get_non_blank("HOSTNAME").unwrap_or("replica"), std::process::id()),
        };
        Ok(Self {
            node_env,
            port,
            host,
            plugin_dirs,
            worker_dirs,
            api_prefix,
            api_path,
            log_level,
            log_format,
            state_dir,
            pool_size,
            shutdown_grace,
            max_websockets,
            master_key,
            trust_proxy,
            public_origins,
            header_read_timeout,
            body_read_timeout,
            max_uploads,
            homepage,
            metrics,
            cluster_url,
            replica_id,
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// Returns the first path segment of the API mount (`/api`, or `/_` for prefix `/_`), which no
    /// plugin base may take.
    pub fn api_root_segment(&self) -> &str {
        let rest = &self.api_path[1..];
        let end = rest.find('/').map_or(self.api_path.len(), |i| i + 1);
        &self.api_path[..end]
    }

    /// Returns every path a plugin base may not use.
    pub fn reserved_bases(&self) -> Vec<String> {
        vec![self.api_root_segment().to_owned(), "/health".to_owned(), "/.well-known".to_owned()]
    }
}

/// Every environment variable the runtime reads, with its default and meaning (for `--help`).
pub const ENV_VARS: &[(&str, &str, &str)] = &[
    ("PORT", "8000", "port to listen on (0 = any free port)"),
    ("RUNTIME_HOST", "0.0.0.0", "address to bind"),
    ("NODE_ENV", "development", "development | production | staging | test"),
    ("RUNTIME_PLUGIN_DIRS", "./plugins", "colon-separated plugin directories, first wins"),
    ("RUNTIME_WORKER_DIRS", "./apps", "colon-separated app directories (missing ones only warn)"),
    ("RUNTIME_API_PREFIX", "", "mount the REST API under <prefix>/api"),
    ("RUNTIME_LOG_LEVEL", "debug (info in production)", "debug | info | warn | error"),
    ("RUNTIME_LOG_FORMAT", "pretty (json in production)", "pretty | json"),
    ("RUNTIME_STATE_DIR", "<first plugin dir>/.buntime", "where runtime state (API keys) lives"),
    ("RUNTIME_POOL_SIZE", "10 (dev) / 50 (staging) / 500 (prod)", "maximum warm app workers"),
    ("RUNTIME_SHUTDOWN_GRACE_MS", "30000", "how long shutdown and reload wait for in-flight requests"),
    ("RUNTIME_MAX_WEBSOCKETS", "10000", "WebSockets open at once; an upgrade over it is answered 503"),
    ("RUNTIME_MASTER_KEY", "unset", "API key with full access (BUNTIME_MASTER_KEY also read)"),
    ("RUNTIME_TRUST_PROXY", "false", "trust X-Forwarded-Host/-Proto for CSRF checks behind a proxy"),
    ("RUNTIME_PUBLIC_URL", "unset", "comma-separated URLs browsers use to reach the runtime (CSRF origins)"),
    ("RUNTIME_HEADER_READ_TIMEOUT_MS", "15000", "time to send a request head; also the keep-alive idle timeout"),
    ("RUNTIME_BODY_READ_TIMEOUT_MS", "30000", "longest silence while a request body is being sent (408)"),
    ("RUNTIME_MAX_UPLOADS", "2", "app/plugin uploads processed at once (more answer 429)"),
    ("RUNTIME_HOMEPAGE", "/cpanel", "where GET / redirects when nothing is mounted at / (empty = off)"),
    ("RUNTIME_PLUGIN_HOST_HEARTBEAT_MS", "1000", "how often the plugin host is pinged (0 = no heartbeat)"),
    ("RUNTIME_PLUGIN_HOST_HEARTBEAT_TIMEOUT_MS", "5000", "unanswered ping time before the plugin host is restarted"),
    ("RUNTIME_PLUGIN_LOAD_TIMEOUT_MS", "30000", "budget for loading one JS plugin (import, factory, onInit)"),
    ("RUNTIME_WORKER_MAX_MEMORY", "unset (no limit)", "default heap limit per app worker, e.g. 512mb (manifest maxMemory wins)"),
    ("RUNTIME_METRICS", "true", "measure requests and plugin hooks for /metrics (false only to measure the cost)"),
    ("RUNTIME_CLUSTER_DATABASE_URL", "unset (one runtime)", "PostgreSQL shared by replicas: a reload on one reloads all (docs/replicas.md)"),
    ("RUNTIME_REPLICA_ID", "<HOSTNAME>-<pid>", "this replica's name in /api/health/ready and the reload fan-out"),
    ("BUNTIME_BUN", "unset", "path to the bun binary (else the project's copy, else PATH)"),
];

/// Reads `RUNTIME_HOMEPAGE`: unset means the admin shell, blank turns the redirect off, anything
/// else must be a local path (`/x`, never `//host`, which a browser would take for another site).
fn homepage(env: &Env) -> Result<Option<String>, ConfigError> {
    let Some(raw) = env.get("RUNTIME_HOMEPAGE") else { return Ok(Some("/cpanel".to_owned())) };
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let local = value.starts_with('/') && !value.starts_with("//") && !value.contains('\\');
    if !local || value.parse::<http::uri::PathAndQuery>().is_err() {
        return Err(ConfigError::Invalid {
            var: "RUNTIME_HOMEPAGE",
            value: raw.to_owned(),
            accepted: "a path on this runtime such as /cpanel, or empty to turn the redirect off",
        });
    }
    Ok(Some(value.to_owned()))
}

/// Reads `true|1|yes` or `false|0|no` (any case).
fn boolean(env: &Env, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match env.get_non_blank(var).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(_) => Err(ConfigError::Invalid { var, value: env.get(var).unwrap_or_default().to_owned(), accepted: "true or false" }),
    }
}

/// Reads a whole number greater than 0.
fn positive(env: &Env, var: &'static str, default: usize) -> Result<usize, ConfigError> {
    match env.get_non_blank(var) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid { var, value: v.to_owned(), accepted: "a whole number greater than 0" }),
        },
    }
}

/// Reads a duration in whole milliseconds greater than 0.
fn millis(env: &Env, var: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
    match env.get_non_blank(var) {
        None => Ok(Duration::from_millis(default_ms)),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_millis(n)),
            _ => Err(ConfigError::Invalid { var, value: v.to_owned(), accepted: "a whole number of milliseconds greater than 0" }),
        },
    }
}

/// Returns the serialized origin of an absolute http(s) URL (`https://a.example:8443`), or `None`.
pub fn public_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

fn is_path_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn collapse_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Splits a PATH-style list, trims entries, drops empty ones and resolves relative entries.
pub fn path_list(raw: &str, base_dir: &Path) -> Vec<PathBuf> {
    raw.split(':').map(str::trim).filter(|s| !s.is_empty()).map(|s| absolute(s, base_dir)).collect()
}

fn absolute(p: &str, base_dir: &Path) -> PathBuf {
    let path = Path::new(p);
    let joined = if path.is_absolute() { path.to_path_buf() } else { base_dir.join(path) };
    normalize(&joined)
}

/// Removes `.` and resolves `..` lexically, without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn derive_state_dir(plugin_dirs: &[PathBuf], base_dir: &Path) -> PathBuf {
    let visible = plugin_dirs
        .iter()
        .find(|d| d.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')));
    match visible.or(plugin_dirs.first()) {
        Some(d) => d.join(".buntime"),
        None => base_dir.join(".buntime"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<RuntimeConfig, ConfigError> {
        RuntimeConfig::from_env(&Env::from_pairs(pairs.iter().copied()), Path::new("/srv"))
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.port, 8000);
        assert_eq!(c.node_env, NodeEnv::Development);
        assert_eq!(c.plugin_dirs, vec![PathBuf::from("/srv/plugins")]);
        assert_eq!(c.worker_dirs, vec![PathBuf::from("/srv/apps")]);
        assert_eq!(c.api_path, "/api");
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.state_dir, PathBuf::from("/srv/plugins/.buntime"));
        assert_eq!(c.pool_size, 10);
        assert_eq!(c.reserved_bases(), vec!["/api", "/health", "/.well-known"]);
    }

    #[test]
    fn production_logs_json_at_info() {
        let c = parse(&[("NODE_ENV", "production")]).unwrap();
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.pool_size, 500);
    }

    #[test]
    fn bad_values_name_the_variable_value_and_what_is_accepted() {
        let cases = [
            ("NODE_ENV", "prod", "one of development, production, staging, test"),
            ("PORT", "80a", "a port number from 0 to 65535"),
            ("PORT", "70000", "a port number from 0 to 65535"),
            ("RUNTIME_LOG_LEVEL", "verbose", "one of debug, info, warn, error"),
            ("RUNTIME_POOL_SIZE", "0", "a whole number greater than 0"),
            ("RUNTIME_SHUTDOWN_GRACE_MS", "soon", "a whole number of milliseconds, such as 30000"),
            ("RUNTIME_API_PREFIX", "internal", "a path such as /_ or /internal (letters, digits, - and _ segments)"),
            ("RUNTIME_MAX_UPLOADS", "0", "a whole number greater than 0"),
            ("RUNTIME_HEADER_READ_TIMEOUT_MS", "0", "a whole number of milliseconds greater than 0"),
            ("RUNTIME_BODY_READ_TIMEOUT_MS", "10s", "a whole number of milliseconds greater than 0"),
            ("RUNTIME_PUBLIC_URL", "buntime.example.com", "comma-separated http(s) URLs such as https://buntime.example.com"),
            ("RUNTIME_PUBLIC_URL", "ftp://a.example", "comma-separated http(s) URLs such as https://buntime.example.com"),
            ("RUNTIME_HOMEPAGE", "cpanel", "a path on this runtime such as /cpanel, or empty to turn the redirect off"),
            ("RUNTIME_HOMEPAGE", "//evil.example", "a path on this runtime such as /cpanel, or empty to turn the redirect off"),
            ("RUNTIME_HOMEPAGE", "https://evil.example/", "a path on this runtime such as /cpanel, or empty to turn the redirect off"),
            ("RUNTIME_CLUSTER_DATABASE_URL", "mysql://db/x", "a PostgreSQL URL such as postgres://user:pass@host:5432/db, or a libpq key=value string"),
        ];
        for (var, value, accepted) in cases {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err, ConfigError::Invalid { var, value: value.to_owned(), accepted }, "{var}");
            let line = err.to_string();
            assert!(line.contains(var) && line.contains(value), "{line}");
        }
    }

    #[test]
    fn the_homepage_defaults_to_the_shell_and_blank_turns_it_off() {
        assert_eq!(parse(&[]).unwrap().homepage.as_deref(), Some("/cpanel"));
        assert_eq!(parse(&[("RUNTIME_HOMEPAGE", " ")]).unwrap().homepage, None);
        assert_eq!(parse(&[("RUNTIME_HOMEPAGE", "/todo?from=home")]).unwrap().homepage.as_deref(), Some("/todo?from=home"));
    }

    #[test]
    fn the_cluster_database_and_replica_id_are_read() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.cluster_url, None);
        assert!(c.replica_id.starts_with("replica-"), "{}", c.replica_id);
        let c = parse(&[("RUNTIME_CLUSTER_DATABASE_URL", " postgres://a@db/x "), ("RUNTIME_REPLICA_ID", "web-1"), ("HOSTNAME", "pod-7")]).unwrap();
        assert_eq!((c.cluster_url.as_deref(), c.replica_id.as_str()), (Some("postgres://a@db/x"), "web-1"));
        assert_eq!(parse(&[("RUNTIME_CLUSTER_DATABASE_URL", "host=db dbname=x")]).unwrap().cluster_url.as_deref(), Some("host=db dbname=x"));
        assert!(parse(&[("HOSTNAME", "pod-7")]).unwrap().replica_id.starts_with("pod-7-"));
    }

    #[test]
    fn public_urls_become_origins() {
        let c = parse(&[("RUNTIME_PUBLIC_URL", "https://A.example:443/admin, http://b.example:8080")]).unwrap();
        assert_eq!(c.public_origins, vec!["https://a.example".to_owned(), "http://b.example:8080".to_owned()]);
        assert!(parse(&[]).unwrap().public_origins.is_empty());
    }

    #[test]
    fn api_prefix_moves_the_api_and_the_reserved_base() {
        let c = parse(&[("RUNTIME_API_PREFIX", "/_//")]).unwrap();
        assert_eq!(c.api_path, "/_/api");
        assert_eq!(c.reserved_bases()[0], "/_");
    }

    #[test]
    fn path_lists_split_trim_and_resolve() {
        let c = parse(&[("RUNTIME_PLUGIN_DIRS", " /data/.plugins : ./plugins ::"), ("RUNTIME_WORKER_DIRS", "a:/b")]).unwrap();
        assert_eq!(c.plugin_dirs, vec![PathBuf::from("/data/.plugins"), PathBuf::from("/srv/plugins")]);
        assert_eq!(c.worker_dirs, vec![PathBuf::from("/srv/a"), PathBuf::from("/b")]);
        assert_eq!(c.state_dir, PathBuf::from("/srv/plugins/.buntime"));
    }

    #[test]
    fn master_key_falls_back_to_the_buntime_name() {
        let c = parse(&[("RUNTIME_MASTER_KEY", "  "), ("BUNTIME_MASTER_KEY", " k ")]).unwrap();
        assert_eq!(c.master_key.as_deref(), Some("k"));
    }

    #[test]
    fn dotenv_files_fill_gaps_with_bun_precedence() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "A=env\nB=env\nC=env\nD=env\n").unwrap();
        std::fs::write(dir.path().join(".env.development"), "B=dev\nC=dev\n").unwrap();
        std::fs::write(dir.path().join(".env.local"), "C=local\n").unwrap();
        let mut env = Env::from_pairs([("D", "process")]);
        env.merge_dotenv_files(dir.path()).unwrap();
        assert_eq!(env.get("A"), Some("env"));
        assert_eq!(env.get("B"), Some("dev"));
        assert_eq!(env.get("C"), Some("local"));
        assert_eq!(env.get("D"), Some("process"));
    }

    #[test]
    fn dotenv_local_is_skipped_in_test() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env.local"), "C=local\n").unwrap();
        let mut env = Env::from_pairs([("NODE_ENV", "test")]);
        env.merge_dotenv_files(dir.path()).unwrap();
        assert_eq!(env.get("C"), None);
    }
}
