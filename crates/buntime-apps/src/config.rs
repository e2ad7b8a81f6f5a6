//! An app's worker config (spec §9.1): `manifest.yaml|yml` plus `.env`, validated, with its entrypoint.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use buntime_core::config::{DEFAULT_BODY_LIMIT, MAX_BODY_LIMIT};
use buntime_core::public_routes::PublicRoutes;
use serde_json::{Map, Value, json};

use buntime_core::yaml::{self, YamlError};

use crate::env::{DEFAULT_ENV_PREFIX, parse_dotenv};
use crate::parse::{duration_ms, kind, lenient_bool, lenient_number, size_bytes};

/// Default request `timeout`.
pub const DEFAULT_TIMEOUT_MS: f64 = 30_000.0;
/// Default `idleTimeout`.
pub const DEFAULT_IDLE_TIMEOUT_MS: f64 = 60_000.0;
/// Default `maxRequests`.
pub const DEFAULT_MAX_REQUESTS: u64 = 1000;
/// Entrypoints tried in order when none is configured (spec §9.2).
pub const DEFAULT_ENTRYPOINTS: &[&str] = &["index.html", "index.ts", "index.js", "index.mjs"];
/// Smallest `maxMemory` (a fresh worker already uses a few MiB).
pub const MIN_MAX_MEMORY: u64 = 16 * 1024 * 1024;
/// Manifest file names, in the order they are tried.
pub const MANIFEST_FILES: &[&str] = yaml::MANIFEST_FILES;

/// One thing wrong with a config key, with how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key (`timeout`, `env.PORT`), or `(file)` for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {} (fix: {})", self.key, self.message, self.fix)
    }
}

/// An app's worker config cannot be used; names the app, the file and every bad key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid worker config for app `{app}` in `{}`: {}", file.display(), join(problems))]
pub struct ConfigError {
    /// The app (as routed: `todo`, `todo@1`, or a plugin base).
    pub app: String,
    /// The file at fault (the manifest, `.env` or the app dir).
    pub file: PathBuf,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

fn push(problems: &mut Vec<Problem>, key: &str, message: String, fix: &str) {
    problems.push(Problem { key: key.to_owned(), message, fix: fix.to_owned() });
}

fn join(problems: &[Problem]) -> String {
    problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("; ")
}

/// The validated worker config of one app (spec §9.1), durations in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// `entrypoint` as configured (relative to the app dir).
    pub entrypoint: Option<String>,
    /// `autoInstall`.
    pub auto_install: bool,
    /// `lowMemory`.
    pub low_memory: bool,
    /// `injectBase`.
    pub inject_base: bool,
    /// `isolated` (Buntime extension): run the app's workers in a host process of their own.
    pub isolated: bool,
    /// `timeout` in ms (default 30 s).
    pub timeout_ms: f64,
    /// `idleTimeout` in ms (default 60 s, clamped to `ttl` when `ttl > 0`).
    pub idle_timeout_ms: f64,
    /// `ttl` in ms (default 0: ephemeral).
    pub ttl_ms: f64,
    /// `maxRequests` (default 1000).
    pub max_requests: u64,
    /// `maxBodySize` in bytes (default 10 MiB, capped at 100 MiB).
    pub max_body_bytes: u64,
    /// `maxMemory` in bytes (default: none here; the runtime's `RUNTIME_WORKER_MAX_MEMORY`).
    pub max_memory_bytes: Option<u64>,
    /// `env` merged with `.env` (empty when neither sets anything).
    pub env: BTreeMap<String, String>,
    /// `envPrefix` (default `PUBLIC_`, `VITE_`).
    pub env_prefix: Vec<String>,
    /// `publicRoutes` as written.
    pub public_routes: Option<Value>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            entrypoint: None,
            auto_install: false,
            low_memory: false,
            inject_base: false,
            isolated: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            ttl_ms: 0.0,
            max_requests: DEFAULT_MAX_REQUESTS,
            max_body_bytes: DEFAULT_BODY_LIMIT,
            max_memory_bytes: None,
            env: BTreeMap::new(),
            env_prefix: DEFAULT_ENV_PREFIX.iter().map(|s| (*s).to_owned()).collect(),
            public_routes: None,
        }
    }
}

/// Converts milliseconds to a `Duration` (negative or NaN gives zero).
pub fn ms(v: f64) -> Duration {
    Duration::try_from_secs_f64(v / 1000.0).unwrap_or_default()
}

/// The worker config keys (spec §9.1), plus Buntime's `isolated`.
pub const WORKER_KEYS: &[&str] = &[
    "entrypoint", "autoInstall", "lowMemory", "injectBase", "isolated", "timeout", "idleTimeout", "ttl", "maxRequests",
    "maxBodySize", "maxMemory", "env", "envPrefix", "publicRoutes",
];

/// Parses a worker memory limit (`maxMemory`, `RUNTIME_WORKER_MAX_MEMORY`): a size like `maxBodySize`,
/// at least 16 MiB; a falsy value gives `None` (no limit of its own).
///
/// # Errors
/// Returns what is wrong with the value.
pub fn max_memory_bytes(v: &Value) -> Result<Option<u64>, String> {
    match size_bytes(v)? {
        Some(b) if b < MIN_MAX_MEMORY => Err(format!("{b} bytes is below the 16 MiB minimum")),
        other => Ok(other),
    }
}

/// Keys of plugin manifests and app metadata that are not worker config but are expected.
const OTHER_KEYS: &[&str] = &[
    "name", "version", "base", "enabled", "pluginEntry", "dependencies", "optionalDependencies", "menus", "config",
    "visibility", "description",
];

/// A boolean key's value: `true`/`false`, or the strings `"true"`, `"false"`, `"1"`, `"0"`.
/// Anything else (`maybe`, `sure`, `2`) is an error, never a silent `false`.
fn strict_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::String(s) if matches!(s.as_str(), "true" | "false" | "1" | "0") => Ok(lenient_bool(v)),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64() == Some(0.0) || n.as_f64() == Some(1.0) => Ok(n.as_f64() == Some(1.0)),
        Value::String(s) => Err(format!("`{s}` is not a boolean")),
        other => Err(format!("expected a boolean, found {}", kind(other))),
    }
}

/// Whether a lenient number means "use the default" (spec §1.2: `false`, `0`, `""`).
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Returns the worker key an unknown `key` probably misspells (`idle_timeout`, `TTL`, `timout`).
fn likely_typo(key: &str) -> Option<&'static str> {
    if WORKER_KEYS.contains(&key) || OTHER_KEYS.contains(&key) {
        return None;
    }
    let norm = |s: &str| s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect::<String>();
    let k = norm(key);
    WORKER_KEYS.iter().copied().find(|w| {
        let w = norm(w);
        w == k || (w.len() > 4 && edit_distance(&w, &k) <= 2)
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A JSON number, integral when it is whole.
fn num(v: f64) -> Value {
    #[allow(clippy::cast_possible_truncation)]
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

impl WorkerConfig {
    /// Validates a manifest's keys (unknown keys are ignored) and merges `dotenv` over `env`.
    ///
    /// Returns the config and its warnings (for example a clamped `idleTimeout`).
    ///
    /// # Errors
    /// Returns every problem found, each with its key and fix.
    pub fn from_manifest(manifest: &Map<String, Value>, dotenv: BTreeMap<String, String>) -> Result<(Self, Vec<String>), Vec<Problem>> {
        let mut c = Self::default();
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let get = |k: &str| manifest.get(k).filter(|v| !v.is_null());

        match get("entrypoint") {
            None => {}
            Some(Value::String(s)) if !s.trim().is_empty() => c.entrypoint = Some(s.clone()),
            Some(other) => push(&mut problems, 
                "entrypoint",
                format!("must be a file path, found {}", kind(other)),
                "set `entrypoint` to a file inside the app directory, such as `index.ts` or `dist/index.html`",
            ),
        }
        for (key, slot) in
            [("autoInstall", &mut c.auto_install), ("lowMemory", &mut c.low_memory), ("injectBase", &mut c.inject_base), ("isolated", &mut c.isolated)]
        {
            match get(key).map(strict_bool) {
                None => {}
                Some(Ok(b)) => *slot = b,
                Some(Err(e)) => push(&mut problems, key, e, &format!("set `{key}` to `true` or `false`")),
            }
        }

        const DURATION_FIX: &str = "use seconds as a number (`30`) or a string with a unit (`\"30s\"`, `\"500ms\"`, `\"5m\"`)";
        for (key, slot) in [("timeout", &mut c.timeout_ms), ("idleTimeout", &mut c.idle_timeout_ms), ("ttl", &mut c.ttl_ms)] {
            if let Some(v) = get(key) {
                match duration_ms(v) {
                    Ok(ms) => *slot = ms,
                    Err(e) => push(&mut problems, key, e, DURATION_FIX),
                }
            }
        }
        if let Some(v) = get("maxRequests") {
            match lenient_number(v) {
                None if is_falsy(v) => {}
                None => push(&mut problems,
                    "maxRequests",
                    format!("`{v}` is not a number"),
                    "set `maxRequests` to how many requests a worker serves before it is recycled, such as `1000`",
                ),
                Some(n) if n < 0.0 => push(&mut problems, 
                    "maxRequests",
                    format!("must be zero or more, found `{v}`"),
                    "set `maxRequests` to how many requests a worker serves before it is recycled, such as `1000`",
                ),
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Some(n) => c.max_requests = n.floor().min(u64::MAX as f64) as u64,
            }
        }
        if let Some(v) = get("maxBodySize") {
            match size_bytes(v) {
                Ok(None) => {}
                Ok(Some(b)) if b > MAX_BODY_LIMIT => {
                    warnings.push(format!("`maxBodySize` of {b} bytes exceeds the 100 MiB ceiling; using 100 MiB"));
                    c.max_body_bytes = MAX_BODY_LIMIT;
                }
                Ok(Some(b)) => c.max_body_bytes = b,
                Err(e) => push(&mut problems, "maxBodySize", e, "use bytes as a number (`1048576`) or a string like `\"10mb\"`, `\"512kb\"` (at most 100mb)"),
            }
        }
        if let Some(v) = get("maxMemory") {
            match max_memory_bytes(v) {
                Ok(b) => c.max_memory_bytes = b,
                Err(e) => push(&mut problems, "maxMemory", e, "use a size such as `\"256mb\"` or `\"1gb\"` (at least 16mb)"),
            }
        }
        match get("env") {
            None => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_owned(),
                        other => {
                            push(&mut problems, 
                                &format!("env.{k}"),
                                format!("must be a string, number or boolean, found {}", kind(other)),
                                "quote the value to pass it as a string",
                            );
                            continue;
                        }
                    };
                    c.env.insert(k.clone(), s);
                }
            }
            Some(other) => push(&mut problems, "env", format!("must be a map of names to values, found {}", kind(other)), "write `env:` followed by `NAME: value` lines"),
        }
        match get("envPrefix") {
            None => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                c.env_prefix = items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect();
            }
            Some(other) => push(&mut problems, 
                "envPrefix",
                format!("must be a list of strings, found {}", kind(other)),
                "write a list such as `[PUBLIC_, VITE_]`, or `[]` to disable env injection",
            ),
        }
        if let Some(v) = get("publicRoutes") {
            match PublicRoutes::from_json(v) {
                Ok(_) => c.public_routes = Some(v.clone()),
                Err(e) => push(&mut problems, "publicRoutes", e, "use a list of globs (`[\"/api/**\"]`) or a map of methods to lists (`{GET: [\"/feed\"]}`)"),
            }
        }
        c.env.extend(dotenv);
        for key in manifest.keys() {
            if let Some(known) = likely_typo(key) {
                warnings.push(format!("unknown key `{key}` is ignored; did you mean `{known}`?"));
            }
        }

        if problems.iter().all(|p| !matches!(p.key.as_str(), "timeout" | "idleTimeout" | "ttl")) {
            if c.timeout_ms <= 0.0 {
                push(&mut problems, "timeout", "must be positive".to_owned(), "set `timeout` above zero, such as `30` (seconds)");
            }
            if c.ttl_ms < 0.0 {
                push(&mut problems, "ttl", "must be zero or more".to_owned(), "set `ttl` to `0` (a fresh worker per request) or a duration such as `\"5m\"`");
            }
            if c.idle_timeout_ms <= 0.0 {
                push(&mut problems, "idleTimeout", "must be positive".to_owned(), "set `idleTimeout` above zero, such as `60` (seconds)");
            }
            if c.ttl_ms > 0.0 && c.timeout_ms > 0.0 && c.idle_timeout_ms > 0.0 {
                if c.ttl_ms < c.timeout_ms {
                    push(&mut problems, 
                        "ttl",
                        format!("({} ms) is shorter than `timeout` ({} ms)", c.ttl_ms, c.timeout_ms),
                        "make `ttl` at least as long as `timeout`, or lower `timeout`",
                    );
                }
                if c.idle_timeout_ms < c.timeout_ms {
                    push(&mut problems, 
                        "idleTimeout",
                        format!("({} ms) is shorter than `timeout` ({} ms)", c.idle_timeout_ms, c.timeout_ms),
                        "make `idleTimeout` at least as long as `timeout`, or lower `timeout`",
                    );
                } else if c.idle_timeout_ms > c.ttl_ms {
                    warnings.push(format!("`idleTimeout` ({} ms) is longer than `ttl` ({} ms); using `ttl`", c.idle_timeout_ms, c.ttl_ms));
                    c.idle_timeout_ms = c.ttl_ms;
                }
            }
        }
        if problems.is_empty() { Ok((c, warnings)) } else { Err(problems) }
    }

    /// The normalized config as the worker's `WORKER_CONFIG` (env left out: the worker gets it as
    /// its environment).
    pub fn to_json(&self, entrypoint: &str) -> Value {
        json!({
            "autoInstall": self.auto_install,
            "entrypoint": entrypoint,
            "envPrefix": self.env_prefix,
            "idleTimeoutMs": num(self.idle_timeout_ms),
            "injectBase": self.inject_base,
            "isolated": self.isolated,
            "lowMemory": self.low_memory,
            "maxBodySizeBytes": self.max_body_bytes,
            "maxMemoryBytes": self.max_memory_bytes,
            "maxRequests": self.max_requests,
            "publicRoutes": self.public_routes,
            "timeoutMs": num(self.timeout_ms),
            "ttlMs": num(self.ttl_ms),
        })
    }

    /// The `AppInfo.config` shape: durations back in seconds, no env, no body size.
    pub fn to_info_json(&self, entrypoint: &str) -> Value {
        json!({
            "autoInstall": self.auto_install,
            "entrypoint": entrypoint,
            "idleTimeout": num(self.idle_timeout_ms / 1000.0),
            "lowMemory": self.low_memory,
            "maxRequests": self.max_requests,
            "publicRoutes": self.public_routes,
            "timeout": num(self.timeout_ms / 1000.0),
            "ttl": num(self.ttl_ms / 1000.0),
        })
    }
}

/// Everything known about one app directory: its config, entrypoint and version.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The canonical app directory.
    pub dir: PathBuf,
    /// The validated config.
    pub config: WorkerConfig,
    /// The entrypoint, absolute and inside `dir` (it may not exist: static mode then answers 404).
    pub entrypoint: PathBuf,
    /// The entrypoint relative to `dir`, as reported.
    pub entrypoint_rel: String,
    /// The `package.json` version, else `0.0.0`.
    pub version: String,
    /// Compiled `publicRoutes`.
    pub public_routes: Option<Arc<PublicRoutes>>,
}

impl AppConfig {
    /// Returns whether the app is a static site (its entrypoint ends with `.html`).
    pub fn is_static(&self) -> bool {
        self.entrypoint_rel.to_ascii_lowercase().ends_with(".html")
    }
}

/// A manifest file and its keys.
pub type ManifestFile = (PathBuf, Map<String, Value>);

/// Reads the first of `manifest.yaml`, `manifest.yml` in `dir`, through the runtime's one YAML
/// reader (size and nesting limits, duplicate keys refused). A `manifest.yml` ignored beside a
/// `manifest.yaml` is logged once.
///
/// # Errors
/// The file exists but is not a file, cannot be read, is too large or too deep, is not YAML, has a
/// key twice, or is not a map.
pub fn read_manifest(dir: &Path) -> Result<Option<ManifestFile>, (PathBuf, Problem)> {
    let problem = |e: &YamlError| Problem {
        key: e.key().map_or_else(|| "(file)".to_owned(), str::to_owned),
        message: match e {
            YamlError::DuplicateKey { .. } => "appears twice (a later value would silently replace the earlier one)".to_owned(),
            other => other.to_string(),
        },
        fix: e.fix().to_owned(),
    };
    let located = match yaml::locate(dir) {
        Ok(Some(l)) => l,
        Ok(None) => return Ok(None),
        Err((file, e)) => return Err((file, problem(&e))),
    };
    if let Some(w) = &located.warning {
        warn_once(w, || tracing::warn!(file = %located.file.display(), "{w}"));
    }
    match yaml::read_mapping(&located.file) {
        Ok(map) => Ok(Some((located.file, map))),
        Err(e) => Err((located.file, problem(&e))),
    }
}

/// Loads and validates the app in `dir`. `manifest` overrides reading `manifest.yaml|yml` (plugin
/// apps pass their plugin manifest). Warnings are logged.
///
/// # Errors
/// Names the app, the file, each bad key and its fix.
pub fn load_app(app: &str, dir: &Path, manifest: Option<&Map<String, Value>>) -> Result<AppConfig, ConfigError> {
    let fail = |file: PathBuf, problems: Vec<Problem>| ConfigError { app: app.to_owned(), file, problems };
    let canonical = std::fs::canonicalize(dir).map_err(|e| {
        fail(dir.to_owned(), vec![Problem { key: "(dir)".into(), message: format!("cannot be opened: {e}"), fix: "check the app directory exists".into() }])
    })?;
    let (file, owned);
    let manifest = match manifest {
        Some(m) => {
            file = MANIFEST_FILES.iter().map(|n| canonical.join(n)).find(|p| p.is_file()).unwrap_or_else(|| canonical.join(MANIFEST_FILES[0]));
            m
        }
        None => match read_manifest(&canonical) {
            Ok(Some((f, m))) => {
                file = f;
                owned = m;
                &owned
            }
            Ok(None) => {
                file = canonical.join(MANIFEST_FILES[0]);
                owned = Map::new();
                &owned
            }
            Err((f, p)) => return Err(fail(f, vec![p])),
        },
    };
    let dotenv_file = canonical.join(".env");
    let dotenv = match std::fs::read_to_string(&dotenv_file) {
        Ok(text) => parse_dotenv(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            return Err(fail(
                dotenv_file,
                vec![Problem { key: "(file)".into(), message: format!("cannot be read: {e}"), fix: "make `.env` readable or remove it".into() }],
            ));
        }
    };
    let (config, mut warnings) = WorkerConfig::from_manifest(manifest, dotenv).map_err(|p| fail(file.clone(), p))?;
    if let Some(name) = manifest.get("name").and_then(Value::as_str).map(str::trim)
        && !buntime_core::manifest::is_package_name(name)
    {
        warnings.push(format!("key `name`: `{name}` is not a valid app name (use `name` or `@scope/name`); it is ignored here and uploads reject it"));
    }
    for w in warnings {
        warn_once(&format!("{}: {w}", file.display()), || tracing::warn!(app = %app, file = %file.display(), "{w}"));
    }
    let (entrypoint, entrypoint_rel) = find_entrypoint(&canonical, config.entrypoint.as_deref()).map_err(|p| fail(file.clone(), vec![p]))?;
    let public_routes = match &config.public_routes {
        Some(v) => Some(Arc::new(PublicRoutes::from_json(v).map_err(|e| {
            fail(file.clone(), vec![Problem { key: "publicRoutes".into(), message: e, fix: "use a list of globs".into() }])
        })?)),
        None => None,
    };
    let version = crate::resolver::package_version(&canonical).unwrap_or_else(|| "0.0.0".to_owned());
    Ok(AppConfig { dir: canonical, config, entrypoint, entrypoint_rel, version, public_routes })
}

/// Finds the entrypoint (spec §9.2) inside the canonical `dir`: the configured one when it exists,
/// else `index.html|ts|js|mjs`, else `index.html` (which will 404).
///
/// # Errors
/// The entrypoint (configured or found) resolves outside `dir`, for example through `..` or a symlink.
pub fn find_entrypoint(dir: &Path, configured: Option<&str>) -> Result<(PathBuf, String), Problem> {
    let outside = |rel: &str| Problem {
        key: "entrypoint".into(),
        message: format!("`{rel}` resolves outside the app directory"),
        fix: "point `entrypoint` at a file inside the app directory".into(),
    };
    let configured = configured.map(str::trim).filter(|s| !s.is_empty());
    let tried = configured.into_iter().chain(DEFAULT_ENTRYPOINTS.iter().copied());
    for rel in tried {
        let candidate = dir.join(rel);
        if !candidate.is_file() {
            if Some(rel) == configured {
                warn_once(&format!("{}: missing entrypoint {rel}", dir.display()), || {
                    tracing::warn!(dir = %dir.display(), entrypoint = %rel, "Configured entrypoint does not exist; detecting one.");
                });
            }
            continue;
        }
        let real = std::fs::canonicalize(&candidate).map_err(|_| outside(rel))?;
        let Ok(inside) = real.strip_prefix(dir) else { return Err(outside(rel)) };
        if inside.as_os_str().is_empty() {
            return Err(outside(rel));
        }
        return Ok((real.clone(), inside.to_string_lossy().into_owned()));
    }
    Ok((dir.join(DEFAULT_ENTRYPOINTS[0]), DEFAULT_ENTRYPOINTS[0].to_owned()))
}

/// Logs a config warning once per process (configs are reloaded every second under traffic).
fn warn_once(id: &str, log: impl FnOnce()) {
    static SEEN: std::sync::LazyLock<Mutex<std::collections::HashSet<String>>> = std::sync::LazyLock::new(Default::default);
    if let Ok(mut seen) = SEEN.lock() {
        if seen.len() > 10_000 {
            seen.clear();
        }
        if seen.insert(id.to_owned()) {
            log();
        }
    }
}

/// The size and modification time of one file the config was built from (`None`: absent).
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

/// The files an app's config is read from, plus the app dir itself (its mtime moves when an
/// `index.*` entrypoint appears or goes).
fn watched(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    out.extend(MANIFEST_FILES.iter().chain(&[".env", "package.json"]).map(|n| dir.join(n)));
    out
}

/// One cached load: what it was built from and what came out.
#[derive(Debug)]
struct Entry {
    /// When the files were last compared.
    checked: Instant,
    /// Every file the load depended on, with its stamp taken before reading it.
    identity: Vec<(PathBuf, Stamp)>,
    /// The manifest given instead of the app's file (plugin apps), which is part of the identity.
    given: Option<Map<String, Value>>,
    result: Result<Arc<AppConfig>, ConfigError>,
}

impl Entry {
    fn unchanged(&self, given: Option<&Map<String, Value>>) -> bool {
        self.given.as_ref() == given && self.identity.iter().all(|(path, before)| stamp(path) == *before)
    }
}

/// Caches loaded app configs per directory, keyed by the identity (size and modification time)
/// of `manifest.yaml`, `manifest.yml`, `.env`, `package.json`, the entrypoint and the dir.
///
/// A config is parsed again only when one of those files changes. A valid config is trusted
/// without looking at the files for `ttl`; after that, and for failed loads always, the files are
/// compared (a few `stat` calls) and the cached result reused when nothing changed, so a broken
/// manifest is not re-parsed on every request.
#[derive(Debug)]
pub struct ConfigCache {
    ttl: Duration,
    entries: RwLock<HashMap<PathBuf, Entry>>,
    loads: AtomicU64,
}

impl ConfigCache {
    /// Creates a cache trusting valid entries for `ttl` before comparing files again (zero compares
    /// them on every lookup).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: RwLock::new(HashMap::new()), loads: AtomicU64::new(0) }
    }

    /// Returns the cached config for `dir` (built from `given` instead of the manifest file, for
    /// plugin apps) when it can be used without touching the disk: a valid config younger than
    /// the ttl. `None` means call [`ConfigCache::get_with`], which may block.
    pub fn fresh(&self, dir: &Path, given: Option<&Map<String, Value>>) -> Option<Arc<AppConfig>> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(dir)?;
        match &entry.result {
            Ok(cfg) if entry.checked.elapsed() < self.ttl && entry.given.as_ref() == given => Some(cfg.clone()),
            _ => None,
        }
    }

    /// Returns the app config for `dir`, loading it when absent or when its files changed. Blocks
    /// on the filesystem: call it from a blocking thread.
    ///
    /// # Errors
    /// See [`load_app`].
    pub fn get(&self, app: &str, dir: &Path) -> Result<Arc<AppConfig>, ConfigError> {
        self.get_with(app, dir, None)
    }

    /// Like [`ConfigCache::get`], with `manifest` used instead of the app's manifest file (plugin apps).
    ///
    /// # Errors
    /// See [`load_app`].
    pub fn get_with(&self, app: &str, dir: &Path, manifest: Option<&Map<String, Value>>) -> Result<Arc<AppConfig>, ConfigError> {
        if let Some(cfg) = self.fresh(dir, manifest) {
            return Ok(cfg);
        }
        if let Ok(mut entries) = self.entries.write()
            && let Some(entry) = entries.get_mut(dir)
            && entry.unchanged(manifest)
        {
            entry.checked = Instant::now();
            return entry.result.clone().map_err(|e| ConfigError { app: app.to_owned(), ..e });
        }
        // Stamps first, then the read: a change during the load shows up at the next lookup.
        let mut identity: Vec<(PathBuf, Stamp)> = watched(dir).into_iter().map(|p| {
            let s = stamp(&p);
            (p, s)
        }).collect();
        self.loads.fetch_add(1, Ordering::Relaxed);
        let result = load_app(app, dir, manifest).map(Arc::new);
        if let Ok(cfg) = &result {
            let configured = cfg.config.entrypoint.as_deref().map(|e| cfg.dir.join(e));
            for p in configured.into_iter().chain([cfg.entrypoint.clone()]) {
                let s = stamp(&p);
                identity.push((p, s));
            }
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= 10_000 {
                entries.clear();
            }
            entries.insert(dir.to_owned(), Entry { checked: Instant::now(), identity, given: manifest.cloned(), result: result.clone() });
        }
        result
    }

    /// Returns how many times a config was loaded from disk (cache misses and changes).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Forgets every cached config.
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests;
