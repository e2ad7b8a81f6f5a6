//! Buntime's app hosting: resolving `/<app>[@range]` to an app directory, worker config, static
//! SPAs served directly, uploads, and the hand-off of JS apps to a worker pool ([`Dispatcher`]).
//!
//! It does not own worker processes: `buntime-pool` implements [`Dispatcher`].
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

pub use worker_spec::{Dispatcher, WorkerSpec};
