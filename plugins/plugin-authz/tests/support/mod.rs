//! Shared helpers: the authz plugin from its shipped manifest (enabled, keys replaced as a test
//! needs), beside an `echo` plugin standing for the app behind it.
#![allow(dead_code, unreachable_pub)]

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use buntime_core::{Plugin, PluginContext, PluginError};
use buntime_plugin_authz::AuthzPlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use http::Method;
use serde_json::Value;

pub const MANIFEST: &str = include_str!("../../manifest.yaml");
pub const DATABASE_MANIFEST: &str = include_str!("../../../plugin-database/manifest.yaml");
pub const ORIGIN: &str = "https://admin.example";
pub const MASTER_KEY: &str = "test-master-key-0123456789abcdef";

/// The app behind authz: `GET|POST /echo/...` answers 200 with the path.
#[derive(Debug)]
pub struct Echo;

#[async_trait]
impl Plugin for Echo {
    fn routes(&self) -> Option<Router> {
        let h = |req: axum::extract::Request| async move { format!("echo {}", req.uri().path()) };
        Some(Router::new().route("/{*rest}", axum::routing::any(h)))
    }
}

pub fn echo(_cx: &PluginContext) -> Result<Echo, PluginError> {
    Ok(Echo)
}

/// The shipped manifest, enabled, with the top-level keys `extra` sets replaced by `extra`'s.
pub fn manifest(extra: &str) -> String {
    let top = |l: &str| {
        (!l.starts_with([' ', '#', '-']) && l.contains(':'))
            .then(|| l.split(':').next().unwrap_or_default().to_owned())
    };
    let mut replaced: Vec<String> = extra.lines().filter_map(top).collect();
    replaced.push("enabled".into());
    let mut out = String::new();
    let mut skipping = false;
    for line in MANIFEST.lines() {
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
    format!("{out}enabled: true\n{extra}\n")
}

pub struct Authz {
    pub h: StartedHarness,
    pub state: tempfile::TempDir,
}

pub async fn start(extra: &str) -> Authz {
    start_in(tempfile::tempdir().unwrap(), extra).await
}

/// Starts authz (and echo, and the database plugin) with `state` as the runtime state dir.
pub async fn start_in(state: tempfile::TempDir, extra: &str) -> Authz {
    start_with_env(state, extra, &[]).await
}

/// Like [`start_in`], with more environment variables.
pub async fn start_with_env(state: tempfile::TempDir, extra: &str, env: &[(&str, &str)]) -> Authz {
    start_over(state, extra, env, DATABASE_MANIFEST).await
}

/// Like [`start_with_env`], with the database plugin configured by `database_manifest`.
pub async fn start_over(
    state: tempfile::TempDir,
    extra: &str,
    env: &[(&str, &str)],
    database_manifest: &str,
) -> Authz {
    let mut harness = PluginHarness::new(&manifest(extra), AuthzPlugin::new);
    for (k, v) in env {
        harness = harness.env(k, v);
    }
    let h = harness
        .with_plugin("name: echo\nbase: /echo\n", echo)
        .with_plugin(
            database_manifest,
            buntime_plugin_database::DatabasePlugin::new,
        )
        .env("RUNTIME_STATE_DIR", state.path().to_str().unwrap())
        .env("RUNTIME_PUBLIC_URL", ORIGIN)
        .env("RUNTIME_MASTER_KEY", MASTER_KEY)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Authz { h, state }
}

pub fn identity(sub: &str, roles: &[&str]) -> String {
    serde_json::json!({"sub": sub, "roles": roles, "groups": [], "claims": {}}).to_string()
}

pub const ADMIN: &str = r#"{"sub":"root","roles":["admin"],"groups":[],"claims":{}}"#;

impl Authz {
    /// Sends `method path` with optional `X-Identity`, `Origin` and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        identity: Option<&str>,
        origin: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut b = http::Request::builder().method(method).uri(path);
        if let Some(i) = identity {
            b = b.header("x-identity", i);
        }
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.h.send(b.body(body).unwrap()).await
    }

    pub async fn get_as(&self, path: &str, identity: Option<&str>) -> TestResponse {
        self.call(Method::GET, path, identity, None, None).await
    }

    /// An admin's same-origin `POST /authz/api/policies`.
    pub async fn put_policy(&self, policy: Value) -> TestResponse {
        self.call(
            Method::POST,
            "/authz/api/policies",
            Some(ADMIN),
            Some(ORIGIN),
            Some(policy),
        )
        .await
    }
}
