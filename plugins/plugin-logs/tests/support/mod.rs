//! Shared helpers: the plugin loaded from its real manifest (or a variant), and JSON requests.
#![allow(dead_code, unreachable_pub)]

use buntime_plugin_logs::LogsPlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use http::Method;
use serde_json::Value;

pub const MANIFEST: &str = include_str!("../../manifest.yaml");

pub async fn start(manifest: &str) -> StartedHarness {
    PluginHarness::new(manifest, LogsPlugin::new)
        .start()
        .await
        .unwrap()
}

/// The shipped manifest with `key: value` lines replaced.
pub fn manifest_with(replacements: &[(&str, &str)]) -> String {
    let mut m = MANIFEST.to_owned();
    for (from, to) in replacements {
        assert!(m.contains(from), "{from} not in the manifest");
        m = m.replace(from, to);
    }
    m
}

pub async fn post(h: &StartedHarness, path: &str, body: &str) -> TestResponse {
    let req = http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    h.send(req).await
}

pub async fn add(h: &StartedHarness, level: &str, message: &str, source: &str) {
    let body =
        serde_json::json!({"level": level, "message": message, "source": source}).to_string();
    let res = post(h, "/logs/api", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

pub fn messages(v: &Value) -> Vec<String> {
    v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}
