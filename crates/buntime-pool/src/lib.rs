//! Buntime's worker pool: runs JS apps as Bun `Worker` threads inside a few supervised worker-host
//! Bun processes, and proxies HTTP straight to each worker's Unix socket (decision D4).
//!
//! The pool owns spawn, readiness, LRU eviction, sliding TTL, idle notification, request limits,
//! timeouts, the ephemeral gate, warm spares, host supervision and worker env isolation. It does
//! not resolve apps or parse manifests: `buntime-apps` hands it a [`buntime_apps::WorkerSpec`].
#![forbid(unsafe_code)]

mod cache;
pub mod config;
pub mod error;
pub mod events;
mod gate;
mod host;
mod hosts;
mod metrics;
mod pool;
pub mod protocol;
mod proxy;
mod recycle;
mod worker;
mod ws;

pub use config::{PoolConfig, WorkerEnvDefaults};
pub use error::{DispatchError, PoolError, StartError};
pub use events::{WorkerEvent, WorkerEventKind};
pub use pool::Pool;

/// The worker-host script shipped with the crate (written to the pool's runtime dir at start).
pub const WORKER_HOST_JS: &str = include_str!("../js/worker-host.ts");
/// The worker wrapper each worker thread runs (written next to the host script).
pub const WORKER_JS: &str = include_str!("../js/worker.js");
