//! The `buntime` binary as an operator runs it: signals, bad configuration, `--help`, `check`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{BIN, PLUGINS_DIR as HELLO_DIR, Running, buntime};

/// Starts the runtime and returns it with its URL and a reader over the remaining log lines.
fn start(dir: &Path) -> (Running, String, std::sync::mpsc::Receiver<String>) {
    start_env(dir, &[])
}

fn start_env(dir: &Path, env: &[(&str, &str)]) -> (Running, String, std::sync::mpsc::Receiver<String>) {
    let s = support::start(buntime(dir, env));
    (s.child, s.url, s.lines)
}

fn http_get(url: &str) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}", url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn stop_with(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "runtime did not exit after {signal}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rest(rx: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(l);
    }
    lines
}

#[test]
fn sigterm_drains_runs_on_shutdown_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, rx) = start(dir.path());
    let (status, body) = http_get(&format!("{url}/hello/api/greeting"));
    assert_eq!((status, body.as_str()), (200, r#"{"message":"Hello from Buntime"}"#));
    let exit = stop_with(&mut child, "TERM");
    assert!(exit.success(), "exit status {exit:?}");
    let logs = rest(&rx).join("\n");
    assert!(logs.contains("\"signal\":\"SIGTERM\""), "{logs}");
    assert!(logs.contains("hello plugin shut down"), "{logs}");
    assert!(logs.contains("\"plugin\":\"@buntime/plugin-hello\""), "plugin lines are tagged: {logs}");
}

#[test]
fn start_up_warns_once_when_the_api_has_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut started = support::start(buntime(dir.path(), &[("NODE_ENV", "production")]));
    let logs = started.startup.join("\n");
    let unconfigured: Vec<_> = started.startup.iter().filter(|l| l.contains("No API credentials are configured")).collect();
    assert_eq!(unconfigured.len(), 1, "one start-up WARN when the API has no credentials: {logs}");
    assert!(unconfigured[0].contains("\"level\":\"WARN\"") && unconfigured[0].contains("buntime keys create"), "{logs}");
    assert!(stop_with(&mut started.child, "TERM").success());
}

#[test]
fn sigint_also_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _url, rx) = start(dir.path());
    assert!(stop_with(&mut child, "INT").success());
    assert!(rest(&rx).join("\n").contains("hello plugin shut down"));
}

#[test]
fn a_bad_env_var_stops_startup_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = buntime(dir.path(), &[("RUNTIME_LOG_LEVEL", "loud")]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("RUNTIME_LOG_LEVEL") && err.contains("loud") && err.contains("debug, info, warn, error"), "{err}");
}

#[test]
fn dotenv_files_configure_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "PORT=not-a-port\n").unwrap();
    let out = Command::new(BIN).current_dir(dir.path()).env_clear().output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid PORT=\"not-a-port\""));
}

#[test]
fn help_lists_commands_and_env_vars() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["serve", "check", "PORT", "RUNTIME_PLUGIN_DIRS", "RUNTIME_WORKER_DIRS", "RUNTIME_API_PREFIX", "RUNTIME_LOG_LEVEL", "RUNTIME_STATE_DIR", "NODE_ENV", "RUNTIME_CLUSTER_DATABASE_URL", "RUNTIME_REPLICA_ID"] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

#[test]
fn an_unusable_cluster_database_url_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (url, code) in [("mysql://db/x", 2), ("postgres://a@127.0.0.1:1/db?no_such_option=1", 1)] {
        let out = support::buntime(dir.path(), &[("RUNTIME_CLUSTER_DATABASE_URL", url)]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{url}: {err}");
        assert!(err.contains("invalid RUNTIME_CLUSTER_DATABASE_URL") && err.contains("a PostgreSQL URL such as"), "{url}: {err}");
    }
}

#[test]
fn check_prints_the_load_plan_and_fails_on_problems() {
    let dir = tempfile::tempdir().unwrap();
    let out = buntime(dir.path(), &[]).arg("check").output().unwrap();
    assert!(out.status.success());
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("1. @buntime/plugin-database 1.0.0 /database") && plan.contains(". @buntime/plugin-hello 1.0.0 /hello"), "{plan}");
    let plugins = dir.path().join("plugins/bad");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("manifest.yaml"), "name: bad\nbase: /api\n").unwrap();
    let out = buntime(dir.path(), &[("RUNTIME_PLUGIN_DIRS", dir.path().join("plugins").to_str().unwrap())]).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("error:") && text.contains("`base`") && text.contains("reserved"), "{text}");
}

#[test]
fn keys_are_managed_offline_and_work_against_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = buntime(dir.path(), &[]).args(["keys", "create", "--name", "ci", "--role", "viewer"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let secret = text.lines().map(str::trim).find(|l| l.starts_with("btk_") && !l.contains(" ")).expect("the secret is printed once on its own line").to_owned();
    let list = buntime(dir.path(), &[]).args(["keys", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("ci") && listed.contains("viewer") && !listed.contains(&secret), "{listed}");

    let (mut child, url, _rx) = start(dir.path());
    let code = |key: Option<&str>| {
        let mut args = vec!["-s".to_owned(), "-o".into(), "/dev/null".into(), "-w".into(), "%{http_code}".into(), format!("{url}/api/plugins")];
        if let Some(k) = key {
            args.push("-H".into());
            args.push(format!("x-api-key: {k}"));
        }
        String::from_utf8_lossy(&Command::new("curl").args(&args).output().unwrap().stdout).into_owned()
    };
    assert_eq!(code(None), "401", "a key exists, so the API needs one");
    assert_eq!(code(Some(&secret)), "200");
    assert!(stop_with(&mut child, "TERM").success());

    let bad = buntime(dir.path(), &[]).args(["keys", "create", "--role", "viewer"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("name"), "{}", String::from_utf8_lossy(&bad.stderr));
}

const APPS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../apps");
const EXAMPLES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/plugins");
const PROJECT_BUN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.tools/node_modules/bun/bin/bun.exe");

#[test]
fn the_example_apps_are_served_end_to_end() {
    if !Path::new(PROJECT_BUN).is_file() {
        // scripts/test.sh installs Bun first; running cargo test alone without it skips only this.
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The pool-stats example (a TypeScript plugin reading `ctx.pool`) next to the bundled plugins.
    let stats = dir.path().join("plugins/plugin-pool-stats");
    std::fs::create_dir_all(&stats).unwrap();
    for file in ["manifest.yaml", "plugin.ts"] {
        std::fs::copy(Path::new(EXAMPLES_DIR).join("plugin-pool-stats").join(file), stats.join(file)).unwrap();
    }
    std::os::unix::fs::symlink(Path::new(EXAMPLES_DIR).join("../../node_modules"), dir.path().join("node_modules")).unwrap();
    let plugin_dirs = format!("{HELLO_DIR}:{}", dir.path().join("plugins").display());
    let (mut child, url, _rx) =
        start_env(dir.path(), &[("RUNTIME_WORKER_DIRS", APPS_DIR), ("BUNTIME_BUN", PROJECT_BUN), ("RUNTIME_PLUGIN_DIRS", &plugin_dirs)]);
    let cases = [
        ("/hello-app/some/path", 200, r#""path":"/some/path""#),
        ("/greeter", 200, r#""version":"2.1.0""#),
        ("/greeter@1", 200, r#""version":"1.0.0""#),
        ("/greeter@^2/hi/bob", 200, "Hi bob from 2.1.0"),
        ("/greeter@3", 404, ""),
        ("/spa/any/client/route", 200, r#"<base href="/spa/" />"#),
        ("/spa/assets/missing.js", 404, ""),
        ("/spa/%2e%2e/%2e%2e/Cargo.toml", 400, "INVALID_PATH"),
        ("/spa/%2e%2e/spa/index.html", 200, "<base href"),
        ("/hello/api/greeting", 200, "Hello from Buntime"),
    ];
    for (path, status, needle) in cases {
        let out = Command::new("curl")
            .args(["-s", "-m", "20", "-H", "accept: text/html", "-o", "-", "-w", "\n%{http_code}", &format!("{url}{path}")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        assert_eq!(code.trim(), status.to_string(), "{path}: {body}");
        assert!(body.contains(needle), "{path}: {body}");
    }
    // The requests above went through the pool, and a TypeScript plugin sees them in `ctx.pool`.
    let (status, body) = http_get(&format!("{url}/pool-stats/api"));
    assert_eq!(status, 200, "{body}");
    let metrics: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(metrics["totalRequests"].as_u64().is_some_and(|n| n >= 4), "{body}");
    let (status, body) = http_get(&format!("{url}/pool-stats/api/workers"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello-app@") && body.contains("greeter@2.1.0"), "{body}");
    assert!(stop_with(&mut child, "TERM").success());
}

#[test]
fn workers_of_this_runtime_may_call_its_api_and_never_see_their_token() {
    if !Path::new(PROJECT_BUN).is_file() {
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("apps/caller");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("manifest.yaml"), "ttl: 30s\ntimeout: 10s\nidleTimeout: 15s\n").unwrap();
    std::fs::write(
        app.join("index.ts"),
        r#"export default {
  async fetch() {
    const r = await fetch(process.env.RUNTIME_API_URL + "/api/plugins/reload", { method: "POST", headers: { "x-buntime-internal": "true" } });
    return Response.json({ status: r.status, token: process.env.BUNTIME_WORKER_TOKEN ?? null });
  },
};"#,
    )
    .unwrap();
    let apps = dir.path().join("apps");
    let (mut child, url, _rx) = start_env(dir.path(), &[("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()), ("BUNTIME_BUN", PROJECT_BUN)]);
    let (status, body) = http_get(&format!("{url}/caller"));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], 200, "the worker's call to the runtime API passed CSRF: {body}");
    assert_eq!(v["token"], serde_json::Value::Null, "the app must not see the worker token");
    // The same header from outside is not enough.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "x-buntime-internal: true", &format!("{url}/api/plugins/reload")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    assert!(stop_with(&mut child, "TERM").success());
}

#[test]
fn the_runtime_keeps_serving_when_its_log_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Running(buntime(dir.path(), &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = String::new();
    for line in lines.by_ref().map_while(Result::ok) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(u) = v["url"].as_str() {
            url = u.replace("0.0.0.0", "127.0.0.1");
        }
        if v["message"] == "Runtime ready." {
            break;
        }
    }
    // Whoever read the logs is gone: both pipes close.
    drop(lines);
    drop(child.stderr.take());
    for _ in 0..3 {
        let (status, _) = http_get(&format!("{url}/hello/api/greeting"));
        assert_eq!(status, 200);
    }
    let exit = stop_with(&mut child, "TERM");
    assert!(exit.success(), "a closed log pipe must not break shutdown: {exit:?}");
}
