//! CSRF protection for state-changing API requests: the `Origin` must match the request's host.

use http::{HeaderMap, Method, header};
use url::Url;

/// Why a request failed the CSRF check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// The request has no `Origin` header.
    #[error("origin header missing")]
    OriginRequired,
    /// The `Origin` is unparsable (`null` included), has userinfo, is not http(s), or names another
    /// host; or the request's own host is unknown.
    #[error("origin does not match the request host")]
    Forbidden,
}

/// Returns whether `method` is checked: POST, PUT, PATCH and DELETE.
pub fn is_state_changing(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Checks the `Origin` header against the request's host.
///
/// The host is the first `X-Forwarded-Host` value when `trust_proxy` is set and the header is
/// present, else `Host`, else `fallback_host` (the URI authority, which HTTP/2 carries instead of
/// `Host`). Unlike the original, a request whose host is unknown is refused rather than passed.
/// Default ports are ignored on both sides (`https://a.example` matches `Host: a.example:443`).
///
/// # Errors
/// Returns [`CsrfError`] when the request must be answered with 403.
pub fn check_origin(
    headers: &HeaderMap,
    trust_proxy: bool,
    fallback_host: Option<&str>,
) -> Result<(), CsrfError> {
    let origin = headers
        .get(header::ORIGIN)
        .ok_or(CsrfError::OriginRequired)?;
    let origin = origin.to_str().map_err(|_| CsrfError::Forbidden)?;
    let origin = Url::parse(origin.trim()).map_err(|_| CsrfError::Forbidden)?;
    if !matches!(origin.scheme(), "http" | "https")
        || !origin.username().is_empty()
        || origin.password().is_some()
    {
        return Err(CsrfError::Forbidden);
    }
    let expected =
        expected_host(headers, trust_proxy, fallback_host).ok_or(CsrfError::Forbidden)?;
    let expected = parse_authority(origin.scheme(), expected).ok_or(CsrfError::Forbidden)?;
    let same = origin.host_str().is_some()
        && origin.host_str() == expected.host_str()
        && origin.port_or_known_default() == expected.port_or_known_default();
    if same {
        Ok(())
    } else {
        Err(CsrfError::Forbidden)
    }
}

/// Picks the host the request was addressed to.
fn expected_host<'a>(
    headers: &'a HeaderMap,
    trust_proxy: bool,
    fallback: Option<&'a str>,
) -> Option<&'a str> {
    if trust_proxy {
        let forwarded = headers
            .get("x-forwarded-host")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or(fallback)
        .filter(|v| !v.is_empty())
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
    fn same_origin_passes_with_and_without_default_ports() {
        let ok = [
            ("http://localhost:8000", "localhost:8000"),
            ("https://a.example", "a.example"),
            ("https://a.example", "a.example:443"),
            ("https://A.Example", "a.example"),
            ("http://[::1]:8000", "[::1]:8000"),
        ];
        for (origin, host) in ok {
            assert_eq!(
                check_origin(&h(&[("origin", origin), ("host", host)]), false, None),
                Ok(()),
                "{origin} vs {host}"
            );
        }
    }

    #[test]
    fn missing_origin_is_origin_required() {
        assert_eq!(
            check_origin(&h(&[("host", "a")]), false, None),
            Err(CsrfError::OriginRequired)
        );
    }

    #[test]
    fn bad_or_foreign_origins_are_forbidden() {
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
        for origin in bad {
            assert_eq!(
                check_origin(
                    &h(&[("origin", origin), ("host", "a.example")]),
                    false,
                    None
                ),
                Err(CsrfError::Forbidden),
                "{origin}"
            );
        }
    }

    #[test]
    fn forwarded_host_is_used_only_when_trusted() {
        let headers = h(&[
            ("origin", "https://public.example"),
            ("host", "internal:8000"),
            ("x-forwarded-host", "public.example, other"),
        ]);
        assert_eq!(check_origin(&headers, true, None), Ok(()));
        assert_eq!(
            check_origin(&headers, false, None),
            Err(CsrfError::Forbidden)
        );
        let forged = h(&[
            ("origin", "https://evil.example"),
            ("host", "a.example"),
            ("x-forwarded-host", "evil.example"),
        ]);
        assert_eq!(
            check_origin(&forged, false, None),
            Err(CsrfError::Forbidden)
        );
    }

    #[test]
    fn trusted_proxy_without_forwarded_host_falls_back_to_host() {
        let headers = h(&[("origin", "http://a.example"), ("host", "a.example")]);
        assert_eq!(check_origin(&headers, true, None), Ok(()));
    }

    #[test]
    fn unknown_host_is_refused_but_uri_authority_counts() {
        let headers = h(&[("origin", "https://a.example")]);
        assert_eq!(
            check_origin(&headers, false, None),
            Err(CsrfError::Forbidden)
        );
        assert_eq!(check_origin(&headers, false, Some("a.example")), Ok(()));
    }

    #[test]
    fn host_headers_smuggling_a_url_are_refused() {
        for host in [
            "evil@a.example",
            "a.example/x",
            "a.example?x",
            "a.example#x",
        ] {
            let headers = h(&[("origin", "https://a.example"), ("host", host)]);
            assert_eq!(
                check_origin(&headers, false, None),
                Err(CsrfError::Forbidden),
                "{host}"
            );
        }
    }
}
