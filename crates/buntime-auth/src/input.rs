//! Validating a request to create a key (the `POST /keys` body or CLI flags) into a [`NewKey`].

use serde_json::Value;

use crate::expires::{InvalidExpiration, parse_expires_in};
use crate::permission::{Permission, Role, dedup};
use crate::store::NewKey;

/// Why a key request was refused; each variant has a stable [`code`](InputError::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The body is not a JSON object.
    #[error("request body is not a JSON object: {0}")]
    InvalidJson(String),
    /// `name` is missing or blank.
    #[error("`name` is required")]
    MissingName,
    /// `name` is too long or holds control or invisible formatting characters.
    #[error("invalid `name`: use at most {MAX_NAME_CHARS} printable characters")]
    InvalidName,
    /// `description` is too long or holds control or invisible formatting characters.
    #[error("invalid `description`: use at most {MAX_DESCRIPTION_CHARS} printable characters (newlines allowed)")]
    InvalidDescription,
    /// `role` is not one of the four roles.
    #[error("invalid role `{0}`: use admin, editor, viewer or custom")]
    InvalidRole(String),
    /// A custom role without permissions.
    #[error("a custom role needs a non-empty `permissions` list")]
    MissingPermissions,
    /// A permission name nobody knows.
    #[error("unknown permission `{0}`: `GET /keys/meta` lists the valid ones")]
    InvalidPermission(String),
    /// `expiresIn` has the wrong shape.
    #[error(transparent)]
    InvalidExpiration(#[from] InvalidExpiration),
}

impl InputError {
    /// Returns the error code sent to clients (`MISSING_KEY_NAME`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "INVALID_JSON",
            Self::MissingName => "MISSING_KEY_NAME",
            Self::InvalidName => "INVALID_KEY_NAME",
            Self::InvalidDescription => "INVALID_KEY_DESCRIPTION",
            Self::InvalidRole(_) => "INVALID_KEY_ROLE",
            Self::MissingPermissions => "MISSING_PERMISSIONS",
            Self::InvalidPermission(_) => "INVALID_PERMISSION",
            Self::InvalidExpiration(_) => "INVALID_EXPIRATION",
        }
    }
}

/// The longest key name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The longest key description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// Returns whether `c` could disguise or corrupt text shown in a terminal or a page: control
/// characters and Unicode's invisible formatting and bidirectional overrides.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// An unvalidated key request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRequest {
    /// Display name (required).
    pub name: Option<String>,
    /// Role name; defaults to `editor`.
    pub role: Option<String>,
    /// Permission names; used only for `custom`.
    pub permissions: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// `never`, empty, or `<n>d|w|m|y`.
    pub expires_in: Option<String>,
}

impl KeyRequest {
    /// Reads a `POST /keys` body. Values of the wrong JSON type are kept in a form that
    /// [`validate`](Self::validate) rejects with the matching code.
    ///
    /// # Errors
    /// Returns [`InputError::InvalidJson`] when the body is not a JSON object.
    pub fn from_json(body: &[u8]) -> Result<Self, InputError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| InputError::InvalidJson(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(InputError::InvalidJson(
                "expected an object such as {\"name\":\"ci\"}".to_owned(),
            ));
        };
        let text = |key: &str| match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let permissions = match map.get("permissions") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect(),
            ),
            Some(_) => Some(Vec::new()),
        };
        let name = match map.get("name") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let description = match map.get("description") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        Ok(Self {
            name,
            role: text("role"),
            permissions,
            description,
            expires_in: text("expiresIn"),
        })
    }

    /// Validates the request into a [`NewKey`]. For roles other than `custom` the role's
    /// permissions replace any supplied list.
    ///
    /// # Errors
    /// Returns the first problem found, in the order name, role, permissions, expiration.
    pub fn validate(self, created_by: Option<u64>) -> Result<NewKey, InputError> {
        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or(InputError::MissingName)?
            .to_owned();
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(is_unsafe_char) {
            return Err(InputError::InvalidName);
        }
        let role = match self.role.as_deref() {
            None => Role::Editor,
            Some(r) => r
                .parse::<Role>()
                .map_err(|_| InputError::InvalidRole(r.to_owned()))?,
        };
        let permissions = match role.permissions() {
            Some(perms) => perms,
            None => {
                let list = self.permissions.unwrap_or_default();
                if list.is_empty() {
                    return Err(InputError::MissingPermissions);
                }
                let parsed = list
                    .iter()
                    .map(|p| {
                        p.trim()
                            .parse::<Permission>()
                            .map_err(|_| InputError::InvalidPermission(p.clone()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                dedup(parsed)
            }
        };
        let expires_in_secs = parse_expires_in(self.expires_in.as_deref().unwrap_or("").trim())?;
        let description = self
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        if let Some(d) = &description
            && (d.chars().count() > MAX_DESCRIPTION_CHARS || d.chars().any(|c| c != '\n' && is_unsafe_char(c)))
        {
            return Err(InputError::InvalidDescription);
        }
        Ok(NewKey {
            name,
            role,
            permissions,
            description,
            expires_in_secs,
            created_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> Result<NewKey, InputError> {
        KeyRequest::from_json(body.as_bytes())?.validate(None)
    }

    #[test]
    fn defaults_to_editor_and_ignores_permissions_for_named_roles() {
        let k = check(r#"{"name":"  ci  ","permissions":["nope"]}"#).unwrap();
        assert_eq!(k.name, "ci");
        assert_eq!(k.role, Role::Editor);
        assert_eq!(k.permissions, Role::Editor.permissions().unwrap());
        assert_eq!(k.expires_in_secs, None);
    }

    #[test]
    fn custom_permissions_are_parsed_and_deduplicated() {
        let k = check(r#"{"name":"x","role":"custom","permissions":["keys:read","apps:read","keys:read"],"expiresIn":"2w","description":"  d "}"#).unwrap();
        assert_eq!(
            k.permissions,
            vec![Permission::KeysRead, Permission::AppsRead]
        );
        assert_eq!(k.expires_in_secs, Some(14 * 86_400));
        assert_eq!(k.description.as_deref(), Some("d"));
    }

    #[test]
    fn names_and_descriptions_are_bounded() {
        let long = "n".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(check(&format!(r#"{{"name":"{long}"}}"#)).unwrap_err().code(), "INVALID_KEY_NAME");
        assert!(check(&format!(r#"{{"name":"{}"}}"#, "é".repeat(MAX_NAME_CHARS))).is_ok());
        let long = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
        assert_eq!(check(&format!(r#"{{"name":"x","description":"{long}"}}"#)).unwrap_err().code(), "INVALID_KEY_DESCRIPTION");
        assert!(check(r#"{"name":"x","description":"two\nlines"}"#).is_ok());
    }

    #[test]
    fn each_problem_has_its_code() {
        let cases = [
            ("{", "INVALID_JSON"),
            ("[1]", "INVALID_JSON"),
            ("{}", "MISSING_KEY_NAME"),
            (r#"{"name":"   "}"#, "MISSING_KEY_NAME"),
            (r#"{"name":5}"#, "MISSING_KEY_NAME"),
            (r#"{"name":"a\u001b[2Jb"}"#, "INVALID_KEY_NAME"),
            (r#"{"name":"a\nb"}"#, "INVALID_KEY_NAME"),
            (r#"{"name":"evil\u202egnp.exe"}"#, "INVALID_KEY_NAME"),
            (r#"{"name":"x","description":"bell\u0007"}"#, "INVALID_KEY_DESCRIPTION"),
            (r#"{"name":"x","role":"root"}"#, "INVALID_KEY_ROLE"),
            (r#"{"name":"x","role":7}"#, "INVALID_KEY_ROLE"),
            (r#"{"name":"x","role":"custom"}"#, "MISSING_PERMISSIONS"),
            (
                r#"{"name":"x","role":"custom","permissions":[]}"#,
                "MISSING_PERMISSIONS",
            ),
            (
                r#"{"name":"x","role":"custom","permissions":"apps:read"}"#,
                "MISSING_PERMISSIONS",
            ),
            (
                r#"{"name":"x","role":"custom","permissions":["apps:*"]}"#,
                "INVALID_PERMISSION",
            ),
            (
                r#"{"name":"x","role":"custom","permissions":[1]}"#,
                "INVALID_PERMISSION",
            ),
            (r#"{"name":"x","expiresIn":"0d"}"#, "INVALID_EXPIRATION"),
            (r#"{"name":"x","expiresIn":30}"#, "INVALID_EXPIRATION"),
        ];
        for (body, code) in cases {
            assert_eq!(check(body).unwrap_err().code(), code, "{body}");
        }
    }
}
