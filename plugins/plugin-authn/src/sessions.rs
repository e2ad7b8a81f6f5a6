//! Sessions: signed cookie → database row, with an in-memory cache so a valid cookie costs a
//! hash and a map lookup after its first use; revocation evicts.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use buntime_plugin_database::DbError;
use http::HeaderValue;

use crate::store::{Session, Store, User, now_ms};
use crate::token::{Signer, random_token, token_hash};

/// A session the cookie proved, with what the gate needs.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The session row.
    pub session: Session,
    /// Its user.
    pub user: Arc<User>,
    /// The `X-Identity` header value, built once per cache fill.
    pub identity: HeaderValue,
    /// The stored hash of the cookie's token.
    pub token_hash: String,
}

#[derive(Debug)]
struct Cached {
    resolved: Arc<Resolved>,
    fetched: Instant,
}

/// Beyond this many cached sessions the cache starts over (memory bound; misses are cheap).
const MAX_CACHED: usize = 100_000;

/// Issues, resolves and revokes sessions.
#[derive(Debug)]
pub struct Sessions {
    store: Store,
    signer: Signer,
    ttl: Duration,
    cache_ttl: Duration,
    cache: RwLock<HashMap<String, Cached>>,
}

/// Builds the `X-Identity` JSON of a session user: `{sub, roles, groups, claims}`; claims carry
/// the email, name, verification flag and the user's metadata.
pub fn identity_of(user: &User) -> HeaderValue {
    let mut claims = match &user.metadata {
        serde_json::Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    claims.insert("email".into(), user.email.clone().into());
    claims.insert("name".into(), user.name.clone().into());
    claims.insert("emailVerified".into(), user.email_verified.into());
    let v = serde_json::json!({"sub": user.id, "roles": user.roles, "groups": user.groups, "claims": claims});
    // serde_json escapes control characters and leaves the rest as UTF-8, which a header value
    // may carry as opaque bytes.
    HeaderValue::from_bytes(v.to_string().as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_static("{}"))
}

impl Sessions {
    /// Builds the session manager.
    pub fn new(store: Store, signer: Signer, ttl: Duration, cache_ttl: Duration) -> Self {
        Self {
            store,
            signer,
            ttl,
            cache_ttl,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Returns how long a new session lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for `user`; returns the cookie value and the row.
    ///
    /// # Errors
    /// The database's error.
    pub async fn create(
        &self,
        user: &User,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(String, Session), DbError> {
        let token = random_token();
        let hash = token_hash(&token);
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let session = self
            .store
            .create_session(
                &user.id,
                &hash,
                now_ms().saturating_add(ttl_ms),
                ip,
                user_agent,
            )
            .await?;
        Ok((self.signer.sign(&token), session))
    }

    /// Returns the live session a cookie value names, or `None` for a forged, tampered, expired or
    /// revoked one.
    ///
    /// # Errors
    /// The database's error (the cookie itself was well signed).
    pub async fn resolve(&self, cookie_value: &str) -> Result<Option<Arc<Resolved>>, DbError> {
        let Some(token) = self.signer.verify(cookie_value) else {
            return Ok(None);
        };
        let hash = token_hash(token);
        if let Some(hit) = self.cached(&hash) {
            return Ok(Some(hit));
        }
        let Some((session, user)) = self.store.session_by_hash(&hash).await? else {
            self.evict_hash(&hash);
            return Ok(None);
        };
        let resolved = Arc::new(Resolved {
            identity: identity_of(&user),
            session,
            user: Arc::new(user),
            token_hash: hash.clone(),
        });
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(
            hash,
            Cached {
                resolved: resolved.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(Some(resolved))
    }

    fn cached(&self, hash: &str) -> Option<Arc<Resolved>> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hit = cache.get(hash)?;
        (hit.fetched.elapsed() < self.cache_ttl && hit.resolved.session.expires_at > now_ms())
            .then(|| hit.resolved.clone())
    }

    fn evict_hash(&self, hash: &str) {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(hash);
    }

    /// Returns the user's live sessions, newest first.
    ///
    /// # Errors
    /// The database's error.
    pub async fn list(&self, user_id: &str) -> Result<Vec<Session>, DbError> {
        self.store.sessions_of(user_id).await
    }

    /// Revokes the user's session `id` (row and cache); returns whether it existed.
    ///
    /// # Errors
    /// The database's error.
    pub async fn revoke(&self, user_id: &str, id: &str) -> Result<bool, DbError> {
        let existed = self.store.delete_session(user_id, id).await?;
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, c| c.resolved.session.id != id);
        Ok(existed)
    }

    /// Ends every session of `user_id` (rows and cache): a deactivated or deleted user is signed
    /// out everywhere at once, not when the cache entry ages out.
    ///
    /// # Errors
    /// The database's error.
    pub async fn revoke_all(&self, user_id: &str) -> Result<u64, DbError> {
        let n = self.store.delete_sessions_of(user_id).await?;
        self.forget_user(user_id);
        Ok(n)
    }

    /// Forgets the cached sessions of `user_id`, so the next request re-reads its user (new
    /// groups or roles show in `X-Identity` at once).
    pub fn forget_user(&self, user_id: &str) {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, c| c.resolved.session.user_id != user_id);
    }

    /// Deletes expired rows and forgets expired cache entries; returns how many rows went.
    ///
    /// # Errors
    /// The database's error.
    pub async fn sweep(&self) -> Result<u64, DbError> {
        let now = now_ms();
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, c| c.resolved.session.expires_at > now);
        self.store.delete_expired().await
    }
}
