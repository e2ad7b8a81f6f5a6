//! The deployments plugin end to end: the real binary with the bundled plugins, API keys with the
//! viewer and editor roles, multipart uploads sent by curl (files and a zip written by Python's
//! `zipfile`), a new version served at once, a folder downloaded as zip and read back by Python,
//! and a version deleted while another app is under load.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use serde_json::Value;
use support::{PROJECT_BUN, buntime};

const MASTER_KEY: &str = "btk_RGVwbG95bWVudHNNYXN0ZXJLZXlGb3JUZXN0cw";

/// Runs curl with `args`; returns the status and the body.
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Creates a key with `role` through the REST API and returns its secret.
fn key(url: &str, role: &str) -> String {
    let (status, body) = curl(&[
        "-X", "POST", "-H", &format!("X-API-Key: {MASTER_KEY}"), "-H", "content-type: application/json",
        "-d", &format!(r#"{{"name":"{role}-key","role":"{role}"}}"#), &format!("{url}/api/keys"),
    ]);
    assert_eq!(status, 201, "{body}");
    json(&body)["data"]["key"].as_str().unwrap().to_owned()
}

/// Writes a zip with Python's `zipfile`: `entries` maps names to contents.
fn py_zip(file: &Path, entries: &[(&str, &str)]) {
    let script = "import json,sys,zipfile\nwith zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED) as z:\n    for n,c in json.loads(sys.argv[2]): z.writestr(n,c)\n";
    let spec = serde_json::to_string(entries).unwrap();
    assert!(Command::new("python3").args(["-c", script, file.to_str().unwrap(), &spec]).status().unwrap().success());
}

#[test]
fn operators_deploy_download_and_delete_apps_through_the_deployments_api() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(apps.join("steady/1.0.0")).unwrap();
    std::fs::write(apps.join("steady/1.0.0/index.html"), "<html><head></head><body>steady</body></html>").unwrap();
    let bun = Path::new(PROJECT_BUN).is_file();
    let mut env = vec![("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()), ("RUNTIME_MASTER_KEY", MASTER_KEY)];
    if bun {
        env.push(("BUNTIME_BUN", PROJECT_BUN));
    }
    let s = support::start(buntime(dir.path(), &env));
    let url = s.url.clone();
    let api = format!("{url}/deployments/api");
    let (viewer, editor) = (key(&url, "viewer"), key(&url, "editor"));
    let as_viewer = format!("X-API-Key: {viewer}");
    let as_editor = format!("X-API-Key: {editor}");

    // Roles: anonymous 401, viewer reads, viewer cannot write, editor writes.
    assert_eq!(json(&curl(&[&format!("{api}/list?path=apps")]).1)["code"], "AUTH_REQUIRED");
    let (status, body) = curl(&["-H", &as_viewer, &format!("{api}/list?path=apps")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["data"]["entries"][0]["name"], "steady");
    let mkdir = |who: &str| curl(&["-H", who, "-H", "content-type: application/json", "-d", r#"{"path":"apps/site"}"#, &format!("{api}/mkdir")]);
    let (status, body) = mkdir(&as_viewer);
    assert_eq!((status, json(&body)["code"].as_str().unwrap()), (403, "PERMISSION_DENIED"), "{body}");
    assert!(!apps.join("site").exists());
    assert_eq!(mkdir(&as_editor).0, 200);

    // A static app uploaded with curl is served; a newer version uploaded after is served at
    // once (inside the resolver's 1 s cache lifetime).
    let page = |v: &str| {
        let f = dir.path().join(format!("index-{v}.html"));
        std::fs::write(&f, format!("<html><head></head><body>{v}</body></html>")).unwrap();
        f
    };
    let upload = |path: &str, file: &Path, rel: &str| {
        curl(&["-H", &as_editor, "-F", &format!("path={path}"), "-F", &format!("paths[]={rel}"), "-F", &format!("files[]=@{}", file.display()), &format!("{api}/upload")])
    };
    let (status, body) = upload("apps/site/1.0.0", &page("v1"), "index.html");
    assert_eq!(status, 200, "{body}");
    assert!(curl(&[&format!("{url}/site/")]).1.contains("v1"));
    let started = Instant::now();
    assert_eq!(upload("apps/site/2.0.0", &page("v2"), "index.html").0, 200);
    let (status, body) = curl(&[&format!("{url}/site/")]);
    assert!(status == 200 && body.contains("v2"), "{status} {body}");
    assert!(started.elapsed() < Duration::from_secs(1), "served before any cache expired");

    // A zip written by Python, uploaded by curl, extracted in place.
    let zip = dir.path().join("bundle.zip");
    py_zip(&zip, &[("index.html", "<html><head></head><body>zipped</body></html>"), ("assets/app.css", "body{}")]);
    let (status, body) = upload("apps/zipped/1.0.0", &zip, "bundle.zip");
    assert_eq!(status, 200, "{body}");
    assert!(curl(&[&format!("{url}/zipped/")]).1.contains("zipped"));
    assert_eq!(curl(&[&format!("{url}/zipped/assets/app.css")]).1, "body{}");

    // A zip-slip archive is refused and writes nothing.
    let slip = dir.path().join("slip.zip");
    py_zip(&slip, &[("../../escaped.txt", "x")]);
    let (status, body) = upload("apps/zipped/1.0.0", &slip, "slip.zip");
    assert_eq!((status, json(&body)["code"].as_str().unwrap()), (400, "ZIP_UNSAFE_ENTRY"));
    assert!(!dir.path().join("escaped.txt").exists() && !apps.join("escaped.txt").exists());

    // The version folder downloaded as zip, read back by Python.
    let out = dir.path().join("download.zip");
    let st = Command::new("curl").args(["-s", "-f", "-H", &as_viewer, "-o", out.to_str().unwrap(), &format!("{api}/download?path=apps/zipped/1.0.0")]).status().unwrap();
    assert!(st.success());
    let read = Command::new("python3")
        .args(["-c", "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(sorted(z.namelist()), z.read('assets/app.css').decode())", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&read.stdout).trim(), "['assets/', 'assets/app.css', 'index.html'] body{}");
    // Info-ZIP's unzip reads the streamed format too, when it is installed.
    if let Ok(t) = Command::new("unzip").args(["-t", out.to_str().unwrap()]).output() {
        assert!(t.status.success(), "unzip -t: {}", String::from_utf8_lossy(&t.stdout));
    }

    // A JS app: deleted while another app is under load; its workers retire, no other request fails.
    if bun {
        let js = dir.path().join("index.ts");
        std::fs::write(&js, "export default { fetch() { return new Response(\"js-v1\"); } };\n").unwrap();
        assert_eq!(upload("apps/js/1.0.0", &js, "index.ts").0, 200);
        assert_eq!(curl(&[&format!("{url}/js")]).1, "js-v1");
        let load: Vec<_> = (0..4)
            .map(|_| {
                let u = format!("{url}/steady/");
                std::thread::spawn(move || (0..40).map(|_| curl(&[&u]).0).filter(|s| *s != 200).count())
            })
            .collect();
        let (status, body) = curl(&["-X", "DELETE", "-H", &as_editor, &format!("{api}/delete?path=apps/js/1.0.0")]);
        assert_eq!(status, 200, "{body}");
        let failures: usize = load.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(failures, 0, "requests to another app failed during the delete");
        assert_eq!(curl(&[&format!("{url}/js")]).0, 404);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut retired = false;
        while !retired && Instant::now() < deadline {
            let Ok(line) = s.lines.recv_timeout(Duration::from_millis(500)) else { continue };
            retired = line.contains("retiring its workers") && line.contains("js@");
        }
        assert!(retired, "the deleted version's workers were retired");
    } else {
        eprintln!("skipping the JS app part: Bun is not installed (run scripts/setup.sh)");
    }
}
