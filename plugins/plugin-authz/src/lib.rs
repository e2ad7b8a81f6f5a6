//! `@buntime/plugin-authz`, native: attribute-based authorization of every request.
//!
//! A policy administration point ([`pap`]) keeps policies in memory and persists them (a JSON file
//! or the database plugin); a decision point ([`pdp`]) evaluates compiled policies by priority
//! with one of five combining algorithms; the enforcement hook answers 403 for denied requests,
//! reading the caller from the `X-Identity` header authn sets. See `docs/authz.md`.
#![forbid(unsafe_code)]

pub mod config;
pub mod context;
pub mod matcher;
pub mod pap;
pub mod pdp;
pub mod policy;
pub mod routes;
pub mod service;
pub mod store;

use std::any::Any;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::Router;
use buntime_auth::AccessControl;
use buntime_core::{
    ClientAddr, ErrorKind, Flow, Hooks, Plugin, PluginContext, PluginError, PluginLogger, Request,
    RequestContext, ServerInfo,
};
use http::{HeaderValue, StatusCode, header};

pub use config::Config;
pub use context::EvaluationContext;
pub use pdp::{Algorithm, Decision, DecisionEffect};
pub use policy::{Effect, Policy};
pub use service::AuthzService;

use crate::config::StoreKind;
use crate::context::{Action, Environment, Resource, Subject};
use crate::pap::Pap;
use crate::store::Store;

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-authz";

/// The header authn sets with the caller's identity.
pub const IDENTITY_HEADER: &str = "x-identity";

/// The authorization plugin.
#[derive(Debug)]
pub struct AuthzPlugin {
    config: Config,
    logger: PluginLogger,
    node_env: String,
    trust_proxy: bool,
    access: Arc<AccessControl>,
    /// `<base>/api/`: the policy API, which a runtime key may always reach (see `on_request`).
    api_prefix: Option<String>,
    pap: OnceLock<Arc<Pap>>,
}

impl AuthzPlugin {
    /// Builds the plugin from its manifest (validated here; policies load in `on_init`).
    ///
    /// # Errors
    /// Every invalid manifest key, each named.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let config = config::parse(cx.config(), &cwd)
            .map_err(|errors| PluginError::new(ErrorKind::Internal, errors.join("; ")))?;
        let env = cx.env();
        // The runtime's own key store and origins: policy writes follow the REST API's rules.
        let runtime = buntime_core::RuntimeConfig::from_env(env, &cwd)
            .map_err(|e| PluginError::internal(format!("runtime configuration: {e}")))?;
        let access = Arc::new(AccessControl::from_config(&runtime));
        Ok(Self {
            config,
            logger: cx.logger().clone(),
            node_env: env
                .get_non_blank("NODE_ENV")
                .unwrap_or("development")
                .to_owned(),
            trust_proxy: runtime.trust_proxy,
            access,
            api_prefix: cx
                .config()
                .get("base")
                .and_then(|b| b.as_str())
                .map(|b| format!("{b}/api/")),
            pap: OnceLock::new(),
        })
    }

    /// The typed service, once `on_init` has run.
    pub fn service(&self) -> Option<AuthzService> {
        self.pap.get().map(|p| AuthzService::new(p.clone()))
    }

    async fn seed(&self, pap: &Pap) -> Result<(), PluginError> {
        let seed = &self.config.seed;
        let env_ok = seed
            .environments
            .iter()
            .any(|e| e == "*" || *e == self.node_env);
        if !seed.enabled || !env_ok || (seed.only_if_empty && !pap.is_empty().await) {
            return Ok(());
        }
        let mut policies = seed.policies.clone();
        if let Some(file) = &seed.file {
            policies.extend(
                store::load_file(file)
                    .await
                    .map_err(|m| PluginError::internal(format!("`policySeed.file`: {m}")))?,
            );
        }
        let n = pap
            .upsert_all(policies)
            .await
            .map_err(|e| PluginError::internal(format!("seeding: {e}")))?;
        if n > 0 {
            self.logger.info(format!("seeded {n} policies"));
        }
        Ok(())
    }

    fn runtime_key_may_configure(&self, req: &Request) -> bool {
        buntime_auth::extract_key(req.headers())
            .and_then(|secret| self.access.authenticate(secret).ok().flatten())
            .is_some_and(|p| p.is_master || p.has(buntime_auth::Permission::PluginsConfig))
    }

    fn context(
        &self,
        req: &Request,
        cx: &RequestContext,
        subject: Option<Subject>,
    ) -> EvaluationContext {
        let headers = req.headers();
        let peer = req.extensions().get::<ClientAddr>().map(|c| c.0.ip());
        let ip = context::client_ip(headers, peer, self.trust_proxy)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        EvaluationContext {
            subject: subject.unwrap_or_default(),
            resource: Resource {
                app: cx.app.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
                path: req.uri().path().to_owned(),
                kind: None,
                owner: None,
            },
            action: Action {
                method: req.method().as_str().to_owned(),
                operation: None,
            },
            environment: Environment {
                ip,
                time: None,
                user_agent: headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            },
        }
    }
}

#[async_trait]
impl Plugin for AuthzPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        let store = match &self.config.store {
            StoreKind::Memory => Store::Memory,
            StoreKind::File(p) => Store::File(p.clone()),
            StoreKind::Database(adapter) => {
                let db = buntime_plugin_database::DatabaseService::from_context(
                    cx,
                    "authz (`store: database`)",
                )?;
                Store::Database {
                    db,
                    adapter: adapter.clone(),
                }
            }
        };
        let pap = Pap::open(
            store,
            self.config.algorithm,
            self.config.default_effect,
            self.config.time_zone.clone(),
        )
        .await
        .map_err(PluginError::internal)?;
        if !self.config.inline.is_empty() {
            pap.upsert_all(self.config.inline.clone())
                .await
                .map_err(|e| PluginError::internal(format!("`policies`: {e}")))?;
        }
        self.seed(&pap).await?;
        self.logger.info(format!(
            "authz ready: {} policies, {:?}, default {}, time zone {}",
            pap.len().await,
            self.config.algorithm,
            self.config.default_effect.as_str(),
            self.config.time_zone_name
        ));
        let _ = self.pap.set(Arc::new(pap));
        Ok(())
    }

    async fn on_server_start(&self, server: &ServerInfo) {
        self.access.set_listener(server.addr);
    }

    async fn on_request(
        &self,
        req: &mut Request,
        cx: &RequestContext,
    ) -> Result<Flow, PluginError> {
        let Some(pap) = self.pap.get() else {
            return Ok(Flow::Continue);
        };
        let path = req.uri().path();
        // Public routes (authn's sign-in pages, apps' `publicRoutes`) need no identity, so no
        // policy can be about them (the original denied them: spec S-8).
        if cx.is_public || self.config.exclude.iter().any(|re| re.is_match(path)) {
            return Ok(Flow::Continue);
        }
        // A runtime key that may configure plugins reaches the policy API whatever the policies
        // say, so a deny-all policy cannot lock the operator out (the routes check it again).
        if self
            .api_prefix
            .as_deref()
            .is_some_and(|p| path.starts_with(p))
            && self.runtime_key_may_configure(req)
        {
            return Ok(Flow::Continue);
        }
        let set = pap.current();
        let subject = match req.headers().get(IDENTITY_HEADER) {
            None => None,
            Some(v) => match context::subject_from_identity(v.as_bytes()) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.logger.warn(format!(
                        "ignoring a malformed X-Identity header ({e}); evaluating as anonymous"
                    ));
                    None
                }
            },
        };
        if subject.is_none() && set.is_empty() {
            return Ok(Flow::Continue);
        }
        let ctx = self.context(req, cx, subject);
        let decision = set.evaluate(&ctx);
        if decision.is_permit() {
            return Ok(Flow::Continue);
        }
        let body = serde_json::json!({"error": "Forbidden", "reason": decision.reason, "policy": decision.matched_policy});
        let mut res = buntime_core::Response::new(axum::body::Body::from(body.to_string()));
        *res.status_mut() = StatusCode::FORBIDDEN;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(Flow::Respond(res))
    }

    fn routes(&self) -> Option<Router> {
        let pap = self.pap.get()?.clone();
        Some(routes::router(Arc::new(routes::Api {
            pap,
            access: self.access.clone(),
            trust_proxy: self.trust_proxy,
        })))
    }

    fn provides(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.service()
            .map(|s| Arc::new(s) as Arc<dyn Any + Send + Sync>)
    }

    fn hooks(&self) -> Hooks {
        Hooks {
            on_request: true,
            on_response: false,
            server_fetch: false,
        }
    }
}
