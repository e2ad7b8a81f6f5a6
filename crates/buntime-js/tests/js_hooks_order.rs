//! End-to-end tests of JS `server.fetch` ordering, worker notices and streamed routes, with a real
//! Bun plugin host behind the core's loader and pipeline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use buntime_core::config::{Env, RuntimeConfig};
use buntime_core::loader::{LoadInputs, build_generation};
use buntime_core::pipeline::Pipeline;
use buntime_core::{Generation, NativeRegistry, WorkerNotice};
use buntime_js::{BunScriptHosts, HostOptions};
use http::StatusCode;
use http_body_util::BodyExt;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn bun() -> PathBuf {
    let env = Env::from_pairs(std::env::vars());
    buntime_core::bun::find_bun(&env, &repo_root()).expect("these tests need Bun: run `SKIP_CARGO_BUILD=1 scripts/setup.sh`")
}

/// Writes `(dir, manifest, plugin.js)` plugins into a temporary directory and loads them.
async fn load(root: &Path, plugins: &[(&str, &str, &str)]) -> Arc<Generation> {
    let dir = root.join("plugins");
    for (name, manifest, code) in plugins {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("manifest.yaml"), manifest).unwrap();
        std::fs::write(dir.join(name).join("plugin.js"), code).unwrap();
    }
    let mut pairs = vec![("RUNTIME_PLUGIN_DIRS".to_owned(), dir.display().to_string())];
    if let Ok(path) = std::env::var("PATH") {
        pairs.push(("PATH".into(), path));
    }
    let env = Env::from_pairs(pairs);
    let opts = HostOptions { call_timeout: Duration::from_secs(10), init_timeout: Duration::from_secs(5), ..HostOptions::default() };
    let inputs = LoadInputs {
        config: Arc::new(RuntimeConfig::from_env(&env, root).unwrap()),
        env: Arc::new(env),
        natives: Arc::new(NativeRegistry::default()),
        scripts: Some(BunScriptHosts::new(bun()).with_options(opts).shared()),
        pool: None,
        apps: None,
        init_timeout: Duration::from_secs(10),
            metrics: std::sync::Arc::default(),
    };
    let outcome = build_generation(&inputs, 1).await;
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    Arc::new(outcome.generation)
}

fn request(method: &str, path: &str, body: &str) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost:8000")
        .header("x-request-id", "test-request")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn send(g: &Arc<Generation>, method: &str, path: &str, body: &str) -> (StatusCode, String) {
    let res = Pipeline::default().handle(g.clone(), request(method, path, body)).await;
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

const GATE: &str = r#"
export default {
  server: {
    async fetch(req) {
      if (new URL(req.url).pathname !== "/sf") return new Response("not mine", { status: 404 });
      return new Response(`server.fetch saw tag=${req.headers.get("x-tag")} body=${await req.text()}`);
    },
  },
};
"#;

const TAGGER: &str = r#"
export default {
  onRequest(req) {
    const headers = new Headers(req.headers);
    headers.set("x-tag", "set-by-a-later-plugin");
    return new Request(req, { headers });
  },
};
"#;

const ROUTES: &str = r#"
export default {
  routes: {
    async fetch(req) {
      return new Response(`route ${new URL(req.url).pathname} tag=${req.headers.get("x-tag")} body=${await req.text()}`);
    },
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_fetch_runs_after_every_plugins_on_request_and_its_404_falls_through_with_the_body() {
    let root = tempfile::tempdir().unwrap();
    // `gate` comes first in registry order; `tagger` (which depends on it) runs its onRequest later,
    // and `gate`'s server.fetch still sees what it did.
    let g = load(
        root.path(),
        &[
            ("gate", "name: gate\n", GATE),
            ("tagger", "name: tagger\ndependencies: [gate]\n", TAGGER),
            ("routes", "name: routes\nbase: /r\n", ROUTES),
        ],
    )
    .await;
    assert_eq!(send(&g, "GET", "/sf", "").await, (StatusCode::OK, "server.fetch saw tag=set-by-a-later-plugin body=".to_owned()));
    assert_eq!(send(&g, "POST", "/sf", "hello").await, (StatusCode::OK, "server.fetch saw tag=set-by-a-later-plugin body=hello".to_owned()));
    assert_eq!(
        send(&g, "POST", "/r/x?q=1", "payload").await,
        (StatusCode::OK, "route /x tag=set-by-a-later-plugin body=payload".to_owned()),
        "a 404 from server.fetch goes on to routing with the body intact"
    );
    assert_eq!(send(&g, "GET", "/elsewhere", "").await.0, StatusCode::NOT_FOUND);
    g.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_plugins_receive_worker_spawn_and_terminate_notices() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("workers.log");
    let code = r#"import { appendFileSync } from "node:fs";
export default (config) => ({
  onWorkerSpawn(w) { appendFileSync(config.log, `spawn ${w.key} ${w.workerId} ${w.ephemeral}\n`); },
  onWorkerTerminate(w) { appendFileSync(config.log, `terminate ${w.key} ${w.workerId} ${w.reason}\n`); },
});
"#;
    let g = load(root.path(), &[("watcher", &format!("name: watcher\nlog: {}\n", log.display()), code)]).await;
    let notice = |reason: &str| WorkerNotice {
        key: "app@1.0.0".into(),
        worker_id: "w1".into(),
        dir: root.path().join("apps/app"),
        ephemeral: false,
        reason: reason.into(),
    };
    g.worker_event(&notice(""), true).await;
    g.worker_event(&notice("evicted"), false).await;
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "spawn app@1.0.0 w1 false\nterminate app@1.0.0 w1 evicted\n");
    g.shut_down().await;
}

const SSE: &str = r#"
export default {
  routes: {
    fetch() {
      let n = 0;
      const stream = new ReadableStream({
        async pull(controller) {
          n += 1;
          controller.enqueue(new TextEncoder().encode(`data: ${n}\n\n`));
          if (n === 3) controller.close();
          else await Bun.sleep(150);
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    },
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_route_streams_server_sent_events_as_they_are_produced() {
    let root = tempfile::tempdir().unwrap();
    let g = load(root.path(), &[("events", "name: events\nbase: /events\n", SSE)]).await;
    let res = Pipeline::default().handle(g.clone(), request("GET", "/events/stream", "")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let started = std::time::Instant::now();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"data: 1\n\n");
    assert!(started.elapsed() < Duration::from_millis(140), "the first event arrives before the stream ends");
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"data: 2\n\ndata: 3\n\n");
    g.shut_down().await;
}
