//! Shared helpers: the keyval plugin from its shipped manifest, over the real database plugin and a
//! real SQLite file in a temporary state dir.
#![allow(dead_code, unreachable_pub)]

use buntime_plugin_database::DatabasePlugin;
use buntime_plugin_keyval::KeyvalPlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use futures_util::StreamExt;
use http::Method;
use serde_json::Value;

pub const MANIFEST: &str = include_str!("../../manifest.yaml");
pub const DATABASE_MANIFEST: &str = include_str!("../../../plugin-database/manifest.yaml");

/// A started keyval plugin (and its database plugin) and the directory holding their state.
pub struct Kv {
    pub h: StartedHarness,
    pub state: tempfile::TempDir,
}

pub async fn start() -> Kv {
    start_with("").await
}

/// Starts the plugin with the shipped manifest, its top-level keys named in `extra` replaced by
/// `extra`'s (the loader refuses duplicate keys).
pub async fn start_with(extra: &str) -> Kv {
    let state = tempfile::tempdir().unwrap();
    let manifest = format!("{}\n{extra}", without_keys(MANIFEST, extra));
    let h = PluginHarness::new(&manifest, KeyvalPlugin::new)
        .with_plugin(DATABASE_MANIFEST, DatabasePlugin::new)
        .env("RUNTIME_STATE_DIR", state.path().to_str().unwrap())
        .start()
        .await
        .unwrap();
    Kv { h, state }
}

/// `manifest` without the top-level blocks whose keys `extra` sets.
fn without_keys(manifest: &str, extra: &str) -> String {
    let top = |l: &str| {
        (!l.starts_with([' ', '#', '-']) && l.contains(':'))
            .then(|| l.split(':').next().unwrap_or_default().to_owned())
    };
    let replaced: Vec<String> = extra.lines().filter_map(top).collect();
    let mut out = String::new();
    let mut skipping = false;
    for line in manifest.lines() {
        if let Some(k) = top(line) {
            skipping = replaced.contains(&k);
        } else if !line.starts_with([' ', '-']) {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Kv {
    pub async fn get(&self, path: &str) -> TestResponse {
        self.h.get(path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> TestResponse {
        self.send(Method::DELETE, path, body).await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let mut req = http::Request::builder().method(method).uri(path);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.h
            .send(req.body(axum::body::Body::from(body)).unwrap())
            .await
    }

    /// The typed engine the plugin provides.
    pub fn engine(&self) -> std::sync::Arc<buntime_plugin_keyval::Kv> {
        self.h
            .generation()
            .services
            .get::<buntime_plugin_keyval::Kv>(buntime_plugin_keyval::NAME)
            .expect("the keyval engine is provided")
    }
}

/// The database plugin's manifest with one (default) PostgreSQL adapter at `url`.
pub fn pg_database_manifest(url: &str) -> String {
    format!(
        "name: \"@buntime/plugin-database\"\nversion: \"1.0.0\"\nbase: \"/database\"\nenabled: true\nadapters:\n  - type: postgres\n    default: true\n    url: \"{url}\"\n    poolSize: 6\n"
    )
}

/// Starts the keyval plugin (shipped manifest) over a database plugin whose default adapter is
/// the PostgreSQL server at `url`. Each call is a separate database plugin with its own pool, as a
/// separate replica would have.
pub async fn start_pg(url: &str) -> Kv {
    let state = tempfile::tempdir().unwrap();
    let extra = "database: postgres\n";
    let manifest = format!("{}\n{extra}", without_keys(MANIFEST, extra));
    let h = PluginHarness::new(&manifest, KeyvalPlugin::new)
        .with_plugin(&pg_database_manifest(url), DatabasePlugin::new)
        .env("RUNTIME_STATE_DIR", state.path().to_str().unwrap())
        .start()
        .await
        .unwrap();
    Kv { h, state }
}

/// An open SSE response, read event by event.
pub struct Events {
    body: axum::body::BodyDataStream,
    buf: String,
}

impl Events {
    pub async fn open(kv: &Kv, path: &str) -> (http::HeaderMap, Self) {
        let req = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let res = kv.h.send_streaming(req).await;
        assert_eq!(res.status(), 200);
        let headers = res.headers().clone();
        (
            headers,
            Self {
                body: res.into_body().into_data_stream(),
                buf: String::new(),
            },
        )
    }

    /// The next event as (name, data), waiting at most `within`.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                return Some((
                    name,
                    serde_json::from_str(&data).unwrap_or(Value::String(data)),
                ));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??
                .ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Starts the keyval plugin (shipped manifest) over a database plugin whose default adapter is
/// libsql on the sqld at `url` (admin API at `admin`). Each call is a separate plugin instance.
pub async fn start_libsql(url: &str, admin: &str) -> Kv {
    let state = tempfile::tempdir().unwrap();
    let extra = "database: libsql\n";
    let manifest = format!("{}\n{extra}", without_keys(MANIFEST, extra));
    let db = format!(
        "name: \"@buntime/plugin-database\"\nversion: \"1.0.0\"\nbase: \"/database\"\nenabled: true\nadapters:\n  - type: libsql\n    default: true\n    urls: [\"{url}\"]\n    adminUrl: \"{admin}\"\n"
    );
    let h = PluginHarness::new(&manifest, KeyvalPlugin::new)
        .with_plugin(&db, DatabasePlugin::new)
        .env("RUNTIME_STATE_DIR", state.path().to_str().unwrap())
        .start()
        .await
        .unwrap();
    Kv { h, state }
}

/// Claims messages until the queue has none ready; returns their ids.
pub async fn drain(kv: &Kv) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let m = kv.get("/keyval/api/queue/poll").await.json()["message"].clone();
        if m.is_null() {
            return got;
        }
        got.push(m["id"].as_str().unwrap().to_owned());
    }
}
