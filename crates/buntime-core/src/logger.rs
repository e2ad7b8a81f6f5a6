//! The scoped logger handed to each plugin: every line is tagged with the plugin's name.

use std::fmt::Display;
use std::sync::Arc;

/// A logger whose lines carry `plugin = <name>` in the runtime's log.
#[derive(Debug, Clone)]
pub struct PluginLogger {
    name: Arc<str>,
}

impl PluginLogger {
    /// Creates a logger for the plugin `name`.
    pub fn new(name: &str) -> Self {
        Self { name: name.into() }
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl Display) {
        tracing::debug!(plugin = %self.name, "{message}");
    }

    /// Logs at info level.
    pub fn info(&self, message: impl Display) {
        tracing::info!(plugin = %self.name, "{message}");
    }

    /// Logs at warn level.
    pub fn warn(&self, message: impl Display) {
        tracing::warn!(plugin = %self.name, "{message}");
    }

    /// Logs at error level.
    pub fn error(&self, message: impl Display) {
        tracing::error!(plugin = %self.name, "{message}");
    }

    /// Returns the plugin name this logger tags lines with.
    pub fn name(&self) -> &str {
        &self.name
    }
}
