//! Where policies persist: nowhere (memory), a JSON file rewritten atomically, or the database
//! plugin's root database (table `authz_policy`).

use std::path::{Path, PathBuf};

use buntime_plugin_database::{DatabaseService, Statement, Target, Value as DbValue};
use serde_json::{Value, json};

use crate::policy::{Policy, list_from_json};

/// A persistence backend. Every write happens before memory changes, so a failed write leaves
/// the policies as they were, in memory and on disk.
#[derive(Debug, Clone)]
pub enum Store {
    /// No persistence.
    Memory,
    /// A JSON file `{"policies": [...]}`.
    File(PathBuf),
    /// The database plugin, on one adapter's root database.
    Database {
        /// The service.
        db: DatabaseService,
        /// The adapter type (`None` = the default one).
        adapter: Option<String>,
    },
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS authz_policy (id VARCHAR(200) PRIMARY KEY, position BIGINT NOT NULL, document TEXT NOT NULL)";

impl Store {
    /// Prepares the store (creates the table) and returns the policies it holds, in order.
    ///
    /// # Errors
    /// A message naming the file or table and what is wrong.
    pub async fn load(&self) -> Result<Vec<Policy>, String> {
        match self {
            Self::Memory => Ok(Vec::new()),
            Self::File(path) => load_file(path).await,
            Self::Database { db, adapter } => {
                db.execute(self.target(adapter), Statement::new(CREATE))
                    .await
                    .map_err(|e| format!("cannot create table authz_policy: {e}"))?;
                let rows = db
                    .execute(
                        self.target(adapter),
                        Statement::new("SELECT id, document FROM authz_policy ORDER BY position"),
                    )
                    .await
                    .map_err(|e| format!("cannot read table authz_policy: {e}"))?;
                rows.rows
                    .iter()
                    .map(|row| {
                        let id = row.first().map(|v| v.to_plain_json()).unwrap_or_default();
                        let text = match row.get(1) {
                            Some(DbValue::Text(t)) => t.clone(),
                            _ => {
                                return Err(format!(
                                    "authz_policy row {id}: `document` is not text"
                                ));
                            }
                        };
                        let doc: Value = serde_json::from_str(&text)
                            .map_err(|e| format!("authz_policy row {id}: {e}"))?;
                        crate::policy::from_json(doc)
                            .map_err(|e| format!("authz_policy row {id}: {e}"))
                    })
                    .collect()
            }
        }
    }

    fn target<'a>(&self, adapter: &'a Option<String>) -> Target<'a> {
        match adapter {
            Some(a) => Target::root().on(a),
            None => Target::root(),
        }
    }

    /// Persists `all` after `changed` was inserted or replaced (`position` is its index in `all`).
    ///
    /// # Errors
    /// What could not be written.
    pub async fn save(
        &self,
        all: &[Policy],
        changed: &Policy,
        position: usize,
    ) -> Result<(), String> {
        match self {
            Self::Memory => Ok(()),
            Self::File(path) => write_file(path, all).await,
            Self::Database { db, adapter } => {
                let doc = serde_json::to_string(changed).map_err(|e| e.to_string())?;
                // Delete then insert in one transaction: portable upsert for SQLite, PostgreSQL and MySQL.
                let stmts = vec![
                    Statement::with_args(
                        "DELETE FROM authz_policy WHERE id = ?",
                        [DbValue::from(changed.id.as_str())],
                    ),
                    Statement::with_args(
                        "INSERT INTO authz_policy (id, position, document) VALUES (?, ?, ?)",
                        [
                            DbValue::from(changed.id.as_str()),
                            DbValue::Integer(i64::try_from(position).unwrap_or(i64::MAX)),
                            DbValue::from(doc.as_str()),
                        ],
                    ),
                ];
                db.batch(self.target(adapter), stmts)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("cannot write table authz_policy: {e}"))
            }
        }
    }

    /// Persists `all` after policy `id` was removed.
    ///
    /// # Errors
    /// What could not be written.
    pub async fn remove(&self, all: &[Policy], id: &str) -> Result<(), String> {
        match self {
            Self::Memory => Ok(()),
            Self::File(path) => write_file(path, all).await,
            Self::Database { db, adapter } => db
                .execute(
                    self.target(adapter),
                    Statement::with_args(
                        "DELETE FROM authz_policy WHERE id = ?",
                        [DbValue::from(id)],
                    ),
                )
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot write table authz_policy: {e}")),
        }
    }
}

/// Reads a policy file; a missing file is an empty store.
///
/// # Errors
/// The file and what is wrong with it (never silently ignored: that would drop policies).
pub async fn load_file(path: &Path) -> Result<Vec<Policy>, String> {
    let text = match tokio::fs::read_to_string(path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: cannot be read: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: is not valid JSON: {e}", path.display()))?;
    list_from_json(doc).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `{"policies": all}` to a temporary file beside `path`, then renames it over `path`, so
/// a crash mid-write never leaves a truncated file.
async fn write_file(path: &Path, all: &[Policy]) -> Result<(), String> {
    let text =
        serde_json::to_string_pretty(&json!({ "policies": all })).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, text)
        .await
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| format!("cannot replace {}: {e}", path.display()))
}
