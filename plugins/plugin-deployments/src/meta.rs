//! What a folder's `manifest.yaml` says to the file manager: its `visibility`, extra `excludes`
//! and whether its worker config is valid (the runtime's own validator, so the listing flags
//! exactly what serving the app would refuse).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

/// Who may reach an app, from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone.
    Public,
    /// Authenticated callers.
    Protected,
    /// Not listed at all.
    Internal,
}

impl Visibility {
    fn parse(v: &Value) -> Option<Self> {
        match v.as_str()?.trim() {
            "public" => Some(Self::Public),
            "protected" => Some(Self::Protected),
            "internal" => Some(Self::Internal),
            _ => None,
        }
    }
}

/// `configValidation` of a listing entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValidation {
    /// What the runtime refuses (`ttl` shorter than `timeout`, …), one line each.
    pub errors: Vec<String>,
    /// `errors` is empty.
    pub is_valid: bool,
    /// What the runtime adjusts (an `idleTimeout` clamped to `ttl`, …).
    pub warnings: Vec<String>,
}

/// A folder's manifest, as far as the file manager cares.
#[derive(Debug, Clone, Default)]
pub struct FolderMeta {
    /// `visibility`, when the manifest sets a known value.
    pub visibility: Option<Visibility>,
    /// `excludes` names added for this folder and below.
    pub excludes: Vec<String>,
    /// The validation of its worker config, when it has a manifest.
    pub validation: Option<ConfigValidation>,
}

/// Reads `dir`'s `manifest.yaml|yml`; a folder without one gives the default.
pub fn read(dir: &Path) -> FolderMeta {
    match buntime_apps::config::read_manifest(dir) {
        Ok(None) => FolderMeta::default(),
        Ok(Some((_, map))) => from_manifest(&map),
        Err((_, problem)) => FolderMeta {
            validation: Some(ConfigValidation { errors: vec![problem.to_string()], is_valid: false, warnings: Vec::new() }),
            ..FolderMeta::default()
        },
    }
}

fn from_manifest(map: &Map<String, Value>) -> FolderMeta {
    let excludes = match map.get("excludes") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let validation = match buntime_apps::config::WorkerConfig::from_manifest(map, BTreeMap::new()) {
        Ok((_, warnings)) => ConfigValidation { errors: Vec::new(), is_valid: true, warnings },
        Err(problems) => ConfigValidation { errors: problems.iter().map(ToString::to_string).collect(), is_valid: false, warnings: Vec::new() },
    };
    FolderMeta { visibility: map.get("visibility").and_then(Visibility::parse), excludes, validation: Some(validation) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_excludes_and_validation_come_from_the_manifest() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("manifest.yaml"), "visibility: protected\nexcludes: [dist]\nttl: 10\ntimeout: 30\n").unwrap();
        let m = read(t.path());
        assert_eq!(m.visibility, Some(Visibility::Protected));
        assert_eq!(m.excludes, ["dist"]);
        let v = m.validation.unwrap();
        assert!(!v.is_valid);
        assert!(v.errors.iter().any(|e| e.contains("ttl") && e.contains("timeout")), "{:?}", v.errors);

        std::fs::write(t.path().join("manifest.yaml"), "ttl: 60\ntimeout: 30\nidleTimeout: 120\n").unwrap();
        let v = read(t.path()).validation.unwrap();
        assert!(v.is_valid && v.errors.is_empty());
        assert!(v.warnings.iter().any(|w| w.contains("idleTimeout")), "{:?}", v.warnings);

        let empty = tempfile::tempdir().unwrap();
        assert!(read(empty.path()).validation.is_none());
        assert!(Visibility::Internal > Visibility::Protected && Visibility::Protected > Visibility::Public);
    }
}
