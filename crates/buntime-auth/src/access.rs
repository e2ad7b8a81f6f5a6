//! The API gate: who is calling (master key, stored key, or nobody) and whether they may proceed.

use std::sync::Arc;

use axum::response::IntoResponse;
use buntime_core::respond::{json, text};
use buntime_core::{ClientAddr, NodeEnv, Request, Response, RuntimeConfig};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

use crate::csrf::{AllowedOrigins, CsrfError, check_origin, is_state_changing};
use crate::extract::extract_key;
use crate::permission::{Permission, Role};
use crate::routes::{is_public, required_permission};
use crate::secret::secrets_match;
use crate::store::{ApiKey, KeyStore, StoreError};
use crate::worker_token::{WORKER_TOKEN_HEADER, WorkerToken};

/// An authenticated caller: the master key or a valid stored key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// Key id; 0 for the master key.
    pub id: u64,
    /// Key name; `master` for the master key.
    pub name: String,
    /// First 12 characters of the key; `master` for the master key.
    pub key_prefix: String,
    /// The key's role; `admin` for the master key.
    pub role: Role,
    /// The key's permissions (empty for the master key, which needs none).
    pub permissions: Vec<Permission>,
    /// Creation time (epoch seconds); 0 for the master key.
    pub created_at: u64,
    /// Whether this is the configured master key.
    pub is_master: bool,
}

impl Principal {
    /// Returns the master key's principal.
    pub fn master() -> Self {
        Self {
            id: 0,
            name: "master".to_owned(),
            key_prefix: "master".to_owned(),
            role: Role::Admin,
            permissions: Vec::new(),
            created_at: 0,
            is_master: true,
        }
    }

    /// Returns the principal of a verified stored key.
    pub fn from_key(key: &ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name.clone(),
            key_prefix: key.key_prefix.clone(),
            role: key.role,
            permissions: key.permissions.clone(),
            created_at: key.created_at,
            is_master: false,
        }
    }

    /// Returns whether the caller holds `perm`. The master key and `admin` hold everything; other
    /// named roles hold exactly their role's set (whatever the stored list says); `custom` holds
    /// its own list.
    pub fn has(&self, perm: Permission) -> bool {
        if self.is_master {
            return true;
        }
        match self.role.permissions() {
            Some(set) => set.contains(&perm),
            None => self.permissions.contains(&perm),
        }
    }

    /// Returns the first permission of `perms` the caller lacks, if any.
    pub fn first_missing(&self, perms: &[Permission]) -> Option<Permission> {
        perms.iter().copied().find(|p| !self.has(*p))
    }
}

/// The outcome of a successful [`AccessControl::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A valid key was presented; the server should insert the [`Principal`] into the request's
    /// extensions so handlers (such as [`crate::keys_router`]) can read it.
    Key(Principal),
    /// No valid key, and none was needed (auth is off, or the path is public).
    Anonymous,
}

impl Caller {
    /// Returns the principal, if a valid key was presented.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Self::Key(p) => Some(p),
            Self::Anonymous => None,
        }
    }

    /// Returns the principal by value, if a valid key was presented.
    pub fn into_principal(self) -> Option<Principal> {
        match self {
            Self::Key(p) => Some(p),
            Self::Anonymous => None,
        }
    }
}

/// Why a request was refused. Converts into the exact response the API must send.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// No valid key where one is required: 401 `{"code":"AUTH_REQUIRED","error":"Unauthorized"}`.
    #[error("authentication required")]
    AuthRequired,
    /// No credentials are configured at all (no master key, no stored key) and the caller is not
    /// a local client in development: 401 `AUTH_NOT_CONFIGURED` saying how to set one up.
    #[error("no API credentials are configured")]
    NotConfigured,
    /// A valid key without the route's permission: 403
    /// `{"code":"PERMISSION_DENIED","error":"Missing permission: <perm>"}`.
    #[error("missing permission `{0}`")]
    PermissionDenied(Permission),
    /// CSRF: no `Origin`: 403 text `Forbidden - Origin required`.
    #[error("csrf: origin required")]
    OriginRequired,
    /// CSRF: bad or foreign `Origin`: 403 text `Forbidden`.
    #[error("csrf: origin does not match the host")]
    ForeignOrigin,
    /// The key store is unusable and the decision needs it: 503 JSON naming the file and the fix.
    #[error(transparent)]
    StoreUnavailable(#[from] StoreError),
}

impl Denied {
    /// Returns the response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::AuthRequired | Self::NotConfigured => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied(_) | Self::OriginRequired | Self::ForeignOrigin => {
                StatusCode::FORBIDDEN
            }
            Self::StoreUnavailable(e) => e.status(),
        }
    }

    /// Builds the response (no `x-request-id`: the spec sends none on these).
    pub fn to_response(&self) -> Response {
        match self {
            Self::AuthRequired => json(
                self.status(),
                &serde_json::json!({"code": "AUTH_REQUIRED", "error": "Unauthorized"}),
            ),
            Self::NotConfigured => json(
                self.status(),
                &serde_json::json!({
                    "code": "AUTH_NOT_CONFIGURED",
                    "error": "Unauthorized",
                    "message": NOT_CONFIGURED_HELP,
                }),
            ),
            Self::PermissionDenied(p) => json(
                self.status(),
                &serde_json::json!({"code": "PERMISSION_DENIED", "error": format!("Missing permission: {p}")}),
            ),
            Self::OriginRequired => text(self.status(), "Forbidden - Origin required"),
            Self::ForeignOrigin => text(self.status(), "Forbidden"),
            Self::StoreUnavailable(e) => e.to_response(),
        }
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> axum::response::Response {
        self.to_response()
    }
}

impl From<Denied> for Response {
    fn from(d: Denied) -> Self {
        d.to_response()
    }
}

impl From<CsrfError> for Denied {
    fn from(e: CsrfError) -> Self {
        match e {
            CsrfError::OriginRequired => Self::OriginRequired,
            CsrfError::Forbidden => Self::ForeignOrigin,
        }
    }
}

/// What a caller without credentials is told when none are configured.
pub const NOT_CONFIGURED_HELP: &str = "No API credentials are configured, so the REST API refuses \
everything but its public routes. Set RUNTIME_MASTER_KEY, or create a key with \
`buntime keys create --name admin --role admin`, and send it as X-API-Key. \
(In development, requests from this machine are let through.)";

/// The API gate: the key store, the master key, the origins CSRF accepts and the proxy setting.
#[derive(Debug)]
pub struct AccessControl {
    store: Arc<KeyStore>,
    master_key: Option<String>,
    trust_proxy: bool,
    worker_token: Option<WorkerToken>,
    /// Configured public origins; the listener's are added once it is bound.
    public_origins: Vec<String>,
    origins: std::sync::OnceLock<AllowedOrigins>,
    /// Whether local clients may use the API while no credentials exist (development only).
    local_without_credentials: bool,
}

/// What a presented key turned out to be.
enum Identity {
    None,
    Valid(Principal),
    Invalid,
    Unknown(StoreError),
}

impl AccessControl {
    /// Creates the gate. A blank master key counts as none.
    pub fn new(store: Arc<KeyStore>, master_key: Option<String>, trust_proxy: bool) -> Self {
        let master_key = master_key.filter(|k| !k.trim().is_empty());
        Self {
            store,
            master_key,
            trust_proxy,
            worker_token: None,
            public_origins: Vec::new(),
            origins: std::sync::OnceLock::new(),
            local_without_credentials: false,
        }
    }

    /// Accepts `origins` (serialized origins, as `RUNTIME_PUBLIC_URL` gives them) in CSRF checks,
    /// besides the listener's own.
    #[must_use]
    pub fn with_public_origins(mut self, origins: Vec<String>) -> Self {
        self.public_origins = origins;
        self
    }

    /// Lets clients on this machine use the API while no credentials are configured (the
    /// development convenience; never in production).
    #[must_use]
    pub fn with_local_access_without_credentials(mut self, allow: bool) -> Self {
        self.local_without_credentials = allow;
        self
    }

    /// Records the address the runtime listens on, so CSRF checks accept its loopback origins.
    /// Only the first call counts.
    pub fn set_listener(&self, addr: std::net::SocketAddr) {
        let mut origins = AllowedOrigins::new(self.public_origins.clone());
        origins.add_listener(addr);
        let _ = self.origins.set(origins);
    }

    /// Returns the origins CSRF checks accept (only the configured ones before
    /// [`set_listener`](Self::set_listener)).
    pub fn allowed_origins(&self) -> AllowedOrigins {
        self.origins.get().cloned().unwrap_or_else(|| AllowedOrigins::new(self.public_origins.clone()))
    }

    /// Logs one WARN when no credentials are configured, saying what that means and how to fix
    /// it. Returns whether it warned.
    pub fn warn_if_unconfigured(&self) -> bool {
        if !matches!(self.auth_required(), Ok(false)) {
            return false;
        }
        if self.local_without_credentials {
            tracing::warn!("No API credentials are configured: the REST API answers only this machine's requests (development), and refuses others with 401. Set RUNTIME_MASTER_KEY or run `buntime keys create --name admin --role admin`.");
        } else {
            tracing::warn!("No API credentials are configured: the REST API refuses every non-public call with 401. Set RUNTIME_MASTER_KEY or run `buntime keys create --name admin --role admin`.");
        }
        true
    }

    /// Sets the token this runtime's workers present; [`check_request`](Self::check_request) then
    /// treats requests carrying it as coming from a worker (exempt from CSRF).
    #[must_use]
    pub fn with_worker_token(mut self, token: WorkerToken) -> Self {
        self.worker_token = Some(token);
        self
    }

    /// Returns the worker token, to hand to spawned workers.
    pub fn worker_token(&self) -> Option<&WorkerToken> {
        self.worker_token.as_ref()
    }

    /// Creates the gate from the runtime configuration: the store at `<state_dir>/api-keys.db`
    /// (opened lazily, so a damaged store never stops start-up), `master_key` and `trust_proxy`.
    /// Local clients may use the API without credentials only in development.
    pub fn from_config(config: &RuntimeConfig) -> Self {
        Self::new(
            Arc::new(KeyStore::new(&config.state_dir)),
            config.master_key.clone(),
            config.trust_proxy,
        )
        .with_public_origins(config.public_origins.clone())
        .with_local_access_without_credentials(config.node_env == NodeEnv::Development)
    }

    /// Returns the key store.
    pub fn store(&self) -> &Arc<KeyStore> {
        &self.store
    }

    /// Returns whether a master key is configured.
    pub fn has_master_key(&self) -> bool {
        self.master_key.is_some()
    }

    /// Returns whether requests must authenticate: a master key is set or a non-revoked key exists.
    ///
    /// # Errors
    /// Returns the store's error when it is needed and unusable.
    pub fn auth_required(&self) -> Result<bool, StoreError> {
        if self.master_key.is_some() {
            return Ok(true);
        }
        self.store.has_active_keys()
    }

    /// Returns the principal for a presented secret: the master key (compared in constant time)
    /// or a valid stored key.
    ///
    /// # Errors
    /// Returns the store's error when the secret is not the master key and the store is unusable.
    pub fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
        if let Some(master) = &self.master_key
            && secrets_match(secret.as_bytes(), master.as_bytes()) {
                return Ok(Some(Principal::master()));
            }
        Ok(self.store.verify(secret)?.as_ref().map(Principal::from_key))
    }

    /// Decides an API request (spec §6.2 steps 2–6), given its method, its path relative to the
    /// API path, its headers, whether it comes from one of this runtime's own workers, and
    /// whether it comes from this machine ([`ClientAddr::is_local`]).
    ///
    /// Order: public paths pass whatever key is sent; 401 when auth is required and no valid key
    /// was presented; 401 `AUTH_NOT_CONFIGURED` when no credentials exist at all, unless the
    /// caller is local and the runtime allows that (development); 403 when a valid non-master key
    /// lacks the route's permission; then CSRF for POST/PUT/PATCH/DELETE unless a valid key was
    /// presented or `from_worker`. The `x-buntime-internal` header is never trusted: only the
    /// caller knows `from_worker`.
    ///
    /// A damaged store does not block public paths or the master key; elsewhere it gives
    /// [`Denied::StoreUnavailable`] (503).
    ///
    /// # Errors
    /// Returns the refusal; convert it with `Response::from(denied)`.
    pub fn authorize(
        &self,
        method: &Method,
        rel_path: &str,
        headers: &HeaderMap,
        from_worker: bool,
        local: bool,
    ) -> Result<Caller, Denied> {
        self.decide(method, rel_path, headers, from_worker, local)
    }

    /// Like [`authorize`](Self::authorize), reading method, headers and the [`ClientAddr`]
    /// extension from request parts.
    ///
    /// # Errors
    /// Returns the refusal; convert it with `Response::from(denied)`.
    pub fn authorize_parts(
        &self,
        parts: &http::request::Parts,
        rel_path: &str,
        from_worker: bool,
    ) -> Result<Caller, Denied> {
        let local = parts.extensions.get::<ClientAddr>().is_some_and(|c| c.is_local(&parts.headers));
        self.decide(&parts.method, rel_path, &parts.headers, from_worker, local)
    }

    /// Guards a whole request, for the server's API middleware: decides `from_worker` from the
    /// configured [`WorkerToken`] (and removes its header), runs
    /// [`authorize_parts`](Self::authorize_parts), and on success inserts the caller's
    /// [`Principal`] into the request extensions for handlers such as [`crate::keys_router`].
    ///
    /// # Errors
    /// Returns the refusal; convert it with `Response::from(denied)`.
    pub fn check_request(&self, req: &mut Request, rel_path: &str) -> Result<Caller, Denied> {
        let from_worker = self
            .worker_token
            .as_ref()
            .is_some_and(|t| t.matches(req.headers()));
        req.headers_mut().remove(WORKER_TOKEN_HEADER);
        let local = req.extensions().get::<ClientAddr>().is_some_and(|c| c.is_local(req.headers()));
        let caller = self.decide(req.method(), rel_path, req.headers(), from_worker, local)?;
        if let Caller::Key(p) = &caller {
            req.extensions_mut().insert(p.clone());
        }
        Ok(caller)
    }

    fn decide(
        &self,
        method: &Method,
        rel_path: &str,
        headers: &HeaderMap,
        from_worker: bool,
        local: bool,
    ) -> Result<Caller, Denied> {
        let public = is_public(rel_path);
        let required: Vec<Permission> = required_permission(method, rel_path).into_iter().collect();
        self.decide_for(method, rel_path, headers, from_worker, local, public, &required)
    }

    /// [`decide`](Self::decide) with the permissions given instead of looked up by API path
    /// (`path` is only logged).
    #[allow(clippy::too_many_arguments)]
    fn decide_for(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        from_worker: bool,
        local: bool,
        public: bool,
        required: &[Permission],
    ) -> Result<Caller, Denied> {
        let identity = match extract_key(headers) {
            None => Identity::None,
            Some(secret) => match self.authenticate(secret) {
                Ok(Some(p)) => Identity::Valid(p),
                Ok(None) => Identity::Invalid,
                Err(e) => Identity::Unknown(e),
            },
        };
        let caller = match identity {
            // Public routes answer whatever key is sent: a key can only add, never take away.
            Identity::Valid(p) => {
                if !p.is_master
                    && !public
                    && let Some(perm) = p.first_missing(required)
                    {
                        return Err(Denied::PermissionDenied(perm));
                    }
                Caller::Key(p)
            }
            // An unverifiable key on a public path is treated like no key: it could not grant more.
            _ if public => Caller::Anonymous,
            Identity::Unknown(e) => return Err(Denied::StoreUnavailable(e)),
            Identity::None | Identity::Invalid => {
                if self.auth_required()? {
                    return Err(Denied::AuthRequired);
                }
                if !(local && self.local_without_credentials) {
                    return Err(Denied::NotConfigured);
                }
                Caller::Anonymous
            }
        };
        if matches!(caller, Caller::Anonymous) && !public && !from_worker && is_state_changing(method)
            && let Err(e) = check_origin(headers, &self.allowed_origins(), self.trust_proxy) {
                tracing::warn!(method = %method, path, reason = %e, "CSRF check blocked an API request.");
                return Err(e.into());
            }
        Ok(caller)
    }
}

/// Plugin routes (such as the deployments plugin's) are decided like REST API routes needing the
/// same permissions; a permission name this build does not know refuses with 500.
#[allow(clippy::result_large_err)] // the trait's shape: a refusal is the response to send
impl buntime_core::access::ApiAccess for AccessControl {
    fn check(&self, parts: &http::request::Parts, permissions: &[&str]) -> Result<(), Response> {
        let mut required = Vec::with_capacity(permissions.len());
        for name in permissions {
            match name.parse::<Permission>() {
                Ok(p) => required.push(p),
                Err(e) => {
                    tracing::error!(error = %e, "A plugin route asked for an unknown permission.");
                    return Err(buntime_core::respond::json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL_SERVER_ERROR",
                        "The route asks for a permission this runtime does not know.",
                    ));
                }
            }
        }
        let from_worker = self.worker_token.as_ref().is_some_and(|t| t.matches(&parts.headers));
        let local = parts.extensions.get::<ClientAddr>().is_some_and(|c| c.is_local(&parts.headers));
        self.decide_for(&parts.method, parts.uri.path(), &parts.headers, from_worker, local, false, &required).map(|_| ()).map_err(Response::from)
    }
}
