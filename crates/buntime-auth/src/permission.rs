//! The twelve API permissions and the four roles that grant them (spec §10.1).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One permission an API key can hold, written like `apps:read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// `apps:read`: list apps.
    AppsRead,
    /// `apps:install`: upload apps.
    AppsInstall,
    /// `apps:remove`: delete apps and versions.
    AppsRemove,
    /// `plugins:read`: list plugins.
    PluginsRead,
    /// `plugins:install`: upload and reload plugins.
    PluginsInstall,
    /// `plugins:remove`: delete plugins.
    PluginsRemove,
    /// `plugins:config`: reserved; no route requires it.
    PluginsConfig,
    /// `keys:read`: list keys.
    KeysRead,
    /// `keys:create`: create keys.
    KeysCreate,
    /// `keys:revoke`: revoke keys.
    KeysRevoke,
    /// `workers:read`: reserved for worker listings.
    WorkersRead,
    /// `workers:restart`: reserved for worker control.
    WorkersRestart,
}

impl Permission {
    /// Every permission, in the order `GET /keys/meta` lists them.
    pub const ALL: [Self; 12] = [
        Self::AppsRead,
        Self::AppsInstall,
        Self::AppsRemove,
        Self::PluginsRead,
        Self::PluginsInstall,
        Self::PluginsRemove,
        Self::PluginsConfig,
        Self::KeysRead,
        Self::KeysCreate,
        Self::KeysRevoke,
        Self::WorkersRead,
        Self::WorkersRestart,
    ];

    /// Returns the permission as written on the wire (`apps:read`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AppsRead => "apps:read",
            Self::AppsInstall => "apps:install",
            Self::AppsRemove => "apps:remove",
            Self::PluginsRead => "plugins:read",
            Self::PluginsInstall => "plugins:install",
            Self::PluginsRemove => "plugins:remove",
            Self::PluginsConfig => "plugins:config",
            Self::KeysRead => "keys:read",
            Self::KeysCreate => "keys:create",
            Self::KeysRevoke => "keys:revoke",
            Self::WorkersRead => "workers:read",
            Self::WorkersRestart => "workers:restart",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that names no permission or role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownName {
    /// `permission` or `role`.
    pub what: &'static str,
    /// The value found.
    pub value: String,
}

impl FromStr for Permission {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "permission",
                value: s.to_owned(),
            })
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A key's role: a named permission set, or `custom` with an explicit list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Every permission; always passes.
    Admin,
    /// `apps:*`, `plugins:*` and `workers:*`, but no `keys:*`.
    Editor,
    /// `apps:read`, `plugins:read`, `workers:read` and `keys:read`.
    Viewer,
    /// The key's own non-empty list.
    Custom,
}

impl Role {
    /// Every role, in the order `GET /keys/meta` lists them.
    pub const ALL: [Self; 4] = [Self::Admin, Self::Editor, Self::Viewer, Self::Custom];

    /// Returns the role as written on the wire (`admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
            Self::Custom => "custom",
        }
    }

    /// Returns the permissions the role grants, or `None` for `custom` (the key carries its own).
    pub fn permissions(self) -> Option<Vec<Permission>> {
        use Permission as P;
        match self {
            Self::Admin => Some(P::ALL.to_vec()),
            Self::Editor => Some(
                P::ALL
                    .into_iter()
                    .filter(|p| !matches!(p, P::KeysRead | P::KeysCreate | P::KeysRevoke))
                    .collect(),
            ),
            Self::Viewer => Some(vec![
                P::AppsRead,
                P::PluginsRead,
                P::KeysRead,
                P::WorkersRead,
            ]),
            Self::Custom => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "role",
                value: s.to_owned(),
            })
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Returns `list` without duplicates, first occurrence kept.
pub fn dedup(list: impl IntoIterator<Item = Permission>) -> Vec<Permission> {
    let mut out = Vec::new();
    for p in list {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_through_their_wire_names() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        assert!("apps:*".parse::<Permission>().is_err());
        assert!("APPS:READ".parse::<Permission>().is_err());
    }

    #[test]
    fn wire_names_are_the_spec_list_in_order() {
        let names: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "apps:read",
                "apps:install",
                "apps:remove",
                "plugins:read",
                "plugins:install",
                "plugins:remove",
                "plugins:config",
                "keys:read",
                "keys:create",
                "keys:revoke",
                "workers:read",
                "workers:restart"
            ]
        );
    }

    #[test]
    fn editor_has_everything_but_keys_and_viewer_only_reads() {
        let editor = Role::Editor.permissions().unwrap();
        assert_eq!(editor.len(), 9);
        assert!(editor.contains(&Permission::PluginsConfig));
        assert!(!editor.iter().any(|p| p.as_str().starts_with("keys:")));
        let viewer = Role::Viewer.permissions().unwrap();
        assert!(viewer.iter().all(|p| p.as_str().ends_with(":read")));
        assert_eq!(viewer.len(), 4);
        assert_eq!(Role::Admin.permissions().unwrap().len(), 12);
        assert_eq!(Role::Custom.permissions(), None);
    }

    #[test]
    fn roles_parse_only_lowercase_names() {
        assert_eq!("custom".parse::<Role>().unwrap(), Role::Custom);
        assert!("Admin".parse::<Role>().is_err());
        assert_eq!(serde_json::to_string(&Role::Viewer).unwrap(), "\"viewer\"");
    }

    #[test]
    fn dedup_keeps_first_occurrence_order() {
        use Permission as P;
        assert_eq!(
            dedup([P::KeysRead, P::AppsRead, P::KeysRead]),
            vec![P::KeysRead, P::AppsRead]
        );
    }
}
