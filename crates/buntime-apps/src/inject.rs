//! HTML injection (spec §9.7): `<base href>` after `<head>` and `window.__env__` before `</head>`.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// What to inject into an app's HTML responses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Injection {
    base_tag: Option<String>,
    env_script: Option<String>,
    fingerprint: u64,
}

impl Injection {
    /// Builds the injection for an app mounted at `base_path`; `None` when there is nothing to inject
    /// (no `injectBase` and no public env).
    pub fn new(inject_base: bool, base_path: &str, public_env: &BTreeMap<String, String>) -> Option<Self> {
        let base_tag = inject_base.then(|| format!("<base href=\"{}\" />", escape_attr(&base_href(base_path))));
        let env_script = (!public_env.is_empty()).then(|| format!("<script>window.__env__={};</script>", env_json(public_env)));
        if base_tag.is_none() && env_script.is_none() {
            return None;
        }
        let mut h = DefaultHasher::new();
        (&base_tag, &env_script).hash(&mut h);
        Some(Self { base_tag, env_script, fingerprint: h.finish() | 1 })
    }

    /// A non-zero hash identifying this injection (for cache keys and ETags).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Applies the injection: the base tag replaces the first literal `<head>`, the env script goes
    /// before the first `</head>`. Documents without those tags are returned unchanged.
    pub fn apply(&self, html: &[u8]) -> Vec<u8> {
        let mut out = html.to_vec();
        if let Some(tag) = &self.base_tag {
            out = replace_first(&out, b"<head>", format!("<head>{tag}").as_bytes());
        }
        if let Some(script) = &self.env_script {
            out = replace_first(&out, b"</head>", format!("{script}</head>").as_bytes());
        }
        out
    }
}

/// The `href` for a mount prefix: `/` stays `/`, anything else gets a trailing `/`.
pub fn base_href(base_path: &str) -> String {
    if base_path == "/" { "/".to_owned() } else { format!("{base_path}/") }
}

/// Escapes `& " ' < >` as entities and doubles backslashes.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' => out.push_str("\\\\"),
            other => out.push(other),
        }
    }
    out
}

/// Serializes the public env as JSON safe inside `<script>`: every `</script` (any case) becomes
/// `<\/script`, and `<!--` cannot open a comment.
pub fn env_json(env: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_string(env).unwrap_or_else(|_| "{}".to_owned());
    let mut out = String::with_capacity(json.len());
    let lower = json.to_ascii_lowercase();
    let mut i = 0;
    while i < json.len() {
        if lower[i..].starts_with("</script") {
            out.push_str("<\\/");
            out.push_str(&json[i + 2..i + 8]);
            i += 8;
        } else if json[i..].starts_with("<!--") {
            out.push_str("<\\u0021--");
            i += 4;
        } else {
            let c = json[i..].chars().next().unwrap_or('\0');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn replace_first(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    match hay.windows(needle.len()).position(|w| w == needle) {
        Some(at) => {
            let mut out = Vec::with_capacity(hay.len() + with.len());
            out.extend_from_slice(&hay[..at]);
            out.extend_from_slice(with);
            out.extend_from_slice(&hay[at + needle.len()..]);
            out
        }
        None => hay.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const DOC: &[u8] = b"<html><head><title>x</title></head><body><head></head></body></html>";

    #[test]
    fn nothing_to_inject_gives_none() {
        assert!(Injection::new(false, "/app", &BTreeMap::new()).is_none());
    }

    #[test]
    fn base_tag_replaces_the_first_head_only() {
        let out = Injection::new(true, "/my-app", &BTreeMap::new()).unwrap().apply(DOC);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out, "<html><head><base href=\"/my-app/\" /><title>x</title></head><body><head></head></body></html>");
    }

    #[test]
    fn base_href_of_root_is_a_single_slash() {
        let out = Injection::new(true, "/", &BTreeMap::new()).unwrap().apply(b"<head></head>");
        assert_eq!(out, b"<head><base href=\"/\" /></head>");
    }

    #[test]
    fn base_href_is_escaped() {
        let cases: &[(&str, &str)] = &[
            ("/a\"b", "/a&quot;b/"),
            ("/a'b", "/a&#39;b/"),
            ("/a<b>", "/a&lt;b&gt;/"),
            ("/a&b", "/a&amp;b/"),
            ("/a\\b", "/a\\\\b/"),
            ("/todo@%5E1", "/todo@%5E1/"),
        ];
        for (base, expected) in cases {
            assert_eq!(escape_attr(&base_href(base)), *expected, "{base}");
        }
    }

    #[test]
    fn env_script_goes_before_the_first_closing_head() {
        let out = Injection::new(false, "/x", &env(&[("PUBLIC_A", "1")])).unwrap().apply(DOC);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "<html><head><title>x</title><script>window.__env__={\"PUBLIC_A\":\"1\"};</script></head><body><head></head></body></html>"
        );
    }

    #[test]
    fn base_and_env_combine() {
        let out = Injection::new(true, "/x", &env(&[("VITE_B", "2")])).unwrap().apply(b"<head></head>");
        assert_eq!(out, b"<head><base href=\"/x/\" /><script>window.__env__={\"VITE_B\":\"2\"};</script></head>".to_vec());
    }

    #[test]
    fn script_breakouts_are_escaped() {
        let cases: &[(&str, &str)] = &[
            ("</script><script>alert(1)</script>", "<\\/script><script>alert(1)<\\/script>"),
            ("</SCRIPT >", "<\\/SCRIPT >"),
            ("<!-- x", "<\\u0021-- x"),
            ("\"quoted\"", "\\\"quoted\\\""),
            ("é", "é"),
        ];
        for (value, expected) in cases {
            let json = env_json(&env(&[("PUBLIC_V", value)]));
            assert_eq!(json, format!("{{\"PUBLIC_V\":\"{expected}\"}}"), "{value}");
        }
    }

    #[test]
    fn documents_without_head_are_unchanged() {
        let inj = Injection::new(true, "/x", &env(&[("PUBLIC_A", "1")])).unwrap();
        assert_eq!(inj.apply(b"<p>hi</p>"), b"<p>hi</p>");
        assert_eq!(inj.apply(b"<head class=\"a\"></p>"), b"<head class=\"a\"></p>");
    }
}
