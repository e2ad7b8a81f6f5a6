//! `@buntime/plugin-authn`, native: email/password and OIDC sign-in, signed session cookies backed
//! by database rows, static API keys, and the gate that sets `X-Identity` for everything behind it.
//!
//! Users and sessions live in the database plugin's root database (see `store`); the gate
//! (`on_request`, see `gate`) strips any inbound `X-Identity` and sets its own. See `docs/authn.md`.
#![forbid(unsafe_code)]

pub mod config;
pub mod gate;
pub mod login;
pub mod oauth;
pub mod oidc;
pub mod password;
pub mod providers;
pub mod ratelimit;
pub mod routes;
pub mod scim;
pub mod sessions;
pub mod store;
pub mod token;
pub mod web;

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use async_trait::async_trait;
use axum::Router;
use buntime_auth::csrf::AllowedOrigins;
use buntime_core::{
    ErrorKind, Flow, Hooks, Plugin, PluginContext, PluginError, PluginLogger, Request,
    RequestContext, ServerInfo,
};
use buntime_plugin_database::DatabaseService;

pub use config::Config;

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-authn";

/// Everything the gate and the routes share once `on_init` ran.
#[derive(Debug)]
pub struct Authn {
    /// The validated manifest.
    pub config: Config,
    /// Users and sessions.
    pub store: store::Store,
    /// Session cookies and their cache.
    pub sessions: sessions::Sessions,
    /// argon2id.
    pub hasher: password::Hasher,
    /// Failed sign-ins.
    pub limiter: ratelimit::Limiter,
    /// Origins allowed to make state-changing calls (trusted origins plus the listener's).
    pub origins: RwLock<AllowedOrigins>,
    /// `RUNTIME_TRUST_PROXY`: honour `X-Forwarded-For` / `-Proto` / `-Host`.
    pub trust_proxy: bool,
    /// The SHA-256 of each API key, with its identity header value.
    pub api_keys: Vec<gate::KeyIdentity>,
    /// The OIDC providers, with their discovery caches.
    pub oidc: Vec<Arc<oidc::Provider>>,
    /// The HTTP client for provider calls (discovery, token, JWKS, userinfo).
    pub http: reqwest::Client,
    /// The plugin's logger.
    pub logger: PluginLogger,
}

impl Authn {
    /// Returns the allowed origins now.
    pub fn allowed_origins(&self) -> AllowedOrigins {
        self.origins
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Returns who the credentials in `headers` belong to (see [`gate::caller_id`]).
    pub async fn caller_id(&self, headers: &http::HeaderMap) -> Option<String> {
        gate::caller_id(self, headers).await
    }

    /// Whether session cookies get `Secure` for a request with these parts.
    pub fn secure_cookie(&self, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
        let public_https = self
            .config
            .trusted_origins
            .first()
            .is_some_and(|o| o.starts_with("https://"));
        web::is_https(uri, headers, self.trust_proxy, public_https)
    }
}

/// The authn plugin.
#[derive(Debug)]
pub struct AuthnPlugin {
    config: Config,
    trust_proxy: bool,
    env_secret: Option<String>,
    state: OnceLock<Arc<Authn>>,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    logger: PluginLogger,
}

impl AuthnPlugin {
    /// Builds the plugin from its manifest (validated here; storage opens in `on_init`).
    ///
    /// # Errors
    /// Every invalid manifest key, each named.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let config = config::parse(cx.config())
            .map_err(|errors| PluginError::new(ErrorKind::Internal, errors.join("; ")))?;
        let trust_proxy = cx
            .env()
            .get("RUNTIME_TRUST_PROXY")
            .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
        let env_secret = cx.env().get_non_blank("AUTHN_SECRET").map(str::to_owned);
        if env_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(PluginError::internal(
                "`AUTHN_SECRET` must be at least 32 characters",
            ));
        }
        Ok(Self {
            config,
            trust_proxy,
            env_secret,
            state: OnceLock::new(),
            sweeper: Mutex::new(None),
            logger: cx.logger().clone(),
        })
    }

    /// Returns the shared state once `on_init` has run.
    pub fn state(&self) -> Option<&Arc<Authn>> {
        self.state.get()
    }
}

#[async_trait]
impl Plugin for AuthnPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        let db = DatabaseService::from_context(cx, "authn")?;
        let adapter = db
            .adapter(self.config.database.as_deref())
            .map_err(|e| PluginError::internal(format!("`database`: {e}")))?
            .kind()
            .to_owned();
        let store = store::Store::new(db, adapter.clone());
        store.create_schema().await.map_err(|e| {
            PluginError::internal(format!("cannot create the authn tables on {adapter}: {e}"))
        })?;
        let mut secrets = self.config.session.secrets.clone();
        if let Some(s) = &self.env_secret {
            secrets.insert(0, s.clone());
        }
        if secrets.is_empty() {
            secrets.push(store.signing_secret().await.map_err(|e| {
                PluginError::internal(format!("cannot read the cookie signing key: {e}"))
            })?);
        }
        let signer = token::Signer::new(&secrets);
        let hasher = password::Hasher::new(self.config.password).map_err(PluginError::internal)?;
        let sessions = sessions::Sessions::new(
            store.clone(),
            signer,
            self.config.session.ttl,
            self.config.session.cache_ttl,
        );
        let http = oidc::http_client().map_err(PluginError::internal)?;
        let public_origin = self
            .config
            .trusted_origins
            .first()
            .cloned()
            .unwrap_or_else(|| "http://localhost:8000".to_owned());
        let providers: Vec<Arc<oidc::Provider>> = self
            .config
            .oidc
            .iter()
            .map(|p| {
                Arc::new(oidc::Provider::new(
                    p.clone(),
                    &public_origin,
                    &self.config.base,
                ))
            })
            .collect();
        for p in &providers {
            // Discovery happens on first use (and is cached), so a provider that is down does not
            // stop the runtime; this line tells operators what to register at the provider.
            self.logger.info(format!(
                "OIDC provider `{}` ({}): register the redirect URI {}",
                p.config.provider_id, p.config.issuer, p.redirect_uri
            ));
        }
        let state = Arc::new(Authn {
            oidc: providers,
            http,
            api_keys: gate::key_identities(&self.config.api_keys),
            origins: RwLock::new(AllowedOrigins::new(self.config.trusted_origins.clone())),
            limiter: ratelimit::Limiter::new(self.config.rate_limit),
            config: self.config.clone(),
            store,
            sessions,
            hasher,
            trust_proxy: self.trust_proxy,
            logger: self.logger.clone(),
        });
        let sweep = state.clone();
        let handle = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(300));
            loop {
                every.tick().await;
                if let Err(e) = sweep.sessions.sweep().await {
                    sweep
                        .logger
                        .warn(format!("expired-session sweep failed: {e}"));
                }
                if let Err(e) = sweep.store.delete_expired_oauth_states().await {
                    sweep
                        .logger
                        .warn(format!("expired OIDC sign-in sweep failed: {e}"));
                }
            }
        });
        if let Ok(mut s) = self.sweeper.lock() {
            *s = Some(handle);
        }
        let _ = self.state.set(state);
        self.logger
            .info(format!("authn ready on the {adapter} root database"));
        Ok(())
    }

    async fn on_request(
        &self,
        req: &mut Request,
        cx: &RequestContext,
    ) -> Result<Flow, PluginError> {
        match self.state.get() {
            Some(state) => Ok(gate::check(state, req, cx).await),
            None => {
                // Not initialised: never let a client-made identity through.
                req.headers_mut().remove(gate::X_IDENTITY);
                Ok(Flow::Continue)
            }
        }
    }

    async fn on_server_start(&self, server: &ServerInfo) {
        if let Some(state) = self.state.get() {
            state
                .origins
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add_listener(server.addr);
        }
    }

    async fn on_shutdown(&self) {
        if let Some(h) = self.sweeper.lock().ok().and_then(|mut s| s.take()) {
            h.abort();
        }
    }

    fn routes(&self) -> Option<Router> {
        self.state.get().map(|s| {
            let r = routes::router(s.clone());
            if s.config.scim.enabled {
                r.merge(scim::router(s.clone()))
            } else {
                r
            }
        })
    }

    /// The typed service: [`Authn`], whose [`Authn::caller_id`] plugins that run before the gate
    /// (the gateway) use to learn who is calling.
    fn provides(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.state
            .get()
            .map(|s| s.clone() as Arc<dyn std::any::Any + Send + Sync>)
    }

    fn hooks(&self) -> Hooks {
        Hooks {
            on_request: true,
            on_response: false,
            server_fetch: false,
        }
    }
}
