//! Buntime's app hosting: resolving `/<app>[@range]` to an app directory, worker config, static
//! SPAs served directly, uploads, and the hand-off of JS apps to a worker pool ([`Dispatcher`]).
//!
//! It does not own worker processes: `buntime-pool` implements [`Dispatcher`]. It does not
//! authenticate or mount the REST API either: the server nests [`Apps::admin_router`] under the
//! API path behind its own guard.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(config: Arc<buntime_core::RuntimeConfig>, env: Arc<buntime_core::Env>, pool: Option<Arc<dyn buntime_apps::Dispatcher>>) {
//! use buntime_apps::Apps;
//!
//! let apps = Apps::new(config, env, pool);
//! let pipeline = buntime_core::pipeline::Pipeline { apps: Some(Arc::new(apps.clone())) };
//! let api_routes = apps.admin_router(); // GET /apps, uploads, deletes (an OpenApiRouter)
//! # let _ = (pipeline, api_routes);
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod archive;
pub mod backend;
pub mod config;
pub mod env;
pub mod inject;
pub mod parse;
pub mod range;
pub mod resolver;
pub mod static_files;
pub mod worker_spec;

pub use backend::Apps;
pub use worker_spec::{Dispatcher, WorkerSpec};
