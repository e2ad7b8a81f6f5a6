//! plugin-keyval end to end: the real binary serves `./plugins` (database + keyval, both enabled),
//! and a write is readable, listable and pushed to a watcher over real HTTP.

use std::process::Command;

mod support;

use support::{PLUGINS_DIR, PROJECT_BUN, buntime};

fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "20", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn the_shipped_plugins_serve_keyval_over_the_database_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    let started = support::start(buntime(
        dir.path(),
        &[("RUNTIME_WORKER_DIRS", apps.to_str().unwrap())],
    ));
    let url = started.url.clone();
    assert!(
        started
            .startup
            .iter()
            .any(|l| l.contains("keyval ready on the sqlite root database")),
        "{:?}",
        started.startup
    );

    // A watcher first (curl -N gives up after 3 s), then the write it must see.
    let watch_url = format!("{url}/keyval/api/watch?keys=e2e/1&initial=false");
    let watcher = std::thread::spawn(move || {
        Command::new("curl")
            .args(["-s", "-N", "-m", "3"])
            .arg(&watch_url)
            .output()
            .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(500));

    let (status, body) = curl(
        &format!("{url}/keyval/api/keys/e2e/1"),
        &[
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"hello":"world"}"#,
        ],
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl(&format!("{url}/keyval/api/keys/e2e/1"), &[]);
    assert_eq!(status, 200, "{body}");
    let entry: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (entry["key"].clone(), entry["value"].clone()),
        (
            serde_json::json!(["e2e", 1]),
            serde_json::json!({"hello": "world"})
        )
    );
    let (_, body) = curl(&format!("{url}/keyval/api/keys?prefix=e2e"), &[]);
    assert!(body.contains(r#""hello":"world""#), "{body}");

    let streamed = String::from_utf8_lossy(&watcher.join().unwrap().stdout).into_owned();
    assert!(
        streamed.contains("event: change") && streamed.contains(r#""hello":"world""#),
        "{streamed}"
    );
    assert!(
        dir.path()
            .join("state/database/sqlite/_default.db")
            .is_file(),
        "entries live in the database plugin's root database"
    );
}

/// A TypeScript plugin reaches the native engine through `ctx.getPlugin` (the JSON service).
const TS_PLUGIN: &str = r#"
let kv;
export const onInit = (ctx) => { kv = ctx.getPlugin("@buntime/plugin-keyval"); };
export const routes = {
  async fetch(req) {
    const set = await kv.set(["ts", 1], { from: "ts" });
    const got = await kv.get(["ts", 1]);
    const listed = await kv.list({ prefix: ["ts"] });
    let error = null;
    try { await kv.set([], 1); } catch (e) { error = String(e.message ?? e); }
    return Response.json({ set, got, listed, error });
  },
};
"#;

#[test]
fn a_typescript_plugin_calls_the_engine_through_get_plugin() {
    if !std::path::Path::new(PROJECT_BUN).is_file() {
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("plugins/kv-consumer");
    std::fs::create_dir_all(&ts).unwrap();
    std::fs::write(
        ts.join("manifest.yaml"),
        "name: kv-consumer\nbase: /kvc\ndependencies: [\"@buntime/plugin-keyval\"]\n",
    )
    .unwrap();
    std::fs::write(ts.join("plugin.ts"), TS_PLUGIN).unwrap();
    let plugin_dirs = format!("{PLUGINS_DIR}:{}", dir.path().join("plugins").display());
    let apps = dir.path().join("apps");
    let started = support::start(buntime(
        dir.path(),
        &[
            ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()),
            ("RUNTIME_PLUGIN_DIRS", &plugin_dirs),
            ("BUNTIME_BUN", PROJECT_BUN),
        ],
    ));
    let (status, body) = curl(&format!("{}/kvc/run", started.url), &[]);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["set"]["ok"], true, "{body}");
    assert_eq!(
        v["got"],
        serde_json::json!({"key": ["ts", 1], "value": {"from": "ts"}, "versionstamp": v["set"]["versionstamp"]}),
        "{body}"
    );
    assert_eq!(v["listed"].as_array().map(Vec::len), Some(1), "{body}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("at least one part")),
        "{body}"
    );
}
