//! Forwarding one HTTP request to a rule's upstream and shaping the answer: hop-by-hop headers
//! stripped both ways, `X-Forwarded-*` and `Via` set, bodies streamed, HTML rewritten on the fly,
//! and failures answered 502 / 504 JSON.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use buntime_core::hop::strip_hop_by_hop;
use buntime_core::{ClientAddr, Request, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};
use serde_json::json;

use crate::client::Upstreams;
use crate::html::{self, Rewrite};
use crate::rule::Compiled;

/// The header that marks requests this runtime already proxied (loop detection).
pub const VIA: HeaderName = header::VIA;

/// What a forward needs besides the request and the rule.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The `Via` entry this runtime adds (`1.1 buntime-<token>`), unique per process.
    pub via: HeaderValue,
    /// Whether `X-Forwarded-For` from the client is kept (`RUNTIME_TRUST_PROXY`).
    pub trust_proxy: bool,
    /// How long the upstream may take to send its response headers.
    pub timeout: Duration,
}

impl Hop {
    /// Returns whether `headers` show this runtime already proxied the request.
    pub fn is_loop(&self, headers: &HeaderMap) -> bool {
        let ours = self.via.to_str().unwrap_or_default();
        headers
            .get_all(VIA)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|entry| entry.trim() == ours)
    }
}

/// A JSON error answer `{"error": message}`.
pub fn error(status: StatusCode, message: &str) -> Response {
    let mut res = Response::new(Body::from(json!({ "error": message }).to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Returns `err` and its causes on one line (`client error (Connect): tcp connect error: …`).
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        next = e.source();
    }
    text
}

/// Sets the request headers the upstream sees: hop-by-hop ones removed, `Host` / `Origin` per
/// `changeOrigin`, `X-Forwarded-*`, `Via`, then the rule's own headers.
pub fn upstream_headers(headers: &mut HeaderMap, rule: &Compiled, peer: Option<IpAddr>, hop: &Hop) {
    let client_host = headers.get(header::HOST).cloned();
    strip_hop_by_hop(headers);
    if rule.rule.change_origin {
        if let Ok(v) = HeaderValue::from_str(&rule.target.authority) {
            headers.insert(header::HOST, v);
        }
        if headers.contains_key(header::ORIGIN)
            && let Ok(v) = HeaderValue::from_str(&rule.target.origin())
        {
            headers.insert(header::ORIGIN, v);
        }
    }
    // `X-Forwarded-For` lists proxies' peers; one a client made up is kept only behind a trusted
    // proxy, otherwise the upstream would take the client's word for its address.
    let prior = hop
        .trust_proxy
        .then(|| {
            headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .flatten();
    if let Some(ip) = peer {
        let value = match prior {
            Some(p) if !p.trim().is_empty() => format!("{p}, {ip}"),
            _ => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", v);
        }
    } else if !hop.trust_proxy {
        headers.remove("x-forwarded-for");
    }
    if !(hop.trust_proxy && headers.contains_key("x-forwarded-proto")) {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if let Some(host) = client_host
        && !(hop.trust_proxy && headers.contains_key("x-forwarded-host"))
    {
        headers.insert("x-forwarded-host", host);
    }
    headers.append(VIA, hop.via.clone());
    for (name, value) in &rule.headers {
        headers.insert(name.clone(), value.clone());
    }
}

/// Proxies `req` (whose path `rule` matched) and returns the upstream's answer, streamed.
pub async fn forward(req: Request, rule: &Compiled, upstreams: &Upstreams, hop: &Hop) -> Response {
    let (mut parts, body) = req.into_parts();
    let Some(path) = rule.upstream_path(parts.uri.path(), parts.uri.query()) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Proxy error: the rule no longer matches the request path",
        );
    };
    let scheme = if rule.target.tls { "https" } else { "http" };
    let uri: Uri = match format!("{scheme}://{}{path}", rule.target.authority).parse() {
        Ok(u) => u,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("Proxy error: invalid upstream URL: {e}"),
            );
        }
    };
    let peer = parts.extensions.get::<ClientAddr>().map(|c| c.0.ip());
    let client_host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    upstream_headers(&mut parts.headers, rule, peer, hop);
    let rewrite = Rewrite {
        base: rule.rule.base.clone(),
        relative_paths: rule.rule.relative_paths,
    };
    if !rewrite.is_noop() {
        // The rewriter reads plain HTML: ask the upstream not to compress.
        parts.headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    let mut out = http::Request::builder()
        .method(parts.method)
        .uri(uri)
        .version(http::Version::HTTP_11);
    if let Some(h) = out.headers_mut() {
        *h = parts.headers;
    }
    let Ok(out) = out.body(body) else {
        return error(
            StatusCode::BAD_GATEWAY,
            "Proxy error: the upstream request cannot be built",
        );
    };
    let started = upstreams.http(rule.rule.secure).request(out);
    let res = match tokio::time::timeout(hop.timeout, started).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => {
            tracing::warn!(target = %rule.rule.target, rule = %rule.rule.id, error = %causes(&e), "Proxy upstream failed.");
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("Proxy error: {}", causes(&e)),
            );
        }
        Err(_) => {
            tracing::warn!(target = %rule.rule.target, rule = %rule.rule.id, timeout_ms = hop.timeout.as_millis() as u64, "Proxy upstream timed out.");
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                &format!(
                    "Proxy timeout: {} sent no response within {:?}",
                    rule.rule.target, hop.timeout
                ),
            );
        }
    };
    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if parts.status.is_redirection() || parts.status == StatusCode::CREATED {
        let mapped = parts.headers.get(header::LOCATION).and_then(|l| l.to_str().ok()).and_then(|l| rule.client_location(l, client_host.as_deref()));
        if let Some(location) = mapped.and_then(|l| HeaderValue::from_str(&l).ok()) {
            parts.headers.insert(header::LOCATION, location);
        }
    }
    let body = Body::new(body);
    let body = if !rewrite.is_noop() && is_plain_html(&parts.headers) {
        parts.headers.remove(header::CONTENT_LENGTH);
        html::stream(body, &rewrite)
    } else {
        body
    };
    Response::from_parts(parts, body)
}

/// HTML the rewriter can read: `text/html` and not compressed.
fn is_plain_html(headers: &HeaderMap) -> bool {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let plain = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|e| e.trim().eq_ignore_ascii_case("identity"));
    html && plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;

    fn rule(v: serde_json::Value) -> Compiled {
        Compiled::new(Rule::from_json(&v).unwrap()).unwrap()
    }

    fn hop(trust: bool) -> Hop {
        Hop {
            via: HeaderValue::from_static("1.1 buntime-test"),
            trust_proxy: trust,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn hop_by_hop_headers_go_and_change_origin_sets_host_and_origin() {
        let r = rule(
            json!({"pattern": "^/", "target": "https://api.example:8443", "changeOrigin": true, "headers": {"x-api-key": "k"}}),
        );
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("host", "runtime.local"),
            ("origin", "http://runtime.local"),
            ("connection", "keep-alive, x-drop"),
            ("x-drop", "1"),
            ("keep-alive", "5"),
            ("x-keep", "1"),
        ] {
            h.insert(k, v.parse().unwrap());
        }
        upstream_headers(&mut h, &r, Some("10.0.0.9".parse().unwrap()), &hop(false));
        assert_eq!(h["host"], "api.example:8443");
        assert_eq!(h["origin"], "https://api.example:8443");
        assert_eq!(h["x-forwarded-host"], "runtime.local");
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
        assert_eq!(h["x-api-key"], "k");
        assert_eq!(h["via"], "1.1 buntime-test");
        assert!(
            h.get("x-drop").is_none()
                && h.get("keep-alive").is_none()
                && h.get("connection").is_none()
        );
        assert_eq!(h["x-keep"], "1");
    }

    #[test]
    fn without_change_origin_the_clients_host_is_kept() {
        let r = rule(json!({"pattern": "^/", "target": "http://127.0.0.1:9"}));
        let mut h = HeaderMap::new();
        h.insert("host", "runtime.local".parse().unwrap());
        upstream_headers(&mut h, &r, None, &hop(false));
        assert_eq!(h["host"], "runtime.local");
    }

    #[test]
    fn a_spoofed_forwarded_for_is_replaced_unless_the_proxy_is_trusted() {
        let r = rule(json!({"pattern": "^/", "target": "http://127.0.0.1:9"}));
        for (trust, want) in [(false, "127.0.0.1"), (true, "203.0.113.7, 127.0.0.1")] {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
            upstream_headers(&mut h, &r, Some("127.0.0.1".parse().unwrap()), &hop(trust));
            assert_eq!(h["x-forwarded-for"], want);
        }
    }

    #[test]
    fn our_own_via_entry_is_a_loop() {
        let mut h = HeaderMap::new();
        h.append("via", "1.0 other, 1.1 buntime-test".parse().unwrap());
        assert!(hop(false).is_loop(&h));
        let mut h = HeaderMap::new();
        h.append("via", "1.1 buntime-other".parse().unwrap());
        assert!(!hop(false).is_loop(&h));
    }
}
