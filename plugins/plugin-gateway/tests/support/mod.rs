//! Shared helpers: the gateway from its shipped manifest (keys replaced as a test needs), in
//! front of an `echo` plugin standing for the app behind it, and a fake app host for the shell.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use buntime_core::app::{AppBackend, AppInfo, ResolvedApp};
use buntime_core::{ClientAddr, Plugin, PluginContext, PluginError, Request, Response};
use buntime_plugin_gateway::GatewayPlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use http::Method;
use serde_json::Value;

pub const MANIFEST: &str = include_str!("../../manifest.yaml");
pub const KEYVAL_MANIFEST: &str = include_str!("../../../plugin-keyval/manifest.yaml");
pub const DATABASE_MANIFEST: &str = include_str!("../../../plugin-database/manifest.yaml");

/// The app behind the gateway: `/echo/...` answers 200 `echo <path> #<n>` (n counts calls, so a
/// cached answer shows), `/echo/nostore/...` says `Cache-Control: no-store`.
#[derive(Debug, Default)]
pub struct Echo {
    pub calls: Arc<AtomicU64>,
}

#[async_trait]
impl Plugin for Echo {
    fn routes(&self) -> Option<Router> {
        let calls = self.calls.clone();
        let h = move |req: axum::extract::Request| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let mut res = Response::new(Body::from(format!("echo {} #{n}", req.uri().path())));
                if req.uri().path().starts_with("/nostore") {
                    res.headers_mut()
                        .insert("cache-control", "no-store".parse().unwrap());
                }
                res
            }
        };
        Some(Router::new().route("/{*rest}", axum::routing::any(h)))
    }

    fn hooks(&self) -> buntime_core::Hooks {
        buntime_core::Hooks::NONE
    }
}

/// The peer dashboard calls come from (its own bucket).
pub const ADMIN_PEER: &str = "192.0.2.200:1";

/// Where dashboard writes come from: this machine, from a page the runtime serves.
pub const LOCAL_PEER: &str = "127.0.0.1:1";
pub const PUBLIC_URL: &str = "http://gateway.test";

pub const ECHO_MANIFEST: &str = "name: echo\nbase: /echo\nenabled: true\n";

/// The shipped manifest with the top-level keys `extra` sets replaced by `extra`'s.
pub fn manifest(extra: &str) -> String {
    let top = |l: &str| {
        (!l.starts_with([' ', '#', '-']) && l.contains(':'))
            .then(|| l.split(':').next().unwrap_or_default().to_owned())
    };
    let replaced: Vec<String> = extra.lines().filter_map(top).collect();
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
    format!("{out}{extra}\n")
}

/// A fake app host: every app dir is served by answering `shell <path> base=<x-base>`.
#[derive(Debug, Default)]
pub struct FakeApps;

#[async_trait]
impl AppBackend for FakeApps {
    async fn resolve(&self, path: &str) -> Result<Option<ResolvedApp>, PluginError> {
        Ok((path == "/cpanel").then(|| app(Path::new("/srv/apps/cpanel"))))
    }

    async fn resolve_plugin_app(
        &self,
        dir: &Path,
        _base: &str,
        _m: &serde_json::Map<String, Value>,
    ) -> Result<ResolvedApp, PluginError> {
        Ok(app(dir))
    }

    async fn serve(&self, app: &ResolvedApp, req: Request) -> Response {
        let base = req
            .headers()
            .get("x-base")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Response::new(Body::from(format!(
            "shell {} {} base={base}",
            app.info.dir.display(),
            req.uri().path()
        )))
    }

    async fn app_at(
        &self,
        dir: &Path,
        _config: Option<&serde_json::Map<String, Value>>,
    ) -> Result<ResolvedApp, PluginError> {
        Ok(app(dir))
    }
}

fn app(dir: &Path) -> ResolvedApp {
    ResolvedApp {
        info: Arc::new(AppInfo {
            name: "cpanel".into(),
            version: "1.0.0".into(),
            dir: dir.to_owned(),
            config: Value::Null,
        }),
        base_path: "/".into(),
        max_body_bytes: 1 << 20,
        public_routes: None,
        target: Arc::new(()),
    }
}

/// A started gateway in front of echo.
pub struct Gw {
    pub h: StartedHarness,
    pub calls: Arc<AtomicU64>,
}

/// Starts the gateway with `extra` manifest keys and `env`.
pub async fn start(extra: &str, env: &[(&str, &str)]) -> Gw {
    start_with(extra, env, |h| h).await
}

/// Starts the gateway, letting `more` add plugins or an app host to the harness.
pub async fn start_with(
    extra: &str,
    env: &[(&str, &str)],
    more: impl FnOnce(PluginHarness) -> PluginHarness,
) -> Gw {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let mut h = PluginHarness::new(&manifest(extra), GatewayPlugin::new)
        .with_plugin(ECHO_MANIFEST, move |_cx: &PluginContext| {
            Ok(Echo { calls: c.clone() })
        });
    h = h.env("RUNTIME_PUBLIC_URL", PUBLIC_URL);
    for (k, v) in env {
        h = h.env(k, v);
    }
    let h = more(h).start().await.unwrap_or_else(|e| panic!("{e}"));
    Gw { h, calls }
}

/// A request from `peer` with `headers`.
pub fn req(method: Method, path: &str, peer: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("x-request-id", format!("r-{path}-{}", fastrand()));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut r = b.body(Body::empty()).unwrap();
    let addr: SocketAddr = peer.parse().unwrap();
    r.extensions_mut().insert(ClientAddr(addr));
    r
}

fn fastrand() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Gw {
    pub async fn get(&self, path: &str, peer: &str, headers: &[(&str, &str)]) -> TestResponse {
        self.h.send(req(Method::GET, path, peer, headers)).await
    }

    pub async fn call(&self, method: Method, path: &str, body: &str) -> TestResponse {
        let mut r = req(
            method,
            path,
            LOCAL_PEER,
            &[("content-type", "application/json"), ("origin", PUBLIC_URL)],
        );
        *r.body_mut() = Body::from(body.to_owned());
        self.h.send(r).await
    }

    pub async fn api(&self, path: &str) -> Value {
        let res = self
            .get(&format!("/gateway/api{path}"), ADMIN_PEER, &[])
            .await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        res.json()
    }
}

pub fn header<'a>(res: &'a TestResponse, name: &str) -> Option<&'a str> {
    res.headers.get(name).map(|v| v.to_str().unwrap())
}
