//! CORS: the preflight answer and the headers added to ordinary responses, built from `cors`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::config::{Cors, Origins};

/// Whether `method` and `headers` make a CORS preflight (`OPTIONS` with
/// `Access-Control-Request-Method`).
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The CORS rules, with the header values computed once.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    config: Cors,
    methods: HeaderValue,
    allowed_headers: Option<HeaderValue>,
    exposed_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

/// Adds `value` to the `Vary` header unless it is listed already.
pub fn add_vary(headers: &mut HeaderMap, value: &'static str) {
    let listed = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            let v = v.trim();
            v == "*" || v.eq_ignore_ascii_case(value)
        });
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static(value));
    }
}

fn joined(list: &[String]) -> Option<HeaderValue> {
    (!list.is_empty())
        .then(|| HeaderValue::from_str(&list.join(", ")).ok())
        .flatten()
}

impl CorsPolicy {
    /// Prepares the header values of `config`.
    pub fn new(config: Cors) -> Self {
        Self {
            methods: joined(&config.methods)
                .unwrap_or_else(|| HeaderValue::from_static("GET, HEAD, PUT, PATCH, POST, DELETE")),
            allowed_headers: config.allowed_headers.as_deref().and_then(joined),
            exposed_headers: joined(&config.exposed_headers),
            max_age: config.max_age.map(HeaderValue::from),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Cors {
        &self.config
    }

    /// Whether preflights are answered here (`cors.preflight`).
    pub fn answers_preflights(&self) -> bool {
        self.config.preflight
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`, and whether it depends on
    /// the origin (then `Vary: Origin` goes with it). `None`: the origin is not allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> (Option<HeaderValue>, bool) {
        match &self.config.origin {
            // `*` cannot carry credentials (browsers refuse it), so the origin is echoed instead.
            Origins::Any if !self.config.credentials => {
                (Some(HeaderValue::from_static("*")), false)
            }
            Origins::Any => (origin.cloned(), true),
            Origins::List(list) => {
                let allowed = origin.filter(|o| {
                    o.to_str()
                        .is_ok_and(|o| list.iter().any(|l| l.eq_ignore_ascii_case(o)))
                });
                (allowed.cloned(), true)
            }
        }
    }

    /// Adds the headers every allowed response carries; returns whether the origin was allowed.
    fn common(&self, headers: &mut HeaderMap, origin: Option<&HeaderValue>) -> bool {
        let (allow, varies) = self.allow_origin(origin);
        if varies {
            add_vary(headers, "Origin");
        }
        let Some(allow) = allow else { return false };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.config.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        true
    }

    /// Answers a preflight: 204 with the allowed origin, methods, headers and max age; for an
    /// origin that is not allowed, 204 without any `Access-Control-Allow-*` (the browser then
    /// refuses the real request).
    pub fn preflight(&self, req_headers: &HeaderMap) -> crate::Response {
        let mut res = crate::Response::new(axum::body::Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        if !self.common(h, req_headers.get(header::ORIGIN)) {
            return res;
        }
        if let Some(v) = &self.exposed_headers {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        match &self.allowed_headers {
            Some(v) => {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
            }
            None => {
                if let Some(asked) = req_headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
                }
                add_vary(h, "Access-Control-Request-Headers");
            }
        }
        if let Some(v) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, v.clone());
        }
        res
    }

    /// Adds CORS headers to an ordinary response for a request from `origin`. A response that
    /// already says `Access-Control-Allow-Origin` (the app does its own CORS) is left alone.
    pub fn apply(&self, headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
        if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            return;
        }
        if self.common(headers, origin)
            && let Some(v) = &self.exposed_headers
        {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
    }
}

/// `X-RateLimit-*` header names.
pub const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// Tokens left.
pub const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// When the bucket is full again (epoch ms).
pub const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_METHODS;

    fn policy(origin: Origins, credentials: bool) -> CorsPolicy {
        CorsPolicy::new(Cors {
            origin,
            credentials,
            methods: DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            allowed_headers: None,
            exposed_headers: vec![],
            max_age: Some(600),
            preflight: true,
        })
    }

    fn req(origin: Option<&str>, extra: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("PUT"),
        );
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        for (k, v) in extra {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn get<'a>(h: &'a HeaderMap, k: &str) -> Option<&'a str> {
        h.get(k).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn wildcard_without_credentials_answers_star_and_echoes_requested_headers() {
        let res = policy(Origins::Any, false).preflight(&req(
            Some("https://a.example"),
            &[("access-control-request-headers", "content-type, x-token")],
        ));
        assert_eq!(res.status(), 204);
        let h = res.headers();
        assert_eq!(get(h, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            get(h, "access-control-allow-methods"),
            Some("GET, HEAD, PUT, PATCH, POST, DELETE")
        );
        assert_eq!(
            get(h, "access-control-allow-headers"),
            Some("content-type, x-token")
        );
        assert_eq!(get(h, "access-control-max-age"), Some("600"));
        assert_eq!(
            get(h, "vary"),
            Some("Access-Control-Request-Headers"),
            "no Vary: Origin for `*`"
        );
        assert_eq!(get(h, "access-control-allow-credentials"), None);
    }

    #[test]
    fn credentials_echo_the_origin_with_vary() {
        let res = policy(Origins::Any, true).preflight(&req(Some("https://a.example"), &[]));
        let h = res.headers();
        assert_eq!(
            get(h, "access-control-allow-origin"),
            Some("https://a.example")
        );
        assert_eq!(get(h, "access-control-allow-credentials"), Some("true"));
        let vary: Vec<_> = h
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(vary, ["Origin", "Access-Control-Request-Headers"]);
    }

    #[test]
    fn a_listed_origin_is_echoed_and_another_gets_nothing() {
        let p = policy(Origins::List(vec!["https://a.example".into()]), false);
        let ok = p.preflight(&req(Some("https://a.example"), &[]));
        assert_eq!(
            get(ok.headers(), "access-control-allow-origin"),
            Some("https://a.example")
        );
        let no = p.preflight(&req(Some("https://evil.example"), &[]));
        assert_eq!(no.status(), 204);
        assert!(
            no.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-")),
            "{:?}",
            no.headers()
        );
        assert_eq!(get(no.headers(), "vary"), Some("Origin"));
    }

    #[test]
    fn configured_headers_and_exposed_headers_are_sent_as_written() {
        let mut p = policy(Origins::Any, false).config().clone();
        p.allowed_headers = Some(vec!["content-type".into()]);
        p.exposed_headers = vec!["x-request-id".into(), "x-ratelimit-remaining".into()];
        let p = CorsPolicy::new(p);
        let res = p.preflight(&req(
            Some("https://a.example"),
            &[("access-control-request-headers", "x-other")],
        ));
        assert_eq!(
            get(res.headers(), "access-control-allow-headers"),
            Some("content-type")
        );
        assert_eq!(
            get(res.headers(), "access-control-expose-headers"),
            Some("x-request-id, x-ratelimit-remaining")
        );
        assert_eq!(get(res.headers(), "vary"), None);
        let mut h = HeaderMap::new();
        p.apply(&mut h, None);
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            get(&h, "access-control-expose-headers"),
            Some("x-request-id, x-ratelimit-remaining")
        );
    }

    #[test]
    fn ordinary_responses_get_the_same_origin_rule_and_keep_an_apps_own_cors() {
        let p = policy(Origins::List(vec!["https://a.example".into()]), true);
        let mut h = HeaderMap::new();
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        p.apply(&mut h, Some(&HeaderValue::from_static("https://a.example")));
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://a.example")
        );
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(h.get_all("vary").iter().count(), 2);
        let mut own = HeaderMap::new();
        own.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("https://b.example"),
        );
        p.apply(
            &mut own,
            Some(&HeaderValue::from_static("https://a.example")),
        );
        assert_eq!(
            get(&own, "access-control-allow-origin"),
            Some("https://b.example")
        );
    }

    #[test]
    fn only_options_with_a_requested_method_is_a_preflight() {
        assert!(is_preflight(&Method::OPTIONS, &req(None, &[])));
        assert!(!is_preflight(&Method::OPTIONS, &HeaderMap::new()));
        assert!(!is_preflight(&Method::GET, &req(None, &[])));
    }
}
