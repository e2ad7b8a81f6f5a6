//! `publicRoutes`: glob patterns (array or per-method map) compiled once, matched per request.

use std::collections::HashMap;

use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

/// Answers whether a request needs no sign-in, for requests a plugin serves on behalf of others
/// (the proxy's rules marked `public`). Authn asks it before gating a request (spec S-10).
pub trait PublicRouteOracle: Send + Sync + 'static {
    /// `true` when `method path` (the path as the client sent it) may pass without identity.
    fn is_public(&self, method: &http::Method, path: &str) -> bool;
}

/// The typed service a plugin provides to take part in authn's public-route check:
/// `services.get::<PublicRouteService>("@buntime/plugin-proxy")`.
#[derive(Clone)]
pub struct PublicRouteService(pub Arc<dyn PublicRouteOracle>);

impl std::fmt::Debug for PublicRouteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicRouteService")
    }
}

const METHOD_KEYS: &[&str] = &["ALL", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Compiled public-route patterns for one plugin or app.
#[derive(Debug, Clone, Default)]
pub struct PublicRoutes {
    /// Patterns for every method.
    all: Vec<String>,
    /// Patterns for one method (already merged with `ALL`).
    by_method: HashMap<String, Regex>,
    /// Compiled `all`.
    any: Option<Regex>,
    /// The patterns as written, for listings.
    source: Value,
}

impl PublicRoutes {
    /// Compiles `publicRoutes` as a manifest writes it: a list of globs for every method, or a map
    /// `{ALL?, GET?, POST?, …}` of lists (a method gets `ALL ∪ METHOD`).
    ///
    /// # Errors
    /// Returns a one-line description of what is wrong.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(Self::default()),
            Value::Array(_) => {
                let all = strings(v, "publicRoutes")?;
                let any = compile(&all)?;
                Ok(Self { all, any, by_method: HashMap::new(), source: v.clone() })
            }
            Value::Object(map) => {
                let mut all = Vec::new();
                let mut lists = HashMap::new();
                for (k, list) in map {
                    let upper = k.to_ascii_uppercase();
                    if !METHOD_KEYS.contains(&upper.as_str()) {
                        return Err(format!("unknown method `{k}` (expected one of {})", METHOD_KEYS.join(", ")));
                    }
                    let items = strings(list, &format!("publicRoutes.{k}"))?;
                    if upper == "ALL" {
                        all.extend(items);
                    } else {
                        lists.entry(upper).or_insert_with(Vec::new).extend(items);
                    }
                }
                let mut by_method = HashMap::new();
                for (method, mut items) in lists {
                    for a in &all {
                        if !items.contains(a) {
                            items.push(a.clone());
                        }
                    }
                    if let Some(re) = compile(&items)? {
                        by_method.insert(method, re);
                    }
                }
                let any = compile(&all)?;
                Ok(Self { all, any, by_method, source: v.clone() })
            }
            _ => Err("must be a list of globs or a map of methods to lists".to_owned()),
        }
    }

    /// Returns whether a request with `method` to `path` (relative to where these routes apply) is public.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(re) = self.by_method.get(method) {
            return re.is_match(path);
        }
        self.any.as_ref().is_some_and(|re| re.is_match(path))
    }

    /// Returns whether any pattern is set.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.by_method.is_empty()
    }

    /// Returns the patterns as written in the manifest.
    pub fn source(&self) -> &Value {
        &self.source
    }
}

fn strings(v: &Value, at: &str) -> Result<Vec<String>, String> {
    let Value::Array(items) = v else {
        return Err(format!("`{at}` must be a list of globs"));
    };
    items
        .iter()
        .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| format!("`{at}` must contain only strings")))
        .collect()
}

fn compile(patterns: &[String]) -> Result<Option<Regex>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let alternatives: Vec<String> = patterns.iter().map(|p| format!("^(?:{})$", glob_to_regex(p))).collect();
    Regex::new(&alternatives.join("|")).map(Some).map_err(|e| format!("invalid pattern: {e}"))
}

/// Converts one glob to a regex body (spec §6.5): `(`-prefixed patterns are raw regexes, `**`
/// crosses segments, `*` stays within one, `?` is any one character.
pub fn glob_to_regex(glob: &str) -> String {
    if glob.starts_with('(') {
        return glob.to_owned();
    }
    let mut out = String::with_capacity(glob.len() * 2);
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push('.'),
            '.' | '+' | '^' | '$' | '{' | '}' | '(' | ')' | '|' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_follow_the_spec() {
        let r = PublicRoutes::from_json(&json!(["/api/**", "/feed/*", "/a.b", "/x?"])).unwrap();
        assert!(r.matches("GET", "/api/"));
        assert!(r.matches("GET", "/api/a/b"));
        assert!(!r.matches("GET", "/api"));
        assert!(r.matches("POST", "/feed/1"));
        assert!(!r.matches("POST", "/feed/1/2"));
        assert!(r.matches("GET", "/a.b"));
        assert!(!r.matches("GET", "/aXb"));
        assert!(r.matches("GET", "/xy"));
    }

    #[test]
    fn per_method_maps_merge_all() {
        let r = PublicRoutes::from_json(&json!({"ALL": ["/health"], "GET": ["/feed"]})).unwrap();
        assert!(r.matches("GET", "/feed"));
        assert!(r.matches("GET", "/health"));
        assert!(!r.matches("POST", "/feed"));
        assert!(r.matches("POST", "/health"));
    }

    #[test]
    fn raw_regexes_pass_through() {
        let r = PublicRoutes::from_json(&json!(["(/v[0-9]+/open)"])).unwrap();
        assert!(r.matches("GET", "/v2/open"));
        assert!(!r.matches("GET", "/v2/closed"));
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(PublicRoutes::from_json(&json!("x")).is_err());
        assert!(PublicRoutes::from_json(&json!([1])).is_err());
        assert!(PublicRoutes::from_json(&json!({"FETCH": ["/a"]})).is_err());
    }
}
