//! Finding the API key a request presents: `X-API-Key`, else `Authorization: Bearer`.

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The header that carries an API key directly.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Returns the key a request presents, if any.
///
/// A trimmed, non-empty `X-API-Key` wins; otherwise `Authorization: Bearer <token>` with the
/// scheme matched case-insensitively and the token trimmed. Headers that are not valid UTF-8 (or
/// visible ASCII) are ignored. Never panics.
pub fn extract_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v);
        }
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    bearer_token(auth)
}

/// Returns the token of an `Authorization` value using the Bearer scheme.
pub fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = &value[6..];
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn x_api_key_wins_over_bearer() {
        let h = headers(&[("x-api-key", "  k1 "), ("authorization", "Bearer k2")]);
        assert_eq!(extract_key(&h), Some("k1"));
    }

    #[test]
    fn blank_x_api_key_falls_back_to_bearer() {
        let h = headers(&[("x-api-key", "   "), ("authorization", "bEaReR   k2  ")]);
        assert_eq!(extract_key(&h), Some("k2"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_give_nothing() {
        for v in [
            "Basic abc",
            "Bearer",
            "Bearer   ",
            "Bearerabc",
            "Token x",
            "",
        ] {
            assert_eq!(
                extract_key(&headers(&[("authorization", v)])),
                None,
                "{v:?}"
            );
        }
        assert_eq!(extract_key(&HeaderMap::new()), None);
    }

    #[test]
    fn non_utf8_headers_are_ignored() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        h.insert(
            "authorization",
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert_eq!(extract_key(&h), None);
    }

    #[test]
    fn multibyte_prefix_does_not_panic() {
        assert_eq!(bearer_token("ééééé token"), None);
    }
}
