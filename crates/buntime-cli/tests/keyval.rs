//! plugin-keyval end to end: the real binary serves `./plugins` (database + keyval, both enabled),
//! and a write is readable, listable and pushed to a watcher over real HTTP.

use std::process::Command;

mod support;

use support::buntime;

fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-m", "20", "-w", "\n%{http_code}"]).args(args).arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn the_shipped_plugins_serve_keyval_over_the_database_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    let started = support::start(buntime(dir.path(), &[("RUNTIME_WORKER_DIRS", apps.to_str().unwrap())]));
    let url = started.url.clone();
    assert!(started.startup.iter().any(|l| l.contains("keyval ready on the sqlite root database")), "{:?}", started.startup);

    // A watcher first (curl -N gives up after 3 s), then the write it must see.
    let watch_url = format!("{url}/keyval/api/watch?keys=e2e/1&initial=false");
    let watcher = std::thread::spawn(move || Command::new("curl").args(["-s", "-N", "-m", "3"]).arg(&watch_url).output().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(500));

    let (status, body) = curl(&format!("{url}/keyval/api/keys/e2e/1"), &["-X", "PUT", "-H", "content-type: application/json", "-d", r#"{"hello":"world"}"#]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl(&format!("{url}/keyval/api/keys/e2e/1"), &[]);
    assert_eq!(status, 200, "{body}");
    let entry: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((entry["key"].clone(), entry["value"].clone()), (serde_json::json!(["e2e", 1]), serde_json::json!({"hello": "world"})));
    let (_, body) = curl(&format!("{url}/keyval/api/keys?prefix=e2e"), &[]);
    assert!(body.contains(r#""hello":"world""#), "{body}");

    let streamed = String::from_utf8_lossy(&watcher.join().unwrap().stdout).into_owned();
    assert!(streamed.contains("event: change") && streamed.contains(r#""hello":"world""#), "{streamed}");
    assert!(dir.path().join("state/database/sqlite/_default.db").is_file(), "entries live in the database plugin's root database");
}
