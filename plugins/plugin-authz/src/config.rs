//! The plugin's manifest keys, validated at load with errors that name the key.

use std::path::PathBuf;

use jiff::tz::TimeZone;
use regex::Regex;
use serde_json::{Map, Value};

use crate::matcher::time_zone_named;
use crate::pdp::Algorithm;
use crate::policy::{Effect, Policy, list_from_json, type_name};

/// Where policies are kept besides memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// Memory only: policies last until the plugin stops (seeds come back at start).
    Memory,
    /// A JSON file `{policies: [...]}`, rewritten (atomically) on every change.
    File(PathBuf),
    /// The `authz_policy` table of the database plugin's root database (adapter type, or default).
    Database(Option<String>),
}

/// `policySeed`.
#[derive(Debug, Clone)]
pub struct Seed {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `onlyIfEmpty` (default true): seed only a store without policies.
    pub only_if_empty: bool,
    /// `environments` (default `["*"]`), matched against `NODE_ENV` (default `development`).
    pub environments: Vec<String>,
    /// `policies`.
    pub policies: Vec<Policy>,
    /// `file`: more seed policies, `{policies: [...]}` or a bare list.
    pub file: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `combiningAlgorithm`.
    pub algorithm: Algorithm,
    /// `defaultEffect`.
    pub default_effect: Effect,
    /// `store` and `path`.
    pub store: StoreKind,
    /// `excludePaths`: unanchored regexes of paths never evaluated.
    pub exclude: Vec<Regex>,
    /// `policies` (deprecated inline policies, upserted at every start).
    pub inline: Vec<Policy>,
    /// `policySeed`.
    pub seed: Seed,
    /// `timeZone` of time conditions without their own (default `UTC`).
    pub time_zone: TimeZone,
    /// The zone's name, for messages.
    pub time_zone_name: String,
}

/// Reads the plugin's options; `base_dir` resolves relative `path` and `policySeed.file`.
///
/// # Errors
/// Every problem, each naming its key.
pub fn parse(cfg: &Map<String, Value>, base_dir: &std::path::Path) -> Result<Config, Vec<String>> {
    let mut errors = Vec::new();
    let string = |key: &str, errors: &mut Vec<String>| -> Option<String> {
        match cfg.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                errors.push(format!(
                    "`{key}` must be a string, found {}",
                    type_name(other)
                ));
                None
            }
        }
    };
    let algorithm = match string("combiningAlgorithm", &mut errors) {
        None => Algorithm::DenyOverrides,
        Some(s) => Algorithm::parse(&s).unwrap_or_else(|| {
            errors.push(format!(
                "`combiningAlgorithm`: `{s}` is not one of {}",
                Algorithm::NAMES
            ));
            Algorithm::DenyOverrides
        }),
    };
    let default_effect = match string("defaultEffect", &mut errors).as_deref() {
        None | Some("deny") => Effect::Deny,
        Some("permit") => Effect::Permit,
        Some(other) => {
            errors.push(format!(
                "`defaultEffect`: `{other}` is not `permit` or `deny`"
            ));
            Effect::Deny
        }
    };
    let path = string("path", &mut errors)
        .filter(|p| !p.trim().is_empty())
        .map(|p| base_dir.join(p));
    let store = match (string("store", &mut errors).as_deref(), path) {
        (Some("database"), _) => StoreKind::Database(string("database", &mut errors)),
        // The original persisted iff `path` was set, whatever `store` said: keep that.
        (None | Some("memory" | "file"), Some(p)) => StoreKind::File(p),
        (None | Some("memory"), None) => StoreKind::Memory,
        (Some("file"), None) => {
            errors
                .push("`store: file` needs `path` (the JSON file to keep policies in)".to_owned());
            StoreKind::Memory
        }
        (Some(other), _) => {
            errors.push(format!(
                "`store`: `{other}` is not `memory`, `file` or `database`"
            ));
            StoreKind::Memory
        }
    };
    let exclude = match cfg.get("excludePaths") {
        None | Some(Value::Null) => default_excludes(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v.as_str().map(Regex::new) {
                Some(Ok(re)) => Some(re),
                Some(Err(e)) => {
                    errors.push(format!("`excludePaths[{i}]` is not a valid regex: {e}"));
                    None
                }
                None => {
                    errors.push(format!(
                        "`excludePaths[{i}]` must be a string (a regex), found {}",
                        type_name(v)
                    ));
                    None
                }
            })
            .collect(),
        Some(other) => {
            errors.push(format!(
                "`excludePaths` must be a list of regexes, found {}",
                type_name(other)
            ));
            Vec::new()
        }
    };
    let inline = match cfg.get("policies") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => list_from_json(Value::Array(
            v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]),
        ))
        .unwrap_or_else(|e| {
            errors.push(format!("`{}`: {}", e.field, e.message));
            Vec::new()
        }),
    };
    let seed = parse_seed(cfg.get("policySeed"), base_dir, &mut errors);
    let time_zone_name = string("timeZone", &mut errors).unwrap_or_else(|| "UTC".to_owned());
    let time_zone = time_zone_named(&time_zone_name).unwrap_or_else(|m| {
        errors.push(format!("`timeZone`: {m}"));
        TimeZone::UTC
    });
    if errors.is_empty() {
        Ok(Config {
            algorithm,
            default_effect,
            store,
            exclude,
            inline,
            seed,
            time_zone,
            time_zone_name,
        })
    } else {
        Err(errors)
    }
}

fn parse_seed(v: Option<&Value>, base_dir: &std::path::Path, errors: &mut Vec<String>) -> Seed {
    let mut seed = Seed {
        enabled: true,
        only_if_empty: true,
        environments: vec!["*".into()],
        policies: Vec::new(),
        file: None,
    };
    let map = match v {
        None | Some(Value::Null) => return seed,
        Some(Value::Object(m)) => m,
        Some(other) => {
            errors.push(format!(
                "`policySeed` must be a mapping, found {}",
                type_name(other)
            ));
            return seed;
        }
    };
    let flag = |key: &str, default: bool, errors: &mut Vec<String>| match map.get(key) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            errors.push(format!(
                "`policySeed.{key}` must be true or false, found {}",
                type_name(other)
            ));
            default
        }
    };
    seed.enabled = flag("enabled", true, errors);
    seed.only_if_empty = flag("onlyIfEmpty", true, errors);
    match map.get("environments") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            seed.environments = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
        }
        Some(_) => errors.push(
            "`policySeed.environments` must be a list of environment names (or `*`)".to_owned(),
        ),
    }
    match map.get("policies") {
        None | Some(Value::Null) => {}
        Some(v) => match list_from_json(v.clone()) {
            Ok(p) => seed.policies = p,
            Err(e) => errors.push(format!("`policySeed.{}`: {}", e.field, e.message)),
        },
    }
    match map.get("file") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) => seed.file = Some(base_dir.join(f)),
        Some(other) => errors.push(format!(
            "`policySeed.file` must be a path, found {}",
            type_name(other)
        )),
    }
    seed
}

/// The shipped `excludePaths`: static assets, `/health`, `/public/…`, anchored (the original's
/// unanchored `/health` let `/app/health-records` skip authorization).
fn default_excludes() -> Vec<Regex> {
    [
        r".*\.(js|css|woff2?|png|svg|ico|json)$",
        "^/health$",
        "^/public/",
    ]
    .iter()
    .filter_map(|r| Regex::new(r).ok())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<Config, Vec<String>> {
        parse(v.as_object().unwrap(), std::path::Path::new("/srv"))
    }

    #[test]
    fn defaults_and_the_original_persistence_rule() {
        let c = cfg(json!({})).unwrap();
        assert_eq!(
            (c.algorithm, c.default_effect, c.store.clone()),
            (Algorithm::DenyOverrides, Effect::Deny, StoreKind::Memory)
        );
        assert_eq!(c.exclude.len(), 3);
        assert_eq!(
            cfg(json!({"store": "memory", "path": "p.json"}))
                .unwrap()
                .store,
            StoreKind::File("/srv/p.json".into())
        );
        assert_eq!(
            cfg(json!({"store": "database", "database": "sqlite"}))
                .unwrap()
                .store,
            StoreKind::Database(Some("sqlite".into()))
        );
        assert_eq!(
            cfg(json!({"combiningAlgorithm": "permit-unless-deny"}))
                .unwrap()
                .algorithm,
            Algorithm::PermitUnlessDeny
        );
    }

    #[test]
    fn every_bad_key_is_named() {
        let errors = cfg(json!({
            "combiningAlgorithm": "majority", "defaultEffect": "maybe", "store": "file", "excludePaths": ["("],
            "timeZone": "Nowhere/City", "policySeed": {"enabled": "yes", "policies": [{"id": "x"}]}
        }))
        .unwrap_err();
        let text = errors.join("\n");
        for needle in [
            "`combiningAlgorithm`: `majority`",
            "`defaultEffect`",
            "`store: file` needs `path`",
            "`excludePaths[0]`",
            "`timeZone`",
            "`policySeed.enabled`",
            "`policySeed.policies[0].effect`",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
