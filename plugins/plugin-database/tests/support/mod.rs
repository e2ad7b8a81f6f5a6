//! Shared helpers: the plugin loaded from its real manifest (or a variant) with a temporary state dir.
#![allow(dead_code, unreachable_pub)]

use buntime_plugin_database::DatabasePlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use http::Method;
use serde_json::Value;

pub const MANIFEST: &str = include_str!("../../manifest.yaml");

/// A started plugin and the directory holding its state.
pub struct Db {
    pub h: StartedHarness,
    pub state: tempfile::TempDir,
}

pub async fn start() -> Db {
    start_with(MANIFEST).await
}

/// Starts the plugin with the shipped manifest plus `extra` YAML appended (later keys win).
pub async fn start_with(manifest: &str) -> Db {
    let state = tempfile::tempdir().unwrap();
    let h = PluginHarness::new(manifest, DatabasePlugin::new).env("RUNTIME_STATE_DIR", state.path().to_str().unwrap()).start().await.unwrap();
    Db { h, state }
}

impl Db {
    pub async fn get(&self, path: &str) -> TestResponse {
        self.h.get(path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, &[], Some(body)).await
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> TestResponse {
        let mut req = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.h.send(req.body(axum::body::Body::from(body)).unwrap()).await
    }

    /// Sends a HRANA pipeline to `path` and returns the response body.
    pub async fn pipeline(&self, path: &str, baton: Option<&str>, requests: Value) -> (u16, Value) {
        let res = self.post(path, serde_json::json!({"baton": baton, "requests": requests})).await;
        (res.status.as_u16(), res.json())
    }
}

/// `{"type":"execute","stmt":{"sql":…}}`.
pub fn exec(sql: &str) -> Value {
    serde_json::json!({"type": "execute", "stmt": {"sql": sql}})
}

/// A manifest whose only (default) adapter is PostgreSQL at `url` with `pool_size` connections;
/// `tenancy` is the YAML of the `tenancy:` mapping's body lines.
pub fn pg_manifest(url: &str, pool_size: u32, tenancy: &str) -> String {
    format!(
        "name: \"@buntime/plugin-database\"\nversion: \"1.0.0\"\nbase: \"/database\"\nenabled: true\nadapters:\n  - type: postgres\n    default: true\n    url: \"{url}\"\n    poolSize: {pool_size}\ntenancy:\n{tenancy}"
    )
}

/// Tenancy lines for [`pg_manifest`]: off, tenants created on first use.
pub const AUTO_CREATE: &str = "  enabled: false\n  autoCreate: true\n";

/// Starts the plugin on the PostgreSQL server `pg` with `pool_size` connections.
pub async fn start_pg(pg: &buntime_testkit::PgServer, pool_size: u32) -> Db {
    start_with(&pg_manifest(&pg.url(), pool_size, AUTO_CREATE)).await
}

/// `{"type":"execute","stmt":{"sql":…,"args":…}}`.
pub fn exec_args(sql: &str, args: Value) -> Value {
    serde_json::json!({"type": "execute", "stmt": {"sql": sql, "args": args}})
}

impl Db {
    /// Sends a one-request pipeline (closing its stream) to tenant `ns` (root when `None`) and
    /// returns that request's result object.
    pub async fn run(&self, ns: Option<&str>, request: Value) -> Value {
        let body = serde_json::json!({"requests": [request, {"type": "close"}]});
        let headers: Vec<(&str, &str)> = ns
            .map(|n| ("x-database-namespace", n))
            .into_iter()
            .collect();
        let res = self
            .send(
                Method::POST,
                "/database/api/v2/pipeline",
                &headers,
                Some(body),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()["results"][0].clone()
    }
}

/// Starts the plugin with MySQL at `url` as its only (default) adapter, `pool_size` connections.
pub async fn start_mysql(url: &str, pool_size: u32) -> Db {
    let manifest = pg_manifest(url, pool_size, AUTO_CREATE).replace("type: postgres", "type: mysql");
    start_with(&manifest).await
}
