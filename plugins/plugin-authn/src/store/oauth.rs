//! The OAuth side of the store: sign-ins in flight (`authn_oauth_state`, single use) and provider
//! accounts (`authn_account` rows other than `credential`), with account linking.

use buntime_plugin_database::{DbError, Target, Value};
use serde_json::json;

use super::{
    CREDENTIAL, Store, StoreError, USER_COLS, User, int, is_unique_violation, now_ms, text,
    user_from,
};

/// A sign-in in flight, as stored between the redirect to the provider and its callback.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// The SHA-256 of the `state` parameter.
    pub id: String,
    /// The provider the flow was started for.
    pub provider_id: String,
    /// The SHA-256 of the browser-binding cookie set when the flow started.
    pub binding_hash: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// Where to go after signing in (a checked same-site path).
    pub redirect: String,
    /// Expiry, Unix ms.
    pub expires_at: i64,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthState")
            .field("provider_id", &self.provider_id)
            .field("redirect", &self.redirect)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What an OIDC sign-in resolved to.
#[derive(Debug)]
pub enum Linked {
    /// An existing or new user, signed in.
    User(Box<User>),
    /// An existing user has this email but the provider does not vouch for it: linking would let
    /// whoever controls the provider account take the user over.
    EmailUnverified,
}

impl Store {
    /// Records a sign-in in flight.
    ///
    /// # Errors
    /// The database's error.
    pub async fn create_oauth_state(&self, s: &OAuthState) -> Result<(), DbError> {
        self.run(self.stmt(
            "INSERT INTO authn_oauth_state (id, provider_id, binding_hash, pkce_verifier, nonce, redirect, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                s.id.clone().into(),
                s.provider_id.clone().into(),
                s.binding_hash.clone().into(),
                s.pkce_verifier.clone().into(),
                s.nonce.clone().into(),
                s.redirect.clone().into(),
                s.expires_at.into(),
                now_ms().into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Returns the sign-in in flight with state hash `id`, without consuming it.
    ///
    /// # Errors
    /// The database's error.
    pub async fn oauth_state(&self, id: &str) -> Result<Option<OAuthState>, DbError> {
        let res = self
            .run(self.stmt(
                "SELECT id, provider_id, binding_hash, pkce_verifier, nonce, redirect, expires_at FROM authn_oauth_state WHERE id = ?",
                [id.into()],
            ))
            .await?;
        Ok(res.rows.first().map(|r| OAuthState {
            id: text(&r[0]).unwrap_or_default(),
            provider_id: text(&r[1]).unwrap_or_default(),
            binding_hash: text(&r[2]).unwrap_or_default(),
            pkce_verifier: text(&r[3]).unwrap_or_default(),
            nonce: text(&r[4]).unwrap_or_default(),
            redirect: text(&r[5]).unwrap_or_default(),
            expires_at: int(&r[6]),
        }))
    }

    /// Deletes the sign-in in flight `id`; returns whether this call deleted it. Only one of two
    /// concurrent callbacks with the same state (on any replica) gets `true`.
    ///
    /// # Errors
    /// The database's error.
    pub async fn consume_oauth_state(&self, id: &str) -> Result<bool, DbError> {
        let res = self
            .run(self.stmt("DELETE FROM authn_oauth_state WHERE id = ?", [id.into()]))
            .await?;
        Ok(res.affected_row_count == 1)
    }

    /// Deletes expired sign-ins in flight; returns how many.
    ///
    /// # Errors
    /// The database's error.
    pub async fn delete_expired_oauth_states(&self) -> Result<u64, DbError> {
        let res = self
            .run(self.stmt(
                "DELETE FROM authn_oauth_state WHERE expires_at <= ?",
                [now_ms().into()],
            ))
            .await?;
        Ok(res.affected_row_count)
    }

    async fn user_where(&self, clause: &str, args: Vec<Value>) -> Result<Option<User>, DbError> {
        let sql = format!("SELECT {USER_COLS} FROM authn_user u {clause}");
        let res = self.run(self.stmt(&sql, args)).await?;
        Ok(res.rows.first().map(|r| user_from(r)))
    }

    /// Finds or creates the user of a verified provider identity and records its ID token.
    ///
    /// * A known `(provider, subject)` account signs its user in.
    /// * Otherwise a user with the same email is linked, when the provider verified the email.
    /// * Otherwise a new user is created (its email marked verified as the provider says).
    ///
    /// # Errors
    /// The database's error; [`StoreError::Conflict`] when a concurrent sign-in created the same
    /// account first (retrying finds it).
    pub async fn link_oidc_user(
        &self,
        provider_id: &str,
        subject: &str,
        email: &str,
        email_verified: bool,
        name: &str,
        id_token: &str,
    ) -> Result<Linked, StoreError> {
        let now = now_ms();
        if let Some(user) = self
            .user_where(
                "JOIN authn_account a ON a.user_id = u.id WHERE a.provider_id = ? AND a.account_id = ?",
                vec![provider_id.into(), subject.into()],
            )
            .await?
        {
            self.run(self.stmt(
                "UPDATE authn_account SET id_token = ?, updated_at = ? WHERE provider_id = ? AND account_id = ?",
                [id_token.into(), now.into(), provider_id.into(), subject.into()],
            ))
            .await?;
            return Ok(Linked::User(Box::new(user)));
        }
        let account = |user_id: &str| {
            self.stmt(
                "INSERT INTO authn_account (id, user_id, provider_id, account_id, id_token, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    uuid::Uuid::new_v4().to_string().into(),
                    user_id.into(),
                    provider_id.into(),
                    subject.into(),
                    id_token.into(),
                    now.into(),
                    now.into(),
                ],
            )
        };
        let target = Target::root().on(&self.adapter);
        if let Some(mut user) = self
            .user_where("WHERE u.email = ?", vec![email.into()])
            .await?
        {
            if !email_verified {
                return Ok(Linked::EmailUnverified);
            }
            let mut stmts = vec![account(&user.id)];
            if !user.email_verified {
                stmts.push(self.stmt(
                    "UPDATE authn_user SET email_verified = 1, updated_at = ? WHERE id = ?",
                    [now.into(), user.id.clone().into()],
                ));
                user.email_verified = true;
            }
            return match self.db.batch(target, stmts).await {
                Ok(_) => Ok(Linked::User(Box::new(user))),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(e.into()),
            };
        }
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.to_owned(),
            email_verified,
            name: name.to_owned(),
            active: true,
            roles: Vec::new(),
            groups: Vec::new(),
            metadata: json!({}),
            created_at: now,
        };
        let insert_user = self.stmt(
            "INSERT INTO authn_user (id, email, email_verified, name, active, roles_json, groups_json, metadata_json, created_at, updated_at) VALUES (?, ?, ?, ?, 1, '[]', '[]', '{}', ?, ?)",
            [
                user.id.clone().into(),
                email.into(),
                i64::from(email_verified).into(),
                name.into(),
                now.into(),
                now.into(),
            ],
        );
        match self
            .db
            .batch(target, vec![insert_user, account(&user.id)])
            .await
        {
            Ok(_) => Ok(Linked::User(Box::new(user))),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the user's roles with the ones a provider manages (Keycloak's).
    ///
    /// # Errors
    /// The database's error.
    pub async fn set_roles(&self, user_id: &str, roles: &[String]) -> Result<(), DbError> {
        let json = serde_json::to_string(roles).unwrap_or_else(|_| "[]".to_owned());
        self.run(self.stmt(
            "UPDATE authn_user SET roles_json = ?, updated_at = ? WHERE id = ?",
            [json.into(), now_ms().into(), user_id.into()],
        ))
        .await?;
        Ok(())
    }

    /// Returns the user's most recently used provider account that holds an ID token:
    /// `(provider_id, id_token)`, for RP-initiated logout.
    ///
    /// # Errors
    /// The database's error.
    pub async fn latest_id_token(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, String)>, DbError> {
        let res = self
            .run(self.stmt(
                "SELECT provider_id, id_token FROM authn_account WHERE user_id = ? AND provider_id <> ? AND id_token IS NOT NULL ORDER BY updated_at DESC, id",
                [user_id.into(), CREDENTIAL.into()],
            ))
            .await?;
        Ok(res
            .rows
            .first()
            .and_then(|r| Some((text(&r[0])?, text(&r[1])?))))
    }
}
