//! Shared fixtures: a native test plugin driven by its manifest, a plugin-dir builder, and a
//! small HTTP client for a runtime listening on 127.0.0.1:0.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::extract::ws::{CloseFrame, Message};
use buntime_core::websocket::{Socket, WsUpgrade};
use axum::routing::get as route_get;
use buntime_core::{Env, ErrorKind, Flow, Plugin, PluginContext, PluginError, Request, RequestContext, Response, RuntimeConfig, ServerInfo};
use buntime_server::{Runtime, RuntimeBuilder, RuntimeHandle};
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Events recorded by test plugins, in the order they happened.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        self.entries().into_iter().filter(|e| e.starts_with(prefix)).collect()
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// A plugin whose behaviour comes from its manifest keys:
/// `action` (continue | respond | replace | fail | panic | unauthorized | upgrade), `routes: true`,
/// `initFail`, `initPanic`, `initSleepMs`, `provide`, `consume`, `responseHeader`. Its routes
/// include `/ws`, a WebSocket echo ([`ws_echo`]).
pub struct TestPlugin {
    name: String,
    generation: u64,
    config: serde_json::Map<String, serde_json::Value>,
    journal: Journal,
}

impl TestPlugin {
    fn key(&self, k: &str) -> Option<&str> {
        self.config.get(k).and_then(|v| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        self.config.get(k).and_then(serde_json::Value::as_bool).unwrap_or(false)
    }
}

pub struct Greeter(pub String);

#[async_trait]
impl Plugin for TestPlugin {
    async fn on_init(&self, cx: &PluginContext) -> Result<(), PluginError> {
        self.journal.push(format!("init:{}:{}", self.name, self.generation));
        if let Some(ms) = self.config.get("initSleepMs").and_then(serde_json::Value::as_u64) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if self.flag("initPanic") {
            panic!("init panic in test plugin");
        }
        if self.flag("initFail") {
            return Err(PluginError::internal("database unreachable"));
        }
        if let Some(other) = self.key("consume") {
            let got = cx.get_plugin::<Greeter>(other).map(|g| g.0.clone()).unwrap_or_else(|| "none".into());
            self.journal.push(format!("consumed:{}:{got}", self.name));
        }
        Ok(())
    }

    async fn on_request(&self, req: &mut Request, cx: &RequestContext) -> Result<Flow, PluginError> {
        self.journal.push(format!("request:{}:{}:{}", self.name, req.uri().path(), cx.is_public));
        match self.key("action").unwrap_or("continue") {
            "respond" => {
                let mut res = Response::new(Body::from(format!("blocked by {}", self.name)));
                *res.status_mut() = StatusCode::FORBIDDEN;
                Ok(Flow::Respond(res))
            }
            "replace" => {
                let path = self.key("replacePath").unwrap_or("/");
                let mut next = http::Request::builder().method(req.method()).uri(path).body(Body::empty()).unwrap();
                next.headers_mut().insert("x-replaced-by", HeaderValue::from_str(&self.name).unwrap());
                Ok(Flow::Replace(next))
            }
            "fail" => Err(PluginError::internal("secret detail: db password wrong")),
            "unauthorized" => Err(PluginError::new(ErrorKind::Unauthorized, "token required")),
            "panic" => panic!("hook panic in test plugin"),
            // Accepts WebSockets in the hook itself, for any path under its base.
            "upgrade" if buntime_core::ws_relay::is_upgrade(req) => match WsUpgrade::from_request(req).await {
                Ok(ws) => {
                    let tag = format!("hook {}:{}", self.name, self.generation);
                    Ok(Flow::Respond(ws.on_upgrade(move |socket| ws_echo(socket, tag))))
                }
                Err(rejection) => Ok(Flow::Respond(rejection)),
            },
            _ => Ok(Flow::Continue),
        }
    }

    async fn on_response(&self, res: &mut Response, _cx: &RequestContext) -> Result<(), PluginError> {
        if let Some(h) = self.key("responseHeader") {
            res.headers_mut().append("x-seen-by", HeaderValue::from_str(h).unwrap());
        }
        Ok(())
    }

    async fn on_short_circuit(&self, res: &mut Response, _cx: &RequestContext) -> Result<(), PluginError> {
        if let Some(h) = self.key("shortCircuitHeader") {
            res.headers_mut().append("x-short-seen-by", HeaderValue::from_str(h).unwrap());
        }
        Ok(())
    }

    async fn on_server_start(&self, _server: &ServerInfo) {
        self.journal.push(format!("server_start:{}:{}", self.name, self.generation));
    }

    async fn on_shutdown(&self) {
        self.journal.push(format!("shutdown:{}:{}", self.name, self.generation));
    }

    fn routes(&self) -> Option<Router> {
        if !self.flag("routes") {
            return None;
        }
        let name = self.name.clone();
        let generation = self.generation;
        let ws_tag = format!("{}:{}", self.name, self.generation);
        Some(
            Router::new()
                .route(
                    "/echo",
                    route_get(move |req: axum::extract::Request| async move {
                        let replaced = req.headers().get("x-replaced-by").map(|v| v.to_str().unwrap().to_owned());
                        axum::Json(serde_json::json!({
                            "plugin": name, "generation": generation, "path": req.uri().path(),
                            "query": req.uri().query(), "replacedBy": replaced,
                        }))
                    }),
                )
                .route(
                    "/echo/{*rest}",
                    route_get(|req: axum::extract::Request| async move { axum::Json(serde_json::json!({ "path": req.uri().path() })) }),
                )
                .route(
                    "/slow",
                    route_get(|Query(q): Query<std::collections::HashMap<String, u64>>| async move {
                        tokio::time::sleep(Duration::from_millis(q.get("ms").copied().unwrap_or(100))).await;
                        "slow done"
                    }),
                )
                .route("/ws", route_get(move |ws: WsUpgrade| async move { ws.on_upgrade(move |socket| ws_echo(socket, ws_tag)) }))
                .route(
                    "/events",
                    route_get(|| async {
                        // An endless event stream, one event every 50 ms, as metrics and logs serve.
                        let ticks = futures_util::stream::unfold(0u64, |n| async move {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Some((Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(format!("data: {n}\n\n"))), n + 1))
                        });
                        ([(http::header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(ticks))
                    }),
                )
                .route("/boom", route_get(|| async { if true { panic!("route panic") } "unreachable" }))
                .route("/gone", route_get(|| async { (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({ "error": "Key not found" }))) }))
                .route("/upload", axum::routing::post(|body: axum::body::Bytes| async move { format!("got {} bytes", body.len()) })),
        )
    }

    fn provides(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.key("provide").map(|g| Arc::new(Greeter(g.to_owned())) as Arc<dyn std::any::Any + Send + Sync>)
    }
}

/// The test plugin's WebSocket: echoes text and binary frames; `whoami` answers `name:generation`
/// (which instance holds the socket), `close:<code>` closes with that code.
async fn ws_echo(mut socket: Socket, tag: String) {
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Text(t) if t.as_str() == "whoami" => Message::Text(tag.clone().into()),
            Message::Text(t) if t.as_str().starts_with("close:") => {
                let code = t.as_str()["close:".len()..].parse().unwrap_or(1000);
                let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: "asked to".into() }))).await;
                return;
            }
            Message::Text(_) | Message::Binary(_) => msg,
            // Pings are answered by axum itself. The echo of a client's close is only queued:
            // reading on sends it and then ends the stream (returning now would reset the TCP).
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}

/// A temporary plugin dir plus the journal its test plugins write.
pub struct Fixture {
    pub root: tempfile::TempDir,
    pub journal: Journal,
}

impl Fixture {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("plugins")).unwrap();
        Self { root, journal: Journal::default() }
    }

    /// Writes `plugins/<dir>/manifest.yaml`; `native: test-plugin` is added when absent.
    pub fn plugin(&self, dir: &str, yaml: &str) -> &Self {
        let d = self.root.path().join("plugins").join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let text = if yaml.contains("native:") { yaml.to_owned() } else { format!("native: test-plugin\n{yaml}") };
        std::fs::write(d.join("manifest.yaml"), text).unwrap();
        self
    }

    pub fn remove(&self, dir: &str) {
        std::fs::remove_dir_all(self.root.path().join("plugins").join(dir)).unwrap();
    }

    pub fn builder(&self, extra_env: &[(&str, &str)]) -> RuntimeBuilder {
        self.builder_and_apps(extra_env).0
    }

    /// Like [`Fixture::builder`], also returning the app backend it mounts (to look inside it).
    pub fn builder_and_apps(&self, extra_env: &[(&str, &str)]) -> (RuntimeBuilder, buntime_apps::Apps) {
        let mut pairs: Vec<(String, String)> = vec![
            ("RUNTIME_PLUGIN_DIRS".into(), self.root.path().join("plugins").display().to_string()),
            ("RUNTIME_WORKER_DIRS".into(), self.root.path().join("apps").display().to_string()),
            ("RUNTIME_SHUTDOWN_GRACE_MS".into(), "5000".into()),
            ("RUNTIME_LOG_LEVEL".into(), "warn".into()),
        ];
        pairs.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let env = Env::from_pairs(pairs);
        let config = RuntimeConfig::from_env(&env, self.root.path()).unwrap();
        let journal = self.journal.clone();
        let apps = buntime_apps::Apps::new(Arc::new(config.clone()), Arc::new(env.clone()), None);
        let builder = Runtime::builder(config, env)
            .apps(Arc::new(apps.clone()), None)
            .api_routes(apps.admin_router())
            .native("test-plugin", move |cx| {
                Ok(TestPlugin { name: cx.name().to_owned(), generation: cx.generation(), config: cx.config().clone(), journal: journal.clone() })
            });
        (builder, apps)
    }

    /// Starts the runtime and returns the app backend it serves with.
    pub async fn start_with_apps(&self, env: &[(&str, &str)]) -> (RuntimeHandle, buntime_apps::Apps) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (builder, apps) = self.builder_and_apps(env);
        (builder.build().spawn(listener).await.unwrap(), apps)
    }

    /// Writes `rel` (relative to the fixture root), creating its parents.
    pub fn file(&self, rel: &str, body: &str) -> &Self {
        let p = self.root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
        self
    }

    pub async fn start(&self) -> RuntimeHandle {
        self.start_with(&[]).await
    }

    pub async fn start_with(&self, env: &[(&str, &str)]) -> RuntimeHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.builder(env).build().spawn(listener).await.unwrap()
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Got {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn generation(&self) -> u64 {
        self.headers["x-buntime-generation"].to_str().unwrap().parse().unwrap()
    }
}

pub async fn send(req: http::Request<Body>) -> Got {
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let res = client.request(req).await.expect("request failed");
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Got { status: parts.status.as_u16(), headers: parts.headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

pub async fn get(h: &RuntimeHandle, path: &str) -> Got {
    send(http::Request::get(format!("{}{path}", h.url())).body(Body::empty()).unwrap()).await
}

pub async fn post(h: &RuntimeHandle, path: &str) -> Got {
    let origin = h.url();
    send(http::Request::post(format!("{}{path}", h.url())).header("origin", origin).body(Body::empty()).unwrap()).await
}
