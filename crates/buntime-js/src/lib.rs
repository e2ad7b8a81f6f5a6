//! Buntime's JS/TS plugin host: one supervised Bun process per generation, reached over a
//! versioned Unix-socket protocol (plugin routes as HTTP on a second socket), with [`Plugin`](buntime_core::Plugin) adapters that forward
//! only the hooks a JS plugin has.
//!
//! Wire it into a runtime with one line:
//! `inputs.scripts = Some(BunScriptHosts::discover(&env, &config.base_dir).shared());`
//!
//! This crate does not own plugin discovery, ordering or the pipeline (`buntime-core`), nor the
//! HTTP server (`buntime-server`). The protocol is in `docs/plugin-host-protocol.md`.
#![forbid(unsafe_code)]

mod adapter;
mod conn;
pub mod error;
mod factory;
mod hooks;
mod host;
mod http_conv;
pub mod protocol;
mod route_link;

pub use error::{CallError, StartError};
pub use factory::BunScriptHosts;
pub use host::{BunScriptHost, HOST_SCRIPT, HostOptions};
