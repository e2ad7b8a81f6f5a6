//! Secret redaction for log records: API keys, credentials in headers and `key=value` text,
//! and the values of fields whose names say they hold a secret.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Runtime API keys (`btk_` + base64url, see buntime-auth's `secret.rs`).
static API_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"btk_[A-Za-z0-9_\-]{6,}").expect("valid regex"));
/// `Bearer <token>` / `Basic <credentials>` anywhere in a text.
static SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{4,}").expect("valid regex")
});
/// A cookie header's whole value (it holds `;` and spaces).
static COOKIE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b((?:set-)?cookie["']?\s*[:=]\s*["']?)[^"'\r\n]+"#).expect("valid regex")
});
/// `name: value`, `name=value` and JSON `"name": "value"` for names that hold secrets.
static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)\b((?:x-)?api[_-]?key|(?:proxy-)?authorization|(?:access|refresh|id|auth|session|csrf)?[_-]?token|password|passwd|pwd|(?:client[_-]?)?secret|master[_-]?key)(["']?\s*[:=]\s*["']?)([^\s"',;&}\]]+)"#,
    )
    .expect("valid regex")
});

/// Returns whether a field called `name` holds a secret (its value is dropped whole).
pub fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    [
        "authorization",
        "cookie",
        "api_key",
        "apikey",
        "token",
        "password",
        "passwd",
        "secret",
        "master_key",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Returns `text` with every secret it shows replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    // Most log lines hold none of the trigger words: skip the regexes for them.
    let lower_has = |needle: &str| {
        text.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    if ![
        "btk_", "bearer", "basic", "cookie", "key", "auth", "token", "pass", "pwd", "secret",
    ]
    .iter()
    .any(|n| lower_has(n))
    {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    for (re, with) in [
        (&*API_KEY, "btk_[REDACTED]"),
        (&*SCHEME, "$1 [REDACTED]"),
        (&*COOKIE, "${1}[REDACTED]"),
        (&*PAIR, "$1$2[REDACTED]"),
    ] {
        if let Cow::Owned(s) = re.replace_all(&out, with) {
            out = Cow::Owned(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_and_credentials_in_text_are_redacted() {
        let key = "btk_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA";
        for (input, secret) in [
            (format!("rejected key {key} for /api/keys"), key),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig".to_owned(),
                "eyJhbGciOiJIUzI1NiJ9",
            ),
            ("x-api-key: s3cr3t-master".to_owned(), "s3cr3t-master"),
            ("Cookie: session=abc123; theme=dark".to_owned(), "abc123"),
            ("set-cookie=sid=xyz789; HttpOnly".to_owned(), "xyz789"),
            ("login with password=hunter22 failed".to_owned(), "hunter22"),
            (
                r#"body {"token": "tok-98765", "user": "ann"}"#.to_owned(),
                "tok-98765",
            ),
            ("client_secret=abcdef0123".to_owned(), "abcdef0123"),
            ("Basic dXNlcjpwYXNz".to_owned(), "dXNlcjpwYXNz"),
        ] {
            let out = redact(&input);
            assert!(!out.contains(secret), "{secret} survived in {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "Loaded plugin.",
            "tokens=5 keys counted",
            "GET /keyval/api/keys 200",
            "3 passes of the monkey",
        ] {
            assert_eq!(redact(text), text);
        }
        assert!(matches!(redact("Runtime ready."), Cow::Borrowed(_)));
    }

    #[test]
    fn secret_field_names_are_recognised() {
        for name in [
            "authorization",
            "Cookie",
            "set-cookie",
            "x-api-key",
            "apiKey",
            "token",
            "refresh_token",
            "password",
            "client_secret",
            "master_key",
        ] {
            assert!(is_secret_field(name), "{name}");
        }
        for name in ["plugin", "request_id", "path", "status", "keys"] {
            assert!(!is_secret_field(name), "{name}");
        }
    }
}
