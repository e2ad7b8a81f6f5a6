//! Users, credentials and sessions in the database plugin's root database, in portable SQL.
//!
//! Tables are prefixed `authn_` (`user` is reserved in PostgreSQL), keys are `VARCHAR` (MySQL
//! indexes no `TEXT`), times are Unix milliseconds in `BIGINT`, lists are JSON text; statements use
//! `?` placeholders, rewritten to `$n` for PostgreSQL.

mod oauth;

pub use oauth::{Linked, OAuthState};

use buntime_plugin_database::{DatabaseService, DbError, Statement, StmtResult, Target, Value};
use serde_json::json;

/// The DDL, idempotent, in dependency order.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS authn_user (
        id VARCHAR(64) PRIMARY KEY,
        email VARCHAR(320) NOT NULL UNIQUE,
        email_verified INTEGER NOT NULL DEFAULT 0,
        name TEXT NOT NULL,
        image TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        external_id VARCHAR(255),
        roles_json TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        metadata_json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS authn_account (
        id VARCHAR(64) PRIMARY KEY,
        user_id VARCHAR(64) NOT NULL REFERENCES authn_user(id) ON DELETE CASCADE,
        provider_id VARCHAR(128) NOT NULL,
        account_id VARCHAR(255) NOT NULL,
        password_hash TEXT,
        id_token TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (provider_id, account_id)
    )",
    "CREATE INDEX IF NOT EXISTS authn_account_user ON authn_account (user_id)",
    "CREATE TABLE IF NOT EXISTS authn_session (
        id VARCHAR(64) PRIMARY KEY,
        token_hash VARCHAR(64) NOT NULL UNIQUE,
        user_id VARCHAR(64) NOT NULL REFERENCES authn_user(id) ON DELETE CASCADE,
        expires_at BIGINT NOT NULL,
        ip_address VARCHAR(64),
        user_agent TEXT,
        created_at BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS authn_session_user ON authn_session (user_id)",
    // One row per OAuth sign-in in flight, keyed by the SHA-256 of its `state`; deleted when the
    // callback consumes it, so a replayed callback finds nothing.
    "CREATE TABLE IF NOT EXISTS authn_oauth_state (
        id VARCHAR(64) PRIMARY KEY,
        provider_id VARCHAR(128) NOT NULL,
        binding_hash VARCHAR(64) NOT NULL,
        pkce_verifier TEXT NOT NULL,
        nonce TEXT NOT NULL,
        redirect TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    )",
    // SCIM groups and their members; a member's group names join its `X-Identity.groups`.
    "CREATE TABLE IF NOT EXISTS authn_scim_group (
        id VARCHAR(64) PRIMARY KEY,
        display_name VARCHAR(255) NOT NULL UNIQUE,
        external_id VARCHAR(255),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS authn_scim_member (
        group_id VARCHAR(64) NOT NULL REFERENCES authn_scim_group(id) ON DELETE CASCADE,
        user_id VARCHAR(64) NOT NULL REFERENCES authn_user(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
    )",
    "CREATE INDEX IF NOT EXISTS authn_scim_member_user ON authn_scim_member (user_id)",
    // SCIM bearer tokens, by SHA-256: the token itself is shown once, at creation.
    "CREATE TABLE IF NOT EXISTS authn_scim_token (
        id VARCHAR(64) PRIMARY KEY,
        name VARCHAR(255) NOT NULL,
        token_hash VARCHAR(64) NOT NULL UNIQUE,
        expires_at BIGINT,
        last_used_at BIGINT,
        created_at BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS authn_secret (
        id VARCHAR(64) PRIMARY KEY,
        secret TEXT NOT NULL,
        created_at BIGINT NOT NULL
    )",
];

/// The provider id of email/password accounts (better-auth's spelling).
pub const CREDENTIAL: &str = "credential";

/// A user row.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The stable id (`sub`).
    pub id: String,
    /// Lower-cased email.
    pub email: String,
    /// Whether the email was verified (by a provider).
    pub email_verified: bool,
    /// Display name.
    pub name: String,
    /// Whether the user may sign in.
    pub active: bool,
    /// Roles (`X-Identity.roles`).
    pub roles: Vec<String>,
    /// Groups (`X-Identity.groups`).
    pub groups: Vec<String>,
    /// Free-form attributes, passed on as claims.
    pub metadata: serde_json::Value,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

impl User {
    /// Returns the public JSON of the user (what `/api/session` shows).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "email": self.email,
            "emailVerified": self.email_verified,
            "name": self.name,
            "active": self.active,
            "roles": self.roles,
            "groups": self.groups,
            "createdAt": self.created_at,
        })
    }
}

/// A session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (shown in listings, used to revoke; not the cookie token).
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// Expiry, Unix ms.
    pub expires_at: i64,
    /// Client IP at sign-in.
    pub ip_address: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

impl Session {
    /// Returns the public JSON of the session.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "userId": self.user_id,
            "expiresAt": self.expires_at,
            "ipAddress": self.ip_address,
            "userAgent": self.user_agent,
            "createdAt": self.created_at,
        })
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken (the email, at sign-up).
    #[error("already exists")]
    Conflict,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The plugin's tables, on one adapter's root database.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseService,
    adapter: String,
    postgres: bool,
}

/// Returns the current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Rewrites `?` placeholders to PostgreSQL's `$1, $2, …` (our statements have no `?` in literals).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(crate) fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        Value::Float(f) => f.trunc() as i64,
        Value::Text(s) => s.parse().unwrap_or_default(),
        _ => 0,
    }
}

fn string_list(v: &Value) -> Vec<String> {
    text(v)
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

const USER_COLS: &str = "u.id, u.email, u.email_verified, u.name, u.active, u.roles_json, u.groups_json, u.metadata_json, u.created_at";

fn user_from(row: &[Value]) -> User {
    User {
        id: text(&row[0]).unwrap_or_default(),
        email: text(&row[1]).unwrap_or_default(),
        email_verified: int(&row[2]) != 0,
        name: text(&row[3]).unwrap_or_default(),
        active: int(&row[4]) != 0,
        roles: string_list(&row[5]),
        groups: string_list(&row[6]),
        metadata: text(&row[7])
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| json!({})),
        created_at: int(&row[8]),
    }
}

const SESSION_COLS: &str =
    "s.id, s.user_id, s.expires_at, s.ip_address, s.user_agent, s.created_at";

fn session_from(row: &[Value]) -> Session {
    Session {
        id: text(&row[0]).unwrap_or_default(),
        user_id: text(&row[1]).unwrap_or_default(),
        expires_at: int(&row[2]),
        ip_address: text(&row[3]),
        user_agent: text(&row[4]),
        created_at: int(&row[5]),
    }
}

pub(crate) fn is_unique_violation(e: &DbError) -> bool {
    matches!(e, DbError::Sql { code, message } if code.contains("UNIQUE") || code.contains("PRIMARYKEY") || code == "23505" || message.contains("UNIQUE") || message.contains("Duplicate"))
}

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::Text(s.to_owned()))
}

impl Store {
    /// Builds the store on `adapter`'s root database.
    pub fn new(db: DatabaseService, adapter: String) -> Self {
        let postgres = adapter == "postgres";
        Self {
            db,
            adapter,
            postgres,
        }
    }

    pub(crate) fn stmt(&self, sql: &str, args: impl IntoIterator<Item = Value>) -> Statement {
        let sql = if self.postgres {
            numbered(sql)
        } else {
            sql.to_owned()
        };
        Statement::with_args(sql, args)
    }

    pub(crate) async fn run(&self, stmt: Statement) -> Result<StmtResult, DbError> {
        self.db
            .execute(Target::root().on(&self.adapter), stmt)
            .await
    }

    /// Runs `stmts` in one transaction.
    pub(crate) async fn batch(&self, stmts: Vec<Statement>) -> Result<Vec<StmtResult>, DbError> {
        self.db.batch(Target::root().on(&self.adapter), stmts).await
    }

    /// Creates the tables when missing.
    ///
    /// # Errors
    /// The database's error.
    pub async fn create_schema(&self) -> Result<(), DbError> {
        for ddl in SCHEMA {
            self.run(Statement::new(*ddl)).await?;
        }
        Ok(())
    }

    /// Returns the cookie-signing key kept in the database, generating it on first use.
    ///
    /// # Errors
    /// The database's error.
    pub async fn signing_secret(&self) -> Result<String, DbError> {
        let candidate = crate::token::random_token();
        // Two replicas starting together: the first insert wins, both read the same row back.
        let insert = "INSERT INTO authn_secret (id, secret, created_at) SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM authn_secret WHERE id = ?)";
        match self
            .run(self.stmt(
                insert,
                [
                    "cookie".into(),
                    candidate.into(),
                    now_ms().into(),
                    "cookie".into(),
                ],
            ))
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
        let res = self
            .run(self.stmt(
                "SELECT secret FROM authn_secret WHERE id = ?",
                ["cookie".into()],
            ))
            .await?;
        res.rows
            .first()
            .and_then(|r| text(&r[0]))
            .ok_or_else(|| DbError::Sql {
                code: "MISSING".into(),
                message: "signing secret row vanished".into(),
            })
    }

    /// Creates a user with an email/password account.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the email is taken.
    pub async fn create_password_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let now = now_ms();
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.to_owned(),
            email_verified: false,
            name: name.to_owned(),
            active: true,
            roles: Vec::new(),
            groups: Vec::new(),
            metadata: json!({}),
            created_at: now,
        };
        let insert_user = self.stmt(
            "INSERT INTO authn_user (id, email, email_verified, name, active, roles_json, groups_json, metadata_json, created_at, updated_at) VALUES (?, ?, 0, ?, 1, '[]', '[]', '{}', ?, ?)",
            [user.id.clone().into(), email.into(), name.into(), now.into(), now.into()],
        );
        let insert_account = self.stmt(
            "INSERT INTO authn_account (id, user_id, provider_id, account_id, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                uuid::Uuid::new_v4().to_string().into(),
                user.id.clone().into(),
                CREDENTIAL.into(),
                user.id.clone().into(),
                password_hash.into(),
                now.into(),
                now.into(),
            ],
        );
        match self
            .db
            .batch(
                Target::root().on(&self.adapter),
                vec![insert_user, insert_account],
            )
            .await
        {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// Returns the user with `email` and its password hash (when it has an email/password account).
    ///
    /// # Errors
    /// The database's error.
    pub async fn credential(&self, email: &str) -> Result<Option<(User, Option<String>)>, DbError> {
        let sql = format!(
            "SELECT {USER_COLS}, a.password_hash FROM authn_user u LEFT JOIN authn_account a ON a.user_id = u.id AND a.provider_id = ? WHERE u.email = ?"
        );
        let res = self
            .run(self.stmt(&sql, [CREDENTIAL.into(), email.into()]))
            .await?;
        Ok(res.rows.first().map(|r| (user_from(r), text(&r[9]))))
    }

    /// Records a new session.
    ///
    /// # Errors
    /// The database's error.
    pub async fn create_session(
        &self,
        user_id: &str,
        token_hash: &str,
        expires_at: i64,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Session, DbError> {
        let s = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            expires_at,
            ip_address: ip.map(str::to_owned),
            user_agent: user_agent.map(|u| u.chars().take(512).collect()),
            created_at: now_ms(),
        };
        self.run(self.stmt(
            "INSERT INTO authn_session (id, token_hash, user_id, expires_at, ip_address, user_agent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                s.id.clone().into(),
                token_hash.into(),
                user_id.into(),
                expires_at.into(),
                opt(s.ip_address.as_deref()),
                opt(s.user_agent.as_deref()),
                s.created_at.into(),
            ],
        ))
        .await?;
        Ok(s)
    }

    /// Returns the unexpired session with `token_hash` and its (active) user.
    ///
    /// # Errors
    /// The database's error.
    pub async fn session_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(Session, User)>, DbError> {
        let sql = format!(
            "SELECT {SESSION_COLS}, {USER_COLS} FROM authn_session s JOIN authn_user u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ? AND u.active = 1"
        );
        let res = self
            .run(self.stmt(&sql, [token_hash.into(), now_ms().into()]))
            .await?;
        let Some(r) = res.rows.first() else {
            return Ok(None);
        };
        let (session, mut user) = (session_from(&r[..6]), user_from(&r[6..]));
        for g in self.scim_group_names(&user.id).await? {
            if !user.groups.contains(&g) {
                user.groups.push(g);
            }
        }
        Ok(Some((session, user)))
    }

    /// Returns the display names of the SCIM groups `user_id` is a member of, sorted.
    ///
    /// # Errors
    /// The database's error.
    pub async fn scim_group_names(&self, user_id: &str) -> Result<Vec<String>, DbError> {
        let res = self
            .run(self.stmt(
                "SELECT g.display_name FROM authn_scim_member m JOIN authn_scim_group g ON g.id = m.group_id WHERE m.user_id = ? ORDER BY g.display_name",
                [user_id.into()],
            ))
            .await?;
        Ok(res.rows.iter().filter_map(|r| text(&r[0])).collect())
    }

    /// Deletes every session of `user_id`; returns how many.
    ///
    /// # Errors
    /// The database's error.
    pub async fn delete_sessions_of(&self, user_id: &str) -> Result<u64, DbError> {
        let res = self
            .run(self.stmt(
                "DELETE FROM authn_session WHERE user_id = ?",
                [user_id.into()],
            ))
            .await?;
        Ok(res.affected_row_count)
    }

    /// Returns the user's unexpired sessions, newest first.
    ///
    /// # Errors
    /// The database's error.
    pub async fn sessions_of(&self, user_id: &str) -> Result<Vec<Session>, DbError> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM authn_session s WHERE s.user_id = ? AND s.expires_at > ? ORDER BY s.created_at DESC, s.id"
        );
        let res = self
            .run(self.stmt(&sql, [user_id.into(), now_ms().into()]))
            .await?;
        Ok(res.rows.iter().map(|r| session_from(r)).collect())
    }

    /// Deletes session `id` of `user_id`; returns whether it existed.
    ///
    /// # Errors
    /// The database's error.
    pub async fn delete_session(&self, user_id: &str, id: &str) -> Result<bool, DbError> {
        let res = self
            .run(self.stmt(
                "DELETE FROM authn_session WHERE id = ? AND user_id = ?",
                [id.into(), user_id.into()],
            ))
            .await?;
        Ok(res.affected_row_count > 0)
    }

    /// Deletes every expired session; returns how many.
    ///
    /// # Errors
    /// The database's error.
    pub async fn delete_expired(&self) -> Result<u64, DbError> {
        let res = self
            .run(self.stmt(
                "DELETE FROM authn_session WHERE expires_at <= ?",
                [now_ms().into()],
            ))
            .await?;
        Ok(res.affected_row_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("SELECT ? FROM t WHERE a = ? AND b = ?"),
            "SELECT $1 FROM t WHERE a = $2 AND b = $3"
        );
    }
}
