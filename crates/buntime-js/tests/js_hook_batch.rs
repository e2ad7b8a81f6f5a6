//! Consecutive JS hooks run in one round trip to the plugin host, and behave exactly as when each
//! runs on its own: edits carry on, a throwing `onRequest` is skipped, the first response ends the
//! walk, `onResponse` hooks chain, and a streaming body keeps streaming.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use buntime_core::NativeRegistry;
use buntime_core::batch::HookStep;
use buntime_core::pipeline::Pipeline;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};

mod support;

use support::{Fixture, get, problems, send};

/// `onRequest` appends its number to `x-trace` (replacing the request); `onResponse` appends it
/// to `x-resp`. `SPECIAL` is spliced into the hooks for one plugin's extra behaviour.
fn chained(n: u32, special_request: &str, special_response: &str) -> String {
    format!(
        r#"
export default {{
  async onRequest(req) {{
    {special_request}
    const headers = new Headers(req.headers);
    headers.set("x-trace", (headers.get("x-trace") ?? "") + "{n}");
    return new Request(req.url, {{ method: req.method, headers, body: req.body }});
  }},
  onResponse(res) {{
    {special_response}
    const out = new Response(res.body, res);
    out.headers.set("x-resp", (res.headers.get("x-resp") ?? "") + "{n}");
    return out;
  }},
}};
"#
    )
}

/// The last of the chain, with the routes: echoes what it saw, streams events, counts its hook.
const LAST: &str = r#"
let seen = 0;
export default {
  onRequest(req) {
    seen++;
  },
  routes: {
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/seen") return Response.json({ seen });
      if (url.pathname === "/fail") return new Response("fail", { headers: { "x-fail": "1" } });
      if (url.pathname === "/sse") {
        const body = new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode("data: one\n\n"));
            await Bun.sleep(3000);
            c.enqueue(new TextEncoder().encode("data: two\n\n"));
            c.close();
          },
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      }
      return Response.json({ trace: req.headers.get("x-trace"), body: await req.text() });
    },
  },
};
"#;

fn fixture() -> Fixture {
    // c1 reads the body and continues without replacing the request: later hooks still get it.
    let c1 = r#"if (req.headers.get("x-peek")) { await req.text(); return; }"#;
    let c2 = r#"if (req.headers.get("x-throw")) throw new Error("c2 refuses");"#;
    let c3_req = r#"if (new URL(req.url).pathname === "/end/stop") return new Response("stopped by 3", { status: 418 });"#;
    let c3_res = r#"if (res.headers.get("x-fail")) throw new Error("c3 onResponse broke");"#;
    Fixture::new()
        .plugin("c1", &[("manifest.yaml", "name: c1\n"), ("plugin.js", &chained(1, c1, ""))])
        .plugin("c2", &[("manifest.yaml", "name: c2\ndependencies: [c1]\n"), ("plugin.js", &chained(2, c2, ""))])
        .plugin("c3", &[("manifest.yaml", "name: c3\ndependencies: [c2]\n"), ("plugin.js", &chained(3, c3_req, c3_res))])
        .plugin("end", &[("manifest.yaml", "name: end\nbase: /end\ndependencies: [c3]\n"), ("plugin.js", LAST)])
}

fn batched(steps: &[HookStep]) -> Vec<Vec<&str>> {
    steps
        .iter()
        .map(|s| match s {
            HookStep::One(_) => vec!["(one)"],
            HookStep::Batch { names, .. } => names.iter().map(|n| &**n).collect(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_js_hooks_run_as_one_step_with_the_semantics_of_separate_ones() {
    let outcome = fixture().load(&[], NativeRegistry::default()).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);
    assert_eq!(batched(&g.request_steps), vec![vec!["c1", "c2", "c3", "end"]], "four neighbours on one host are one step");
    assert_eq!(batched(&g.response_steps), vec![vec!["c1", "c2", "c3"]]);

    let (status, headers, body) = send(&g, "POST", "/end/echo", "payload").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"trace": "123", "body": "payload"}), "each hook saw the previous one's request");
    assert_eq!(headers["x-resp"], "123", "onResponse hooks chain in order");

    // A hook that reads the body and continues leaves it to the next ones.
    let req = request("POST", "/end/echo", &[("x-peek", "1")], "still here");
    let (_, _, body) = collect(Pipeline::default().handle(g.clone(), req).await).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"trace": "23", "body": "still here"}));

    // A throwing onRequest is skipped; the others still run.
    let req = request("GET", "/end/echo", &[("x-throw", "1")], "");
    let (status, _, body) = collect(Pipeline::default().handle(g.clone(), req).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["trace"], "13");

    // The first response ends the walk: the last plugin's hook never ran for it.
    let before = get(&g, "/end/seen").await.1;
    let (status, headers, body) = send(&g, "GET", "/end/stop", "").await;
    assert_eq!((status, body.as_str()), (StatusCode::IM_A_TEAPOT, "stopped by 3"));
    assert!(!headers.contains_key("x-resp"), "a short-circuit gets no onResponse, as with separate hooks");
    let after = get(&g, "/end/seen").await.1;
    let count = |s: &str| serde_json::from_str::<Value>(s).unwrap()["seen"].as_i64().unwrap();
    assert_eq!(count(&after), count(&before) + 1, "only the /seen request itself reached the last hook");
    g.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chained_on_response_that_throws_answers_500_and_streams_keep_streaming() {
    let outcome = fixture().load(&[], NativeRegistry::default()).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);

    let req = request("GET", "/end/sse", &[], "");
    let res = tokio::time::timeout(Duration::from_secs(2), Pipeline::default().handle(g.clone(), req)).await.expect("the head arrives before the stream ends");
    assert_eq!(res.headers()["x-resp"], "123");
    let mut body = res.into_body();
    let first = tokio::time::timeout(Duration::from_secs(2), body.frame()).await.expect("the first event arrives at once").unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "data: one\n\n");

    // An onResponse of the chain that throws: the request gets the pipeline's JSON 500.
    let (status, _, body) = send(&g, "GET", "/end/fail", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(!body.contains("c3 onResponse broke"), "the exception stays in the log: {body}");
    g.shut_down().await;
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> buntime_core::Request {
    let mut b = http::Request::builder().method(method).uri(path).header("host", "localhost:8000").header("x-request-id", "test-request");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

async fn collect(res: buntime_core::Response) -> (StatusCode, http::HeaderMap, String) {
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}
