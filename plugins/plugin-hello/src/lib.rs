//! The seed guide's hello plugin, native: `GET <base>/api/greeting` answers
//! `{"message": "Hello from Buntime"}`; init and shutdown are logged.
#![forbid(unsafe_code)]

use async_trait::async_trait;
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use buntime_core::{Plugin, PluginContext, PluginError, PluginLogger};

/// The name this plugin is registered under; its manifest's `name`.
pub const NAME: &str = "@buntime/plugin-hello";

/// Greets callers; the greeting comes from `HELLO_GREETING`, then the manifest's `greeting`.
#[derive(Debug)]
pub struct HelloPlugin {
    greeting: String,
    logger: PluginLogger,
}

impl HelloPlugin {
    /// Builds the plugin from its context (the native twin of the seed's factory).
    ///
    /// # Errors
    /// Never; the signature matches every native factory.
    pub fn new(cx: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self { greeting: cx.setting_or("HELLO_GREETING", "greeting", "Hello from Buntime"), logger: cx.logger().clone() })
    }
}

#[async_trait]
impl Plugin for HelloPlugin {
    async fn on_init(&self, _cx: &PluginContext) -> Result<(), PluginError> {
        self.logger.info("hello plugin initialized");
        Ok(())
    }

    async fn on_shutdown(&self) {
        self.logger.info("hello plugin shut down");
    }

    fn routes(&self) -> Option<Router> {
        // The greeting never changes for this instance: serialise it once.
        let body = axum::body::Bytes::from(serde_json::json!({ "message": self.greeting }).to_string());
        Some(Router::new().route("/api/greeting", get(move || async move { ([(CONTENT_TYPE, "application/json")], body) })))
    }

    fn hooks(&self) -> buntime_core::Hooks {
        buntime_core::Hooks::NONE
    }
}
