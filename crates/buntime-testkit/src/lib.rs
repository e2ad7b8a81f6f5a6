//! A test kit for plugin authors: load a native plugin from its manifest through the real loader,
//! send it requests in-process (the full pipeline: hooks, routes, base stripping), read what it
//! logged, and shut it down — the Rust twin of the seed's `plugin.test.ts` (step 7).
//!
//! ```
//! # use buntime_testkit::PluginHarness;
//! # struct Hi;
//! # #[async_trait::async_trait]
//! # impl buntime_core::Plugin for Hi {
//! #     fn routes(&self) -> Option<axum::Router> {
//! #         Some(axum::Router::new().route("/hi", axum::routing::get(|| async { "hi" })))
//! #     }
//! # }
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let h = PluginHarness::new("name: hi\nbase: /hi\n", |_cx| Ok(Hi)).start().await.unwrap();
//! let res = h.get("/hi/hi").await;
//! assert_eq!(res.status, 200);
//! assert_eq!(res.text(), "hi");
//! h.shutdown().await;
//! # }
//! ```
#![forbid(unsafe_code)]

mod capture;
mod harness;
pub mod mariadb;
pub mod pg;
pub mod promtool;
pub mod sqld;
pub mod tls;

pub use capture::LogCapture;
pub use harness::{HarnessError, PluginHarness, StartedHarness, TestResponse};
pub use mariadb::MariaDbServer;
pub use pg::PgServer;
pub use sqld::SqldServer;
pub use tls::TlsServer;

/// The Rust plugin guide; its code blocks run as doctests so the docs cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/plugins-rust.md")]
pub struct PluginsRustGuide;
