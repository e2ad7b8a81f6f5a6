//! HTTP helpers: cookies, the client IP, safe redirects, CSRF checks and response builders.

use axum::body::Body;
use buntime_auth::csrf::{AllowedOrigins, check_origin};
use buntime_core::{ClientAddr, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// Returns the value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Whether the browser reached us over https: the request's own scheme, a trusted proxy's
/// `X-Forwarded-Proto`, or a public URL (first trusted origin) that is https.
pub fn is_https(
    uri: &http::Uri,
    headers: &HeaderMap,
    trust_proxy: bool,
    public_https: bool,
) -> bool {
    if public_https || uri.scheme_str() == Some("https") {
        return true;
    }
    trust_proxy
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Builds the `Set-Cookie` of a session (`max_age` seconds; 0 clears it).
pub fn session_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Returns the client's IP: the first `X-Forwarded-For` hop behind a trusted proxy, else the TCP
/// peer, else `unknown` (in-process requests).
pub fn client_ip(headers: &HeaderMap, extensions: &http::Extensions, trust_proxy: bool) -> String {
    if trust_proxy
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
    {
        return ip.to_owned();
    }
    extensions
        .get::<ClientAddr>()
        .map_or_else(|| "unknown".to_owned(), |a| a.0.ip().to_string())
}

/// Returns `target` when it is a path on this site (`/…`, not `//host` or `/\host`, no control
/// characters), else `/`: the only redirects the plugin follows, so it is never an open redirect.
pub fn safe_redirect(target: Option<&str>) -> String {
    let Some(t) = target.map(str::trim) else {
        return "/".to_owned();
    };
    let bad = !t.starts_with('/')
        || t.starts_with("//")
        || t.contains('\\')
        || t.chars().any(char::is_control)
        || t.len() > 2048;
    if bad {
        return "/".to_owned();
    }
    // Parse against a fixed origin: anything that would leave it is refused.
    let Ok(base) = url::Url::parse("http://same.invalid/") else {
        return "/".to_owned();
    };
    match base.join(t) {
        Ok(u) if u.origin() == base.origin() => {
            let mut out = u.path().to_owned();
            if let Some(q) = u.query() {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        _ => "/".to_owned(),
    }
}

/// Whether a request is a browser navigating to a page (answered with a redirect to the login page
/// rather than JSON 401).
pub fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return false;
    }
    if let Some(mode) = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok()) {
        return mode == "navigate";
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.contains("text/html") && !accept.contains("application/json")
}

/// Checks that a state-changing request comes from one of our pages.
///
/// With `Origin`, it must be allowed. Without it, a `Sec-Fetch-Site` other than `same-origin` or
/// `none` is refused. A request with neither does not come from a browser (every browser sends
/// `Origin` on cross-site POSTs), so no session can be ridden with it.
///
/// # Errors
/// The 403 response to send.
pub fn check_csrf(
    headers: &HeaderMap,
    allowed: &AllowedOrigins,
    trust_proxy: bool,
) -> Result<(), Box<Response>> {
    let forbidden = || {
        Box::new(error(
            StatusCode::FORBIDDEN,
            "CSRF_REJECTED",
            "this request must come from a page of this site (Origin not trusted)",
        ))
    };
    if headers.contains_key(header::ORIGIN) {
        return check_origin(headers, allowed, trust_proxy).map_err(|_| forbidden());
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin" | "none") => Ok(()),
        Some(_) => Err(forbidden()),
    }
}

/// Escapes text for HTML content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query parameter value.
pub fn query_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A JSON response.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    buntime_core::respond::json(status, body)
}

/// The shared JSON error envelope `{success:false, code, message}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    buntime_core::respond::json_error(status, code, message)
}

/// A redirect (`status` 302 or 303) to `location`.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// An HTML page.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page has no scripts of its own and must not be framed (clickjacking of the form).
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_redirect_targets() {
        assert_eq!(safe_redirect(Some("/app/page?x=1")), "/app/page?x=1");
        assert_eq!(safe_redirect(Some("/a/../b")), "/b");
        for evil in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "\\\\evil",
            "javascript:alert(1)",
            "/%0d%0aSet-Cookie:x",
            "evil",
            " //evil.example",
            "/\t/evil.example",
        ] {
            let got = safe_redirect(Some(evil));
            assert!(
                got.starts_with('/') && !got.starts_with("//"),
                "{evil} → {got}"
            );
            assert!(
                !got.contains("evil.example") || got.starts_with("/%"),
                "{evil} → {got}"
            );
        }
        assert_eq!(safe_redirect(Some("//evil.example/")), "/");
        assert_eq!(safe_redirect(None), "/");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; sid=abc.def"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "sid"), Some("abc.def"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "s"), None);
    }

    #[test]
    fn navigations_are_told_from_api_calls() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml"),
        );
        assert!(is_navigation(&Method::GET, &h));
        assert!(!is_navigation(&Method::POST, &h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!is_navigation(&Method::GET, &h));
        h.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        assert!(is_navigation(&Method::GET, &h));
    }
}
