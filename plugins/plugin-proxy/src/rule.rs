//! One proxy rule: its JSON shape (manifest and API alike), validation, and the compiled form that
//! matches a path and builds the upstream URL.

use std::sync::Arc;

use buntime_core::public_routes::PublicRoutes;
use http::{HeaderName, HeaderValue};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A rule as the manifest and the API write it, and as `GET /api/rules` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// `static-<index>` for manifest rules, a UUID for dynamic ones.
    #[serde(default)]
    pub id: String,
    /// A label for people.
    #[serde(default)]
    pub name: String,
    /// Disabled rules never match.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Position among the dynamic rules (static rules always come first, in manifest order).
    #[serde(default)]
    pub order: i64,
    /// A regex matched against the request path (no query).
    pub pattern: String,
    /// The upstream origin (`http(s)://host[:port]`, optionally with a path prefix).
    pub target: String,
    /// The upstream path, with `$1`…`$n` replaced by the pattern's groups; absent keeps the path.
    #[serde(default)]
    pub rewrite: Option<String>,
    /// Sends the target's host as `Host` (and as `Origin`, when the client sent one).
    #[serde(default)]
    pub change_origin: bool,
    /// Verifies the TLS certificate of an `https`/`wss` target (on unless set to `false`).
    #[serde(default = "yes")]
    pub secure: bool,
    /// Headers set on the upstream request.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// Relays WebSocket upgrades (on unless set to `false`).
    #[serde(default = "yes")]
    pub ws: bool,
    /// Injects `<base href="{base}/">` into proxied HTML.
    #[serde(default)]
    pub base: Option<String>,
    /// Rewrites root-relative `src="/…"` and `href="/…"` in proxied HTML to `./…`.
    #[serde(default)]
    pub relative_paths: bool,
    /// Paths (globs, or a per-method map of them) that need no sign-in.
    #[serde(default)]
    pub public_routes: Value,
    /// Set for manifest rules, which the API cannot change.
    #[serde(default)]
    pub readonly: bool,
}

fn yes() -> bool {
    true
}

/// Why a rule is refused; `field` names the key at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The key at fault (`pattern`, `headers.x-a`, …).
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        field: field.into(),
        message: message.into(),
    }
}

impl Rule {
    /// Reads a rule from JSON, naming the field of the first type error.
    ///
    /// # Errors
    /// A missing `pattern`/`target` or a wrongly typed field.
    pub fn from_json(v: &Value) -> Result<Self, RuleError> {
        let Value::Object(map) = v else {
            return Err(err("rule", "must be an object with `pattern` and `target`"));
        };
        for required in ["pattern", "target"] {
            if map
                .get(required)
                .is_none_or(|v| v.as_str().is_some_and(str::is_empty))
            {
                return Err(err(required, "is required"));
            }
        }
        serde_path_to_error::deserialize::<_, Rule>(v).map_err(|e| {
            let path = e.path().to_string();
            err(
                if path == "." { "rule".to_owned() } else { path },
                e.inner().to_string(),
            )
        })
    }

    /// Returns the rule as the API lists it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A validated rule, ready to match requests.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The rule as written (and listed).
    pub rule: Rule,
    /// `pattern`, compiled.
    pub regex: Regex,
    /// `target`, parsed.
    pub target: Target,
    /// `headers`, checked.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `publicRoutes`, compiled (`None` when empty).
    pub public: Option<Arc<PublicRoutes>>,
}

/// Where a rule sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` (or `wss`) targets use TLS.
    pub tls: bool,
    /// `host[:port]`, as the `Host` header says it.
    pub authority: String,
    /// The host alone (for TLS server names).
    pub host: String,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// A path prefix put before the request path, without a trailing `/` (often empty).
    pub prefix: String,
}

impl Target {
    /// Parses `http(s)://` or `ws(s)://` origins, with an optional path prefix.
    ///
    /// # Errors
    /// Anything else, in words that say what a target looks like.
    pub fn parse(text: &str) -> Result<Self, String> {
        const SHAPE: &str = "must be an origin URL such as `http://127.0.0.1:3000` or `https://api.example.com/prefix` (no query or fragment)";
        let url = url::Url::parse(text).map_err(|e| format!("{SHAPE}: {e}"))?;
        let tls = match url.scheme() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            other => {
                return Err(format!(
                    "{SHAPE}: scheme `{other}` is not http, https, ws or wss"
                ));
            }
        };
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(format!("{SHAPE}: no host"));
        };
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(SHAPE.to_owned());
        }
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        // `url` keeps IPv6 hosts in brackets; the TCP connection needs them without.
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self {
            tls,
            authority,
            host: bare,
            port,
            prefix: url.path().trim_end_matches('/').to_owned(),
        })
    }

    /// Returns `http(s)://authority`.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }
}

impl Compiled {
    /// Validates `rule` and compiles it.
    ///
    /// # Errors
    /// The first problem, naming its field (`pattern` for a bad regex).
    pub fn new(rule: Rule) -> Result<Self, RuleError> {
        let regex = Regex::new(&rule.pattern).map_err(|e| {
            err(
                "pattern",
                format!("Invalid regex pattern: {}", one_line(&e.to_string())),
            )
        })?;
        let target = Target::parse(&rule.target).map_err(|m| err("target", m))?;
        if let Some(rewrite) = &rule.rewrite
            && (rewrite.contains("://") || rewrite.contains('#'))
        {
            return Err(err(
                "rewrite",
                "must be a path such as `/v1/$1` (the origin comes from `target`)",
            ));
        }
        if let Some(base) = &rule.base
            && (!base.starts_with('/') || base.contains(['"', '<', '>', '\'']))
        {
            return Err(err(
                "base",
                "must be a path starting with `/`, such as `/app`",
            ));
        }
        let mut headers = Vec::with_capacity(rule.headers.len());
        for (name, value) in &rule.headers {
            let field = format!("headers.{name}");
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| err(&field, "is not a valid header name"))?;
            let Some(text) = value.as_str() else {
                return Err(err(&field, "must be a string"));
            };
            let value = HeaderValue::from_str(text).map_err(|_| {
                err(
                    &field,
                    "is not a valid header value (no control characters)",
                )
            })?;
            headers.push((header, value));
        }
        let public =
            PublicRoutes::from_json(&rule.public_routes).map_err(|m| err("publicRoutes", m))?;
        let public = (!public.is_empty()).then(|| Arc::new(public));
        Ok(Self {
            rule,
            regex,
            target,
            headers,
            public,
        })
    }

    /// Returns the upstream path and query for `path` and `query` when this rule matches `path`.
    pub fn upstream_path(&self, path: &str, query: Option<&str>) -> Option<String> {
        let caps = self.regex.captures(path)?;
        let mut out = self.target.prefix.clone();
        match &self.rule.rewrite {
            Some(template) => {
                let rewritten = substitute(template, &caps);
                if !rewritten.starts_with('/') {
                    out.push('/');
                }
                out.push_str(&rewritten);
            }
            None => out.push_str(path),
        }
        if out.is_empty() {
            out.push('/');
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(q);
        }
        Some(out)
    }
}

impl Compiled {
    /// Maps an upstream's `Location` back to the path a client asks this runtime for, so a
    /// redirect lands behind the rule again instead of on the upstream's own address.
    ///
    /// Only what can be read backwards is mapped: a URL on the target's origin (or on
    /// `client_host`, the `Host` an upstream without `changeOrigin` saw) or a path-absolute one,
    /// under the target's path prefix; and, for a rule with a `rewrite`, only a rewrite of the form
    /// `<literal>$1` with a pattern of the form `^<literal>(.*)` (`^/api/(.*)$` → `/$1`). Anything
    /// else (another site, a rewrite that cannot be inverted) is `None`: left as the upstream sent it.
    pub fn client_location(&self, location: &str, client_host: Option<&str>) -> Option<String> {
        let upstream_path = if location.starts_with('/') && !location.starts_with("//") {
            location.to_owned()
        } else {
            let url = url::Url::parse(location).ok()?;
            let scheme = if self.target.tls { "https" } else { "http" };
            let on_target = url.scheme() == scheme && url.host_str() == Some(self.target.host.as_str()) && url.port_or_known_default() == Some(self.target.port);
            let authority = match url.port() {
                Some(p) => format!("{}:{p}", url.host_str()?),
                None => url.host_str()?.to_owned(),
            };
            let on_client = client_host.is_some_and(|h| h.eq_ignore_ascii_case(&authority));
            if !(on_target || on_client) {
                return None;
            }
            let mut rest = url.path().to_owned();
            if let Some(q) = url.query() {
                rest.push('?');
                rest.push_str(q);
            }
            if let Some(f) = url.fragment() {
                rest.push('#');
                rest.push_str(f);
            }
            rest
        };
        let prefix = self.target.prefix.as_str();
        let under_prefix = upstream_path.strip_prefix(prefix)?;
        if !(prefix.is_empty() || under_prefix.is_empty() || under_prefix.starts_with(['/', '?', '#'])) {
            return None;
        }
        let under_prefix = if under_prefix.starts_with('/') { under_prefix.to_owned() } else { format!("/{under_prefix}") };
        let Some(template) = &self.rule.rewrite else {
            return Some(under_prefix);
        };
        let literal = |s: &str| !s.contains(['\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '|', '^', '$']);
        let upstream_start = template.strip_suffix("$1").filter(|p| literal(p))?;
        let pattern = self.rule.pattern.strip_prefix('^')?;
        let client_start = pattern.strip_suffix("(.*)$").or_else(|| pattern.strip_suffix("(.*)")).filter(|q| literal(q))?;
        let tail = under_prefix.strip_prefix(upstream_start).or_else(|| under_prefix.strip_prefix(upstream_start.trim_start_matches('/')))?;
        Some(format!("{client_start}{tail}"))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Replaces `$1`…`$n` in `template` by the groups of `caps`, the way JavaScript's `replace`
/// reads them: `$12` is group 12 when there is one, else group 1 then `2`; a group that did not
/// take part is empty; `$$` is a `$`; any other `$` stays.
pub fn substitute(template: &str, caps: &regex::Captures<'_>) -> String {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len() + 16);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            let next = bytes[i + 1];
            if next == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if next.is_ascii_digit() {
                let one = usize::from(next - b'0');
                let two = bytes
                    .get(i + 2)
                    .filter(|b| b.is_ascii_digit())
                    .map(|b| one * 10 + usize::from(b - b'0'));
                let (group, used) = match two {
                    Some(n) if n > 0 && n < caps.len() => (n, 3),
                    _ => (one, 2),
                };
                if group > 0 && group < caps.len() {
                    out.push_str(caps.get(group).map_or("", |m| m.as_str()));
                    i += used;
                    continue;
                }
            }
        }
        // Copy one UTF-8 character.
        let ch = template[i..].chars().next().unwrap_or('$');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled(v: Value) -> Compiled {
        Compiled::new(Rule::from_json(&v).unwrap()).unwrap()
    }

    #[test]
    fn redirects_are_mapped_back_behind_the_rule_when_it_can_be_read_backwards() {
        let r = compiled(json!({"pattern": "^/api/(.*)$", "target": "http://up:3000/v1", "rewrite": "/$1"}));
        assert_eq!(r.client_location("http://up:3000/v1/login?next=%2Fx", None).as_deref(), Some("/api/login?next=%2Fx"));
        assert_eq!(r.client_location("/v1/a#top", None).as_deref(), Some("/api/a#top"));
        assert_eq!(r.client_location("http://localhost:8000/v1/b", Some("localhost:8000")).as_deref(), Some("/api/b"), "the client's own host");
        assert_eq!(r.client_location("https://up:3000/v1/login", None), None, "another scheme is another origin");
        assert_eq!(r.client_location("http://elsewhere/v1/x", None), None);
        assert_eq!(r.client_location("/v10/x", None), None, "not under the prefix");
        let plain = compiled(json!({"pattern": "^/app", "target": "http://up"}));
        assert_eq!(plain.client_location("http://up/app/home", None).as_deref(), Some("/app/home"));
        let odd = compiled(json!({"pattern": "^/(\\w+)/x$", "target": "http://up", "rewrite": "/y/$1"}));
        assert_eq!(odd.client_location("http://up/y/z", None), None, "a rewrite that cannot be inverted is left alone");
    }

    #[test]
    fn defaults_follow_the_original() {
        let r = Rule::from_json(&json!({"pattern": "^/a", "target": "http://x"})).unwrap();
        assert!(r.enabled && r.ws && r.secure);
        assert!(!r.change_origin && !r.relative_paths && !r.readonly);
        assert_eq!((r.rewrite, r.base), (None, None));
    }

    #[test]
    fn captures_fill_the_rewrite_and_a_leading_slash_is_enforced() {
        let r = compiled(
            json!({"pattern": "^/api/(\\w+)/(.*)$", "target": "http://x", "rewrite": "v2/$2/$1"}),
        );
        assert_eq!(
            r.upstream_path("/api/users/7/posts", Some("a=1"))
                .as_deref(),
            Some("/v2/7/posts/users?a=1")
        );
        assert_eq!(r.upstream_path("/other", None), None);
    }

    #[test]
    fn no_rewrite_keeps_the_path_and_a_target_prefix_goes_first() {
        let r = compiled(json!({"pattern": "^/docs", "target": "https://h.example/base/"}));
        assert_eq!(
            r.upstream_path("/docs/x", Some("")).as_deref(),
            Some("/base/docs/x")
        );
        assert_eq!(
            r.target,
            Target {
                tls: true,
                authority: "h.example".into(),
                host: "h.example".into(),
                port: 443,
                prefix: "/base".into()
            }
        );
    }

    #[test]
    fn substitution_reads_dollars_like_javascript() {
        let re = Regex::new("^/(a)(b)?(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)$").unwrap();
        let caps = re.captures("/acdefghijkl").unwrap();
        assert_eq!(
            substitute("$1-$2-$12-$13-$$-$x-$0", &caps),
            "a--l-a3-$-$x-$0"
        );
        let re = Regex::new("^/(x)$").unwrap();
        assert_eq!(substitute("/$10/é", &re.captures("/x").unwrap()), "/x0/é");
    }

    #[test]
    fn bad_rules_name_their_field() {
        let bad = |v: Value| Rule::from_json(&v).and_then(Compiled::new).unwrap_err();
        assert_eq!(bad(json!({"target": "http://x"})).field, "pattern");
        assert_eq!(bad(json!({"pattern": "^/a", "target": ""})).field, "target");
        let e = bad(json!({"pattern": "(", "target": "http://x"}));
        assert!(
            e.field == "pattern" && e.message.starts_with("Invalid regex pattern"),
            "{e}"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "ftp://x"})).field,
            "target"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "http://x?q=1"})).field,
            "target"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "http://x", "headers": {"x-a": 1}})).field,
            "headers.x-a"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "http://x", "headers": {"bad name": "1"}}))
                .field,
            "headers.bad name"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "http://x", "enabled": "yes"})).field,
            "enabled"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "http://x", "publicRoutes": "x"})).field,
            "publicRoutes"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "http://x", "rewrite": "http://y/a"})).field,
            "rewrite"
        );
        assert_eq!(
            bad(json!({"pattern": "^/a", "target": "http://x", "base": "app"})).field,
            "base"
        );
    }

    #[test]
    fn ipv6_targets_connect_without_brackets() {
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 8080, "[::1]:8080")
        );
    }
}
