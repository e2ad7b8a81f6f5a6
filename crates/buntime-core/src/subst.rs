//! `${VAR}` placeholders in manifests: every string value is substituted from the environment at
//! load (`${VAR}`, `${VAR:-default}`, `$${…}` for a literal `${…}`).
//!
//! The original never substituted (spec §E S-1), so a manifest's `clientSecret: "${GOOGLE_SECRET}"`
//! reached the plugin literally. Here an unset variable without a default is a load error naming
//! the field, so a missing secret stops that plugin instead of becoming a wrong credential.

use serde_json::Value;

/// One placeholder that cannot be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstError {
    /// The value's path in the document, such as `providers[1].clientSecret`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// Substitutes every placeholder in every string value of `doc` (keys are left alone), using
/// `lookup` for variables. Returns every problem at once; `doc` is left partly substituted then.
///
/// # Errors
/// One [`SubstError`] per unset variable without a default and per malformed placeholder.
pub fn substitute(
    doc: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Vec<SubstError>> {
    let mut errors = Vec::new();
    walk(doc, &mut String::new(), lookup, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn walk(
    value: &mut Value,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<SubstError>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand(s, lookup) {
            Ok(out) => *s = out,
            Err((message, fix)) => errors.push(SubstError {
                path: path.clone(),
                message,
                fix,
            }),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, lookup, errors);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                walk(item, path, lookup, errors);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Expands one string. A `$` not followed by `{` is kept as is (`$5`, `a$b`); `$${` is a literal `${`.
///
/// # Errors
/// Returns what is wrong and how to fix it.
pub fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, (String, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(body) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err((
                format!("the placeholder `{}` has no closing `}}`", truncate(tail)),
                "close it (`${VAR}`), or write `$${` for a literal `${`".to_owned(),
            ));
        };
        let inner = &body[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !is_var_name(name) {
            return Err((
                format!(
                    "`${{{inner}}}` is not a valid placeholder (a variable name is letters, digits and `_`, not starting with a digit)"
                ),
                "write `${VAR}` or `${VAR:-default}`, or `$${` for a literal `${`".to_owned(),
            ));
        }
        // Shell semantics: `:-` takes the default when the variable is unset or empty.
        match (lookup(name), default) {
            (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err((
                    format!(
                        "the environment variable `{name}` is not set and `${{{name}}}` has no default"
                    ),
                    format!(
                        "set `{name}` (in the environment or a `.env` file), or give a default: `${{{name}:-value}}`"
                    ),
                ));
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("5432".into()),
            _ => None,
        }
    }

    fn x(text: &str) -> Result<String, (String, String)> {
        expand(text, &env)
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        assert_eq!(
            x("postgres://${HOST}:${PORT}/app").unwrap(),
            "postgres://db.local:5432/app"
        );
        assert_eq!(x("${MISSING:-fallback}").unwrap(), "fallback");
        assert_eq!(x("${MISSING:-}").unwrap(), "");
        assert_eq!(x("${EMPTY:-used when empty}").unwrap(), "used when empty");
        assert_eq!(
            x("${EMPTY}").unwrap(),
            "",
            "set but empty without a default is the empty string"
        );
        assert_eq!(x("${HOST:-ignored}").unwrap(), "db.local");
        assert_eq!(
            x("${MISSING:-a:-b}").unwrap(),
            "a:-b",
            "only the first `:-` splits"
        );
    }

    #[test]
    fn dollars_that_are_not_placeholders_stay() {
        assert_eq!(
            x("costs $5, a$b, trailing $").unwrap(),
            "costs $5, a$b, trailing $"
        );
        assert_eq!(x("$${HOST} is literal").unwrap(), "${HOST} is literal");
        assert_eq!(
            x("$$${HOST}").unwrap(),
            "$${HOST}",
            "a `$` then a literal placeholder"
        );
        assert_eq!(
            x("^/api/.*$").unwrap(),
            "^/api/.*$",
            "regexes with `$` anchors are untouched"
        );
    }

    #[test]
    fn an_unset_variable_without_default_names_it() {
        let (message, fix) = x("Bearer ${API_TOKEN}").unwrap_err();
        assert!(message.contains("`API_TOKEN` is not set"), "{message}");
        assert!(fix.contains("${API_TOKEN:-value}"), "{fix}");
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        assert!(x("${HOST").unwrap_err().0.contains("no closing"));
        assert!(
            x("${1ABC}")
                .unwrap_err()
                .0
                .contains("not a valid placeholder")
        );
        assert!(x("${}").unwrap_err().0.contains("not a valid placeholder"));
        assert!(
            x("${A B}")
                .unwrap_err()
                .0
                .contains("not a valid placeholder")
        );
    }

    #[test]
    fn walks_every_string_and_reports_every_path() {
        let mut doc = json!({
            "name": "p",
            "url": "${HOST}",
            "count": 3,
            "providers": [{"clientId": "${MISSING_ID}"}, {"clientSecret": "${MISSING_SECRET}", "scope": "${SCOPE:-openid}"}],
            "nested": {"deep": ["${PORT}"]},
            "${HOST}": "keys are not substituted"
        });
        let errors = substitute(&mut doc, &env).unwrap_err();
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["providers[0].clientId", "providers[1].clientSecret"]
        );
        assert!(errors[1].message.contains("MISSING_SECRET"));
        assert_eq!(doc["url"], "db.local");
        assert_eq!(doc["providers"][1]["scope"], "openid");
        assert_eq!(doc["nested"]["deep"][0], "5432");
        assert_eq!(doc["count"], 3);
        assert_eq!(doc["${HOST}"], "keys are not substituted");
    }
}
