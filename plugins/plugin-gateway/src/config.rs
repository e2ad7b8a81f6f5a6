//! The plugin's manifest keys and the `GATEWAY_*` env vars that override them, validated at load
//! with errors that name the key and the fix.

use std::time::Duration;

use buntime_core::config::Env;
use regex::Regex;
use serde_json::{Map, Value};

/// Who a rate-limit bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBy {
    /// The client address (`ip:<addr>`).
    Ip,
    /// The authenticated user (`user:<sub>`), else the address.
    User,
}

impl KeyBy {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::User => "user",
        }
    }
}

/// `rateLimit`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// `requests` per window (default 100).
    pub requests: u32,
    /// `window` (default `1m`).
    pub window: Duration,
    /// `window` as written, for the dashboard.
    pub window_text: String,
    /// `keyBy`.
    pub key_by: KeyBy,
    /// `excludePaths`: unanchored regexes of paths never limited.
    pub exclude: Vec<Regex>,
}

/// Which origins CORS answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// `*`: any origin.
    Any,
    /// These exact origins.
    List(Vec<String>),
}

/// `cors`.
#[derive(Debug, Clone)]
pub struct Cors {
    /// `origin`: `*`, one origin, a list, or a comma-separated string.
    pub origin: Origins,
    /// `credentials`.
    pub credentials: bool,
    /// `methods` for preflights.
    pub methods: Vec<String>,
    /// `allowedHeaders`; unset echoes `Access-Control-Request-Headers`.
    pub allowed_headers: Option<Vec<String>>,
    /// `exposedHeaders`.
    pub exposed_headers: Vec<String>,
    /// `maxAge` in seconds.
    pub max_age: Option<u64>,
    /// `preflight`: answer preflights here (default true); false lets them through to the app.
    pub preflight: bool,
}

/// `cache`.
#[derive(Debug, Clone)]
pub struct Cache {
    /// `ttl` of an entry without its own `Cache-Control: max-age` (default `60s`).
    pub ttl: Duration,
    /// `maxEntries` kept (least recently used go first; default 1000).
    pub max_entries: usize,
    /// `maxBodySize`: bigger responses are not cached (default 1 MiB).
    pub max_body_bytes: usize,
    /// `methods` cached (default GET; HEAD is answered from GET entries).
    pub methods: Vec<http::Method>,
    /// `excludePaths`: unanchored regexes of paths never cached.
    pub exclude: Vec<Regex>,
}

/// `shellDir` / `shellExcludes`.
#[derive(Debug, Clone)]
pub struct Shell {
    /// `GATEWAY_SHELL_DIR`, else `shellDir`: an app directory, or an app name the runtime resolves.
    pub dir: String,
    /// `GATEWAY_SHELL_EXCLUDES`, else `shellExcludes`: first path segments never sent to the shell.
    pub env_excludes: Vec<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Off when `rateLimit` is absent or `enabled: false`.
    pub rate_limit: Option<RateLimit>,
    /// Off when `cors` is absent or `enabled: false`.
    pub cors: Option<Cors>,
    /// Off when `cache` is absent or `enabled: false`.
    pub cache: Option<Cache>,
    /// Off when no shell dir is set.
    pub shell: Option<Shell>,
    /// `logSize`: request log entries kept (default 100).
    pub log_size: usize,
    /// `historySize`: metrics snapshots kept (default 3600, one a second).
    pub history_size: usize,
}

/// The methods a preflight allows unless `cors.methods` says otherwise.
pub const DEFAULT_METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"];

/// Parses a rate-limit window: digits with an optional unit `s` (default), `m`, `h` or `d`, or a
/// number of seconds.
///
/// # Errors
/// What is wrong, with an example of a valid window.
pub fn parse_window(v: &Value) -> Result<(Duration, String), String> {
    let fix = "write digits with an optional unit s, m, h or d, such as `30s` or `1m`";
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("{other} is not a window; {fix}")),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let per_unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` is not a window; {fix}")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a window; {fix}"))?;
    if n == 0 {
        return Err(format!("`{text}` is an empty window; {fix}"));
    }
    let secs = n
        .checked_mul(per_unit)
        .filter(|s| *s <= 365 * 86_400)
        .ok_or_else(|| format!("`{text}` is longer than a year; {fix}"))?;
    Ok((Duration::from_secs(secs), text))
}

/// Reads the plugin's options and `env`; every problem is reported, each naming its key.
///
/// # Errors
/// One message per invalid key.
pub fn parse(options: &Map<String, Value>, env: &Env) -> Result<Config, Vec<String>> {
    let mut errors = Vec::new();
    let rate_limit =
        section(options, "rateLimit", &mut errors).and_then(|s| rate_limit(s, env, &mut errors));
    let cors = section(options, "cors", &mut errors).and_then(|s| cors(s, env, &mut errors));
    let cache = section(options, "cache", &mut errors).and_then(|s| cache(s, &mut errors));
    let shell = shell(options, env, &mut errors);
    let log_size = count(options.get("logSize"), "logSize", 100, 100_000, &mut errors);
    let history_size = count(
        options.get("historySize"),
        "historySize",
        3600,
        86_400,
        &mut errors,
    );
    if errors.is_empty() {
        Ok(Config {
            rate_limit,
            cors,
            cache,
            shell,
            log_size,
            history_size,
        })
    } else {
        Err(errors)
    }
}

/// A section that is on: an object without `enabled: false`. `false`/`null`/absent is off.
fn section<'a>(
    options: &'a Map<String, Value>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    match options.get(key) {
        None | Some(Value::Null | Value::Bool(false)) => None,
        Some(Value::Object(m)) => match m.get("enabled") {
            None | Some(Value::Bool(true)) => Some(m),
            Some(Value::Bool(false)) => None,
            Some(other) => {
                errors.push(format!(
                    "`{key}.enabled`: {other} is not a boolean; write true or false"
                ));
                None
            }
        },
        Some(other) => {
            errors.push(format!("`{key}`: {other} is not a map; write its keys below it, or remove it to turn it off"));
            None
        }
    }
}

fn count(
    v: Option<&Value>,
    key: &str,
    default: usize,
    max: usize,
    errors: &mut Vec<String>,
) -> usize {
    match v {
        None | Some(Value::Null) => default,
        Some(v) => match v.as_u64().filter(|n| (1..=max as u64).contains(n)) {
            Some(n) => n as usize,
            None => {
                errors.push(format!(
                    "`{key}`: {v} is not a whole number from 1 to {max}"
                ));
                default
            }
        },
    }
}

fn regexes(v: Option<&Value>, key: &str, default: &[&str], errors: &mut Vec<String>) -> Vec<Regex> {
    let list: Vec<String> = match v {
        None | Some(Value::Null) => default.iter().map(|s| (*s).to_owned()).collect(),
        Some(v) => match strings(v) {
            Some(l) => l,
            None => {
                errors.push(format!("`{key}`: {v} is not a list of regexes"));
                return Vec::new();
            }
        },
    };
    list.iter()
        .filter_map(|p| match Regex::new(p) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(format!(
                    "`{key}`: `{p}` is not a valid regex ({})",
                    e.to_string().lines().last().unwrap_or_default().trim()
                ));
                None
            }
        })
        .collect()
}

/// A list of strings, or one string split at commas.
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(split_list(s)),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(|s| s.trim().to_owned()))
            .collect(),
        _ => None,
    }
}

/// Splits a comma list, dropping blanks.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn boolean(v: Option<&Value>, key: &str, default: bool, errors: &mut Vec<String>) -> bool {
    match v {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if matches!(s.trim(), "true" | "1" | "yes" | "on") => true,
        Some(Value::String(s)) if matches!(s.trim(), "false" | "0" | "no" | "off") => false,
        Some(other) => {
            errors.push(format!(
                "`{key}`: {other} is not a boolean; write true or false"
            ));
            default
        }
    }
}

fn rate_limit(s: &Map<String, Value>, env: &Env, errors: &mut Vec<String>) -> Option<RateLimit> {
    let before = errors.len();
    let requests_v = env
        .get_non_blank("GATEWAY_RATE_LIMIT_REQUESTS")
        .map(|v| (Value::String(v.to_owned()), "GATEWAY_RATE_LIMIT_REQUESTS"))
        .or_else(|| {
            s.get("requests")
                .map(|v| (v.clone(), "`rateLimit.requests`"))
        });
    let requests = match requests_v {
        None => 100,
        Some((v, key)) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|t| t.trim().parse().ok()))
            .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
        {
            Some(n) => n as u32,
            None => {
                errors.push(format!(
                    "{key}: {v} is not a whole number of requests (at least 1), such as 1000"
                ));
                100
            }
        },
    };
    let window_v = env
        .get_non_blank("GATEWAY_RATE_LIMIT_WINDOW")
        .map(|v| (Value::String(v.to_owned()), "GATEWAY_RATE_LIMIT_WINDOW"))
        .or_else(|| s.get("window").map(|v| (v.clone(), "`rateLimit.window`")));
    let (window, window_text) = match window_v {
        None => (Duration::from_secs(60), "1m".to_owned()),
        Some((v, key)) => parse_window(&v).unwrap_or_else(|e| {
            errors.push(format!("{key}: {e}"));
            (Duration::from_secs(60), "1m".to_owned())
        }),
    };
    let key_by = match s.get("keyBy") {
        None | Some(Value::Null) => KeyBy::Ip,
        Some(Value::String(k)) if k == "ip" => KeyBy::Ip,
        Some(Value::String(k)) if k == "user" => KeyBy::User,
        Some(other) => {
            errors.push(format!("`rateLimit.keyBy`: {other} is not `ip` or `user` (header and cookie keys would let clients choose their bucket)"));
            KeyBy::Ip
        }
    };
    let exclude = regexes(
        s.get("excludePaths"),
        "rateLimit.excludePaths",
        &["^/health$", "^/_/api/health$"],
        errors,
    );
    (errors.len() == before).then_some(RateLimit {
        requests,
        window,
        window_text,
        key_by,
        exclude,
    })
}

fn cors(s: &Map<String, Value>, env: &Env, errors: &mut Vec<String>) -> Option<Cors> {
    let before = errors.len();
    let origin_v = env
        .get_non_blank("GATEWAY_CORS_ORIGIN")
        .map(|v| Value::String(v.to_owned()))
        .or_else(|| s.get("origin").cloned());
    let origin = match origin_v {
        None | Some(Value::Null) => Origins::Any,
        Some(v) => match strings(&v) {
            Some(list) if list.iter().any(|o| o == "*") => Origins::Any,
            Some(list) if !list.is_empty() => {
                for o in &list {
                    if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/')
                    {
                        errors.push(format!("`cors.origin`: `{o}` is not an origin; write scheme and host without a path, such as `https://app.example.com`"));
                    }
                }
                Origins::List(list)
            }
            _ => {
                errors.push(format!(
                    "`cors.origin`: {v} is not `*`, an origin or a list of origins"
                ));
                Origins::Any
            }
        },
    };
    let credentials_v = env
        .get_non_blank("GATEWAY_CORS_CREDENTIALS")
        .map(|v| Value::String(v.to_owned()));
    let credentials = boolean(
        credentials_v.as_ref().or(s.get("credentials")),
        "cors.credentials",
        false,
        errors,
    );
    let list = |key: &str, errors: &mut Vec<String>| -> Option<Vec<String>> {
        match s.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => strings(v).or_else(|| {
                errors.push(format!("`cors.{key}`: {v} is not a list of names"));
                None
            }),
        }
    };
    let methods = list("methods", errors).map_or_else(
        || DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect(),
        |l| l.into_iter().map(|m| m.to_ascii_uppercase()).collect(),
    );
    let allowed_headers = list("allowedHeaders", errors);
    let exposed_headers = list("exposedHeaders", errors).unwrap_or_default();
    let max_age = match s.get("maxAge") {
        None => Some(86_400),
        Some(Value::Null) => None,
        Some(v) => match v.as_u64().or_else(|| {
            v.as_str()
                .and_then(|t| parse_window(&Value::String(t.to_owned())).ok())
                .map(|(d, _)| d.as_secs())
        }) {
            Some(n) => Some(n),
            None => {
                errors.push(format!(
                    "`cors.maxAge`: {v} is not a number of seconds, such as 86400"
                ));
                None
            }
        },
    };
    let preflight = boolean(s.get("preflight"), "cors.preflight", true, errors);
    (errors.len() == before).then_some(Cors {
        origin,
        credentials,
        methods,
        allowed_headers,
        exposed_headers,
        max_age,
        preflight,
    })
}

fn cache(s: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Cache> {
    let before = errors.len();
    let ttl = match s.get("ttl") {
        None | Some(Value::Null) => Duration::from_secs(60),
        Some(v) => parse_window(v).map(|(d, _)| d).unwrap_or_else(|e| {
            errors.push(format!("`cache.ttl`: {e}"));
            Duration::ZERO
        }),
    };
    let max_entries = count(
        s.get("maxEntries"),
        "cache.maxEntries",
        1000,
        1_000_000,
        errors,
    );
    let max_body_bytes = match s.get("maxBodySize") {
        None | Some(Value::Null) => 1 << 20,
        Some(v) => match v.as_u64().or_else(|| v.as_str().and_then(parse_size)) {
            Some(n) if n > 0 && n <= 64 << 20 => n as usize,
            _ => {
                errors.push(format!(
                    "`cache.maxBodySize`: {v} is not a size from 1 byte to 64mb, such as `1mb`"
                ));
                0
            }
        },
    };
    let methods = match s.get("methods").map(strings) {
        None => vec![http::Method::GET],
        Some(Some(list)) => list
            .iter()
            .filter_map(|m| match m.to_ascii_uppercase().as_str() {
                "GET" => Some(http::Method::GET),
                "HEAD" => Some(http::Method::HEAD),
                other => {
                    errors.push(format!("`cache.methods`: `{other}` cannot be cached; only GET and HEAD answers are reusable"));
                    None
                }
            })
            .collect(),
        Some(None) => {
            errors.push("`cache.methods`: not a list of methods, such as [GET]".to_owned());
            Vec::new()
        }
    };
    let exclude = regexes(s.get("excludePaths"), "cache.excludePaths", &[], errors);
    (errors.len() == before).then_some(Cache {
        ttl,
        max_entries,
        max_body_bytes,
        methods,
        exclude,
    })
}

/// `512`, `64kb`, `1mb`, `1.5mb`.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "b" => 1.0,
        "kb" | "k" => 1024.0,
        "mb" | "m" => 1024.0 * 1024.0,
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 0.0).then_some(v as u64)
}

fn shell(options: &Map<String, Value>, env: &Env, errors: &mut Vec<String>) -> Option<Shell> {
    let dir = env
        .get_non_blank("GATEWAY_SHELL_DIR")
        .map(str::to_owned)
        .or_else(|| {
            options
                .get("shellDir")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|d| !d.trim().is_empty())?;
    let excludes = match env.get("GATEWAY_SHELL_EXCLUDES") {
        Some(v) => split_list(v),
        None => match options.get("shellExcludes") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => strings(v).unwrap_or_else(|| {
                errors.push(format!(
                    "`shellExcludes`: {v} is not a comma list or a list of app names"
                ));
                Vec::new()
            }),
        },
    };
    for e in &excludes {
        if !crate::shell::is_basename(e) {
            errors.push(format!(
                "`shellExcludes`: `{e}` is not an app name (letters, digits, `-` and `_` only)"
            ));
        }
    }
    Some(Shell {
        dir: dir.trim().to_owned(),
        env_excludes: excludes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn windows_are_digits_with_an_optional_unit() {
        let secs = |v: Value| parse_window(&v).map(|(d, _)| d.as_secs());
        assert_eq!(secs(json!("30")), Ok(30));
        assert_eq!(secs(json!("30s")), Ok(30));
        assert_eq!(secs(json!("1m")), Ok(60));
        assert_eq!(secs(json!("2h")), Ok(7200));
        assert_eq!(secs(json!("1d")), Ok(86_400));
        assert_eq!(secs(json!(45)), Ok(45));
        for bad in [
            json!("1.5m"),
            json!("5 weeks"),
            json!("m"),
            json!(""),
            json!("0s"),
            json!("-1m"),
            json!("1w"),
            json!(true),
            json!("9999d"),
        ] {
            let err = parse_window(&bad).unwrap_err();
            assert!(err.contains("such as `30s`"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_shipped_defaults_turn_rate_limiting_and_cors_on() {
        let c = parse(
            &opts(
                json!({"rateLimit": {"requests": 1000, "window": "1m"}, "cors": {"origin": "*"}}),
            ),
            &env(&[]),
        )
        .unwrap();
        let rl = c.rate_limit.unwrap();
        assert_eq!(
            (rl.requests, rl.window.as_secs(), rl.key_by),
            (1000, 60, KeyBy::Ip)
        );
        assert!(rl.exclude[0].is_match("/health"));
        let cors = c.cors.unwrap();
        assert_eq!(cors.origin, Origins::Any);
        assert_eq!(cors.methods, DEFAULT_METHODS);
        assert_eq!(cors.max_age, Some(86_400));
        assert!(c.cache.is_none() && c.shell.is_none());
    }

    #[test]
    fn env_vars_override_the_manifest() {
        let e = env(&[
            ("GATEWAY_RATE_LIMIT_REQUESTS", "5"),
            ("GATEWAY_RATE_LIMIT_WINDOW", "10s"),
            (
                "GATEWAY_CORS_ORIGIN",
                "https://a.example, https://b.example",
            ),
            ("GATEWAY_CORS_CREDENTIALS", "true"),
            ("GATEWAY_SHELL_DIR", "/srv/shell"),
            ("GATEWAY_SHELL_EXCLUDES", "admin, docs"),
        ]);
        let c = parse(&opts(json!({"rateLimit": {"requests": 1000}, "cors": {"origin": "*"}, "shellDir": "cpanel"})), &e).unwrap();
        assert_eq!(
            c.rate_limit
                .as_ref()
                .map(|r| (r.requests, r.window.as_secs())),
            Some((5, 10))
        );
        let cors = c.cors.unwrap();
        assert_eq!(
            cors.origin,
            Origins::List(vec!["https://a.example".into(), "https://b.example".into()]),
            "a comma string is a list"
        );
        assert!(cors.credentials);
        let shell = c.shell.unwrap();
        assert_eq!(
            (shell.dir.as_str(), shell.env_excludes),
            ("/srv/shell", vec!["admin".to_owned(), "docs".to_owned()])
        );
    }

    #[test]
    fn every_bad_key_is_named_with_its_fix() {
        let errs = parse(&opts(json!({"rateLimit": {"requests": 0, "window": "5 weeks", "keyBy": "header:x-client", "excludePaths": ["("]}, "cors": {"origin": "example.com/", "credentials": "maybe"}, "cache": {"ttl": "1y", "methods": ["POST"]}, "logSize": -1})), &env(&[])).unwrap_err();
        let all = errs.join("\n");
        for needle in [
            "`rateLimit.requests`",
            "`rateLimit.window`: `5 weeks`",
            "`rateLimit.keyBy`",
            "`rateLimit.excludePaths`: `(`",
            "`cors.origin`: `example.com/`",
            "`cors.credentials`",
            "`cache.ttl`",
            "`cache.methods`: `POST`",
            "`logSize`",
        ] {
            assert!(all.contains(needle), "{needle} missing in:\n{all}");
        }
        let env_err = parse(
            &opts(json!({"rateLimit": {}})),
            &env(&[("GATEWAY_RATE_LIMIT_WINDOW", "soon")]),
        )
        .unwrap_err();
        assert!(
            env_err[0].starts_with("GATEWAY_RATE_LIMIT_WINDOW: `soon`"),
            "{env_err:?}"
        );
    }

    #[test]
    fn sections_turn_off_with_false_or_enabled_false() {
        let c = parse(
            &opts(json!({"rateLimit": false, "cors": {"enabled": false}, "cache": null})),
            &env(&[]),
        )
        .unwrap();
        assert!(c.rate_limit.is_none() && c.cors.is_none() && c.cache.is_none());
        let c = parse(
            &opts(json!({"cache": {"ttl": "5m", "maxBodySize": "64kb"}})),
            &env(&[]),
        )
        .unwrap();
        let cache = c.cache.unwrap();
        assert_eq!(
            (cache.ttl.as_secs(), cache.max_body_bytes, cache.max_entries),
            (300, 65_536, 1000)
        );
    }
}
