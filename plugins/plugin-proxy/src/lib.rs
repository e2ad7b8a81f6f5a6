//! `@buntime/plugin-proxy`, native: a regex reverse proxy for HTTP and WebSockets.
//!
//! Rules come from the manifest (`rules`, read-only) and from the API under `/redirects`, which
//! keeps them in KeyVal (`["proxy","rules",<id>]`). The `on_request` hook sends the first enabled
//! rule whose pattern matches the path to its target: HTTP through a pooled hyper client (rustls,
//! streamed bodies, HTML rewritten on the fly with lol_html), WebSocket upgrades through the
//! runtime's relay. Paths the rules mark public are reported to authn through
//! [`buntime_core::public_routes::PublicRouteService`]. It does not own authentication, CORS or
//! rate limiting. See `docs/proxy.md`.
#![forbid(unsafe_code)]

pub mod api;
pub mod client;
pub mod forward;
pub mod html;
pub mod public;
pub mod rule;
pub mod rules;
pub mod ws;

use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use buntime_core::public_routes::PublicRouteService;
use buntime_core::{
    ErrorKind, Flow, Hooks, Plugin, PluginContext, PluginError, PluginLogger, Request,
    RequestContext,
};
use buntime_plugin_keyval::Kv;
use http::{HeaderValue, StatusCode};
use serde_json::Value;

pub use rule::{Compiled, Rule, RuleError, Target};
pub use rules::{RuleSet, Rules};

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-proxy";

/// How long an upstream may take to answer, unless `upstreamTimeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TCP connect may take, unless `connectTimeout` says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A token per process for `Via`, so a request that comes back to this runtime is recognised.
fn via() -> HeaderValue {
    static VIA: OnceLock<HeaderValue> = OnceLock::new();
    VIA.get_or_init(|| {
        let token = uuid::Uuid::new_v4().simple().to_string();
        HeaderValue::from_str(&format!("1.1 buntime-{}", &token[..12]))
            .expect("a hex token is a valid header value")
    })
    .clone()
}

/// The proxy plugin.
#[derive(Debug)]
pub struct ProxyPlugin {
    fixed: Vec<Arc<Compiled>>,
    hop: forward::Hop,
    upstreams: Arc<client::Upstreams>,
    rules: OnceLock<Arc<Rules>>,
    /// `<base>/api/`: the rules API, never proxied, so a catch-all rule cannot lock it away.
    api_prefix: Option<String>,
    logger: PluginLogger,
}

fn duration(cx: &PluginContext, key: &str, default: Duration) -> Result<Duration, String> {
    match cx.config().get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => buntime_core::duration::parse(v).filter(|d| !d.is_zero()).ok_or_else(|| format!("`{key}`: must be a duration such as `30s` or a number of milliseconds, above zero")),
    }
}

impl ProxyPlugin {
    /// Builds the plugin from its manifest: the static `rules` are compiled here (every bad one is
    /// named), dynamic rules load in `on_init`.
    ///
    /// # Errors
    /// Every invalid manifest key, each named.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        let mut errors = Vec::new();
        let fixed = rules::compile_static(cx.config().get("rules")).unwrap_or_else(|e| {
            errors.extend(e);
            Vec::new()
        });
        let timeout = duration(cx, "upstreamTimeout", DEFAULT_TIMEOUT).unwrap_or_else(|e| {
            errors.push(e);
            DEFAULT_TIMEOUT
        });
        let connect = duration(cx, "connectTimeout", DEFAULT_CONNECT_TIMEOUT).unwrap_or_else(|e| {
            errors.push(e);
            DEFAULT_CONNECT_TIMEOUT
        });
        if !errors.is_empty() {
            return Err(PluginError::new(ErrorKind::Internal, errors.join("; ")));
        }
        let trust_proxy = cx.env().get("RUNTIME_TRUST_PROXY").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        let (upstreams, warnings) =
            client::Upstreams::new(connect).map_err(PluginError::internal)?;
        for w in warnings {
            cx.logger().warn(w);
        }
        Ok(Self {
            fixed,
            hop: forward::Hop {
                via: via(),
                trust_proxy,
                timeout,
            },
            upstreams: Arc::new(upstreams),
            rules: OnceLock::new(),
            api_prefix: cx
                .config()
                .get("base")
                .and_then(Value::as_str)
                .filter(|b| !b.is_empty())
                .map(|b| format!("{}/api/", b.trim_end_matches('/'))),
            logger: cx.logger().clone(),
        })
    }

    /// Returns the rules once `on_init` has run.
    pub fn rules(&self) -> Option<&Arc<Rules>> {
        self.rules.get()
    }
}

#[async_trait]
impl Plugin for ProxyPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        let store = cx
            .get_plugin::<Kv>(buntime_plugin_keyval::NAME)
            .map(|kv| Kv::clone(&kv));
        if store.is_none() {
            self.logger.info(format!(
                "{} is not loaded: dynamic rules are disabled, the manifest's rules still apply",
                buntime_plugin_keyval::NAME
            ));
        }
        let rules = Arc::new(Rules::new(self.fixed.clone(), store));
        let warnings = rules.load_dynamic().await.map_err(|e| {
            PluginError::internal(format!("cannot read the dynamic rules from KeyVal: {e}"))
        })?;
        for w in warnings {
            self.logger.warn(w);
        }
        let set = rules.load();
        self.logger.info(format!(
            "{} static and {} dynamic rules",
            set.fixed.len(),
            set.dynamic.len()
        ));
        drop(set);
        let _ = self.rules.set(rules);
        Ok(())
    }

    async fn on_request(
        &self,
        req: &mut Request,
        _cx: &RequestContext,
    ) -> Result<Flow, PluginError> {
        let Some(rules) = self.rules.get() else {
            return Ok(Flow::Continue);
        };
        if self
            .api_prefix
            .as_deref()
            .is_some_and(|p| req.uri().path().starts_with(p))
        {
            return Ok(Flow::Continue);
        }
        let set = rules.load();
        let Some(rule) = set.find(req.uri().path()).cloned() else {
            return Ok(Flow::Continue);
        };
        drop(set);
        if self.hop.is_loop(req.headers()) {
            self.logger.warn(format!(
                "rule `{}` sent a request back to this runtime (target {}): answered 508",
                rule.rule.id, rule.rule.target
            ));
            return Ok(Flow::Respond(forward::error(
                StatusCode::LOOP_DETECTED,
                &format!(
                    "Proxy loop detected: rule `{}` targets this runtime",
                    rule.rule.id
                ),
            )));
        }
        let req = std::mem::take(req);
        if rule.rule.ws && buntime_core::ws_relay::is_upgrade(&req) {
            return Ok(Flow::Respond(
                ws::relay(req, &rule, &self.upstreams, &self.hop).await,
            ));
        }
        Ok(Flow::Respond(
            forward::forward(req, &rule, &self.upstreams, &self.hop).await,
        ))
    }

    fn routes(&self) -> Option<Router> {
        self.rules.get().map(|r| api::router(r.clone()))
    }

    fn provides(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        let rules = self.rules.get()?.clone();
        Some(Arc::new(PublicRouteService(Arc::new(public::RulePublic(
            rules,
        )))))
    }

    fn hooks(&self) -> Hooks {
        Hooks {
            on_request: true,
            on_response: false,
            server_fetch: false,
        }
    }
}
