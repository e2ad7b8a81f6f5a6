//! The API-key store: one SQLite table in `<state_dir>/api-keys.db`, mode 0600.
//!
//! The store is opened lazily and re-checked before every operation, so a damaged or
//! wrongly-permissioned file yields a [`StoreError`] (never a panic) and a repaired file is picked
//! up without a restart. Only SHA-256 hashes of keys are stored.

mod error;
mod legacy;
mod schema;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OpenFlags, Row, TransactionBehavior, params};
use serde::Serialize;

pub use self::error::{STORE_UNAVAILABLE_CODE, StoreError};
use crate::permission::{Permission, Role};
use crate::secret::{KEY_PREFIX, generate_key, hash_key, key_prefix, secrets_match};

/// The store's file name inside the state directory.
pub const STORE_FILE: &str = "api-keys.db";
/// `lastUsedAt` is written at most this often per key.
pub const LAST_USED_INTERVAL_SECS: u64 = 60;

/// A stored key as listed by `GET /keys` (never the hash or the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// When it was created (epoch seconds).
    pub created_at: u64,
    /// The id of the key that created it (0 for the master key), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<u64>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it stops being valid (epoch seconds); `None` means never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Positive id, unique for the store's lifetime.
    pub id: u64,
    /// The first 12 characters of the secret.
    pub key_prefix: String,
    /// When it was last used (epoch seconds, at most 60 s stale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<u64>,
    /// Display name.
    pub name: String,
    /// The permissions it holds (the role's set unless the role is `custom`).
    pub permissions: Vec<Permission>,
    /// Its role.
    pub role: Role,
    /// When it was revoked (epoch seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

impl ApiKey {
    /// Returns whether the key is usable at `now`: not revoked and not expired.
    pub fn is_valid_at(&self, now: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }
}

/// A validated request to create a key (see [`crate::input`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Display name, trimmed and non-empty.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The permissions: the role's set, or the custom list (non-empty, deduplicated).
    pub permissions: Vec<Permission>,
    /// Trimmed, non-empty description.
    pub description: Option<String>,
    /// Lifetime in seconds; `None` means never expires.
    pub expires_in_secs: Option<u64>,
    /// The creating key's id (0 for the master key).
    pub created_by: Option<u64>,
}

/// A freshly created key: the stored record plus the secret, which is never shown again.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The secret (`btk_…`).
    pub secret: String,
}

/// The SQLite-backed key store. Cheap to share behind an `Arc`; operations are serialized.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl KeyStore {
    /// Creates a handle on `<state_dir>/api-keys.db` without touching the disk.
    ///
    /// The directory and file are created (0600) by the first operation; problems surface as
    /// [`StoreError`]s from the operations, so a server can start with a damaged store.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.to_path_buf(),
            path: state_dir.join(STORE_FILE),
            conn: Mutex::new(None),
        }
    }

    /// Opens the store now, creating the directory and file if missing and migrating the schema.
    ///
    /// # Errors
    /// Returns why the store is unusable (permissions, content, directory).
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let store = Self::new(state_dir);
        store.check()?;
        Ok(store)
    }

    /// Returns the store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the store is usable (a cheap probe for readiness reporting).
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn check(&self) -> Result<(), StoreError> {
        self.with_conn(|_| Ok(()))
    }

    /// Returns whether any non-revoked key exists (expired keys count), which makes auth required.
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn has_active_keys(&self) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Lists non-revoked keys (expired ones included), by id.
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn list(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.query_keys(
            "SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY id",
            [],
        )
    }

    /// Lists every key, revoked ones included, by id.
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn list_all(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.query_keys("SELECT * FROM api_keys ORDER BY id", [])
    }

    /// Returns one key by id, revoked or not.
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn get(&self, id: u64) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .query_keys("SELECT * FROM api_keys WHERE id = ?1", [to_sql(id)])?
            .pop())
    }

    /// Creates a key now. See [`KeyStore::create_at`].
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn create(&self, new: &NewKey) -> Result<CreatedKey, StoreError> {
        self.create_at(new, now())
    }

    /// Creates a key as of `now` (epoch seconds): a fresh secret, id = max existing id + 1.
    ///
    /// # Errors
    /// Returns why the store is unusable, or [`StoreError::Random`].
    pub fn create_at(&self, new: &NewKey, now: u64) -> Result<CreatedKey, StoreError> {
        let secret = generate_key()?;
        let hash = hash_key(&secret);
        let prefix = key_prefix(&secret);
        let perms = serde_json::to_string(&new.permissions).unwrap_or_else(|_| "[]".to_owned());
        let expires_at = new.expires_in_secs.map(|s| now.saturating_add(s));
        let id = self.with_conn(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM api_keys", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO api_keys (id, name, key_hash, key_prefix, role, permissions, description, created_at, created_by, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    id,
                    new.name,
                    hash,
                    prefix,
                    new.role.as_str(),
                    perms,
                    new.description,
                    to_sql(now),
                    new.created_by.map(to_sql),
                    expires_at.map(to_sql)
                ],
            )?;
            tx.commit()?;
            Ok(id)
        })?;
        let key = ApiKey {
            created_at: now,
            created_by: new.created_by,
            description: new.description.clone(),
            expires_at,
            id: from_sql(id),
            key_prefix: prefix,
            last_used_at: None,
            name: new.name.clone(),
            permissions: new.permissions.clone(),
            role: new.role,
            revoked_at: None,
        };
        Ok(CreatedKey { key, secret })
    }

    /// Revokes a key now; returns `false` when it does not exist or is already revoked.
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn revoke(&self, id: u64) -> Result<bool, StoreError> {
        self.revoke_at(id, now())
    }

    /// Revokes a key as of `now`; returns `false` when it does not exist or is already revoked.
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn revoke_at(&self, id: u64, now: u64) -> Result<bool, StoreError> {
        let n = self.with_conn(|c| {
            c.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![to_sql(id), to_sql(now)],
            )
        })?;
        Ok(n > 0)
    }

    /// Verifies a presented secret now. See [`KeyStore::verify_at`].
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn verify(&self, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        self.verify_at(secret, now())
    }

    /// Verifies a presented secret as of `now`: returns the key when its hash matches (compared in
    /// constant time), it is not revoked and not expired. Refreshes `lastUsedAt` when it is older
    /// than 60 s (a failed refresh is logged, not fatal).
    ///
    /// Candidates are narrowed by the public `keyPrefix`, so secrets that are not `btk_` keys
    /// (for example a user's JWT) never reach the database.
    ///
    /// # Errors
    /// Returns why the store is unusable.
    pub fn verify_at(&self, secret: &str, now: u64) -> Result<Option<ApiKey>, StoreError> {
        if !secret.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let hash = hash_key(secret);
        let prefix = key_prefix(secret);
        let candidates = self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT key_hash, * FROM api_keys WHERE key_prefix = ?1")?;
            let rows = stmt.query_map([&prefix], |r| Ok((r.get::<_, String>(0)?, read_key(r))))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let mut found = None;
        for (stored, key) in candidates {
            // Compare against every candidate: no early exit on a match.
            if secrets_match(hash.as_bytes(), stored.as_bytes()) {
                found = Some(key);
            }
        }
        let Some(key) = found else { return Ok(None) };
        let mut key = key.map_err(|reason| StoreError::Corrupt {
            path: self.path.clone(),
            reason,
        })?;
        if !key.is_valid_at(now) {
            return Ok(None);
        }
        if key
            .last_used_at
            .is_none_or(|t| now >= t.saturating_add(LAST_USED_INTERVAL_SECS))
        {
            let id = key.id;
            match self.with_conn(|c| {
                c.execute(
                    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                    params![to_sql(id), to_sql(now)],
                )
            }) {
                Ok(_) => key.last_used_at = Some(now),
                Err(err) => {
                    tracing::warn!(key_id = id, error = %err, "Could not record key use; continuing.")
                }
            }
        }
        Ok(Some(key))
    }

    fn query_keys<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self.with_conn(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map(params, |r| Ok(read_key(r)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|r| {
                r.map_err(|reason| StoreError::Corrupt {
                    path: self.path.clone(),
                    reason,
                })
            })
            .collect()
    }

    /// Runs `f` on a healthy connection, (re)opening it when needed and classifying failures.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        match self.inspect_file() {
            Ok(FileState::Existing) => {}
            Ok(FileState::Created) => *guard = None,
            Err(e) => {
                *guard = None;
                return Err(e);
            }
        }
        let conn = match guard.as_mut() {
            Some(c) => c,
            None => guard.insert(self.connect()?),
        };
        f(conn).map_err(|e| {
            let err = self.classify(e);
            if !matches!(err, StoreError::Sqlite { .. }) {
                *guard = None;
            }
            err
        })
    }

    /// Ensures the directory and file exist and the file is private to its owner.
    fn inspect_file(&self) -> Result<FileState, StoreError> {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) => {
                if !meta.is_file() {
                    return Err(StoreError::NotAFile {
                        path: self.path.clone(),
                    });
                }
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(StoreError::Permissions {
                            path: self.path.clone(),
                            mode,
                        });
                    }
                }
                Ok(FileState::Existing)
            }
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                self.create_file()?;
                Ok(FileState::Created)
            }
            Err(e) => Err(StoreError::Unreadable {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
        }
    }

    fn create_file(&self) -> Result<(), StoreError> {
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            dir.mode(0o700);
        }
        dir.create(&self.dir)
            .map_err(|source| StoreError::StateDir {
                path: self.dir.clone(),
                source,
            })?;
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            file.mode(0o600);
        }
        match file.open(&self.path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(StoreError::Unreadable {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
        }
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        // No CREATE flag: `inspect_file` made the file with mode 0600; SQLite must not recreate it.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&self.path, flags).map_err(|e| self.classify(e))?;
        conn.busy_timeout(Duration::from_secs(2))
            .map_err(|e| self.classify(e))?;
        if let schema::Migrated::Newer(found) =
            schema::migrate(&mut conn).map_err(|e| self.classify(e))?
        {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found,
                known: schema::CURRENT,
            });
        }
        match legacy::import_if_present(&mut conn, &self.dir) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(count = n, file = %self.dir.join(legacy::LEGACY_FILE).display(), "Imported API keys from the legacy store.")
            }
            Err(legacy::ImportError::Sqlite(e)) => return Err(self.classify(e)),
            Err(legacy::ImportError::Invalid(reason)) => {
                return Err(StoreError::Legacy {
                    path: self.dir.join(legacy::LEGACY_FILE),
                    reason,
                });
            }
        }
        Ok(conn)
    }

    fn classify(&self, e: rusqlite::Error) -> StoreError {
        let path = self.path.clone();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                reason: e.to_string(),
            },
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::AuthorizationForStatementDenied,
            ) => StoreError::Unreadable {
                path,
                reason: e.to_string(),
            },
            _ => match e {
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..) => StoreError::Corrupt {
                    path,
                    reason: e.to_string(),
                },
                // A valid SQLite file without our table (user_version set by someone else).
                rusqlite::Error::SqliteFailure(_, Some(ref msg)) if msg.contains("no such") => {
                    StoreError::Corrupt {
                        path,
                        reason: e.to_string(),
                    }
                }
                source => StoreError::Sqlite { path, source },
            },
        }
    }
}

/// Whether the store file was already there.
enum FileState {
    Existing,
    Created,
}

/// Decodes a row; a bad role or permission list is reported as corruption, not a panic.
fn read_key(r: &Row<'_>) -> Result<ApiKey, String> {
    let col = |e: rusqlite::Error| e.to_string();
    let role: String = r.get("role").map_err(col)?;
    let role: Role = role
        .parse()
        .map_err(|e: crate::permission::UnknownName| e.to_string())?;
    let perms: String = r.get("permissions").map_err(col)?;
    let permissions: Vec<Permission> = serde_json::from_str(&perms)
        .map_err(|e| format!("key permissions are not a list of known permissions: {e}"))?;
    let opt = |name: &str| {
        r.get::<_, Option<i64>>(name)
            .map(|v| v.map(from_sql))
            .map_err(col)
    };
    Ok(ApiKey {
        created_at: from_sql(r.get::<_, i64>("created_at").map_err(col)?),
        created_by: opt("created_by")?,
        description: r.get("description").map_err(col)?,
        expires_at: opt("expires_at")?,
        id: from_sql(r.get::<_, i64>("id").map_err(col)?),
        key_prefix: r.get("key_prefix").map_err(col)?,
        last_used_at: opt("last_used_at")?,
        name: r.get("name").map_err(col)?,
        permissions,
        role,
        revoked_at: opt("revoked_at")?,
    })
}

fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Returns the current time in epoch seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
