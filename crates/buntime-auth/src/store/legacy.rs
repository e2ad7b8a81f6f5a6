//! One-time import of the original runtime's `api-keys.json`, so upgrading never drops keys
//! (which, without a master key, would silently turn authentication off).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};
use serde::Deserialize;

use crate::permission::{Permission, Role};

/// The original store's file name, next to ours in the state directory.
pub(crate) const LEGACY_FILE: &str = "api-keys.json";

#[derive(Deserialize)]
struct LegacyFile {
    keys: Vec<LegacyKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyKey {
    id: i64,
    name: String,
    key_hash: String,
    key_prefix: String,
    role: Role,
    #[serde(default)]
    permissions: Vec<Permission>,
    created_at: i64,
    description: Option<String>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    created_by: Option<i64>,
}

/// What went wrong importing the legacy file.
#[derive(Debug)]
pub(crate) enum ImportError {
    /// The file cannot be read or parsed; the string says why.
    Invalid(String),
    /// Writing the rows failed.
    Sqlite(rusqlite::Error),
}

/// Imports `<dir>/api-keys.json` when it exists and our table is still empty. Returns how many
/// keys were imported. Hashes are SHA-256 hex in both stores, so imported secrets keep working.
pub(crate) fn import_if_present(conn: &mut Connection, dir: &Path) -> Result<usize, ImportError> {
    let path = dir.join(LEGACY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ImportError::Invalid(e.to_string())),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(ImportError::Sqlite)?;
    let empty: bool = tx
        .query_row("SELECT NOT EXISTS (SELECT 1 FROM api_keys)", [], |r| {
            r.get(0)
        })
        .map_err(ImportError::Sqlite)?;
    if !empty {
        return Ok(0);
    }
    let file: LegacyFile =
        serde_json::from_slice(&bytes).map_err(|e| ImportError::Invalid(e.to_string()))?;
    for k in &file.keys {
        let valid_hash =
            k.key_hash.len() == 64 && k.key_hash.bytes().all(|b| b.is_ascii_hexdigit());
        if k.id <= 0 || !valid_hash {
            return Err(ImportError::Invalid(format!(
                "key {} has an invalid id or hash",
                k.id
            )));
        }
        let perms = match k.role.permissions() {
            Some(set) => set,
            None if k.permissions.is_empty() => {
                return Err(ImportError::Invalid(format!(
                    "custom key {} has no permissions",
                    k.id
                )));
            }
            None => crate::permission::dedup(k.permissions.iter().copied()),
        };
        let perms =
            serde_json::to_string(&perms).map_err(|e| ImportError::Invalid(e.to_string()))?;
        tx.execute(
            "INSERT INTO api_keys (id, name, key_hash, key_prefix, role, permissions, description, created_at, created_by,
                                   expires_at, last_used_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                k.id,
                k.name,
                k.key_hash.to_ascii_lowercase(),
                k.key_prefix,
                k.role.as_str(),
                perms,
                k.description,
                k.created_at,
                k.created_by,
                k.expires_at,
                k.last_used_at,
                k.revoked_at
            ],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => ImportError::Invalid(format!("duplicate key id {}", k.id)),
            _ => ImportError::Sqlite(e),
        })?;
    }
    tx.commit().map_err(ImportError::Sqlite)?;
    Ok(file.keys.len())
}
