//! Shared helpers: the authn plugin from its shipped manifest (enabled, fast hash parameters) over
//! the real database plugin and a SQLite file in a temporary state dir, with an echo plugin that
//! shows which `X-Identity` reached it and a stand-in for the proxy's public-route service.
#![allow(dead_code, unreachable_pub)]

pub mod op;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use buntime_core::public_routes::{PublicRouteOracle, PublicRouteService};
use buntime_core::{Hooks, Plugin, PluginContext, PluginError};
use buntime_plugin_authn::AuthnPlugin;
use buntime_plugin_database::DatabasePlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use http::{HeaderMap, Method, header};
use serde_json::{Value, json};

pub const MANIFEST: &str = include_str!("../../manifest.yaml");
pub const DATABASE_MANIFEST: &str = include_str!("../../../plugin-database/manifest.yaml");
pub const ORIGIN: &str = "http://localhost:8000";
pub const PASSWORD: &str = "correct horse battery";

/// Test overrides: cheap argon2 so the suite stays fast (the shipped parameters are benched).
const FAST_HASH: &str =
    "password:\n  memoryKib: 1024\n  iterations: 1\n  parallelism: 1\n  minLength: 8\n";

/// A route behind the gate that answers with the identity it received.
#[derive(Debug)]
pub struct EchoPlugin;

impl EchoPlugin {
    pub fn new(_: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self)
    }
}

#[async_trait]
impl Plugin for EchoPlugin {
    fn routes(&self) -> Option<Router> {
        Some(
            Router::new().fallback(|headers: HeaderMap, uri: http::Uri| async move {
                let identity = headers
                    .get("x-identity")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| serde_json::from_str::<Value>(v).ok());
                axum::Json(json!({"path": uri.path(), "identity": identity}))
            }),
        )
    }

    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}

const ECHO_MANIFEST: &str =
    "name: \"@test/echo\"\nbase: /echo\nenabled: true\npublicRoutes: [\"/public/**\"]\n";

/// Stands in for the proxy plugin: paths under `/proxied/open/` are public.
#[derive(Debug)]
pub struct FakeProxy;

struct Oracle;
impl PublicRouteOracle for Oracle {
    fn is_public(&self, _: &Method, path: &str) -> bool {
        path.starts_with("/proxied/open/")
    }
}

impl FakeProxy {
    pub fn new(_: &PluginContext) -> Result<Self, PluginError> {
        Ok(Self)
    }
}

#[async_trait]
impl Plugin for FakeProxy {
    fn provides(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(Arc::new(PublicRouteService(Arc::new(Oracle))))
    }

    fn hooks(&self) -> Hooks {
        Hooks::NONE
    }
}

const PROXY_MANIFEST: &str = "name: \"@buntime/plugin-proxy\"\nenabled: true\n";

/// A started authn plugin with its neighbours.
pub struct Auth {
    pub h: StartedHarness,
    pub state: tempfile::TempDir,
}

pub async fn start() -> Auth {
    start_with("", &[]).await
}

/// Starts the shipped manifest (enabled, fast hashing) with the top-level blocks named in `extra`
/// replaced by `extra`'s, and `env` set.
pub async fn start_with(extra: &str, env: &[(&str, &str)]) -> Auth {
    let state = tempfile::tempdir().unwrap();
    let h = harness(extra, env, state.path().to_str().unwrap()).await;
    Auth { h, state }
}

/// Starts another instance on the state dir `dir` (a restart: same database).
pub async fn start_in(extra: &str, dir: &str) -> Auth {
    let state = tempfile::tempdir().unwrap();
    Auth {
        h: harness(extra, &[], dir).await,
        state,
    }
}

/// The database plugin's manifest with one (default) PostgreSQL adapter at `url`.
pub fn pg_database_manifest(url: &str) -> String {
    format!(
        "name: \"@buntime/plugin-database\"\nversion: \"1.0.0\"\nbase: \"/database\"\nenabled: true\nadapters:\n  - type: postgres\n    default: true\n    url: \"{url}\"\n    poolSize: 4\n"
    )
}

/// Starts the plugin as [`start_with`] does, over the PostgreSQL server at `url`.
pub async fn start_pg_with(url: &str, extra: &str) -> Auth {
    let state = tempfile::tempdir().unwrap();
    let h = harness_on(
        &pg_database_manifest(url),
        &format!("database: postgres\n{extra}"),
        &[],
        state.path().to_str().unwrap(),
    )
    .await;
    Auth { h, state }
}

async fn harness(extra: &str, env: &[(&str, &str)], dir: &str) -> StartedHarness {
    harness_on(DATABASE_MANIFEST, extra, env, dir).await
}

async fn harness_on(
    database: &str,
    extra: &str,
    env: &[(&str, &str)],
    dir: &str,
) -> StartedHarness {
    let fast = if extra.lines().any(|l| l.starts_with("password:")) {
        ""
    } else {
        FAST_HASH
    };
    let overrides = format!("{fast}{extra}");
    let manifest = format!(
        "{}\n{overrides}",
        without_keys(
            &MANIFEST.replacen("enabled: false", "enabled: true", 1),
            &overrides
        )
    );
    let mut b = PluginHarness::new(&manifest, AuthnPlugin::new)
        .with_plugin(database, DatabasePlugin::new)
        .with_plugin(ECHO_MANIFEST, EchoPlugin::new)
        .with_plugin(PROXY_MANIFEST, FakeProxy::new)
        .env("RUNTIME_STATE_DIR", dir);
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start().await.unwrap()
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

/// Returns the `name=value` of the session cookie a response set.
pub fn session_cookie(res: &TestResponse) -> Option<String> {
    res.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("buntime.session_token=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

impl Auth {
    /// Sends a request with optional JSON body and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut req = http::Request::builder().method(method).uri(path);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = body.map_or_else(axum::body::Body::empty, |b| {
            axum::body::Body::from(b.to_string())
        });
        self.h.send(req.body(body).unwrap()).await
    }

    /// Sends a urlencoded form, as the login page does without JavaScript.
    pub async fn form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = http::Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.h
            .send(req.body(axum::body::Body::from(body)).unwrap())
            .await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> TestResponse {
        self.send(Method::GET, path, None, headers).await
    }

    pub async fn sign_up(&self, email: &str) -> TestResponse {
        self.send(
            Method::POST,
            "/auth/api/auth/sign-up/email",
            Some(json!({"email": email, "password": PASSWORD, "name": "Ann"})),
            &[("origin", ORIGIN)],
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> TestResponse {
        self.send(
            Method::POST,
            "/auth/api/auth/sign-in/email",
            Some(json!({"email": email, "password": password})),
            &[("origin", ORIGIN)],
        )
        .await
    }

    /// Signs up `email` and returns its session cookie (`name=value`).
    pub async fn user(&self, email: &str) -> String {
        let res = self.sign_up(email).await;
        assert_eq!(res.status, 200, "{}", res.text());
        session_cookie(&res).expect("sign-up sets the session cookie")
    }

    /// The echo route's answer with `cookie`, as an API client.
    pub async fn echo(&self, cookie: &str) -> TestResponse {
        self.get(
            "/echo/me",
            &[("cookie", cookie), ("accept", "application/json")],
        )
        .await
    }
}
