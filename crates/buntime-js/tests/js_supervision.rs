//! Supervision of the plugin host against misbehaving JS plugins (issue 9 §4 and the JS items of
//! §1, §3, §6): blocked event loops, hosts killed at load, stuck loads, odd methods, syntax errors
//! and the runtime's secrets. Real generations, real Bun; short heartbeats and timeouts.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buntime_core::NativeRegistry;
use buntime_core::loader::build_generation;
use buntime_js::{BunScriptHosts, HostOptions};
use http::StatusCode;
use serde_json::{Value, json};
use support::{Fixture, bun, get, log_lines, problems, send};

/// A heartbeat every 100 ms that kills a host silent for 1 s (before the 2.5 s call budget), and a
/// 1.5 s load budget.
fn fast_options() -> HostOptions {
    HostOptions {
        call_timeout: Duration::from_millis(2500),
        init_timeout: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(1000),
        ..HostOptions::default()
    }
}

const HOOKS: &str = r#"
export default {
  onRequest(req) {
    const path = new URL(req.url).pathname;
    if (path === "/hooks/spin") { while (true) {} }
    if (path === "/hooks/wait") return new Promise(() => {});
  },
  routes: { fetch: () => new Response(String(process.pid)) },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_blocks_the_event_loop_gets_its_host_killed_and_restarted_and_a_slow_one_is_logged() {
    let f = Fixture::new().plugin("hooks", &[("manifest.yaml", "name: hooks\nbase: /hooks\n"), ("plugin.js", HOOKS)]);
    let inputs = f.inputs(&[], NativeRegistry::default(), BunScriptHosts::new(bun()).with_options(fast_options()));
    let outcome = build_generation(&inputs, 1).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);
    let host = g.script_host.clone().unwrap();
    let (_, before) = get(&g, "/hooks/pid").await;

    // An async hook past its budget answers 503 and is logged naming the plugin and the hook.
    assert_eq!(get(&g, "/hooks/wait").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!log_lines(&["WARN", "within its budget", "plugin=hooks", "hook=onRequest"]).is_empty(), "{}", support::logs());

    // A hook that blocks the event loop is caught by the heartbeat: 503 long before any call
    // timeout would matter, the host is killed, readiness lists the plugin, then it comes back.
    let started = Instant::now();
    let (status, _, body) = send(&g, "GET", "/hooks/spin", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(host.unavailable(), ["hooks"], "readiness reports the plugin as down");
    assert!(!log_lines(&["WARN", "stopped answering its heartbeat", "plugin=hooks", "hook=onRequest"]).is_empty(), "{}", support::logs());

    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let (status, body) = get(&g, "/hooks/pid").await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(Instant::now() < deadline, "the host did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(before, after, "a new process serves");
    assert!(host.unavailable().is_empty());
    // The outage is logged once, with the count when the host is back, not once per request.
    assert_eq!(log_lines(&["Plugin host is down", "plugins=hooks"]).len(), 1, "{}", support::logs());
    assert!(!log_lines(&["Plugin host is back", "plugins=hooks", "refused="]).is_empty(), "{}", support::logs());
    assert!(log_lines(&["JS plugin route", "plugin=hooks"]).is_empty(), "no per-request WARN: {}", support::logs());
    g.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_exits_its_host_at_load_is_blamed_and_left_out_while_the_others_load() {
    let f = Fixture::new()
        .plugin("p1", &[("manifest.yaml", "name: exit-first\nbase: /first\n"), ("plugin.js", "export default { routes: { fetch: () => new Response('first') } };")])
        .plugin("p2", &[("manifest.yaml", "name: exit-culprit\n"), ("plugin.js", "process.exit(1);\nexport default {};")])
        .plugin("p3", &[("manifest.yaml", "name: exit-after\nbase: /after\n"), ("plugin.js", "export default { routes: { fetch: () => new Response('after') } };")])
        .plugin("p4", &[("manifest.yaml", "name: exit-dependent\ndependencies: [exit-culprit]\n"), ("plugin.js", "export default {};")]);
    let outcome = f.load(&[], NativeRegistry::default()).await;
    let text = problems(&outcome);
    assert!(text.contains("plugin `exit-culprit`") && text.contains("exited while loading it"), "{text}");
    assert!(text.contains("exit-dependent") && text.contains("depends on `exit-culprit`"), "{text}");
    assert_eq!(outcome.problems.len(), 2, "nobody else is blamed: {text}");
    let g = Arc::new(outcome.generation);
    assert_eq!(g.plugins.iter().map(|p| p.name()).collect::<Vec<_>>(), ["exit-first", "exit-after"]);
    assert_eq!(get(&g, "/after/").await, (StatusCode::OK, "after".to_owned()), "plugins loaded after the culprit serve");
    assert_eq!(get(&g, "/first/").await, (StatusCode::OK, "first".to_owned()), "plugins loaded before it were re-loaded");
    assert!(g.script_host.as_ref().unwrap().unavailable().is_empty(), "readiness is back to ready");
    g.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_blocks_or_never_settles_is_blamed_on_its_plugin_and_the_load_stays_fast() {
    let f = Fixture::new()
        .plugin("l1", &[("manifest.yaml", "name: load-loop\n"), ("plugin.js", "while (true) {}\nexport default {};")])
        .plugin("l2", &[("manifest.yaml", "name: load-await\n"), ("plugin.js", "await new Promise(() => {});\nexport default {};")])
        .plugin("l3", &[("manifest.yaml", "name: load-next\nbase: /next\n"), ("plugin.js", "export default { routes: { fetch: () => new Response('next') } };")]);
    let inputs = f.inputs(&[], NativeRegistry::default(), BunScriptHosts::new(bun()).with_options(fast_options()));
    let started = Instant::now();
    let outcome = build_generation(&inputs, 1).await;
    let elapsed = started.elapsed();
    let text = problems(&outcome);
    assert!(text.contains("plugin `load-loop`") && text.contains("stopped answering while loading it"), "{text}");
    assert!(text.contains("plugin `load-await`") && text.contains("loading timed out after 1500ms"), "{text}");
    assert!(!text.contains("load-next"), "the innocent plugin is not blamed: {text}");
    assert!(elapsed < Duration::from_secs(10), "the load took {elapsed:?}");
    assert!(!log_lines(&["WARN", "plugin=load-loop", "hook=load", "killing it"]).is_empty(), "{}", support::logs());
    let g = Arc::new(outcome.generation);
    assert_eq!(get(&g, "/next/").await, (StatusCode::OK, "next".to_owned()));
    g.shut_down().await;
}

const METHODS: &str = r#"
export default {
  onRequest(req) {},
  routes: { fetch: (req) => new Response(req.method + " " + process.pid) },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_lowercase_methods_answer_501_json_and_never_disturb_the_host() {
    let f = Fixture::new().plugin("m", &[("manifest.yaml", "name: methods\nbase: /m\n"), ("plugin.js", METHODS)]);
    let outcome = f.load(&[], NativeRegistry::default()).await;
    assert!(outcome.problems.is_empty(), "{}", problems(&outcome));
    let g = Arc::new(outcome.generation);
    let (_, first) = get(&g, "/m/x").await;
    for method in ["FOO", "get", "Post"] {
        let (status, headers, body) = send(&g, method, "/m/x", "").await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{method}: {body}");
        assert_eq!(headers["content-type"], "application/json");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], json!("METHOD_NOT_IMPLEMENTED"), "{method}");
        assert!(body["message"].as_str().unwrap().contains(&format!("`{method}`")), "{body}");
    }
    let (status, _, body) = send(&g, "PROPFIND", "/m/x", "").await;
    assert_eq!((status, body.split(' ').next().unwrap()), (StatusCode::OK, "PROPFIND"), "methods Bun knows are forwarded");
    assert_eq!(get(&g, "/m/x").await, (StatusCode::OK, first), "the same host process still serves");
    assert!(g.script_host.as_ref().unwrap().unavailable().is_empty());
    g.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typescript_syntax_error_names_the_file_line_and_column() {
    let bad = "import { helper } from \"./helper.ts\";\nexport default { onInit() { helper(); } };\n";
    let helper = "export function helper(): number {\n  return 1;\n}\nexport const broken: number = ;\n";
    let f = Fixture::new().plugin("syntax", &[("manifest.yaml", "name: syntax-ts\n"), ("plugin.ts", bad), ("helper.ts", helper)]);
    let outcome = f.load(&[], NativeRegistry::default()).await;
    let text = problems(&outcome);
    let file = f.plugins().join("syntax/helper.ts").canonicalize().unwrap();
    assert!(text.contains("plugin `syntax-ts`") && text.contains(&format!("syntax error at {}:4:31", file.display())), "{text}");
    assert!(!log_lines(&["syntax-ts", "helper.ts:4:31"]).is_empty(), "the load error is logged: {}", support::logs());
    outcome.generation.shut_down().await;
}

const PEEK: &str = r#"
export default { routes: { fetch: () => Response.json({
  master: Bun.env.RUNTIME_MASTER_KEY ?? null,
  legacy: Bun.env.BUNTIME_MASTER_KEY ?? null,
  hello: Bun.env.HELLO_API_KEY ?? null,
}) } };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtimes_secrets_stay_out_of_bun_env_unless_a_manifest_opts_one_in() {
    let env = [("RUNTIME_MASTER_KEY", "master-secret"), ("BUNTIME_MASTER_KEY", "legacy-secret"), ("HELLO_API_KEY", "hello-key")];
    let f = Fixture::new().plugin("peek", &[("manifest.yaml", "name: peek\nbase: /peek\n"), ("plugin.js", PEEK)]);
    let g = Arc::new(f.load(&env, NativeRegistry::default()).await.generation);
    let (status, body) = get(&g, "/peek/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"master": null, "legacy": null, "hello": "hello-key"}));
    g.shut_down().await;

    std::fs::write(f.plugins().join("peek/manifest.yaml"), "name: peek\nbase: /peek\nallowEnv: [RUNTIME_MASTER_KEY]\n").unwrap();
    let g = Arc::new(f.load(&env, NativeRegistry::default()).await.generation);
    assert_eq!(serde_json::from_str::<Value>(&get(&g, "/peek/").await.1).unwrap(), json!({"master": "master-secret", "legacy": null, "hello": "hello-key"}));
    g.shut_down().await;

    std::fs::write(f.plugins().join("peek/manifest.yaml"), "name: peek\nbase: /peek\nallowEnv: RUNTIME_MASTER_KEY\n").unwrap();
    let outcome = f.load(&env, NativeRegistry::default()).await;
    assert!(problems(&outcome).contains("key `allowEnv`: must be a list"), "{}", problems(&outcome));
    outcome.generation.shut_down().await;
}
