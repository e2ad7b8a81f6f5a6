//! Metrics and logs end to end: the real binary with the bundled plugins counts the requests it
//! is sent in `GET /metrics/api/prometheus` (checked by promtool) and keeps its own log lines,
//! without secrets, in `GET /logs/api`.

use std::process::Command;

mod support;

use serde_json::Value;
use support::buntime;

/// Runs curl with `args` and returns the status and the body.
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Returns the value of the sample `series` (name with labels) in an exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .parse()
        .unwrap()
}

const MASTER_KEY: &str = "btk_T2JzZXJ2YWJpbGl0eU1hc3RlcktleUZvclRlc3Rz";
const WRONG_KEY: &str = "btk_V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc";

#[test]
fn requests_are_counted_by_kind_and_status_and_the_runtime_log_is_readable_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    let s = support::start(buntime(
        dir.path(),
        &[
            ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()),
            ("RUNTIME_MASTER_KEY", MASTER_KEY),
        ],
    ));
    let url = &s.url;
    let key = format!("X-API-Key: {MASTER_KEY}");

    for _ in 0..3 {
        assert_eq!(curl(&[&format!("{url}/hello/api/greeting")]).0, 200);
    }
    for _ in 0..2 {
        assert_eq!(curl(&[&format!("{url}/no-such-app/x")]).0, 404);
    }
    assert_eq!(curl(&[&format!("{url}/api/health")]).0, 200);
    let (status, loaded) = curl(&["-H", &key, &format!("{url}/api/plugins/loaded")]);
    assert_eq!(status, 200, "{loaded}");
    for name in ["@buntime/plugin-logs", "@buntime/plugin-metrics"] {
        assert!(
            loaded.contains(name),
            "{name} is bundled and enabled: {loaded}"
        );
    }
    assert_eq!(
        curl(&[
            "-H",
            &format!("X-API-Key: {WRONG_KEY}"),
            &format!("{url}/api/keys")
        ])
        .0,
        401
    );
    // A body over the 10 MB default limit is refused before it is read.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![b'x'; 11 * 1024 * 1024]).unwrap();
    assert_eq!(
        curl(&[
            "--data-binary",
            &format!("@{}", big.display()),
            &format!("{url}/hello/api/greeting")
        ])
        .0,
        413
    );

    let (status, text) = curl(&[&format!("{url}/metrics/api/prometheus")]);
    assert_eq!(status, 200);
    for (series, want) in [
        (
            "buntime_http_requests_total{kind=\"plugin\",status=\"2xx\"}",
            3.0,
        ),
        (
            "buntime_http_requests_total{kind=\"plugin\",status=\"4xx\"}",
            1.0,
        ),
        (
            "buntime_http_requests_total{kind=\"other\",status=\"4xx\"}",
            2.0,
        ),
        (
            "buntime_http_requests_total{kind=\"api\",status=\"2xx\"}",
            2.0,
        ),
        (
            "buntime_http_requests_total{kind=\"api\",status=\"4xx\"}",
            1.0,
        ),
        (
            "buntime_http_requests_total{kind=\"app\",status=\"2xx\"}",
            0.0,
        ),
        (
            "buntime_http_request_duration_seconds_count{kind=\"plugin\"}",
            4.0,
        ),
        ("buntime_http_body_limit_rejections_total", 1.0),
        ("buntime_generation", 1.0),
        ("buntime_reloads_total{result=\"ok\"}", 0.0),
    ] {
        assert_eq!(sample(&text, series), want, "{series}");
    }
    assert!(
        sample(
            &text,
            "buntime_http_request_duration_seconds_sum{kind=\"plugin\"}"
        ) > 0.0
    );
    if let Some(result) = buntime_testkit::promtool::check_metrics(&text) {
        result
            .unwrap_or_else(|report| panic!("promtool rejected the exposition:\n{report}\n{text}"));
    }

    // Callers may log too; what they send is redacted like the runtime's own lines.
    let entry = format!(
        r#"{{"level":"warn","message":"client retried with x-api-key: {MASTER_KEY}","source":"e2e"}}"#
    );
    assert_eq!(
        curl(&[
            "-H",
            "content-type: application/json",
            "--data",
            &entry,
            &format!("{url}/logs/api")
        ])
        .0,
        200
    );
    let (status, logs) = curl(&[&format!("{url}/logs/api?limit=1000")]);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&logs).unwrap();
    let entries = v["logs"].as_array().unwrap();
    let has = |source: &str, prefix: &str| {
        entries.iter().any(|e| {
            e["source"] == source && e["message"].as_str().is_some_and(|m| m.starts_with(prefix))
        })
    };
    assert!(
        has("@buntime/plugin-metrics", "metrics ready"),
        "a plugin's startup line (PluginLogger) is kept: {logs}"
    );
    assert!(
        has("buntime_server::reload", "Runtime ready."),
        "the runtime's own lines are kept: {logs}"
    );
    assert!(
        has("@buntime/plugin-database", "database ready"),
        "lines logged before the logs plugin loaded are kept too (the start-up backlog): {logs}"
    );
    assert!(has("e2e", "client retried"), "{logs}");
    for secret in [MASTER_KEY, WRONG_KEY, &MASTER_KEY[4..], &WRONG_KEY[4..]] {
        assert!(!logs.contains(secret), "a secret reached the logs: {logs}");
    }

    // A reload is counted and moves the generation on.
    assert_eq!(
        curl(&[
            "-X",
            "POST",
            "-H",
            &key,
            &format!("{url}/api/plugins/reload")
        ])
        .0,
        200
    );
    let (_, text) = curl(&[&format!("{url}/metrics/api/prometheus")]);
    assert_eq!(sample(&text, "buntime_generation"), 2.0);
    assert_eq!(sample(&text, "buntime_reloads_total{result=\"ok\"}"), 1.0);
    assert_eq!(sample(&text, "buntime_reload_duration_seconds_count"), 1.0);
    let (_, logs) = curl(&[&format!("{url}/logs/api?search=Runtime%20ready")]);
    assert!(
        logs.contains("Runtime ready."),
        "the reloaded logs plugin kept the boot's entries: {logs}"
    );
}

/// A TypeScript plugin that logs with `ctx.logger` and writes through the logs service.
const TS_LOGGER: &str = r#"
let logs: any;
export default {
  async onInit(ctx: any) {
    logs = ctx.getPlugin("@buntime/plugin-logs");
    ctx.logger.warn("ts plugin warming up, password=hunter22");
  },
  routes: {
    async fetch(req: Request) {
      await logs.addLog({ level: "error", message: "order 17 failed", source: "orders", meta: { token: "tok-555" } });
      const found = await logs.getLogs({ search: "order 17", limit: 5 });
      return Response.json({ found, stats: await logs.getStats() });
    },
  },
};
"#;

#[test]
fn typescript_plugins_reach_the_logs_through_ctx_logger_and_the_service() {
    let bun = std::path::Path::new(support::REPO).join(".tools/node_modules/bun/bin/bun.exe");
    if !bun.is_file() {
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugins/orders");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::write(
        plugin.join("manifest.yaml"),
        "name: orders\nbase: /orders\ndependencies: [\"@buntime/plugin-logs\"]\n",
    )
    .unwrap();
    std::fs::write(plugin.join("index.ts"), TS_LOGGER).unwrap();
    let plugin_dirs = format!(
        "{}:{}",
        support::PLUGINS_DIR,
        dir.path().join("plugins").display()
    );
    let apps = dir.path().join("apps");
    let s = support::start(buntime(
        dir.path(),
        &[
            ("RUNTIME_PLUGIN_DIRS", &plugin_dirs),
            ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()),
            ("BUNTIME_BUN", bun.to_str().unwrap()),
        ],
    ));
    let (status, body) = curl(&[&format!("{}/orders/run", s.url)]);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["found"][0]["message"], "order 17 failed", "{body}");
    assert_eq!(v["found"][0]["source"], "orders");
    assert_eq!(v["found"][0]["meta"]["token"], "[REDACTED]");
    let (_, logs) = curl(&[&format!("{}/logs/api?source=orders&level=warn", s.url)]);
    let v: Value = serde_json::from_str(&logs).unwrap();
    let line = v["logs"][0]["message"].as_str().unwrap_or_default();
    assert!(
        line.starts_with("ts plugin warming up"),
        "ctx.logger lines arrive with the plugin as source: {logs}"
    );
    assert!(
        !logs.contains("hunter22") && !logs.contains("tok-555"),
        "{logs}"
    );
}
