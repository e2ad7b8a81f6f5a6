//! The manifest keys the plugin reads (see docs/authn.md), validated into [`Config`].

use std::time::Duration;

use serde_json::{Map, Value};

/// One static machine key (`apiKeys[]`).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The secret the caller sends as `X-API-Key`.
    pub key: String,
    /// The name shown in `X-Identity` (`apikey:<name>`).
    pub name: String,
    /// Roles granted to the caller (default `["api-client"]`).
    pub roles: Vec<String>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// The email/password provider (`providers[]` entry of `type: email-password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailPassword {
    /// Shown on the login page (default `Email`).
    pub display_name: String,
    /// Whether `POST /auth/api/auth/sign-up/email` creates accounts.
    pub allow_sign_up: bool,
}

/// Session cookie settings (`session`).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The cookie's name.
    pub cookie_name: String,
    /// How long a session lives after sign-in.
    pub ttl: Duration,
    /// How long a validated session is trusted from memory before the database is asked again.
    pub cache_ttl: Duration,
    /// Cookie signing keys: the first signs, every one verifies (key rotation).
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("cookie_name", &self.cookie_name)
            .field("ttl", &self.ttl)
            .field("cache_ttl", &self.cache_ttl)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// argon2id parameters and password rules (`password`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordConfig {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Shortest accepted password, in characters.
    pub min_length: usize,
}

/// Brute-force limits (`rateLimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// The sliding window failures are counted in.
    pub window: Duration,
    /// Failures allowed per account (email) in the window.
    pub max_per_account: u32,
    /// Failures allowed per client IP in the window.
    pub max_per_ip: u32,
}

/// SCIM 2.0 provisioning (`scim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScimConfig {
    /// Whether `/auth/api/scim/v2` is served.
    pub enabled: bool,
    /// The most resources one list answer carries (`count` is capped to it).
    pub max_results: usize,
    /// Whether `POST /Bulk` is served (501 otherwise).
    pub bulk_enabled: bool,
    /// The most operations one bulk request may carry (413 above).
    pub max_bulk_operations: usize,
}

impl Default for ScimConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_results: 100,
            bulk_enabled: true,
            max_bulk_operations: 1000,
        }
    }
}

/// The plugin configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The plugin's base path (`/auth`).
    pub base: String,
    /// Where browsers are redirected to sign in.
    pub login_path: String,
    /// Origins allowed to make state-changing calls; the first is the public base URL.
    pub trusted_origins: Vec<String>,
    /// Static machine keys.
    pub api_keys: Vec<ApiKey>,
    /// The email/password provider, when listed.
    pub email_password: Option<EmailPassword>,
    /// The OAuth2/OIDC providers, in manifest order.
    pub oidc: Vec<crate::providers::OidcProvider>,
    /// The adapter type requested from the database plugin (`None`: its default).
    pub database: Option<String>,
    /// Session cookie settings.
    pub session: SessionConfig,
    /// Password hashing.
    pub password: PasswordConfig,
    /// Brute-force limits.
    pub rate_limit: RateLimitConfig,
    /// SCIM provisioning.
    pub scim: ScimConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base: "/auth".to_owned(),
            login_path: "/auth/login".to_owned(),
            trusted_origins: vec!["http://localhost:8000".to_owned()],
            api_keys: Vec::new(),
            email_password: Some(EmailPassword {
                display_name: "Email".to_owned(),
                allow_sign_up: true,
            }),
            oidc: Vec::new(),
            database: None,
            session: SessionConfig {
                cookie_name: "buntime.session_token".to_owned(),
                ttl: Duration::from_secs(7 * 86_400),
                cache_ttl: Duration::from_secs(30),
                secrets: Vec::new(),
            },
            password: PasswordConfig {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1,
                min_length: 8,
            },
            rate_limit: RateLimitConfig {
                window: Duration::from_secs(900),
                max_per_account: 5,
                max_per_ip: 20,
            },
            scim: ScimConfig::default(),
        }
    }
}

/// Validates the manifest keys into a [`Config`].
///
/// # Errors
/// Every invalid key, each message naming it.
pub fn parse(raw: &Map<String, Value>) -> Result<Config, Vec<String>> {
    let mut c = Config::default();
    let mut errors = Vec::new();
    if let Some(b) = raw.get("base").and_then(Value::as_str) {
        c.base = b.trim_end_matches('/').to_owned();
    }
    c.login_path = format!("{}/login", c.base);
    if let Some(v) = raw.get("loginPath") {
        match v.as_str() {
            Some(p) if p.starts_with('/') && !p.starts_with("//") => {
                p.clone_into(&mut c.login_path)
            }
            _ => errors.push("`loginPath` must be a path starting with `/`".to_owned()),
        }
    }
    if let Some(v) = raw.get("trustedOrigins") {
        match string_list(v) {
            Some(list) => {
                let mut origins = Vec::new();
                for o in list {
                    match url::Url::parse(&o) {
                        Ok(u) if matches!(u.scheme(), "http" | "https") => {
                            origins.push(u.origin().ascii_serialization())
                        }
                        _ => {
                            errors.push(format!("`trustedOrigins`: `{o}` is not an http(s) origin"))
                        }
                    }
                }
                c.trusted_origins = origins;
            }
            None => errors.push("`trustedOrigins` must be a list of origins".to_owned()),
        }
    }
    if let Some(v) = raw.get("apiKeys") {
        parse_api_keys(v, &mut c, &mut errors);
    }
    if let Some(v) = raw.get("providers") {
        parse_providers(v, &mut c, &mut errors);
    }
    match raw.get("database") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => c.database = Some(s.clone()),
        Some(_) => errors.push("`database` must be an adapter type such as `sqlite`".to_owned()),
    }
    if let Some(v) = raw.get("session") {
        parse_session(v, &mut c.session, &mut errors);
    }
    if let Some(v) = raw.get("password") {
        parse_password(v, &mut c.password, &mut errors);
    }
    if let Some(v) = raw.get("rateLimit") {
        parse_rate_limit(v, &mut c.rate_limit, &mut errors);
    }
    if let Some(v) = raw.get("scim") {
        parse_scim(v, &mut c.scim, &mut errors);
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors)
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn parse_api_keys(v: &Value, c: &mut Config, errors: &mut Vec<String>) {
    let Some(items) = v.as_array() else {
        errors.push("`apiKeys` must be a list of {key, name, roles?}".to_owned());
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let key = item.get("key").and_then(Value::as_str).unwrap_or_default();
        let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
        if key.len() < 16 {
            errors.push(format!("`apiKeys[{i}].key` must be at least 16 characters"));
            continue;
        }
        if name.is_empty() {
            errors.push(format!("`apiKeys[{i}].name` is required"));
            continue;
        }
        let roles = match item.get("roles") {
            None | Some(Value::Null) => vec!["api-client".to_owned()],
            Some(r) => match string_list(r) {
                Some(r) => r,
                None => {
                    errors.push(format!("`apiKeys[{i}].roles` must be a list of strings"));
                    continue;
                }
            },
        };
        c.api_keys.push(ApiKey {
            key: key.to_owned(),
            name: name.to_owned(),
            roles,
        });
    }
}

fn parse_providers(v: &Value, c: &mut Config, errors: &mut Vec<String>) {
    let Some(items) = v.as_array() else {
        errors.push("`providers` must be a list".to_owned());
        return;
    };
    c.email_password = None;
    for (i, item) in items.iter().enumerate() {
        match item.get("type").and_then(Value::as_str) {
            Some("email-password") => {
                let display_name = item
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or("Email")
                    .to_owned();
                let allow_sign_up = match item.get("allowSignUp") {
                    None => true,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        errors.push(format!(
                            "`providers[{i}].allowSignUp` must be true or false"
                        ));
                        true
                    }
                };
                c.email_password = Some(EmailPassword {
                    display_name,
                    allow_sign_up,
                });
            }
            Some(kind @ ("google" | "keycloak" | "auth0" | "okta" | "generic-oidc")) => {
                if let Some(p) = crate::providers::parse(kind, item, i, errors) {
                    if c.oidc.iter().any(|o| o.provider_id == p.provider_id) {
                        errors.push(format!(
                            "`providers[{i}].providerId`: `{}` is used by another provider; give each a distinct `providerId`",
                            p.provider_id
                        ));
                    } else {
                        c.oidc.push(p);
                    }
                }
            }
            Some(other) => errors.push(format!(
                "`providers[{i}].type`: unknown provider type `{other}`"
            )),
            None => errors.push(format!("`providers[{i}].type` is required")),
        }
    }
}

fn duration(v: &Value, at: &str, errors: &mut Vec<String>) -> Option<Duration> {
    let d = buntime_core::duration::parse(v).filter(|d| !d.is_zero());
    if d.is_none() {
        errors.push(format!(
            "`{at}` must be a positive duration such as `30s`, `15m` or `7d`"
        ));
    }
    d
}

fn number(v: &Value, at: &str, min: u64, max: u64, errors: &mut Vec<String>) -> Option<u64> {
    let n = v.as_u64().filter(|n| (min..=max).contains(n));
    if n.is_none() {
        errors.push(format!("`{at}` must be an integer from {min} to {max}"));
    }
    n
}

fn parse_session(v: &Value, s: &mut SessionConfig, errors: &mut Vec<String>) {
    if let Some(n) = v.get("cookieName") {
        match n.as_str() {
            Some(n)
                if !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
            {
                n.clone_into(&mut s.cookie_name);
            }
            _ => errors
                .push("`session.cookieName` must be letters, digits, `.`, `_` or `-`".to_owned()),
        }
    }
    if let Some(d) = v
        .get("ttl")
        .and_then(|t| duration(t, "session.ttl", errors))
    {
        s.ttl = d;
    }
    if let Some(d) = v
        .get("cacheTtl")
        .and_then(|t| duration(t, "session.cacheTtl", errors))
    {
        s.cache_ttl = d;
    }
    if let Some(list) = v.get("secrets") {
        match string_list(list) {
            Some(list) if list.iter().all(|k| k.len() >= 32) => s.secrets = list,
            _ => errors.push(
                "`session.secrets` must be a list of keys of at least 32 characters".to_owned(),
            ),
        }
    }
}

fn parse_password(v: &Value, p: &mut PasswordConfig, errors: &mut Vec<String>) {
    #[allow(clippy::cast_possible_truncation)] // bounded by `number`'s range
    let u32_of = |n: u64| n as u32;
    if let Some(n) = v
        .get("memoryKib")
        .and_then(|n| number(n, "password.memoryKib", 1024, 1_048_576, errors))
    {
        p.memory_kib = u32_of(n);
    }
    if let Some(n) = v
        .get("iterations")
        .and_then(|n| number(n, "password.iterations", 1, 16, errors))
    {
        p.iterations = u32_of(n);
    }
    if let Some(n) = v
        .get("parallelism")
        .and_then(|n| number(n, "password.parallelism", 1, 16, errors))
    {
        p.parallelism = u32_of(n);
    }
    if let Some(n) = v
        .get("minLength")
        .and_then(|n| number(n, "password.minLength", 1, 128, errors))
    {
        p.min_length = usize::try_from(n).unwrap_or(8);
    }
}

fn parse_rate_limit(v: &Value, r: &mut RateLimitConfig, errors: &mut Vec<String>) {
    if let Some(d) = v
        .get("window")
        .and_then(|t| duration(t, "rateLimit.window", errors))
    {
        r.window = d;
    }
    #[allow(clippy::cast_possible_truncation)] // bounded by `number`'s range
    if let Some(n) = v
        .get("maxPerAccount")
        .and_then(|n| number(n, "rateLimit.maxPerAccount", 1, 10_000, errors))
    {
        r.max_per_account = n as u32;
    }
    #[allow(clippy::cast_possible_truncation)] // bounded by `number`'s range
    if let Some(n) = v
        .get("maxPerIp")
        .and_then(|n| number(n, "rateLimit.maxPerIp", 1, 100_000, errors))
    {
        r.max_per_ip = n as u32;
    }
}

fn flag(v: &Value, at: &str, errors: &mut Vec<String>) -> Option<bool> {
    let b = v.as_bool();
    if b.is_none() {
        errors.push(format!("`{at}` must be true or false"));
    }
    b
}

fn parse_scim(v: &Value, s: &mut ScimConfig, errors: &mut Vec<String>) {
    if !v.is_object() {
        errors.push(
            "`scim` must be a map of enabled, maxResults, bulkEnabled, maxBulkOperations"
                .to_owned(),
        );
        return;
    }
    if let Some(b) = v
        .get("enabled")
        .and_then(|b| flag(b, "scim.enabled", errors))
    {
        s.enabled = b;
    }
    if let Some(b) = v
        .get("bulkEnabled")
        .and_then(|b| flag(b, "scim.bulkEnabled", errors))
    {
        s.bulk_enabled = b;
    }
    if let Some(n) = v
        .get("maxResults")
        .and_then(|n| number(n, "scim.maxResults", 1, 10_000, errors))
    {
        s.max_results = usize::try_from(n).unwrap_or(100);
    }
    if let Some(n) = v
        .get("maxBulkOperations")
        .and_then(|n| number(n, "scim.maxBulkOperations", 1, 100_000, errors))
    {
        s.max_bulk_operations = usize::try_from(n).unwrap_or(1000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = parse(&obj(json!({"base": "/auth"}))).unwrap();
        assert_eq!(c.login_path, "/auth/login");
        assert_eq!(c.trusted_origins, ["http://localhost:8000"]);
        assert!(c.email_password.unwrap().allow_sign_up);
        assert_eq!(c.password.memory_kib, 19_456);
    }

    #[test]
    fn api_keys_default_their_roles() {
        let c = parse(&obj(
            json!({"apiKeys": [{"key": "k".repeat(20), "name": "ci"}]}),
        ))
        .unwrap();
        assert_eq!(c.api_keys[0].roles, ["api-client"]);
    }

    #[test]
    fn every_bad_key_is_named() {
        let errors = parse(&obj(json!({
            "loginPath": "//evil.example",
            "apiKeys": [{"key": "short", "name": "x"}],
            "providers": [{"type": "google"}],
            "session": {"ttl": "soon", "secrets": ["tiny"]},
            "password": {"memoryKib": 1},
            "rateLimit": {"maxPerIp": 0},
            "scim": {"enabled": "yes", "maxResults": 0}
        })))
        .unwrap_err();
        for key in [
            "loginPath",
            "apiKeys[0].key",
            "providers[0].clientId",
            "session.ttl",
            "session.secrets",
            "password.memoryKib",
            "rateLimit.maxPerIp",
            "scim.enabled",
            "scim.maxResults",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(key)),
                "{key} missing from {errors:?}"
            );
        }
    }
}
