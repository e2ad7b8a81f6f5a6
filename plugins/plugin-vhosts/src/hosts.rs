//! Host patterns from the manifest and the matching rules: exact names first, then `*.domain`
//! wildcards in the order written; a bare domain never matches its own wildcard.

use buntime_core::Request;
use serde_json::Value;

/// One `hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The pattern as written, lowercased (`shop.example.com`, `*.example.com`).
    pub pattern: String,
    /// The app, `name[@range]`.
    pub app: String,
    /// Only paths equal to or under this prefix are served.
    pub path_prefix: Option<String>,
}

/// A request's match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The entry.
    pub host: &'a Host,
    /// The subdomain a wildcard captured.
    pub tenant: Option<String>,
}

/// Every entry, exact ones apart from wildcards.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    exact: Vec<Host>,
    /// `(suffix ".domain", entry)`, in manifest order.
    wildcards: Vec<(String, Host)>,
}

impl Hosts {
    /// Reads `hosts: {pattern: {app, pathPrefix?}}`.
    ///
    /// # Errors
    /// Every bad entry, named `hosts.<pattern>.<field>`.
    pub fn from_json(v: Option<&Value>) -> Result<Self, Vec<String>> {
        let map = match v {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(vec![
                    "`hosts`: must be a map of host patterns to `{app, pathPrefix?}`".to_owned(),
                ]);
            }
        };
        let mut out = Self::default();
        let mut errors = Vec::new();
        for (pattern, entry) in map {
            let at = format!("hosts.{pattern}");
            let app = match entry.get("app") {
                Some(Value::String(a)) if !a.trim().is_empty() && !a.contains('/') => {
                    a.trim().to_owned()
                }
                _ => {
                    errors.push(format!("`{at}.app`: required, the app's name (optionally `name@version`), e.g. `{{app: storefront}}`"));
                    continue;
                }
            };
            let path_prefix = match entry.get("pathPrefix") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.starts_with('/') => {
                    Some(p.trim_end_matches('/').to_owned()).filter(|p| !p.is_empty())
                }
                Some(_) => {
                    errors.push(format!(
                        "`{at}.pathPrefix`: must be a path starting with `/`"
                    ));
                    continue;
                }
            };
            let lower = pattern.trim().to_ascii_lowercase();
            let host = Host {
                pattern: lower.clone(),
                app,
                path_prefix,
            };
            if let Some(domain) = lower.strip_prefix("*.") {
                if domain.is_empty() || domain.contains('*') {
                    errors.push(format!(
                        "`{at}`: a wildcard is `*.domain`, such as `*.example.com`"
                    ));
                    continue;
                }
                out.wildcards.push((format!(".{domain}"), host));
            } else if lower.is_empty() || lower.contains('*') {
                errors.push(format!(
                    "`{at}`: a host is a name such as `shop.example.com`, or `*.example.com`"
                ));
            } else {
                out.exact.push(host);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// Returns whether no host is configured.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty()
    }

    /// Returns the entry for `host` (lowercase, no port) and `path`: the exact entry, else the
    /// first wildcard whose domain `host` is a subdomain of; `None` when nothing matches or the
    /// entry's `pathPrefix` does not cover `path`.
    pub fn find(&self, host: &str, path: &str) -> Option<Matched<'_>> {
        let matched = match self.exact.iter().find(|h| h.pattern == host) {
            Some(h) => Matched {
                host: h,
                tenant: None,
            },
            None => self.wildcards.iter().find_map(|(suffix, h)| {
                let tenant = host
                    .strip_suffix(suffix.as_str())
                    .filter(|t| !t.is_empty() && !t.starts_with('.') && !t.ends_with('.'))?;
                Some(Matched {
                    host: h,
                    tenant: Some(tenant.to_owned()),
                })
            })?,
        };
        let covered = matched.host.path_prefix.as_deref().is_none_or(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        covered.then_some(matched)
    }
}

/// Returns the request's host, lowercase and without the port: `Host`, else the URI's authority
/// (HTTP/2). IPv6 literals keep their brackets.
pub fn request_host(req: &Request) -> Option<String> {
    let raw = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))?;
    let raw = raw.trim();
    let host = if raw.starts_with('[') {
        raw.split_once(']').map(|(h, _)| format!("{h}]"))?
    } else {
        raw.split(':').next().unwrap_or_default().to_owned()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hosts(v: Value) -> Hosts {
        Hosts::from_json(Some(&v)).unwrap()
    }

    fn app<'a>(h: &'a Hosts, host: &str) -> Option<(&'a str, Option<String>)> {
        h.find(host, "/").map(|m| (m.host.app.as_str(), m.tenant))
    }

    #[test]
    fn exact_beats_wildcard_and_tenants_may_have_dots() {
        let h = hosts(
            json!({"*.example.com": {"app": "tenant"}, "admin.example.com": {"app": "admin"}}),
        );
        assert_eq!(app(&h, "admin.example.com"), Some(("admin", None)));
        assert_eq!(
            app(&h, "acme.example.com"),
            Some(("tenant", Some("acme".into())))
        );
        assert_eq!(
            app(&h, "eu.acme.example.com"),
            Some(("tenant", Some("eu.acme".into())))
        );
    }

    #[test]
    fn the_bare_domain_and_partial_suffixes_never_match_a_wildcard() {
        let h = hosts(json!({"*.example.com": {"app": "tenant"}}));
        assert_eq!(app(&h, "example.com"), None);
        assert_eq!(app(&h, "badexample.com"), None);
        assert_eq!(app(&h, ".example.com"), None);
        assert_eq!(app(&h, "example.com.evil"), None);
    }

    #[test]
    fn the_first_wildcard_written_wins() {
        let h =
            hosts(json!({"*.b.example.com": {"app": "first"}, "*.example.com": {"app": "second"}}));
        assert_eq!(
            app(&h, "a.b.example.com"),
            Some(("first", Some("a".into())))
        );
        let h =
            hosts(json!({"*.example.com": {"app": "second"}, "*.b.example.com": {"app": "first"}}));
        assert_eq!(
            app(&h, "a.b.example.com"),
            Some(("second", Some("a.b".into())))
        );
    }

    #[test]
    fn localhost_and_ip_hosts_match_exactly() {
        let h = hosts(
            json!({"localhost": {"app": "local"}, "127.0.0.1": {"app": "ip"}, "[::1]": {"app": "v6"}}),
        );
        assert_eq!(app(&h, "localhost"), Some(("local", None)));
        assert_eq!(app(&h, "127.0.0.1"), Some(("ip", None)));
        assert_eq!(app(&h, "[::1]"), Some(("v6", None)));
    }

    #[test]
    fn path_prefix_covers_itself_and_below_only() {
        let h = hosts(json!({"api.example.com": {"app": "api", "pathPrefix": "/v1/"}}));
        assert!(h.find("api.example.com", "/v1").is_some());
        assert!(h.find("api.example.com", "/v1/users").is_some());
        assert!(h.find("api.example.com", "/v10").is_none());
        assert!(h.find("api.example.com", "/").is_none());
    }

    #[test]
    fn the_request_host_drops_port_case_and_trailing_dot() {
        let req = |h: &str| {
            http::Request::builder()
                .uri("/")
                .header("host", h)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(
            request_host(&req("Shop.Example.com:8000")).as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(
            request_host(&req("shop.example.com.")).as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(request_host(&req("[::1]:8000")).as_deref(), Some("[::1]"));
    }

    #[test]
    fn bad_entries_are_named() {
        let errors = Hosts::from_json(Some(
            &json!({"a.com": {}, "*.": {"app": "x"}, "b.com": {"app": "x", "pathPrefix": "v1"}}),
        ))
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("`hosts.a.com.app`"), "{errors:?}");
        assert!(errors[2].contains("`hosts.b.com.pathPrefix`"), "{errors:?}");
        assert!(Hosts::from_json(Some(&json!(["a"]))).is_err());
    }
}
