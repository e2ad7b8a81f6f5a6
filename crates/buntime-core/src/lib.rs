//! Buntime's core: everything a request and a reload need that is not a socket.
//!
//! This crate owns runtime configuration (env vars and `.env` files), plugin manifests, plugin
//! discovery and dependency ordering, the native [`Plugin`] trait and its contexts, and the
//! immutable [`Generation`] that one `ArcSwap` serves, the runtime's metrics registry
//! ([`metrics`]) and the log sink the logs plugin reads ([`logsink`]). It does not own the HTTP
//! listener, the REST API or process supervision: those live in `buntime-server` and the app/JS
//! crates.
#![forbid(unsafe_code)]

pub mod access;
pub mod app;
pub mod batch;
pub mod body;
pub mod bun;
pub mod canonical;
pub mod client;
pub mod config;
pub mod discovery;
pub mod duration;
pub mod error;
pub mod generation;
pub mod hop;
pub mod loader;
pub mod logger;
pub mod logsink;
pub mod manifest;
pub mod metrics;
pub mod order;
pub mod pipeline;
pub mod problem;
pub mod respond;
pub mod plugin;
pub mod pool_stats;
pub mod public_routes;
pub mod redact;
pub mod script;
pub mod services;
pub mod websocket;
pub mod ws_relay;
pub mod subst;
pub mod yaml;

pub use client::ClientAddr;
pub use app::{AppBackend, AppInfo, AppsChanged, ResolvedApp, WorkerNotice};
pub use config::{Env, NodeEnv, RuntimeConfig};
pub use error::{ErrorKind, PluginError};
pub use generation::{Generation, Live};
pub use logger::PluginLogger;
pub use manifest::{BasePath, Manifest, PluginName};
pub use metrics::{RouteKind, RuntimeMetrics};
pub use plugin::{Flow, Hooks, NativeFactory, NativeRegistry, Plugin, PluginContext, RequestContext, RuntimeInfo, ServerInfo};
pub use services::Services;

/// The request type every hook and router sees.
pub type Request = http::Request<axum::body::Body>;
/// The response type every hook and router produces.
pub type Response = http::Response<axum::body::Body>;

/// The runtime's version, reported by health, `/.well-known/buntime` and `ctx.runtime`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Header carrying the request id (incoming value kept, else a fresh UUIDv4).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Header carrying the plugin generation that served a response.
pub const GENERATION_HEADER: &str = "x-buntime-generation";
