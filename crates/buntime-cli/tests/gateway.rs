//! plugin-gateway end to end: the real binary with the gateway (5 requests a minute), hello and
//! logs. A 429 after five requests with its headers, preflights answered before rate limiting,
//! CORS on ordinary answers, the request log, and another plugin's SSE still streaming through
//! the gateway's `on_response`.

use std::collections::HashMap;
use std::process::Command;

mod support;

use support::{PLUGINS_DIR, buntime};

/// Runs curl; returns the status, the response headers (lower-cased names) and the body.
fn curl(url: &str, args: &[&str]) -> (u16, HashMap<String, String>, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "20", "-D", "-"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// A plugin dir with hello, logs (an SSE event every 200 ms) and the gateway (5 per minute; its
/// own API and the logs plugin not limited, so the test can look).
fn plugins(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("plugins");
    for name in ["plugin-hello", "plugin-logs", "plugin-gateway"] {
        std::fs::create_dir_all(root.join(name)).unwrap();
        let mut text =
            std::fs::read_to_string(format!("{PLUGINS_DIR}/{name}/manifest.yaml")).unwrap();
        match name {
            "plugin-logs" => text = text.replace("sseInterval: 1000", "sseInterval: 200"),
            "plugin-gateway" => {
                text = text
                    .replace("requests: 1000", "requests: 5")
                    .replace(
                        "    - \"^/health$\"\n",
                        "    - \"^/gateway/api/\"\n    - \"^/logs/\"\n",
                    )
                    .replace("origin: \"*\"", "origin: [\"https://app.example\"]")
                    .replace(
                        "# exposedHeaders: [x-request-id, x-ratelimit-remaining]",
                        "exposedHeaders: [x-request-id, x-ratelimit-remaining]",
                    );
                assert!(
                    text.contains("requests: 5") && text.contains("^/logs/"),
                    "the shipped manifest changed: {text}"
                );
            }
            _ => {}
        }
        std::fs::write(root.join(name).join("manifest.yaml"), text).unwrap();
    }
    root
}

#[test]
fn the_gateway_limits_answers_preflights_adds_cors_and_lets_sse_stream() {
    let dir = tempfile::tempdir().unwrap();
    let root = plugins(dir.path());
    let started = support::start(buntime(
        dir.path(),
        &[("RUNTIME_PLUGIN_DIRS", root.to_str().unwrap())],
    ));
    let url = started.url.clone();
    let greeting = format!("{url}/hello/api/greeting");
    let origin = "origin: https://app.example";
    let preflight = [
        "-X",
        "OPTIONS",
        "-H",
        origin,
        "-H",
        "access-control-request-method: POST",
        "-H",
        "access-control-request-headers: content-type",
    ];

    let (status, h, body) = curl(&greeting, &preflight);
    assert_eq!((status, body.as_str()), (204, ""), "{h:?}");
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(
        h["access-control-allow-methods"],
        "GET, HEAD, PUT, PATCH, POST, DELETE"
    );
    assert_eq!(h["access-control-allow-headers"], "content-type");
    assert_eq!(h["access-control-max-age"], "86400");

    for left in (0..5).rev() {
        let (status, h, body) = curl(&greeting, &["-H", origin]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            h["access-control-allow-origin"], "https://app.example",
            "CORS on an ordinary answer"
        );
        assert_eq!(
            h["access-control-expose-headers"],
            "x-request-id, x-ratelimit-remaining"
        );
        assert_eq!(h["vary"], "Origin");
        assert_eq!(h["x-ratelimit-remaining"], left.to_string());
        assert!(body.contains("Hello from Buntime"), "{body}");
    }
    let (status, h, body) = curl(
        &greeting,
        &["-H", origin, "-H", "x-forwarded-for: 203.0.113.7"],
    );
    assert_eq!(
        status, 429,
        "a spoofed X-Forwarded-For is not a new bucket: {body}"
    );
    assert_eq!(body, r#"{"error":"Too Many Requests"}"#);
    assert_eq!(h["retry-after"], "12", "one token every 12 s");
    assert_eq!(
        (
            h["x-ratelimit-limit"].as_str(),
            h["x-ratelimit-remaining"].as_str()
        ),
        ("5", "0")
    );
    assert!(
        h.contains_key("x-ratelimit-reset") && h.contains_key("x-request-id"),
        "{h:?}"
    );
    assert_eq!(
        h["access-control-allow-origin"], "https://app.example",
        "CORS on the 429 too"
    );
    assert_eq!(
        curl(&greeting, &preflight).0,
        204,
        "preflights are answered before rate limiting"
    );

    let (_, _, logs) = curl(&format!("{url}/gateway/api/logs?statusRange=4"), &[]);
    let logs: serde_json::Value = serde_json::from_str(&logs).unwrap();
    assert_eq!(logs[0]["path"], "/hello/api/greeting");
    assert_eq!(
        (
            logs[0]["status"].as_u64(),
            logs[0]["rateLimited"].as_bool(),
            logs[0]["ip"].as_str()
        ),
        (Some(429), Some(true), Some("127.0.0.1"))
    );

    // The logs plugin's SSE passes through the gateway's on_response: it must stream, not wait
    // for an end that never comes (curl stops it after 1.5 s).
    let out = Command::new("curl")
        .args(["-s", "-N", "-m", "1.5", "-D", "-", "-H", origin])
        .arg(format!("{url}/logs/api/sse"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://app.example"),
        "{text}"
    );
    let events = text.matches("data: ").count();
    assert!(
        events >= 3,
        "expected an event every 200 ms, got {events}: {text}"
    );
}

/// The shell: `GATEWAY_SHELL_DIR` names a static app in the worker dirs, found through the
/// runtime's app resolver and served through the pool; navigations get it, `fetch()` calls and
/// excluded apps do not.
#[test]
fn browser_navigations_get_the_shell_app_named_by_env() {
    let dir = tempfile::tempdir().unwrap();
    let root = plugins(dir.path());
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(apps.join("shell")).unwrap();
    std::fs::write(
        apps.join("shell/index.html"),
        "<!doctype html><html><head></head><body>the shell</body></html>",
    )
    .unwrap();
    let env = [
        ("RUNTIME_PLUGIN_DIRS", root.to_str().unwrap()),
        ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()),
        ("GATEWAY_SHELL_DIR", "shell"),
        ("GATEWAY_SHELL_EXCLUDES", "logs"),
        ("GATEWAY_RATE_LIMIT_REQUESTS", "100"),
    ];
    let started = support::start(buntime(dir.path(), &env));
    let url = started.url.clone();
    let nav = [
        "-H",
        "sec-fetch-dest: document",
        "-H",
        "sec-fetch-mode: navigate",
        "-H",
        "accept: text/html",
    ];

    let (status, h, body) = curl(&format!("{url}/hello/some/page"), &nav);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("the shell"), "{body}");
    assert!(
        h.get("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{h:?}"
    );
    let (status, _, body) = curl(
        &format!("{url}/hello/api/greeting"),
        &["-H", "sec-fetch-dest: empty"],
    );
    assert_eq!(
        (status, body.contains("Hello from Buntime")),
        (200, true),
        "fetch() calls reach the app: {body}"
    );
    let (_, _, body) = curl(&format!("{url}/logs/api/stats"), &nav);
    assert!(
        !body.contains("the shell"),
        "`logs` is excluded by GATEWAY_SHELL_EXCLUDES: {body}"
    );
    let (_, _, body) = curl(
        &format!("{url}/hello/some/page"),
        &[&nav[..], &["-H", "cookie: gateway_shell_excludes=hello"]].concat(),
    );
    assert!(
        !body.contains("the shell"),
        "excluded by the cookie: {body}"
    );

    let (_, _, config) = curl(&format!("{url}/gateway/api/config"), &[]);
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        config["shell"],
        serde_json::json!({"dir": "shell", "envExcludes": ["logs"]})
    );
    assert_eq!(
        config["rateLimit"]["requests"], 100,
        "GATEWAY_RATE_LIMIT_REQUESTS overrides the manifest"
    );
}
