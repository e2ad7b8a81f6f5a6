//! The runtime's own log events reach the plugin through the process-wide sink (its own test
//! binary, since the sink is shared by everything in the process).

mod support;

use buntime_core::PluginLogger;
use buntime_core::logsink::LogSinkLayer;
use serde_json::Value;
use support::{MANIFEST, start};
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test]
async fn a_native_plugin_logger_line_and_a_runtime_event_show_up_with_source_and_fields_and_no_secrets()
 {
    let h = start(MANIFEST).await;
    let subscriber = tracing_subscriber::registry().with(LogSinkLayer);
    tracing::subscriber::with_default(subscriber, || {
        PluginLogger::new("@acme/plugin-store").info("store ready with 3 tables");
        tracing::warn!(
            request_id = "req-42",
            x_api_key = "btk_c2VjcmV0c2VjcmV0c2VjcmV0",
            "Rejected a key for /api/keys."
        );
    });
    let v = h.get("/logs/api?search=store%20ready").await.json();
    let e = &v["logs"][0];
    assert_eq!(
        (e["source"].as_str(), e["level"].as_str()),
        (Some("@acme/plugin-store"), Some("info"))
    );
    assert_eq!(e["meta"]["target"], "buntime_core::logger");
    let text = h.get("/logs/api?level=warn").await.text();
    let warn: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(warn["logs"][0]["meta"]["request_id"], "req-42");
    assert_eq!(
        warn["logs"][0]["source"], "runtime_feed",
        "without a plugin field the module is the source"
    );
    assert!(!text.contains("c2VjcmV0"), "{text}");
    // After shutdown the plugin no longer takes events.
    h.shutdown().await;
    assert!(!buntime_core::logsink::is_active());
}
