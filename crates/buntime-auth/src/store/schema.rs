//! The key store's schema and its migrations, versioned by `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this build writes.
pub(crate) const CURRENT: i64 = 1;

/// Migrations in order; entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["CREATE TABLE api_keys (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL,
        key_hash     TEXT    NOT NULL,
        key_prefix   TEXT    NOT NULL,
        role         TEXT    NOT NULL,
        permissions  TEXT    NOT NULL,
        description  TEXT,
        created_at   INTEGER NOT NULL,
        created_by   INTEGER,
        expires_at   INTEGER,
        last_used_at INTEGER,
        revoked_at   INTEGER
    );
    CREATE INDEX api_keys_by_prefix ON api_keys (key_prefix);"];

/// The outcome of bringing a database up to [`CURRENT`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Migrated {
    /// The schema is current.
    Ok,
    /// The file was written by a newer build; nothing was changed.
    Newer(i64),
}

/// Applies every pending migration in one immediate transaction (safe against a concurrent CLI).
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == CURRENT {
        return Ok(Migrated::Ok);
    }
    if version > CURRENT {
        return Ok(Migrated::Newer(version));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > CURRENT {
        return Ok(Migrated::Newer(version));
    }
    let start = usize::try_from(version.max(0)).unwrap_or(usize::MAX);
    for sql in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", CURRENT)?;
    tx.commit()?;
    Ok(Migrated::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_match_the_current_version() {
        assert_eq!(i64::try_from(MIGRATIONS.len()).unwrap(), CURRENT);
    }

    #[test]
    fn migrate_is_idempotent_and_sets_user_version() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c).unwrap(), Migrated::Ok);
        assert_eq!(migrate(&mut c).unwrap(), Migrated::Ok);
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, CURRENT);
    }

    #[test]
    fn newer_schema_is_reported_not_touched() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        assert_eq!(migrate(&mut c).unwrap(), Migrated::Newer(99));
    }
}
