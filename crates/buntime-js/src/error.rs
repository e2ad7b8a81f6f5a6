//! Errors of the JS plugin host: calls that fail, and hosts that cannot start.

use std::time::Duration;

use buntime_core::{ErrorKind, PluginError};

/// Why one call to the plugin host failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The host process is not running (crashed, restarting or stopped).
    #[error("the plugin host is down")]
    HostDown,
    /// The host did not answer in time.
    #[error("the plugin host did not answer within {}ms", .0.as_millis())]
    Timeout(Duration),
    /// The plugin's JavaScript threw.
    #[error("{message}")]
    Remote {
        /// The JS error message.
        message: String,
        /// Its stack, if any.
        stack: Option<String>,
    },
    /// The host sent something that does not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl CallError {
    /// Returns whether the failure is the host's (down or silent) rather than the plugin's code.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::HostDown | Self::Timeout(_))
    }

    /// Converts to a [`PluginError`]: host failures become 503 with a public message naming the
    /// plugin; JS exceptions and protocol errors become internal errors (logged, never sent).
    pub fn into_plugin_error(self, plugin: &str) -> PluginError {
        match self {
            Self::HostDown | Self::Timeout(_) => {
                PluginError::new(ErrorKind::Unavailable, format!("plugin `{plugin}` is unavailable: {self}"))
            }
            other => PluginError::internal(other.to_string()),
        }
    }
}

/// Why a plugin host could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Bun is not installed or not found.
    #[error("{0}")]
    NoBun(String),
    /// Preparing the runtime directory, the socket or the process failed.
    #[error("cannot start the plugin host ({what}): {source}")]
    Io {
        /// The step that failed.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The host did not connect or greet in time, or exited first.
    #[error("the plugin host did not start: {0}")]
    Handshake(String),
}
