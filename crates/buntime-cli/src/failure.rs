//! Why a client command failed, and the exit code each reason maps to (docs/cli.md).

use std::fmt;
use std::process::ExitCode;

/// A failed client command: the message for the terminal and the kind that picks the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: Kind,
    pub(crate) message: String,
}

/// The reasons a script can tell apart by exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The runtime refused the request or the operation failed (exit 1).
    Failed,
    /// The command line or the local configuration is wrong (exit 2, like clap's usage errors).
    Usage,
    /// 401 or 403: the token is missing, wrong, or lacks a permission (exit 3).
    Auth,
    /// The runtime could not be reached: refused, DNS, TLS, timeout, connection dropped (exit 4).
    Connection,
    /// The named app, plugin, key or remote does not exist (exit 5).
    NotFound,
}

impl Kind {
    /// The kind's name in `--json` errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Usage => "usage",
            Self::Auth => "auth",
            Self::Connection => "connection",
            Self::NotFound => "not_found",
        }
    }

    /// The process exit code for this kind.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Failed => 1,
            Self::Usage => 2,
            Self::Auth => 3,
            Self::Connection => 4,
            Self::NotFound => 5,
        }
    }
}

impl Failure {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(Kind::Failed, message)
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::failed(e.to_string())
    }
}

/// What every client command returns.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;
