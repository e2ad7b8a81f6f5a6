//! Shared by the plugin's tests: the plugin loaded by the real loader over temporary app and
//! plugin roots, a fake access model keyed by an `x-test-role` header, multipart bodies, and zip
//! archives written and read by Python's `zipfile`.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use buntime_core::access::{AccessGate, ApiAccess};
use buntime_core::respond::json_error;
use buntime_plugin_deployments::DeploymentsPlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use http::{Method, StatusCode};
use serde_json::Value;

const MANIFEST: &str = include_str!("../../manifest.yaml");
const VIEWER: &[&str] = &["apps:read", "plugins:read", "workers:read", "keys:read"];
const EDITOR: &[&str] = &["apps:read", "apps:install", "apps:remove", "plugins:read", "plugins:install", "plugins:remove", "workers:read"];

/// Grants what the `x-test-role` header names (`viewer`, `editor`; default `editor`, `none` is
/// anonymous), with the REST API's answer shapes.
pub struct FakeAccess;

#[allow(clippy::result_large_err)]
impl ApiAccess for FakeAccess {
    fn check(&self, parts: &http::request::Parts, permissions: &[&str]) -> Result<(), buntime_core::Response> {
        let role = parts.headers.get("x-test-role").and_then(|v| v.to_str().ok()).unwrap_or("editor");
        let held = match role {
            "editor" => EDITOR,
            "viewer" => VIEWER,
            _ => return Err(json_error(StatusCode::UNAUTHORIZED, "AUTH_REQUIRED", "Unauthorized")),
        };
        match permissions.iter().find(|p| !held.contains(p)) {
            Some(p) => Err(json_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", &format!("Missing permission: {p}"))),
            None => Ok(()),
        }
    }
}

/// One file to upload: its file name, content and optional `paths[]` entry.
pub type Upload<'a> = (&'a str, &'a [u8], Option<&'a str>);

/// The plugin over `<tmp>/apps` and `<tmp>/plugins`.
pub struct Deploy {
    pub h: StartedHarness,
    pub dir: tempfile::TempDir,
    pub apps: PathBuf,
    pub plugins: PathBuf,
}

/// An app backend that serves nothing and records what `files_changed` is told.
#[derive(Default)]
pub struct FakeApps {
    pub changed: std::sync::Mutex<Vec<Vec<PathBuf>>>,
}

#[async_trait::async_trait]
impl buntime_core::app::AppBackend for FakeApps {
    async fn resolve(&self, _path: &str) -> Result<Option<buntime_core::ResolvedApp>, buntime_core::PluginError> {
        Ok(None)
    }
    async fn resolve_plugin_app(&self, _: &Path, _: &str, _: &serde_json::Map<String, Value>) -> Result<buntime_core::ResolvedApp, buntime_core::PluginError> {
        Err(buntime_core::PluginError::new(buntime_core::ErrorKind::NotFound, "no plugin apps here"))
    }
    async fn serve(&self, _: &buntime_core::ResolvedApp, _: buntime_core::Request) -> buntime_core::Response {
        json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no apps here")
    }
    async fn files_changed(&self, paths: &[PathBuf]) -> Vec<String> {
        self.changed.lock().unwrap().push(paths.to_vec());
        Vec::new()
    }
}

/// Starts the plugin with the crate's manifest plus `extra` YAML lines.
pub async fn start(extra: &str) -> Deploy {
    start_with(extra, None).await
}

/// Like [`start`], showing `apps` to the plugin.
pub async fn start_with(extra: &str, apps_backend: Option<Arc<FakeApps>>) -> Deploy {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::create_dir_all(&plugins).unwrap();
    // `extra` keys replace the crate manifest's (a key twice is refused).
    let keys: Vec<&str> = extra.lines().filter_map(|l| l.split_once(':').map(|(k, _)| k.trim())).collect();
    let base: String = MANIFEST.lines().filter(|l| !keys.iter().any(|k| l.starts_with(&format!("{k}:")))).map(|l| format!("{l}\n")).collect();
    let manifest = format!("{base}\nworkerDirs: [{:?}]\npluginDirs: [{:?}]\n{extra}\n", apps.display().to_string(), plugins.display().to_string());
    let mut harness = PluginHarness::new(&manifest, DeploymentsPlugin::new);
    if let Some(backend) = apps_backend {
        harness = harness.apps(backend);
    }
    let h = harness.start().await.unwrap();
    Deploy { h, dir, apps, plugins }
}

impl Deploy {
    /// Sends a request as `role`, with the fake access gate.
    pub async fn call(&self, method: Method, uri: &str, content_type: Option<&str>, body: impl Into<Body>, role: &str) -> TestResponse {
        let mut b = http::Request::builder().method(method).uri(uri).header("x-test-role", role);
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        let mut req = b.body(body.into()).unwrap();
        req.extensions_mut().insert(AccessGate(Arc::new(FakeAccess)));
        self.h.send(req).await
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.call(Method::GET, uri, None, Body::empty(), "editor").await
    }

    pub async fn json(&self, method: Method, uri: &str, body: Value) -> TestResponse {
        self.call(method, uri, Some("application/json"), body.to_string(), "editor").await
    }

    pub async fn post(&self, uri: &str, body: Value) -> TestResponse {
        self.json(Method::POST, uri, body).await
    }

    /// Uploads `files` (`(file name, content, relative path)`) into `path` as multipart.
    pub async fn upload(&self, path: Option<&str>, files: &[Upload<'_>]) -> TestResponse {
        let (ct, body) = multipart(path, files);
        self.call(Method::POST, "/deployments/api/upload", Some(&ct), body, "editor").await
    }

    /// Writes `content` at `rel` below the apps root.
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.apps.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.apps.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every path below the test's temp dir (outside the roots too), sorted, staging folders included.
    pub fn tree(&self) -> Vec<String> {
        let mut v: Vec<String> = walkdir::WalkDir::new(self.dir.path())
            .min_depth(1)
            .into_iter()
            .flatten()
            .map(|e| e.path().strip_prefix(self.dir.path()).unwrap().display().to_string())
            .collect();
        v.sort();
        v
    }
}

/// A multipart/form-data body.
pub fn multipart(path: Option<&str>, files: &[Upload<'_>]) -> (String, Vec<u8>) {
    let boundary = "----buntime-test-boundary";
    let mut body = Vec::new();
    let text = |name: &str, value: &str, body: &mut Vec<u8>| {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    };
    if let Some(p) = path {
        text("path", p, &mut body);
    }
    for (_, _, rel) in files {
        if let Some(r) = rel {
            text("paths[]", r, &mut body);
        }
    }
    for (name, data, _) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files[]\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A zip archive written by Python's `zipfile`: `entries` maps names to contents (deflated); a
/// `repeat` of `(name, byte, count)` adds a large entry of one repeated byte (a zip bomb).
pub fn py_zip(entries: &[(&str, &str)], repeat: Option<(&str, u8, usize)>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.zip");
    let spec = serde_json::json!({"entries": entries, "repeat": repeat.map(|(n, b, c)| serde_json::json!([n, b, c]))});
    let script = r#"
import json, sys, zipfile
spec = json.loads(sys.argv[2])
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for name, content in spec["entries"]:
        z.writestr(zipfile.ZipInfo(name), content, zipfile.ZIP_DEFLATED)
    if spec["repeat"]:
        name, byte, count = spec["repeat"]
        z.writestr(zipfile.ZipInfo(name), bytes([byte]) * count, zipfile.ZIP_DEFLATED)
"#;
    let st = Command::new("python3").args(["-c", script, out.to_str().unwrap(), &spec.to_string()]).status().unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

/// Reads a zip with Python's `zipfile` (after `testzip()` checked every CRC): name → content,
/// directories with an empty content.
pub fn py_unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.zip");
    std::fs::write(&file, bytes).unwrap();
    py_unzip_file(&file)
}

pub fn py_unzip_file(file: &Path) -> std::collections::BTreeMap<String, String> {
    let script = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    assert bad is None, bad
    print(json.dumps({i.filename: z.read(i).decode("utf-8", "replace") for i in z.infolist()}))
"#;
    let out = Command::new("python3").args(["-c", script, file.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "python zipfile: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
