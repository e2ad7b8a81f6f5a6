#![allow(clippy::type_complexity)]

use std::sync::Mutex as StdMutex;

use buntime_core::Env;
use http_body_util::BodyExt;

use super::*;

#[derive(Debug, Default)]
pub(crate) struct MockPool {
    pub(crate) seen: StdMutex<Vec<(Arc<WorkerSpec>, String, Option<String>)>>,
    pub(crate) retired: StdMutex<Vec<String>>,
    pub(crate) html: bool,
}

#[async_trait]
impl Dispatcher for MockPool {
    async fn dispatch(&self, spec: Arc<WorkerSpec>, req: Request) -> Response {
        let pq = req.uri().path_and_query().map(ToString::to_string).unwrap_or_default();
        let base = req.headers().get("x-base").and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.seen.lock().unwrap().push((spec, pq, base));
        let mut res = Response::new(Body::from(if self.html { "<html><head></head><body>w</body></html>" } else { "worker" }));
        let ct = if self.html { "text/html; charset=utf-8" } else { "text/plain" };
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        res
    }

    async fn retire(&self, key: &str) {
        self.retired.lock().unwrap().push(key.to_owned());
    }
}

pub(crate) fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

pub(crate) fn apps_with(tmp: &Path, pool: Option<Arc<MockPool>>) -> Apps {
    let env = Env::from_pairs([
        ("RUNTIME_WORKER_DIRS", tmp.join("apps").to_string_lossy().into_owned()),
        ("RUNTIME_PLUGIN_DIRS", tmp.join("plugins").to_string_lossy().into_owned()),
        ("RUNTIME_WORKER_RESOLVER_CACHE_TTL_MS", "0".to_owned()),
        ("RUNTIME_WORKER_CONFIG_CACHE_TTL_MS", "0".to_owned()),
    ]);
    let config = RuntimeConfig::from_env(&env, tmp).unwrap();
    Apps::new(Arc::new(config), Arc::new(env), pool.map(|p| p as Arc<dyn Dispatcher>))
}

fn req(uri: &str) -> Request {
    http::Request::builder().uri(uri).header("accept", "text/html").body(Body::empty()).unwrap()
}

async fn body_json(res: Response) -> Value {
    serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

async fn call(apps: &Apps, uri: &str) -> Response {
    let path = uri.split('?').next().unwrap();
    let app = apps.resolve(path).await.unwrap().unwrap_or_else(|| panic!("{uri} did not resolve"));
    apps.serve(&app, req(uri)).await
}

#[tokio::test]
async fn worker_apps_are_dispatched_with_the_prefix_stripped() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/todo/index.ts", "export default {}");
    write(tmp.path(), "apps/todo/manifest.yaml", "ttl: 60\ntimeout: 5\nenv: {PUBLIC_X: 1, PORT: 9000}\nisolated: true");
    write(tmp.path(), "apps/todo/.env", "SECRET_FROM_APP=ok");
    write(tmp.path(), "apps/@acme/ui/2.0.0/index.js", "");
    let pool = Arc::new(MockPool::default());
    let apps = apps_with(tmp.path(), Some(pool.clone()));
    let cases: &[(&str, &str, &str)] = &[
        ("/todo/items?x=1", "/items?x=1", "/todo"),
        ("/todo", "/", "/todo"),
        ("/todo/", "/", "/todo"),
        ("/todo@latest/a/b", "/a/b", "/todo@latest"),
        ("/@acme/ui@2/x", "/x", "/@acme/ui@2"),
    ];
    for (uri, path, base) in cases {
        let res = call(&apps, uri).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let seen = pool.seen.lock().unwrap().pop().unwrap();
        assert_eq!((seen.1.as_str(), seen.2.as_deref()), (*path, Some(*base)), "{uri}");
        assert_eq!(seen.0.base_path, *base);
    }
    let app = apps.resolve("/todo/x").await.unwrap().unwrap();
    let Some(Target::Worker { spec, .. }) = app.target.downcast_ref::<Target>() else { panic!("not a worker") };
    assert_eq!(spec.key, "todo@latest");
    assert!(spec.entrypoint.ends_with("index.ts"));
    assert_eq!(spec.ttl, Duration::from_secs(60));
    assert_eq!(spec.timeout, Duration::from_secs(5));
    assert!(spec.isolated);
    assert_eq!(spec.env.get("PORT").map(String::as_str), Some("9000"));
    assert_eq!(spec.env.get("SECRET_FROM_APP").map(String::as_str), Some("ok"));
    assert_eq!(spec.public_env.keys().collect::<Vec<_>>(), ["PUBLIC_X"]);
    assert_eq!(spec.config_json["ttlMs"], serde_json::json!(60000));
    assert!(spec.config_json.get("env").is_none());
    assert_eq!(app.info.name, "todo");
    assert_eq!(app.info.config["ttl"], serde_json::json!(60));
    assert_eq!(app.info.config["timeout"], serde_json::json!(5));
    let scoped = apps.resolve("/@acme/ui").await.unwrap().unwrap();
    assert_eq!(scoped.info.name, "@acme/ui");
}

#[tokio::test]
async fn static_apps_are_served_without_the_pool() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/spa/index.html", "<html><head></head><body>spa</body></html>");
    write(tmp.path(), "apps/spa/manifest.yaml", "injectBase: true\nenv: {PUBLIC_API: /api}");
    write(tmp.path(), "apps/spa/app.js", "console.log(1)");
    let pool = Arc::new(MockPool::default());
    let apps = apps_with(tmp.path(), Some(pool.clone()));
    let res = call(&apps, "/spa/deep/link").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(body.contains("<base href=\"/spa/\" />") && body.contains("window.__env__"), "{body}");
    assert_eq!(call(&apps, "/spa/app.js").await.status(), StatusCode::OK);
    assert_eq!(call(&apps, "/spa/missing.js").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(call(&apps, "/spa/%2e%2e/%2e%2e/etc/passwd").await.status(), StatusCode::FORBIDDEN);
    assert!(pool.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_invalid_manifest_answers_500_json_and_spares_other_apps() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/bad/index.ts", "");
    write(tmp.path(), "apps/bad/manifest.yaml", "timeout: soon");
    write(tmp.path(), "apps/good/index.ts", "");
    let apps = apps_with(tmp.path(), Some(Arc::new(MockPool::default())));
    let res = call(&apps, "/bad/x").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let json = body_json(res).await;
    assert_eq!(json["code"], "INVALID_WORKER_CONFIG");
    let msg = json["message"].as_str().unwrap();
    assert!(msg.contains("`bad`") && msg.contains("manifest.yaml") && msg.contains("`timeout`") && msg.contains("fix:"), "{msg}");
    assert_eq!(call(&apps, "/good/x").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_pool_js_apps_answer_503() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/todo/index.ts", "");
    let apps = apps_with(tmp.path(), None);
    let res = call(&apps, "/todo").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_json(res).await["code"], "WORKER_POOL_UNAVAILABLE");
}

#[tokio::test]
async fn body_limits_and_public_routes_reach_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/up/index.ts", "");
    write(tmp.path(), "apps/up/manifest.yaml", "maxBodySize: 1kb\npublicRoutes: [\"/health\"]");
    write(tmp.path(), "apps/huge/index.ts", "");
    write(tmp.path(), "apps/huge/manifest.yaml", "maxBodySize: 5gb");
    let apps = apps_with(tmp.path(), None);
    let up = apps.resolve("/up").await.unwrap().unwrap();
    assert_eq!(up.max_body_bytes, 1024);
    assert!(up.public_routes.as_ref().unwrap().matches("GET", "/health"));
    let huge = apps.resolve("/huge").await.unwrap().unwrap();
    assert_eq!(huge.max_body_bytes, 100 * 1024 * 1024);
}

#[tokio::test]
async fn unknown_reserved_and_hidden_paths_resolve_to_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/api/index.ts", "");
    write(tmp.path(), "apps/health/index.ts", "");
    write(tmp.path(), "apps/.hidden/index.ts", "");
    let apps = apps_with(tmp.path(), None);
    for path in ["/", "/missing", "/api", "/api/x", "/health", "/.hidden", "/.well-known/x", "/%2e%2e/etc"] {
        assert!(apps.resolve(path).await.unwrap().is_none(), "{path}");
    }
}

#[tokio::test]
async fn key_collisions_answer_500_naming_both_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/todo@1.0.0/index.ts", "");
    write(tmp.path(), "apps/todo/package.json", r#"{"version":"1.0.0"}"#);
    let apps = apps_with(tmp.path(), Some(Arc::new(MockPool::default())));
    let res = call(&apps, "/todo@1").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let json = body_json(res).await;
    assert_eq!(json["code"], "APP_KEY_COLLISION");
    let msg = json["message"].as_str().unwrap();
    assert!(msg.contains("todo@1.0.0`") && msg.contains("apps/todo`"), "{msg}");
}

#[tokio::test]
async fn plugin_apps_use_the_plugin_manifest_under_their_base() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "plugins/kv/index.ts", "");
    write(tmp.path(), "plugins/kv/plugin.ts", "");
    let manifest: Map<String, Value> = serde_json::from_value(serde_json::json!({
        "name": "@buntime/plugin-kv", "base": "/kv", "entrypoint": "index.ts", "ttl": 10, "timeout": 5, "maxBodySize": "2kb"
    }))
    .unwrap();
    let pool = Arc::new(MockPool::default());
    let apps = apps_with(tmp.path(), Some(pool.clone()));
    let app = apps.resolve_plugin_app(&tmp.path().join("plugins/kv"), "/kv", &manifest).await.unwrap();
    assert_eq!(app.info.name, "kv");
    assert_eq!(app.max_body_bytes, 2048);
    let res = apps.serve(&app, req("/kv/items?a=b")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (spec, path, base) = pool.seen.lock().unwrap().pop().unwrap();
    assert_eq!((path.as_str(), base.as_deref()), ("/items?a=b", Some("/kv")));
    assert_eq!(spec.key, "@buntime/plugin-kv@latest");
    assert_eq!(spec.ttl, Duration::from_secs(10));

    let bad: Map<String, Value> = serde_json::from_value(serde_json::json!({"name": "x", "entrypoint": "index.ts", "ttl": "forever"})).unwrap();
    let app = apps.resolve_plugin_app(&tmp.path().join("plugins/kv"), "/kv", &bad).await.unwrap();
    assert_eq!(apps.serve(&app, req("/kv")).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn worker_html_is_injected_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/ssr/index.ts", "");
    write(tmp.path(), "apps/ssr/manifest.yaml", "injectBase: true");
    let pool = Arc::new(MockPool { html: true, ..MockPool::default() });
    let apps = apps_with(tmp.path(), Some(pool.clone()));
    apps.set_inject_worker_html(true);
    let res = call(&apps, "/ssr/page").await;
    let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert_eq!(body, "<html><head><base href=\"/ssr/\" /></head><body>w</body></html>");
    apps.set_inject_worker_html(false);
    let res = call(&apps, "/ssr/page").await;
    let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(!body.contains("<base"));
}

#[test]
fn strip_base_keeps_the_app_relative_path() {
    let cases: &[(&str, &str, &str)] = &[
        ("/todo", "/todo", "/"),
        ("/todo/", "/todo", "/"),
        ("/todo/a", "/todo", "/a"),
        ("/todox", "/todo", "/"),
        ("/x/y", "/", "/x/y"),
    ];
    for (path, base, expected) in cases {
        assert_eq!(strip_base(path, base), *expected, "{path} {base}");
    }
}

/// Measures the per-request cost of resolving and serving a cached static asset.
/// Run with `cargo test -p buntime-apps --release static_hot_path -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn static_hot_path() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/spa/index.html", "<html><head></head></html>");
    write(tmp.path(), "apps/spa/assets/app.js", &"console.log(1);\n".repeat(1000));
    let env = Env::from_pairs([
        ("RUNTIME_WORKER_DIRS", tmp.path().join("apps").to_string_lossy().into_owned()),
        ("RUNTIME_PLUGIN_DIRS", tmp.path().join("plugins").to_string_lossy().into_owned()),
    ]);
    let config = RuntimeConfig::from_env(&env, tmp.path()).unwrap();
    let apps = Apps::new(Arc::new(config), Arc::new(env), None);
    let n = 200_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let app = apps.resolve("/spa/assets/app.js").await.unwrap().unwrap();
        let req = http::Request::builder().uri("/spa/assets/app.js").header("accept-encoding", "gzip, br").body(Body::empty()).unwrap();
        let res = apps.serve(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let per = start.elapsed() / n;
    println!("static hot path: {per:?} per request ({:.0} req/s on one core)", 1.0 / per.as_secs_f64());
}

#[tokio::test]
async fn files_changed_routes_a_new_version_at_once_and_retires_the_workers_of_changed_dirs_only() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/todo/1.0.0/index.ts", "");
    write(tmp.path(), "apps/other/1.0.0/index.ts", "");
    let pool = Arc::new(MockPool::default());
    let env = Env::from_pairs([
        ("RUNTIME_WORKER_DIRS", tmp.path().join("apps").to_string_lossy().into_owned()),
        ("RUNTIME_WORKER_RESOLVER_CACHE_TTL_MS", "60000".to_owned()),
        ("RUNTIME_WORKER_CONFIG_CACHE_TTL_MS", "60000".to_owned()),
    ]);
    let config = RuntimeConfig::from_env(&env, tmp.path()).unwrap();
    let apps = Apps::new(Arc::new(config), Arc::new(env), Some(pool.clone() as Arc<dyn Dispatcher>));
    for uri in ["/todo/", "/other/"] {
        call(&apps, uri).await;
    }
    write(tmp.path(), "apps/todo/2.0.0/index.ts", "");
    // The resolver's cache (a minute here) still answers 1.0.0...
    assert!(apps.resolve("/todo").await.unwrap().unwrap().info.dir.ends_with("todo/1.0.0"));
    // ...until the change is announced.
    let retired = apps.files_changed(&[tmp.path().join("apps/todo/2.0.0")]).await;
    assert!(retired.is_empty(), "no worker served from the new dir yet: {retired:?}");
    assert!(apps.resolve("/todo").await.unwrap().unwrap().info.dir.ends_with("todo/2.0.0"));
    // A change inside a served version retires that version's workers, and only them.
    let retired = apps.files_changed(&[tmp.path().join("apps/todo/1.0.0/index.ts")]).await;
    assert_eq!(retired, ["todo@1.0.0"]);
    assert_eq!(pool.retired.lock().unwrap().as_slice(), ["todo@1.0.0"]);
}
