//! The plugin's manifest keys (`adapters`, `tenancy`), read and validated all at once.

use std::path::{Path, PathBuf};

use buntime_core::Env;
use serde_json::{Map, Value};

use crate::adapter::libsql::{DEFAULT_NAMESPACE, LibsqlOptions};
use crate::tenant::TenantId;

/// Connections per pool (per SQLite file, per PostgreSQL database) unless `poolSize` says otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 4;

/// The libsql primary when neither the manifest nor `DATABASE_LIBSQL_URL` names one (the
/// original's default: a `libsql` service next to the runtime, as in Docker Compose).
pub const DEFAULT_LIBSQL_URL: &str = "http://libsql:8080";

/// The adapter types.
const KNOWN_TYPES: [&str; 4] = ["sqlite", "libsql", "postgres", "mysql"];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// The adapters, in manifest order.
    pub adapters: Vec<AdapterConfig>,
    /// The index in `adapters` of the default one.
    pub default: usize,
    /// How tenants are chosen and kept.
    pub tenancy: TenancyConfig,
}

/// One adapter's settings.
#[derive(Debug, Clone)]
pub enum AdapterConfig {
    /// The embedded SQLite engine.
    Sqlite {
        /// Holds `_default.db` and `tenants/<id>.db`.
        base_dir: PathBuf,
        /// Connections per database file.
        pool_size: u32,
    },
    /// A PostgreSQL server; tenants are schemas.
    Postgres {
        /// `postgres://user:password@host:port/db` or a `key=value` connection string.
        url: String,
        /// Connections in the one pool shared by the root and every tenant.
        pool_size: u32,
    },
    /// A MySQL or MariaDB server; tenants are databases.
    Mysql {
        /// `mysql://user:password@host:port/db`; `db` is the root.
        url: String,
        /// Connections in the one pool shared by the root and every tenant.
        pool_size: u32,
    },
    /// A libSQL server (sqld) and its read replicas; tenants are namespaces.
    Libsql(LibsqlOptions),
}

impl AdapterConfig {
    /// Returns the adapter type (`sqlite`, `postgres`, `mysql`, `libsql`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
            Self::Mysql { .. } => "mysql",
            Self::Libsql(_) => "libsql",
        }
    }
}

/// `tenancy.*`.
#[derive(Debug, Clone)]
pub struct TenancyConfig {
    /// `tenancy.enabled`: requests without an explicit tenant take it from `header`, then `default_tenant`.
    pub enabled: bool,
    /// `tenancy.header` (lowercase), default `x-tenant-id`.
    pub header: String,
    /// `tenancy.defaultTenant`, default `default`.
    pub default_tenant: TenantId,
    /// `tenancy.autoCreate`: a tenant is created on first use; off, unknown tenants are 404.
    pub auto_create: bool,
    /// `tenancy.maxTenants`: open tenant databases kept per adapter.
    pub max_tenants: usize,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            header: "x-tenant-id".into(),
            default_tenant: TenantId::parse("default").expect("`default` is a valid tenant id"),
            auto_create: false,
            max_tenants: 1000,
        }
    }
}

/// Reads the config; `state_dir` and `cwd` resolve the SQLite directory, `env` holds the
/// `DATABASE_LIBSQL_*` variables.
///
/// # Errors
/// Every problem found, each naming its manifest key.
pub fn parse(config: &Map<String, Value>, state_dir: &Path, cwd: &Path, env: &Env) -> Result<DatabaseConfig, Vec<String>> {
    let mut errors = Vec::new();
    let default_dir = state_dir.join("database").join("sqlite");
    let mut adapters = Vec::new();
    let mut defaults = Vec::new();
    match config.get("adapters") {
        None | Some(Value::Null) => adapters.push(AdapterConfig::Sqlite { base_dir: default_dir.clone(), pool_size: DEFAULT_POOL_SIZE }),
        Some(Value::Array(items)) if items.is_empty() => {
            errors.push("`adapters` is empty: configure at least one adapter, e.g. `- { type: sqlite, default: true }`".to_owned());
        }
        Some(Value::Array(items)) => {
            let mut seen: Vec<(&str, usize)> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(obj) = item.as_object() else {
                    errors.push(format!("`adapters[{i}]` must be a mapping such as `{{ type: sqlite }}`"));
                    continue;
                };
                let Some(kind) = obj.get("type").and_then(Value::as_str) else {
                    errors.push(format!("`adapters[{i}].type` is missing: one of {}", KNOWN_TYPES.join(", ")));
                    continue;
                };
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kind) {
                    errors.push(format!("`adapters[{i}].type`: duplicate adapter type `{kind}` (also `adapters[{first}]`); configure each type once"));
                    continue;
                }
                seen.push((kind, i));
                match obj.get("default") {
                    None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                    Some(Value::Bool(true)) => defaults.push(i),
                    Some(_) => errors.push(format!("`adapters[{i}].default` must be true or false")),
                }
                match kind {
                    "sqlite" => {
                        let base_dir = match obj.get("baseDir") {
                            None | Some(Value::Null) => default_dir.clone(),
                            Some(Value::String(s)) if !s.trim().is_empty() => {
                                let p = Path::new(s.trim());
                                if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) }
                            }
                            Some(_) => {
                                errors.push(format!("`adapters[{i}].baseDir` must be a directory path"));
                                continue;
                            }
                        };
                        let Some(pool_size) = pool_size(obj, i, &mut errors) else { continue };
                        if obj.get("url").is_some_and(|v| !v.is_null()) {
                            errors.push(format!("`adapters[{i}].url` is not supported for sqlite yet; use `baseDir`"));
                            continue;
                        }
                        adapters.push(AdapterConfig::Sqlite { base_dir, pool_size });
                    }
                    "postgres" | "mysql" => {
                        let pool = pool_size(obj, i, &mut errors);
                        let (example, check): (&str, UrlCheck) = if kind == "postgres" {
                            ("postgres://user:password@127.0.0.1:5432/app", |u| crate::adapter::postgres::parse_url(u).map(drop))
                        } else {
                            ("mysql://user:password@127.0.0.1:3306/app", |u| crate::adapter::mysql::parse_url(u).map(drop))
                        };
                        let url = match obj.get("url") {
                            Some(Value::String(u)) if !u.trim().is_empty() => match check(u.trim()) {
                                Ok(()) => Some(u.trim().to_owned()),
                                Err(why) => {
                                    errors.push(format!("`adapters[{i}].url`: {why}"));
                                    None
                                }
                            },
                            None | Some(Value::Null) => {
                                errors.push(format!("`adapters[{i}].url` is required for {kind}, e.g. {example}"));
                                None
                            }
                            Some(_) => {
                                errors.push(format!("`adapters[{i}].url` must be a string such as {example}"));
                                None
                            }
                        };
                        if obj.get("baseDir").is_some_and(|v| !v.is_null()) {
                            errors.push(format!("`adapters[{i}].baseDir` is for sqlite; {kind} takes `url`"));
                            continue;
                        }
                        if let (Some(url), Some(pool_size)) = (url, pool) {
                            adapters.push(if kind == "postgres" { AdapterConfig::Postgres { url, pool_size } } else { AdapterConfig::Mysql { url, pool_size } });
                        }
                    }
                    "libsql" => {
                        if let Some(options) = libsql(obj, i, env, &mut errors) {
                            adapters.push(AdapterConfig::Libsql(options));
                        }
                    }
                    k => errors.push(format!("`adapters[{i}].type`: unknown adapter type `{k}`; one of {}", KNOWN_TYPES.join(", "))),
                }
            }
        }
        Some(_) => errors.push("`adapters` must be a list such as `- { type: sqlite, default: true }`".to_owned()),
    }
    if defaults.len() > 1 {
        let keys: Vec<_> = defaults.iter().map(|i| format!("`adapters[{i}].default`")).collect();
        errors.push(format!("several default adapters ({}); mark only one with `default: true`", keys.join(", ")));
    }
    let tenancy = parse_tenancy(config.get("tenancy"), &mut errors);
    for (i, a) in adapters.iter_mut().enumerate() {
        if let AdapterConfig::Libsql(options) = a {
            options.max_tenants = tenancy.max_tenants;
            if tenancy.enabled && tenancy.default_tenant.as_str() == options.namespace {
                errors.push(format!(
                    "`tenancy.defaultTenant` `{}` is the libsql adapter's root namespace (adapter {i}); choose another default tenant, e.g. `main`",
                    options.namespace
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // `defaults` indexes the manifest list; map it to the built list (same order, same length
    // when there are no errors). Without an explicit default the first adapter wins.
    let default = defaults.first().copied().unwrap_or(0);
    Ok(DatabaseConfig { adapters, default, tenancy })
}

/// A libsql adapter's keys: `urls` (primary first) with `DATABASE_LIBSQL_URL` and
/// `DATABASE_LIBSQL_REPLICAS` appended (de-duplicated), `authToken` (else
/// `DATABASE_LIBSQL_AUTH_TOKEN`), `adminUrl` (else `DATABASE_LIBSQL_ADMIN_URL`), `namespace`.
fn libsql(obj: &Map<String, Value>, i: usize, env: &Env, errors: &mut Vec<String>) -> Option<LibsqlOptions> {
    let before = errors.len();
    let mut urls: Vec<String> = Vec::new();
    match obj.get("urls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (j, u) in items.iter().enumerate() {
                match u.as_str().map(str::trim) {
                    Some(u) if !u.is_empty() => urls.push(u.to_owned()),
                    _ => errors.push(format!("`adapters[{i}].urls[{j}]` must be a URL such as http://127.0.0.1:8080")),
                }
            }
        }
        Some(_) => errors.push(format!("`adapters[{i}].urls` must be a list of URLs, the primary first: [http://127.0.0.1:8080]")),
    }
    if obj.get("url").is_some_and(|v| !v.is_null()) {
        errors.push(format!("`adapters[{i}].url`: libsql takes `urls`, a list with the primary first and read replicas after"));
    }
    if obj.get("baseDir").is_some_and(|v| !v.is_null()) {
        errors.push(format!("`adapters[{i}].baseDir` is for sqlite; libsql takes `urls`"));
    }
    let from_env = env.get_non_blank("DATABASE_LIBSQL_URL").into_iter().chain(env.get_non_blank("DATABASE_LIBSQL_REPLICAS").into_iter().flat_map(|r| r.split(',')));
    for u in from_env.map(str::trim).filter(|u| !u.is_empty()) {
        if !urls.iter().any(|have| have == u) {
            urls.push(u.to_owned());
        }
    }
    if urls.is_empty() {
        urls.push(DEFAULT_LIBSQL_URL.to_owned());
    }
    for (j, u) in urls.iter().enumerate() {
        if let Err(why) = crate::adapter::libsql::parse_url(u) {
            errors.push(format!("`adapters[{i}].urls[{j}]` (or DATABASE_LIBSQL_URL / DATABASE_LIBSQL_REPLICAS): {why}"));
        }
    }
    let text = |key: &str, errors: &mut Vec<String>| match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(_) => {
            errors.push(format!("`adapters[{i}].{key}` must be a non-empty string"));
            None
        }
    };
    let auth_token = text("authToken", errors).or_else(|| env.get_non_blank("DATABASE_LIBSQL_AUTH_TOKEN").map(str::to_owned));
    let admin_url = text("adminUrl", errors).or_else(|| env.get_non_blank("DATABASE_LIBSQL_ADMIN_URL").map(str::to_owned));
    if let Some(u) = &admin_url
        && let Err(why) = crate::adapter::libsql::parse_url(u)
    {
        errors.push(format!("`adapters[{i}].adminUrl` (or DATABASE_LIBSQL_ADMIN_URL): {why}"));
    }
    let namespace = text("namespace", errors).unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    if TenantId::parse(&namespace).is_err() {
        errors.push(format!("`adapters[{i}].namespace` `{namespace}` must be 1 to 64 letters, digits, `-` or `_`"));
    }
    (errors.len() == before).then_some(LibsqlOptions { urls, auth_token, admin_url, namespace, max_tenants: 0 })
}

/// Validates a server adapter's `url`, returning why it is unusable.
type UrlCheck = fn(&str) -> Result<(), String>;

/// `adapters[i].poolSize`, 1 to 64; `None` (with the error recorded) when invalid.
fn pool_size(obj: &Map<String, Value>, i: usize, errors: &mut Vec<String>) -> Option<u32> {
    match obj.get("poolSize") {
        None | Some(Value::Null) => Some(DEFAULT_POOL_SIZE),
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n @ 1..=64) => Some(n),
            _ => {
                errors.push(format!("`adapters[{i}].poolSize` must be a whole number from 1 to 64"));
                None
            }
        },
    }
}

fn parse_tenancy(value: Option<&Value>, errors: &mut Vec<String>) -> TenancyConfig {
    let mut t = TenancyConfig::default();
    let obj = match value {
        None | Some(Value::Null) => return t,
        Some(Value::Object(o)) => o,
        Some(_) => {
            errors.push("`tenancy` must be a mapping".to_owned());
            return t;
        }
    };
    let bool_key = |key: &str, errors: &mut Vec<String>| match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.push(format!("`tenancy.{key}` must be true or false"));
            None
        }
    };
    if let Some(b) = bool_key("enabled", errors) {
        t.enabled = b;
    }
    if let Some(b) = bool_key("autoCreate", errors) {
        t.auto_create = b;
    }
    match obj.get("header") {
        None | Some(Value::Null) => {}
        Some(Value::String(h)) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => t.header = h.to_ascii_lowercase(),
        Some(_) => errors.push("`tenancy.header` must be an HTTP header name such as `x-tenant-id`".to_owned()),
    }
    match obj.get("defaultTenant") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match TenantId::parse(s) {
            Ok(id) => t.default_tenant = id,
            Err(e) => errors.push(format!("`tenancy.defaultTenant`: {e}")),
        },
        Some(_) => errors.push("`tenancy.defaultTenant` must be a tenant id".to_owned()),
    }
    match obj.get("maxTenants") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => t.max_tenants = usize::try_from(n).unwrap_or(usize::MAX),
            _ => errors.push("`tenancy.maxTenants` must be a whole number of at least 1".to_owned()),
        },
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest reaches the plugin as a JSON map; the cases are written as JSON.
    fn parse_json(json: &str) -> Result<DatabaseConfig, Vec<String>> {
        let v: Value = serde_json::from_str(json).unwrap();
        parse(v.as_object().unwrap(), Path::new("/state"), Path::new("/cwd"), &Env::default())
    }

    #[test]
    fn no_adapters_key_means_one_sqlite_under_the_state_dir() {
        let c = parse_json("{}").unwrap();
        assert_eq!(c.adapters.len(), 1);
        let AdapterConfig::Sqlite { base_dir, pool_size } = &c.adapters[0] else { panic!("{c:?}") };
        assert_eq!(base_dir, Path::new("/state/database/sqlite"));
        assert_eq!(*pool_size, DEFAULT_POOL_SIZE);
        assert!(!c.tenancy.auto_create && c.tenancy.max_tenants == 1000 && c.tenancy.header == "x-tenant-id");
    }

    #[test]
    fn start_up_errors_name_the_manifest_key() {
        let e = parse_json(r#"{"adapters": []}"#).unwrap_err();
        assert!(e[0].contains("`adapters` is empty"), "{e:?}");
        let e = parse_json(r#"{"adapters": [{"type": "sqlite"}, {"type": "sqlite"}]}"#).unwrap_err();
        assert!(e[0].contains("`adapters[1].type`") && e[0].contains("duplicate"), "{e:?}");
        let e = parse_json(r#"{"adapters": [{"type": "sqlite", "default": true}, {"type": "postgres", "default": true}]}"#).unwrap_err();
        assert!(e.iter().any(|m| m.contains("several default adapters") && m.contains("`adapters[1].default`")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("`adapters[1].url` is required for postgres")), "{e:?}");
        let e = parse_json(r#"{"adapters": [{"type": "libsql", "urls": ["file:x.db"]}, {"type": "mysql", "url": "mysql://u@h:3306"}]}"#).unwrap_err();
        assert!(e[0].contains("`adapters[0].urls[0]`") && e[0].contains("use the `sqlite` adapter"), "{e:?}");
        assert!(e[1].contains("`adapters[1].url`") && e[1].contains("no database"), "{e:?}");
        let e = parse_json(r#"{"tenancy": {"defaultTenant": "../x", "maxTenants": 0}}"#).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("`tenancy.defaultTenant`"), "{e:?}");
    }

    #[test]
    fn relative_base_dirs_resolve_against_the_working_directory() {
        let c = parse_json(r#"{"adapters": [{"type": "sqlite", "baseDir": "./data"}]}"#).unwrap();
        let AdapterConfig::Sqlite { base_dir, .. } = &c.adapters[0] else { panic!("{c:?}") };
        assert_eq!(base_dir, Path::new("/cwd/./data"));
    }

    #[test]
    fn postgres_takes_a_url_and_a_pool_size() {
        let c = parse_json(r#"{"adapters": [{"type": "sqlite"}, {"type": "postgres", "url": "postgres://u:p@127.0.0.1:5432/app", "poolSize": 2, "default": true}]}"#).unwrap();
        assert_eq!(c.default, 1);
        let AdapterConfig::Postgres { url, pool_size } = &c.adapters[1] else { panic!("{c:?}") };
        assert_eq!((url.as_str(), *pool_size), ("postgres://u:p@127.0.0.1:5432/app", 2));
        let e = parse_json(r#"{"adapters": [{"type": "postgres", "url": "mysql://x", "poolSize": 0}]}"#).unwrap_err();
        assert!(e.iter().any(|m| m.contains("`adapters[0].poolSize`")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("`adapters[0].url`: not a PostgreSQL URL")), "{e:?}");
        let c = parse_json(r#"{"adapters": [{"type": "mysql", "url": "mysql://root@127.0.0.1:3306/app"}]}"#).unwrap();
        assert!(matches!(&c.adapters[0], AdapterConfig::Mysql { pool_size: DEFAULT_POOL_SIZE, .. }), "{c:?}");
        let e = parse_json(r#"{"adapters": [{"type": "postgres", "url": 5}]}"#).unwrap_err();
        assert!(e[0].contains("`adapters[0].url` must be a string"), "{e:?}");
    }

    #[test]
    fn libsql_takes_urls_and_the_environment() {
        let c = parse_json(r#"{"adapters": [{"type": "libsql"}]}"#).unwrap();
        let AdapterConfig::Libsql(o) = &c.adapters[0] else { panic!("{c:?}") };
        assert_eq!((o.urls.clone(), o.namespace.as_str(), o.max_tenants), (vec![DEFAULT_LIBSQL_URL.to_owned()], "default", 1000));
        let v: Value = serde_json::from_str(r#"{"adapters": [{"type": "libsql", "urls": ["http://p:8080", "http://r1:8080"], "adminUrl": "http://p:8081"}]}"#).unwrap();
        let env = Env::from_pairs([
            ("DATABASE_LIBSQL_URL", "http://p:8080"),
            ("DATABASE_LIBSQL_REPLICAS", "http://r1:8080, http://r2:8080"),
            ("DATABASE_LIBSQL_AUTH_TOKEN", "tok"),
        ]);
        let c = parse(v.as_object().unwrap(), Path::new("/s"), Path::new("/c"), &env).unwrap();
        let AdapterConfig::Libsql(o) = &c.adapters[0] else { panic!("{c:?}") };
        assert_eq!(o.urls, ["http://p:8080", "http://r1:8080", "http://r2:8080"]);
        assert_eq!((o.auth_token.as_deref(), o.admin_url.as_deref()), (Some("tok"), Some("http://p:8081")));
        let e = parse_json(r#"{"adapters": [{"type": "libsql", "url": "http://x", "urls": "http://x"}], "tenancy": {"enabled": true}}"#).unwrap_err();
        assert!(e.iter().any(|m| m.contains("`adapters[0].urls` must be a list")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("libsql takes `urls`")), "{e:?}");
        let e = parse_json(r#"{"adapters": [{"type": "libsql"}], "tenancy": {"enabled": true}}"#).unwrap_err();
        assert!(e[0].contains("`tenancy.defaultTenant` `default` is the libsql adapter's root namespace"), "{e:?}");
    }
}
