//! End-to-end tests of JS/TS plugins: real generations built by the core's loader over example
//! and fixture plugin directories, served by the core's pipeline, with a real Bun plugin host.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use buntime_core::config::Env;
use buntime_core::loader::build_generation;
use buntime_core::services::JsonService;
use buntime_core::{Flow, NativeRegistry, Plugin, PluginError, Request, RequestContext};
use buntime_js::{BunScriptHosts, HostOptions};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

mod support;

use support::{Fixture, bun, get, problems, send, test_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_examples_greet_block_and_share_a_service() {
    let f = Fixture::new().example("plugin-hello").example("plugin-blocker").example("plugin-cache").example("plugin-cache-consumer");
    let outcome = f.load(&[], NativeRegistry::default()).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    assert!(outcome.warnings.iter().any(|w| w.contains("dist/plugin.js")), "unbuilt pluginEntry falls back with a warning: {:?}", outcome.warnings);
    let g = Arc::new(outcome.generation);

    let (status, body) = get(&g, "/hello/api/greeting").await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (StatusCode::OK, json!({"message": "Hello from Buntime"})));
    assert_eq!(get(&g, "/blocked").await, (StatusCode::FORBIDDEN, "Nope".to_owned()));
    assert_eq!(get(&g, "/hello/api/missing").await.0, StatusCode::NOT_FOUND);

    let (_, body) = get(&g, "/consumer/api/greeting").await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"message": "Hello from the cache provider"}));
    assert_eq!(send(&g, "PUT", "/consumer/api/color", "blue").await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(&g, "/consumer/api/color").await.1, r#"{"value":"blue"}"#);

    let big = "x".repeat(11 * 1024 * 1024);
    assert_eq!(send(&g, "PUT", "/consumer/api/big", &big).await.0, StatusCode::PAYLOAD_TOO_LARGE, "bodies past the limit never reach the host");

    // A native caller reaches the JS provider through the JSON service registry.
    let cache = g.services.get_json("@buntime/plugin-cache").expect("the JS provider is registered");
    assert_eq!(cache.call("get", vec![json!("color")]).await.unwrap(), json!("blue"));
    assert_eq!(cache.call("get", vec![json!("nothing")]).await.unwrap(), Value::Null);
    assert!(cache.call("nope", vec![]).await.is_err());
    g.shut_down().await;
}

/// A native plugin between two JS plugins: appends `,n` to `x-trace` and offers `double(x)`.
struct Tracer;

#[async_trait]
impl Plugin for Tracer {
    async fn on_request(&self, req: &mut Request, _cx: &RequestContext) -> Result<Flow, PluginError> {
        let seen = req.headers().get("x-trace").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        req.headers_mut().insert("x-trace", HeaderValue::from_str(&format!("{seen},n")).unwrap());
        Ok(Flow::Continue)
    }

    fn provides_json(&self) -> Option<Arc<dyn JsonService>> {
        Some(Arc::new(Doubler))
    }
}

struct Doubler;

#[async_trait]
impl JsonService for Doubler {
    async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, PluginError> {
        match (method, args.first().and_then(Value::as_i64)) {
            ("double", Some(x)) => Ok(json!(x * 2)),
            _ => Err(PluginError::new(buntime_core::ErrorKind::BadRequest, "double(x: integer)")),
        }
    }
}

const TRACE_A: &str = r#"
export default {
  onRequest(req) {
    const headers = new Headers(req.headers);
    headers.set("x-trace", "a");
    return new Request(req.url, { method: req.method, headers });
  },
};
"#;

const TRACE_B: &str = r#"
let native;
export const onInit = (ctx) => { native = ctx.getPlugin("n"); };
export const onRequest = (req) => {
  const headers = new Headers(req.headers);
  headers.set("x-trace", headers.get("x-trace") + ",b");
  return new Request(req.url, { method: req.method, headers });
};
export const onResponse = (res) => {
  const out = new Response(res.body, res);
  out.headers.set("x-b-saw", String(res.status));
  return out;
};
export const routes = {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/double") return Response.json({ value: await native.double(21) });
    if (url.pathname === "/bad") {
      try { await native.double("x"); } catch (e) { return new Response(e.message, { status: 400 }); }
    }
    return new Response(req.headers.get("x-trace") + " " + url.pathname);
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_and_native_hooks_interleave_in_dependency_order_and_replacements_carry_on() {
    let f = Fixture::new()
        .plugin("a", &[("manifest.yaml", "name: a\n"), ("plugin.js", TRACE_A)])
        .plugin("n", &[("manifest.yaml", "name: n\ndependencies: [a]\n")])
        .plugin("b", &[("manifest.yaml", "name: b\nbase: /b\ndependencies: [n]\n"), ("index.js", TRACE_B)]);
    let mut natives = NativeRegistry::default();
    natives.register("n", |_cx| Ok(Tracer));
    let outcome = f.load(&[], natives).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);
    let names: Vec<&str> = g.plugins.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["a", "n", "b"]);

    let (status, headers, body) = send(&g, "GET", "/b/x?q=1", "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "a,n,b /x"), "the router sees the base stripped and every hook's edit");
    assert_eq!(headers["x-b-saw"], "200", "onResponse replaced the response");
    assert_eq!(get(&g, "/b/double").await.1, r#"{"value":42}"#, "a JS plugin calls a native service through its proxy");
    assert_eq!(get(&g, "/b/bad").await, (StatusCode::BAD_REQUEST, "double(x: integer)".to_owned()));
    g.shut_down().await;
}

const ENV_PLUGIN: &str = r#"
import { Hono } from "hono";
export default async (config) => {
  await Promise.resolve();
  const routes = new Hono().get("/key", (c) => c.json({
    apiKey: Bun.env.HELLO_API_KEY ?? config.apiKey ?? "default",
    manifest: config.apiKey ?? null,
    base: config.base,
  }));
  return {
    routes,
    middleware: async (c, next) => { await next(); c.res.headers.set("x-middleware", "ran"); },
    onInit(ctx) {
      ctx.logger.info("env plugin up", { api: ctx.runtime.api });
      if (ctx.runtime.api !== "/api" || !ctx.globalConfig.pluginDirs.length) throw new Error("bad ctx");
    },
  };
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_sees_the_runtime_environment_manifest_options_and_middleware() {
    let f = Fixture::new().plugin("env", &[("manifest.yaml", "name: env\nbase: /env\napiKey: from-manifest\n"), ("plugin.ts", ENV_PLUGIN)]);
    let outcome = f.load(&[("HELLO_API_KEY", "from-env")], NativeRegistry::default()).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);
    let (status, headers, body) = send(&g, "GET", "/env/key", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"apiKey": "from-env", "manifest": "from-manifest", "base": "/env"}));
    assert_eq!(headers["x-middleware"], "ran");
    g.shut_down().await;

    let outcome = f.load(&[], NativeRegistry::default()).await;
    let g = Arc::new(outcome.generation);
    assert!(get(&g, "/env/key").await.1.contains(r#""apiKey":"from-manifest""#), "the manifest is the fallback");
    g.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throwing_on_init_or_a_bad_module_is_reported_and_the_rest_still_load() {
    let f = Fixture::new()
        .example("plugin-hello")
        .plugin("boom", &[("manifest.yaml", "name: boom\n"), ("plugin.ts", "export default () => ({ onInit() { throw new Error('boom at init'); } });")])
        .plugin("after-boom", &[("manifest.yaml", "name: after-boom\ndependencies: [boom]\n"), ("plugin.js", "export default {};")])
        .plugin("shape", &[("manifest.yaml", "name: shape\n"), ("plugin.js", "export default 42;")])
        .plugin("syntax", &[("manifest.yaml", "name: syntax\n"), ("plugin.js", "export default {")]);
    let outcome = f.load(&[], NativeRegistry::default()).await;
    let text = problems(&outcome);
    assert!(text.contains("boom") && text.contains("boom at init"), "{text}");
    assert!(text.contains("after-boom") && text.contains("depends on `boom`"), "{text}");
    assert!(text.contains("shape") && text.contains("invalid plugin module structure"), "{text}");
    assert!(text.contains("syntax"), "{text}");
    let g = Arc::new(outcome.generation);
    assert_eq!(g.plugins.iter().map(|p| p.name()).collect::<Vec<_>>(), ["@buntime/plugin-hello"]);
    assert_eq!(get(&g, "/hello/api/greeting").await.0, StatusCode::OK);
    g.shut_down().await;
}

const CRASHER: &str = r#"
export default () => ({
  routes: {
    fetch(req) {
      if (new URL(req.url).pathname === "/die") process.exit(1);
      return new Response("alive " + process.pid);
    },
  },
  onRequest(req) {
    if (new URL(req.url).pathname === "/hang") return new Promise(() => {});
  },
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_crash_answers_503_and_the_host_restarts_with_its_plugins() {
    let f = Fixture::new().plugin("crash", &[("manifest.yaml", "name: crash\nbase: /crash\n"), ("plugin.js", CRASHER)]).example("plugin-hello");
    let opts = HostOptions { call_timeout: Duration::from_secs(2), ..test_options() };
    let inputs = f.inputs(&[], NativeRegistry::default(), BunScriptHosts::new(bun()).with_options(opts));
    let outcome = build_generation(&inputs, 1).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);
    let host = g.script_host.clone().unwrap();
    let (_, before) = get(&g, "/crash/alive").await;

    // A hook that never answers times out into a 503 instead of hanging.
    let (status, _, body) = send(&g, "GET", "/hang", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    let (status, headers, body) = send(&g, "GET", "/crash/die", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(host.unavailable(), ["crash", "@buntime/plugin-hello"]);

    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let (status, body) = get(&g, "/crash/alive").await;
        if status == StatusCode::OK {
            break body;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "the host did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(before, after, "a new process serves");
    assert!(host.unavailable().is_empty());
    assert_eq!(get(&g, "/hello/api/greeting").await.0, StatusCode::OK, "other plugins were re-loaded too");
    g.shut_down().await;
}

fn build_plugin(dir: &Path) {
    let out = std::process::Command::new(bun())
        .args(["build", "./plugin.ts", "--outdir", "dist", "--target", "bun"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_plugin_serves_new_code_in_the_next_generation_while_the_old_one_keeps_its_own() {
    let f = Fixture::new().example("plugin-hello");
    let dir = f.plugins().join("plugin-hello");
    build_plugin(&dir);
    let scripts = BunScriptHosts::new(bun()).with_options(test_options());
    let inputs = f.inputs(&[], NativeRegistry::default(), scripts);
    let first = build_generation(&inputs, 1).await;
    assert!(first.warnings.iter().all(|w| !w.contains("dist/plugin.js")), "dist/plugin.js is the entry: {:?}", first.warnings);
    let g1 = Arc::new(first.generation);
    assert!(get(&g1, "/hello/api/greeting").await.1.contains("Hello from Buntime"));

    let source = std::fs::read_to_string(dir.join("plugin.ts")).unwrap().replace("Hello from Buntime", "Hello again, rebuilt");
    std::fs::write(dir.join("plugin.ts"), source).unwrap();
    build_plugin(&dir);
    let g2 = Arc::new(build_generation(&inputs, 2).await.generation);
    assert!(get(&g2, "/hello/api/greeting").await.1.contains("Hello again, rebuilt"));
    assert!(get(&g1, "/hello/api/greeting").await.1.contains("Hello from Buntime"), "the old generation drains on its own host");
    g1.shut_down().await;
    g2.shut_down().await;
}

fn shutdown_logger(name: &str) -> String {
    format!(
        r#"import {{ appendFileSync }} from "node:fs";
export default (config) => ({{
  onShutdown() {{ appendFileSync(config.log, "{name}\n"); }},
  onServerStart(server) {{ appendFileSync(config.log, "start {name} " + server.port + "\n"); }},
}});
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_calls_on_shutdown_in_reverse_order_and_stops_the_host() {
    let f = Fixture::new();
    let log = f.root.path().join("shutdown.log");
    let manifest = |name: &str, deps: &str| format!("name: {name}\nlog: {}\n{deps}", log.display());
    let f = f
        .plugin("s1", &[("manifest.yaml", &manifest("s1", "")), ("plugin.js", &shutdown_logger("s1"))])
        .plugin("s2", &[("manifest.yaml", &manifest("s2", "dependencies: [s1]\n")), ("plugin.js", &shutdown_logger("s2"))])
        .plugin("s3", &[("manifest.yaml", &manifest("s3", "dependencies: [s2]\n")), ("plugin.js", &shutdown_logger("s3"))]);
    let outcome = f.load(&[], NativeRegistry::default()).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = outcome.generation;
    g.server_started(&buntime_core::ServerInfo { addr: "127.0.0.1:8123".parse().unwrap(), api_path: "/api".into() }).await;
    g.shut_down().await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text, "start s1 8123\nstart s2 8123\nstart s3 8123\ns3\ns2\ns1\n");
    assert!(g.script_host.as_ref().unwrap().unavailable().is_empty());
}

/// A native plugin with a route, to show natives keep working without Bun.
struct NativeHello;

#[async_trait]
impl Plugin for NativeHello {
    fn routes(&self) -> Option<axum::Router> {
        Some(axum::Router::new().route("/", axum::routing::get(|| async { "native ok" })))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bun_js_plugins_fail_with_an_install_hint_and_native_plugins_still_serve() {
    let f = Fixture::new().example("plugin-blocker").plugin("native", &[("manifest.yaml", "name: native\nbase: /native\n")]);
    let mut natives = NativeRegistry::default();
    natives.register("native", |_cx| Ok(NativeHello));
    let scripts = BunScriptHosts::discover(&Env::from_pairs([("BUNTIME_BUN", "/nowhere/bun")]), Path::new("/nowhere"));
    assert!(scripts.bun().is_err());
    let outcome = build_generation(&f.inputs(&[], natives, scripts), 1).await;
    let text = problems(&outcome);
    assert!(text.contains("@buntime/plugin-blocker") && text.contains("scripts/setup.sh"), "{text}");
    let g = Arc::new(outcome.generation);
    assert_eq!(get(&g, "/native").await, (StatusCode::OK, "native ok".to_owned()));
    g.shut_down().await;
}

/// A pool whose request counter moves every time the test bumps it.
struct CountingPool(std::sync::atomic::AtomicU64);

impl buntime_core::app::PoolView for CountingPool {
    fn pool_metrics(&self) -> buntime_core::pool_stats::PoolMetrics {
        buntime_core::pool_stats::PoolMetrics {
            active_workers: 2,
            total_requests: self.0.load(std::sync::atomic::Ordering::SeqCst),
            ..Default::default()
        }
    }
    fn worker_stat_list(&self) -> Vec<buntime_core::pool_stats::WorkerStat> {
        vec![buntime_core::pool_stats::WorkerStat {
            key: "hello@1.0.0".into(),
            status: buntime_core::pool_stats::WorkerStatus::Active,
            age_ms: 0.0,
            avg_response_time_ms: 0.0,
            error_count: 0,
            idle_ms: 0.0,
            request_count: self.0.load(std::sync::atomic::Ordering::SeqCst),
            total_response_time_ms: 0.0,
            last_request_count: None,
            last_response_time_ms: None,
        }]
    }
}

const POOL_READER: &str = r#"
let pool;
export default {
  onInit(ctx) { pool = ctx.pool; },
  routes: {
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/stats") return Response.json({ metrics: pool.getMetrics(), workers: pool.getWorkerStats() });
      if (path === "/fresh") return pool.refresh().then((s) => Response.json(s.metrics));
      return Response.json({ hasPool: pool !== undefined });
    },
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_plugins_read_the_worker_pool_through_ctx_pool() {
    let f = Fixture::new().plugin("reader", &[("manifest.yaml", "name: reader\nbase: /reader\n"), ("plugin.js", POOL_READER)]);
    let pool = Arc::new(CountingPool(std::sync::atomic::AtomicU64::new(7)));
    let mut inputs = f.inputs(&[], NativeRegistry::default(), BunScriptHosts::new(bun()).with_options(test_options()));
    inputs.pool = Some(pool.clone());
    let outcome = build_generation(&inputs, 1).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);

    let (status, body) = get(&g, "/reader/stats").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    // The pool's metrics object carries every field (the rest are zero in this fake).
    assert_eq!((&stats["metrics"]["activeWorkers"], &stats["metrics"]["totalRequests"]), (&json!(2), &json!(7)), "{stats}");
    assert_eq!(stats["metrics"]["hitRate"], json!(0));
    assert_eq!(stats["workers"]["hello@1.0.0"]["requestCount"], json!(7));

    // A route of a plugin that reads the pool sees a snapshot at most 100 ms old.
    pool.0.store(8, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stats: Value = serde_json::from_str(&get(&g, "/reader/stats").await.1).unwrap();
    assert_eq!(stats["metrics"]["totalRequests"], json!(8));
    // `refresh()` always asks the core.
    pool.0.store(9, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(serde_json::from_str::<Value>(&get(&g, "/reader/fresh").await.1).unwrap()["totalRequests"], json!(9));
    g.shut_down().await;

    // Without a pool (no apps hosted), `ctx.pool` is undefined, as in the original.
    let outcome = f.load(&[], NativeRegistry::default()).await;
    let g = Arc::new(outcome.generation);
    assert_eq!(get(&g, "/reader/").await.1, r#"{"hasPool":false}"#);
    g.shut_down().await;
}
