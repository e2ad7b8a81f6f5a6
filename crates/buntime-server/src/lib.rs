//! Buntime's HTTP front door: the listener, the REST API, reload coordination and graceful
//! shutdown, assembled by [`Runtime::builder`].
//!
//! A team builds its own binary by registering native plugins on the builder:
//!
//! ```no_run
//! use buntime_core::{Env, Plugin, RuntimeConfig};
//!
//! struct Audit;
//! #[async_trait::async_trait]
//! impl Plugin for Audit {}
//!
//! # async fn run() -> Result<(), buntime_server::ServeError> {
//! let dir = std::path::Path::new(".");
//! let env = Env::load(dir)?;
//! let config = RuntimeConfig::from_env(&env, dir)?;
//! buntime_server::Runtime::builder(config, env)
//!     .native("@acme/plugin-audit", |_cx| Ok(Audit))
//!     .build()
//!     .serve()
//!     .await
//! # }
//! ```
//!
//! It does not own plugin semantics (buntime-core) nor app hosting (buntime-apps, buntime-pool).
#![forbid(unsafe_code)]

mod api;
mod cluster;
mod openapi;
mod dispatch;
pub mod guard;
mod linger;
mod listener;
pub mod logging;
mod reload;
mod runtime;
mod shutdown;

pub use guard::{ApiGuard, KeyGuard, OpenGuard};
pub use reload::{ReloadError, ReloadReport};
pub use runtime::{Runtime, RuntimeBuilder, RuntimeHandle, ServeError, bind};
