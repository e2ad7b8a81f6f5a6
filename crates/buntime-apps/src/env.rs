//! What a worker's environment may contain: app `.env` parsing, sensitive-name filtering, public env.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use buntime_core::Env;
use regex::RegexSet;

/// Default `envPrefix`: variables with these prefixes are injected into HTML as `window.__env__`.
pub const DEFAULT_ENV_PREFIX: &[&str] = &["PUBLIC_", "VITE_"];

/// Name patterns of variables never passed from the runtime's environment to workers.
pub const SENSITIVE_PATTERNS: &[&str] = &[
    r"^(DATABASE|DB)_",
    r"(API|AUTH|SECRET|PRIVATE|MASTER|ACCESS|ENCRYPTION|SIGNING)_?KEY",
    r"_TOKEN$",
    r"_SECRET$",
    r"_PASSWORD$",
    r"PASSWD",
    r"_CREDENTIALS?$",
    r"^AWS_",
    r"^AZURE_",
    r"^GOOGLE_APPLICATION_CREDENTIALS$",
    r"^GITHUB_",
    r"^GITLAB_",
    r"^(NPM|GH|BUN)_TOKEN",
    r"^(NPM_CONFIG|YARN)_.*AUTH",
    r"^SSH_",
    r"^(PG|POSTGRES|MYSQL|MARIADB|REDIS|MONGO)",
    r"_KEY$",
    r"_(PASS|PWD)$",
    r"CONNECTION_STRING",
];

static SENSITIVE: LazyLock<RegexSet> = LazyLock::new(|| {
    let patterns: Vec<String> = SENSITIVE_PATTERNS.iter().map(|p| format!("(?i){p}")).collect();
    RegexSet::new(patterns).expect("the sensitive patterns are valid regexes")
});

/// Returns whether a runtime variable named `name` must never reach a worker (spec §9.7, §14.1).
pub fn sensitive(name: &str) -> bool {
    SENSITIVE.is_match(name)
}

/// The runtime's environment as workers may see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassThrough {
    /// Variables that may be passed on.
    pub vars: BTreeMap<String, String>,
    /// Names withheld because they look sensitive (log them in a warning, never their values).
    pub withheld: Vec<String>,
}

/// Splits the runtime's environment into what may be passed to workers and what is withheld.
///
/// The pool decides which of `vars` it actually forwards (spec §9.7 lists the fixed keys); a
/// worker never inherits the runtime's environment wholesale.
pub fn pass_through(env: &Env) -> PassThrough {
    let mut out = PassThrough::default();
    for (k, v) in env.iter() {
        if sensitive(k) {
            out.withheld.push(k.to_owned());
        } else {
            out.vars.insert(k.to_owned(), v.to_owned());
        }
    }
    out
}

/// Returns the entries of `env` whose key starts with one of `prefixes` (the `window.__env__` map).
pub fn public_env(env: &BTreeMap<String, String>, prefixes: &[String]) -> BTreeMap<String, String> {
    env.iter()
        .filter(|(k, _)| prefixes.iter().any(|p| !p.is_empty() && k.starts_with(p.as_str())))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Parses an app's `.env` (spec §9.1): trimmed lines, `#` comments and lines without `=` skipped,
/// key before the first `=`, one pair of matching quotes stripped, no escapes or interpolation.
pub fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|&q| value.strip_prefix(q).and_then(|v| v.strip_suffix(q)).filter(|_| value.len() >= 2))
            .unwrap_or(value);
        out.insert(key.to_owned(), unquoted.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names_match_the_documented_patterns() {
        let cases: &[(&str, bool)] = &[
            ("DATABASE_URL", true),
            ("DB_HOST", true),
            ("API_KEY", true),
            ("OPENAI_API_KEY", true),
            ("STRIPE_SECRET_KEY", true),
            ("AUTHKEY", true),
            ("PRIVATE_KEY", true),
            ("SLACK_TOKEN", true),
            ("JWT_SECRET", true),
            ("ADMIN_PASSWORD", true),
            ("AWS_REGION", true),
            ("GITHUB_SHA", true),
            ("NPM_TOKEN", true),
            ("GH_TOKEN", true),
            ("RUNTIME_MASTER_KEY", true),
            ("BUNTIME_MASTER_KEY", true),
            ("api_key", true),
            ("PORT", false),
            ("NODE_ENV", false),
            ("PUBLIC_API_URL", false),
            ("RUNTIME_LOG_LEVEL", false),
            ("PATH", false),
            ("HOME", false),
            ("TOKENIZER_MODE", false),
            ("STRIPE_KEY", true),
            ("MONGODB_URI", true),
            ("REDIS_URL", true),
            ("SMTP_PASS", true),
            ("KEYBOARD_LAYOUT", false),
        ];
        for (name, expected) in cases {
            assert_eq!(sensitive(name), *expected, "{name}");
        }
    }

    #[test]
    fn pass_through_withholds_sensitive_names() {
        let env = Env::from_pairs([("PORT", "8000"), ("DB_PASSWORD", "x"), ("GITHUB_TOKEN", "y"), ("NODE_ENV", "test")]);
        let out = pass_through(&env);
        assert_eq!(out.vars.keys().collect::<Vec<_>>(), ["NODE_ENV", "PORT"]);
        assert_eq!(out.withheld, ["DB_PASSWORD", "GITHUB_TOKEN"]);
    }

    #[test]
    fn public_env_keeps_prefixed_keys_only() {
        let env: BTreeMap<String, String> =
            [("PUBLIC_A", "1"), ("VITE_B", "2"), ("SECRET", "3")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let default: Vec<String> = DEFAULT_ENV_PREFIX.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(public_env(&env, &default).len(), 2);
        assert!(public_env(&env, &[]).is_empty());
        assert_eq!(public_env(&env, &["SEC".to_owned()]).keys().collect::<Vec<_>>(), ["SECRET"]);
    }

    #[test]
    fn dotenv_handles_comments_quotes_and_special_characters() {
        let text = "# comment\n\nA=1\n  B = two words \nC=\"quoted # not a comment\"\nD='single'\nE=a=b=c\nnoequals\nF=\"\nG=\"mismatched'\n=nokey\nURL=postgres://u:p@h/db?x=1&y=2\n";
        let env = parse_dotenv(text);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("quoted # not a comment"));
        assert_eq!(get("D"), Some("single"));
        assert_eq!(get("E"), Some("a=b=c"));
        assert_eq!(get("F"), Some("\""));
        assert_eq!(get("G"), Some("\"mismatched'"));
        assert_eq!(get("URL"), Some("postgres://u:p@h/db?x=1&y=2"));
        assert_eq!(get("noequals"), None);
        assert_eq!(env.len(), 8);
    }
}
