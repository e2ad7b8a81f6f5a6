//! CSRF protection for state-changing API requests: the `Origin` must be one the runtime is
//! known to be served at (its listener or `RUNTIME_PUBLIC_URL`), never whatever `Host` says.

use http::{HeaderMap, Method, header};
use url::Url;

/// Why a request failed the CSRF check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// The request has no `Origin` header.
    #[error("origin header missing")]
    OriginRequired,
    /// The `Origin` is unparsable (`null` included), has userinfo, is not http(s), or is not one
    /// of the runtime's origins.
    #[error("origin is not one this runtime is served at")]
    Forbidden,
}

/// Returns whether `method` is checked: POST, PUT, PATCH and DELETE.
pub fn is_state_changing(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The origins a browser may send state-changing API calls from: the configured public URLs
/// (`RUNTIME_PUBLIC_URL`) and the listener's own loopback origins. Never the client's `Host`,
/// which an attacker controls (DNS rebinding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// Allows exactly `origins` (serialized as [`url::Origin::ascii_serialization`] gives them).
    pub fn new(origins: Vec<String>) -> Self {
        Self { origins }
    }

    /// Adds the origins of a listener bound to `addr`: `http://localhost:PORT`,
    /// `http://127.0.0.1:PORT`, `http://[::1]:PORT`, and `http://ADDR:PORT` when bound to one
    /// address. Only `http`: this listener speaks no TLS.
    pub fn add_listener(&mut self, addr: std::net::SocketAddr) {
        let port = addr.port();
        let mut add = |o: String| {
            if !self.origins.contains(&o) {
                self.origins.push(o);
            }
        };
        add(format!("http://localhost:{port}"));
        add(format!("http://127.0.0.1:{port}"));
        add(format!("http://[::1]:{port}"));
        if !addr.ip().is_unspecified() {
            add(Url::parse(&format!("http://{addr}/")).map_or_else(|_| format!("http://{addr}"), |u| u.origin().ascii_serialization()));
        }
    }

    /// Returns the allowed origins.
    pub fn as_slice(&self) -> &[String] {
        &self.origins
    }
}

/// Checks the `Origin` header against `allowed`.
///
/// With `trust_proxy`, the origin the proxy says the browser used (`X-Forwarded-Proto`, default
/// `http`, and the first `X-Forwarded-Host`) is accepted too. `Host` is never consulted.
///
/// # Errors
/// Returns [`CsrfError`] when the request must be answered with 403.
pub fn check_origin(headers: &HeaderMap, allowed: &AllowedOrigins, trust_proxy: bool) -> Result<(), CsrfError> {
    let origin = headers.get(header::ORIGIN).ok_or(CsrfError::OriginRequired)?;
    let origin = origin.to_str().map_err(|_| CsrfError::Forbidden)?;
    let origin = Url::parse(origin.trim()).map_err(|_| CsrfError::Forbidden)?;
    if !matches!(origin.scheme(), "http" | "https") || !origin.username().is_empty() || origin.password().is_some() {
        return Err(CsrfError::Forbidden);
    }
    let origin = origin.origin().ascii_serialization();
    if allowed.origins.contains(&origin) {
        return Ok(());
    }
    if trust_proxy && forwarded_origin(headers).is_some_and(|f| f == origin) {
        return Ok(());
    }
    Err(CsrfError::Forbidden)
}

/// The origin a trusted proxy reports: `X-Forwarded-Proto`, default `http`, and the first
/// `X-Forwarded-Host`.
fn forwarded_origin(headers: &HeaderMap) -> Option<String> {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let host = first("x-forwarded-host")?;
    let proto = first("x-forwarded-proto").unwrap_or("http").to_ascii_lowercase();
    if !matches!(proto.as_str(), "http" | "https") {
        return None;
    }
    let url = parse_authority(&proto, host)?;
    Some(url.origin().ascii_serialization())
}

/// Parses a bare `host[:port]` with the origin's scheme, refusing anything that is not one.
fn parse_authority(scheme: &str, authority: &str) -> Option<Url> {
    if authority
        .bytes()
        .any(|b| matches!(b, b'/' | b'\\' | b'@' | b'?' | b'#') || b.is_ascii_whitespace())
    {
        return None;
    }
    Url::parse(&format!("{scheme}://{authority}/")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    fn listener(port: u16) -> AllowedOrigins {
        let mut a = AllowedOrigins::default();
        a.add_listener(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
        a
    }

    #[test]
    fn only_state_changing_methods_are_checked() {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_state_changing(&m));
        }
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_state_changing(&m));
        }
    }

    #[test]
    fn the_listeners_loopback_origins_pass() {
        let allowed = listener(8000);
        for origin in ["http://localhost:8000", "http://LOCALHOST:8000", "http://127.0.0.1:8000", "http://[::1]:8000"] {
            assert_eq!(check_origin(&h(&[("origin", origin)]), &allowed, false), Ok(()), "{origin}");
        }
    }

    #[test]
    fn the_clients_host_header_is_never_trusted() {
        // DNS rebinding: evil.example resolves to 127.0.0.1, so Host and Origin agree.
        let allowed = listener(8000);
        let headers = h(&[("origin", "http://evil.example:8000"), ("host", "evil.example:8000")]);
        assert_eq!(check_origin(&headers, &allowed, false), Err(CsrfError::Forbidden));
    }

    #[test]
    fn https_origins_are_refused_on_an_http_listener() {
        let allowed = listener(8000);
        let headers = h(&[("origin", "https://localhost:8000"), ("host", "localhost:8000")]);
        assert_eq!(check_origin(&headers, &allowed, false), Err(CsrfError::Forbidden));
    }

    #[test]
    fn configured_public_urls_pass_with_default_ports_folded() {
        let allowed = AllowedOrigins::new(vec![origin("https://a.example")]);
        for origin in ["https://a.example", "https://a.example:443", "https://A.Example"] {
            assert_eq!(check_origin(&h(&[("origin", origin)]), &allowed, false), Ok(()), "{origin}");
        }
        assert_eq!(check_origin(&h(&[("origin", "http://a.example")]), &allowed, false), Err(CsrfError::Forbidden));
    }

    fn origin(s: &str) -> String {
        Url::parse(s).unwrap().origin().ascii_serialization()
    }

    #[test]
    fn missing_origin_is_origin_required() {
        assert_eq!(check_origin(&h(&[("host", "a")]), &listener(8000), false), Err(CsrfError::OriginRequired));
    }

    #[test]
    fn bad_or_foreign_origins_are_forbidden() {
        let allowed = AllowedOrigins::new(vec![origin("https://a.example")]);
        let bad = [
            "null",
            "",
            "not a url",
            "https://evil.example",
            "https://user@a.example",
            "https://user:pw@a.example",
            "ftp://a.example",
            "file:///etc/passwd",
            "https://a.example:8443",
            "http://a.example.evil.example",
        ];
        for o in bad {
            assert_eq!(check_origin(&h(&[("origin", o), ("host", "a.example")]), &allowed, false), Err(CsrfError::Forbidden), "{o}");
        }
    }

    #[test]
    fn forwarded_origin_is_used_only_when_trusted() {
        let headers = h(&[
            ("origin", "https://public.example"),
            ("host", "internal:8000"),
            ("x-forwarded-host", "public.example, other"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(check_origin(&headers, &listener(8000), true), Ok(()));
        assert_eq!(check_origin(&headers, &listener(8000), false), Err(CsrfError::Forbidden));
        let wrong_scheme = h(&[("origin", "https://public.example"), ("x-forwarded-host", "public.example")]);
        assert_eq!(check_origin(&wrong_scheme, &listener(8000), true), Err(CsrfError::Forbidden));
    }

    #[test]
    fn forwarded_hosts_smuggling_a_url_are_refused() {
        for host in ["evil@a.example", "a.example/x", "a.example?x", "a.example#x"] {
            let headers = h(&[("origin", "http://a.example"), ("x-forwarded-host", host)]);
            assert_eq!(check_origin(&headers, &AllowedOrigins::default(), true), Err(CsrfError::Forbidden), "{host}");
        }
    }
}
