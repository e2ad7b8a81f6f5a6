//! The database error type: what failed, its HRANA code and the HTTP status it answers with.

use http::StatusCode;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The engine refused the statement (syntax, constraint, busy, …); `code` is `SQLITE_*`.
    #[error("{message}")]
    Sql {
        /// The engine's error name, e.g. `SQLITE_CONSTRAINT_UNIQUE`.
        code: String,
        /// The engine's message.
        message: String,
    },
    /// The request named an adapter type that is not configured.
    #[error("unknown adapter `{name}`; configured: {configured}")]
    UnknownAdapter {
        /// The type asked for.
        name: String,
        /// The configured types, comma separated.
        configured: String,
    },
    /// A tenant id with characters other than letters, digits, `-` and `_`.
    #[error("invalid tenant id `{0}`: use 1 to 64 letters, digits, `-` or `_`")]
    InvalidTenant(String),
    /// The tenant does not exist and `tenancy.autoCreate` is off.
    #[error("tenant `{0}` does not exist")]
    TenantNotFound(String),
    /// The table does not exist.
    #[error("table `{0}` does not exist")]
    TableNotFound(String),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The database cannot be reached (file, pool timeout, worker thread lost).
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl DbError {
    /// Creates an [`DbError::Unavailable`] from any displayable cause.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self::Unavailable(cause.to_string())
    }

    /// Returns the machine code: the engine's `SQLITE_*` name for SQL errors, else a plugin code.
    pub fn code(&self) -> &str {
        match self {
            Self::Sql { code, .. } => code,
            Self::UnknownAdapter { .. } => "UNKNOWN_ADAPTER",
            Self::InvalidTenant(_) => "INVALID_TENANT",
            Self::TenantNotFound(_) => "TENANT_NOT_FOUND",
            Self::TableNotFound(_) => "TABLE_NOT_FOUND",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::Unavailable(_) => "INTERNAL_ERROR",
        }
    }

    /// Returns the HTTP status the admin routes answer this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Sql { .. } | Self::BadRequest(_) | Self::InvalidTenant(_) | Self::UnknownAdapter { .. } => StatusCode::BAD_REQUEST,
            Self::TenantNotFound(_) | Self::TableNotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(err: rusqlite::Error) -> Self {
        match &err {
            rusqlite::Error::SqliteFailure(e, msg) => Self::Sql {
                code: sqlite_code_name(e.extended_code).to_owned(),
                message: msg.clone().unwrap_or_else(|| e.to_string()),
            },
            rusqlite::Error::SqlInputError { error, msg, .. } => {
                Self::Sql { code: sqlite_code_name(error.extended_code).to_owned(), message: msg.clone() }
            }
            rusqlite::Error::InvalidParameterName(name) => Self::Sql { code: "SQLITE_RANGE".into(), message: format!("unknown named argument `{name}`") },
            rusqlite::Error::InvalidParameterCount(given, wanted) => {
                Self::Sql { code: "SQLITE_RANGE".into(), message: format!("{given} arguments given, the statement takes {wanted}") }
            }
            rusqlite::Error::MultipleStatement => Self::Sql { code: "SQLITE_ERROR".into(), message: "only one statement may be executed at a time".into() },
            _ => Self::Sql { code: "SQLITE_ERROR".into(), message: err.to_string() },
        }
    }
}

/// Returns the `SQLITE_*` name of a (possibly extended) result code.
pub fn sqlite_code_name(code: i32) -> &'static str {
    match code {
        // Extended codes first: they are what a client usually wants to match on.
        1555 => "SQLITE_CONSTRAINT_PRIMARYKEY",
        2067 => "SQLITE_CONSTRAINT_UNIQUE",
        787 => "SQLITE_CONSTRAINT_FOREIGNKEY",
        1299 => "SQLITE_CONSTRAINT_NOTNULL",
        275 => "SQLITE_CONSTRAINT_CHECK",
        2579 => "SQLITE_CONSTRAINT_ROWID",
        1811 => "SQLITE_CONSTRAINT_TRIGGER",
        517 => "SQLITE_BUSY_SNAPSHOT",
        262 => "SQLITE_LOCKED_SHAREDCACHE",
        1032 => "SQLITE_READONLY_DBMOVED",
        c => match c & 0xff {
            1 => "SQLITE_ERROR",
            2 => "SQLITE_INTERNAL",
            3 => "SQLITE_PERM",
            4 => "SQLITE_ABORT",
            5 => "SQLITE_BUSY",
            6 => "SQLITE_LOCKED",
            7 => "SQLITE_NOMEM",
            8 => "SQLITE_READONLY",
            9 => "SQLITE_INTERRUPT",
            10 => "SQLITE_IOERR",
            11 => "SQLITE_CORRUPT",
            12 => "SQLITE_NOTFOUND",
            13 => "SQLITE_FULL",
            14 => "SQLITE_CANTOPEN",
            15 => "SQLITE_PROTOCOL",
            17 => "SQLITE_SCHEMA",
            18 => "SQLITE_TOOBIG",
            19 => "SQLITE_CONSTRAINT",
            20 => "SQLITE_MISMATCH",
            21 => "SQLITE_MISUSE",
            23 => "SQLITE_AUTH",
            25 => "SQLITE_RANGE",
            26 => "SQLITE_NOTADB",
            _ => "SQLITE_ERROR",
        },
    }
}
