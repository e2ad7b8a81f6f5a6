//! Problems found while building a generation, shaped for logs and for the reload reply.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// One reason a plugin did not load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The plugin, when its name is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The file at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The manifest key at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What went wrong, and how to fix it when that is known.
    pub message: String,
}

impl Problem {
    /// Creates a problem about a named plugin.
    pub fn plugin(name: &str, message: impl Into<String>) -> Self {
        Self { plugin: Some(name.to_owned()), file: None, key: None, message: message.into() }
    }
}

impl From<crate::manifest::ManifestError> for Problem {
    fn from(e: crate::manifest::ManifestError) -> Self {
        Self { plugin: None, message: e.to_string(), file: Some(e.file), key: e.key }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.plugin, &self.file) {
            (Some(p), _) if !self.message.contains(p.as_str()) => write!(f, "plugin `{p}`: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}
