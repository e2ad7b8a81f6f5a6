//! The evaluation context (subject, resource, action, environment) and how a request becomes one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Everything a decision is made on; `POST /authz/api/evaluate` takes one as its body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvaluationContext {
    /// Who.
    pub subject: Subject,
    /// What.
    pub resource: Resource,
    /// Which operation.
    pub action: Action,
    /// Where and when.
    pub environment: Environment,
}

/// The caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subject {
    /// The identity's `sub` (sessions) or `id` (API keys); `anonymous` without identity.
    pub id: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Other claims.
    pub claims: Map<String, Value>,
}

/// The id of a caller without identity.
pub const ANONYMOUS: &str = "anonymous";

impl Default for Subject {
    fn default() -> Self {
        Self {
            id: ANONYMOUS.to_owned(),
            roles: Vec::new(),
            groups: Vec::new(),
            claims: Map::new(),
        }
    }
}

/// The thing acted on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resource {
    /// The app (or plugin) the request is for.
    pub app: String,
    /// The request path.
    pub path: String,
    /// A resource type, for callers of the service and the evaluate API.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The resource's owner (a subject id), for `owner: self`; a `{owner}` segment of a matched
    /// path pattern supplies it for requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Action {
    /// The HTTP method.
    pub method: String,
    /// An application-defined operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// Where and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Environment {
    /// The client address, or `unknown`.
    pub ip: String,
    /// The instant (RFC 3339); absent means now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The `User-Agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Default for Environment {
    fn default() -> Self {
        Self {
            ip: "unknown".to_owned(),
            time: None,
            user_agent: None,
        }
    }
}

/// The `X-Identity` header as authn writes it: `{sub, roles, groups, claims}` for sessions and
/// `{id: "apikey:<name>", name, roles}` for API keys.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Identity {
    sub: Option<String>,
    id: Option<String>,
    roles: Vec<String>,
    groups: Vec<String>,
    claims: Map<String, Value>,
}

/// Reads an `X-Identity` value into a subject.
///
/// # Errors
/// The JSON error, when the header is not an identity object.
pub fn subject_from_identity(header: &[u8]) -> Result<Subject, serde_json::Error> {
    let identity: Identity = serde_json::from_slice(header)?;
    let id = identity
        .sub
        .or(identity.id)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| ANONYMOUS.to_owned());
    Ok(Subject {
        id,
        roles: identity.roles,
        groups: identity.groups,
        claims: identity.claims,
    })
}

/// The client address: the TCP peer, or with `trust_proxy` the first `X-Forwarded-For` entry,
/// then `X-Real-IP`. Without a trusted proxy those headers are the client's to forge, so an IP
/// blocklist could be walked around with them (the original always believed them).
pub fn client_ip(
    headers: &http::HeaderMap,
    peer: Option<IpAddr>,
    trust_proxy: bool,
) -> Option<IpAddr> {
    if trust_proxy {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .or_else(|| headers.get("x-real-ip").and_then(|v| v.to_str().ok()))
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_identity_shapes() {
        let s = subject_from_identity(
            br#"{"sub":"u1","roles":["admin"],"groups":["ops"],"claims":{"tier":3}}"#,
        )
        .unwrap();
        assert_eq!(
            (
                s.id.as_str(),
                s.roles[0].as_str(),
                s.groups[0].as_str(),
                &s.claims["tier"]
            ),
            ("u1", "admin", "ops", &Value::from(3))
        );
        let s = subject_from_identity(br#"{"id":"apikey:ci","name":"ci","roles":["api-client"]}"#)
            .unwrap();
        assert_eq!(s.id, "apikey:ci");
        assert!(subject_from_identity(b"not json").is_err());
        assert_eq!(subject_from_identity(b"{}").unwrap().id, ANONYMOUS);
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        let peer = Some("127.0.0.1".parse().unwrap());
        assert_eq!(client_ip(&h, peer, false), peer);
        assert_eq!(
            client_ip(&h, peer, true),
            Some("203.0.113.7".parse().unwrap())
        );
        let mut h = http::HeaderMap::new();
        h.insert("x-real-ip", "2001:db8::1".parse().unwrap());
        assert_eq!(
            client_ip(&h, peer, true),
            Some("2001:db8::1".parse().unwrap())
        );
    }
}
