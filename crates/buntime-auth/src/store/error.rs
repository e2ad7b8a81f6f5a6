//! Why the key store cannot be used, with the file and the fix, and its 503 response.

use std::path::PathBuf;

use buntime_core::Response;
use buntime_core::respond::json_error;
use http::StatusCode;

use crate::secret::RandomError;

/// The code of every key-store failure in JSON error bodies.
pub const STORE_UNAVAILABLE_CODE: &str = "KEY_STORE_UNAVAILABLE";

/// A key-store failure. Every variant names the file and says how to fix it.
///
/// The server answers these with **503** (see [`StoreError::to_response`]); nothing else in the
/// runtime depends on the store, so health checks and public routes keep working.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The state directory is missing and cannot be created.
    #[error("cannot create the state directory `{}` for the key store: {source}; create it or point RUNTIME_STATE_DIR at a writable directory", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store file is accessible to other users.
    #[error("key store `{}` is accessible to other users (mode {mode:03o}); run `chmod 600 {}`", path.display(), path.display())]
    Permissions {
        /// The store file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Something other than a regular file sits where the store should be.
    #[error("key store `{}` is not a regular file; move it aside so a new store can be created", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file exists but cannot be opened, read or written.
    #[error("cannot access key store `{}`: {reason}; make it owned by the runtime's user and run `chmod 600 {}`", path.display(), path.display())]
    Unreadable {
        /// The store file.
        path: PathBuf,
        /// What the OS or SQLite said.
        reason: String,
    },
    /// The file is not an SQLite database, or its content is damaged.
    #[error("key store `{}` is damaged or not a key store ({reason}); move it aside and create new keys with `buntime keys create` (existing keys are lost)", path.display())]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The file was written by a newer schema than this build knows.
    #[error("key store `{}` has schema version {found}, newer than this build's {known}; upgrade buntime", path.display())]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The original runtime's `api-keys.json` exists but cannot be imported. Refusing to start
    /// without its keys keeps authentication on.
    #[error("legacy key store `{}` cannot be imported ({reason}); fix it, or delete it to drop its keys (then create new ones with `buntime keys create`)", path.display())]
    Legacy {
        /// The legacy file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Any other SQLite failure (for example a lock held too long by another process).
    #[error("key store `{}` failed: {source}; retry, and check for another process holding it", path.display())]
    Sqlite {
        /// The store file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// No randomness for a new key.
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl StoreError {
    /// Returns the HTTP status the server should answer with: always 503.
    pub fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// Returns the 503 JSON response `{"success":false,"code":"KEY_STORE_UNAVAILABLE","message"}`.
    pub fn to_response(&self) -> Response {
        json_error(self.status(), STORE_UNAVAILABLE_CODE, &self.to_string())
    }
}
