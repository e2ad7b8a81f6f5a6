//! The policy document: what `POST /authz/api/policies`, the manifest's seeds and the stores hold.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a policy decides when it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Allow the request.
    Permit,
    /// Refuse the request (403).
    Deny,
}

impl Effect {
    /// `permit` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permit => "permit",
            Self::Deny => "deny",
        }
    }
}

/// One policy. Lists are OR-ed (an empty list matches anything); the fields of one matcher are AND-ed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Unique id; `POST` with an existing id replaces that policy.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text, also the decision's `reason` when this policy decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `permit` or `deny`.
    pub effect: Effect,
    /// Higher first; ties keep the order policies were added in.
    #[serde(default)]
    pub priority: i64,
    /// Who it is about.
    pub subjects: Vec<SubjectMatch>,
    /// What it is about.
    pub resources: Vec<ResourceMatch>,
    /// Which operations it is about.
    pub actions: Vec<ActionMatch>,
    /// Extra conditions, all of which must hold for the policy to apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Matches the subject (the `X-Identity` caller).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectMatch {
    /// Exact subject id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A role the subject holds; `*` is a wildcard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A group the subject is in (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A claim compared with an operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimMatch>,
}

/// `claim: {name, value, operator}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimMatch {
    /// The claim's name in the identity's `claims`.
    pub name: String,
    /// The value compared against.
    pub value: Value,
    /// How to compare (default `eq`).
    #[serde(default)]
    pub operator: ClaimOperator,
}

/// Claim comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimOperator {
    /// Equal (same JSON type and value).
    #[default]
    Eq,
    /// Not equal.
    Neq,
    /// Numerically greater.
    Gt,
    /// Numerically less.
    Lt,
    /// A string containing the value, or an array holding it.
    Contains,
    /// A string matching the regex (unanchored).
    Regex,
}

/// Matches the resource (the app and path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceMatch {
    /// The app name; `*` is a wildcard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The request path; `*` and `**` match anything (`/` included), `{owner}` one segment naming
    /// the resource's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The resource type (exact), as evaluation contexts give it.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `self`: the resource's owner must be the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Matches the action.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionMatch {
    /// The HTTP method (case-insensitive), or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// An application-defined operation (exact), as evaluation contexts give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// An extra condition; a condition that does not hold makes the policy not applicable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Condition {
    /// A time window (`HH:mm`, `after` inclusive, `before` exclusive; wraps past midnight when
    /// `after` > `before`) and days of the week (0 = Sunday), in `timeZone` (else the plugin's).
    Time {
        /// Window start, `HH:mm`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Window end, `HH:mm`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        /// Days it holds on, 0 (Sunday) to 6.
        #[serde(default, rename = "dayOfWeek", skip_serializing_if = "Option::is_none")]
        day_of_week: Option<Vec<u8>>,
        /// An IANA time zone such as `Europe/Berlin`.
        #[serde(default, rename = "timeZone", skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
    },
    /// The client address: in `allowlist` or `cidr` when either is given, and not in `blocklist`.
    /// Entries are addresses or CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`).
    Ip {
        /// Addresses or ranges allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowlist: Option<Vec<String>>,
        /// Addresses or ranges refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocklist: Option<Vec<String>>,
        /// More ranges allowed (the original's key).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cidr: Option<Vec<String>>,
    },
}

/// A policy that cannot be used, naming the field (`subjects[0].role`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The field's path in the policy document; empty for the document itself.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

impl PolicyError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, its field under `prefix` (`policies[2]` + `effect` → `policies[2].effect`).
    pub fn under(self, prefix: &str) -> Self {
        let field = if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        Self {
            field,
            message: self.message,
        }
    }
}

/// Reads one policy from JSON, naming the field of the first problem.
///
/// # Errors
/// The field and what is wrong with it (structure only; [`crate::compile`] checks the contents).
pub fn from_json(value: Value) -> Result<Policy, PolicyError> {
    let missing = ["id", "effect", "subjects", "resources", "actions"];
    if let Value::Object(map) = &value {
        if let Some(key) = missing.iter().find(|k| !map.contains_key(**k)) {
            return Err(PolicyError::new(*key, "is required"));
        }
    } else {
        return Err(PolicyError::new(
            "",
            format!(
                "a policy must be a JSON object, found {}",
                type_name(&value)
            ),
        ));
    }
    serde_path_to_error::deserialize::<_, Policy>(value).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        PolicyError::new(field, e.into_inner().to_string())
    })
}

/// Reads a list of policies: `{"policies": [...]}` or a bare array.
///
/// # Errors
/// The first problem, its field under `policies[i]`.
pub fn list_from_json(value: Value) -> Result<Vec<Policy>, PolicyError> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("policies") {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(PolicyError::new(
                    "policies",
                    format!("must be a list, found {}", type_name(&other)),
                ));
            }
            None => {
                return Err(PolicyError::new(
                    "policies",
                    "is required (write `{\"policies\": [...]}` or a bare list)",
                ));
            }
        },
        other => {
            return Err(PolicyError::new(
                "",
                format!(
                    "must be a list of policies or {{\"policies\": [...]}}, found {}",
                    type_name(&other)
                ),
            ));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| from_json(item).map_err(|e| e.under(&format!("policies[{i}]"))))
        .collect()
}

/// A JSON value's type, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_original_shape_and_names_bad_fields() {
        let p = from_json(json!({
            "id": "p", "effect": "permit", "subjects": [{"role": "admin"}], "resources": [{"path": "/**"}],
            "actions": [{"method": "*"}], "conditions": [{"type": "ip", "allowlist": ["10.0.0.0/8"]}]
        }))
        .unwrap();
        assert_eq!(p.priority, 0);
        assert_eq!(p.conditions.len(), 1);
        let e = from_json(
            json!({"id": "p", "effect": "allow", "subjects": [], "resources": [], "actions": []}),
        )
        .unwrap_err();
        assert_eq!(e.field, "effect");
        assert!(
            e.message.contains("unknown variant `allow`"),
            "{}",
            e.message
        );
        let e = from_json(json!({"id": "p", "effect": "deny", "subjects": [{"role": 3}], "resources": [], "actions": []})).unwrap_err();
        assert_eq!(e.field, "subjects[0].role");
        let e = from_json(json!({"id": "p", "effect": "deny", "subjects": [], "actions": []}))
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("resources", "is required")
        );
        let e = from_json(json!({"id": "p", "effect": "deny", "subjects": [], "resources": [], "actions": [], "conditions": [{"type": "custom"}]})).unwrap_err();
        assert_eq!(e.field, "conditions[0].type");
        assert!(
            e.message.contains("unknown variant `custom`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn lists_accept_both_file_shapes() {
        let one =
            json!({"id": "a", "effect": "deny", "subjects": [], "resources": [], "actions": []});
        assert_eq!(list_from_json(json!([one.clone()])).unwrap().len(), 1);
        assert_eq!(list_from_json(json!({"policies": [one]})).unwrap().len(), 1);
        let e = list_from_json(json!({"policies": [{"id": "b"}]})).unwrap_err();
        assert_eq!(e.field, "policies[0].effect");
    }
}
