#![allow(clippy::type_complexity)]

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use buntime_core::AppBackend;
use crate::archive::tests::{E, tgz, zip_of};
use crate::backend::tests::{MockPool, apps_with, write};

const BOUNDARY: &str = "XbuntimeX";

fn multipart(field: &str, file_name: &str, data: &[u8]) -> http::Request<Body> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    http::Request::post("/apps/upload")
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(body))
        .unwrap()
}

async fn send(apps: &Apps, req: http::Request<Body>) -> (StatusCode, Value) {
    let res = axum::Router::from(apps.admin_router()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn upload_to(apps: &Apps, path: &str, file_name: &str, data: &[u8]) -> (StatusCode, Value) {
    let mut req = multipart("file", file_name, data);
    *req.uri_mut() = path.parse().unwrap();
    send(apps, req).await
}

fn del(path: &str) -> http::Request<Body> {
    http::Request::delete(path).body(Body::empty()).unwrap()
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let body = if p.is_file() { std::fs::read_to_string(&p).unwrap_or_default() } else { String::new() };
            out.push(format!("{rel}={body}"));
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn app_tgz(name: &str, version: &str, marker: &str) -> Vec<u8> {
    let pkg = format!(r#"{{"name":"{name}","version":"{version}"}}"#);
    tgz(&[E::Dir("package/"), E::File("package/package.json", pkg.as_bytes()), E::File("package/index.ts", marker.as_bytes())])
}

#[tokio::test]
async fn app_uploads_install_list_and_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = Arc::new(MockPool::default());
    let apps = apps_with(tmp.path(), Some(pool.clone()));
    let (status, json) = upload_to(&apps, "/apps/upload", "todo-1.0.0.tgz", &app_tgz("todo", "1.0.0", "v1")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["success"], true);
    assert_eq!(json["data"]["app"]["name"], "todo");
    assert_eq!(json["data"]["app"]["version"], "1.0.0");
    let installed = tmp.path().join("apps/todo/1.0.0");
    assert_eq!(json["data"]["app"]["installedAt"], installed.to_string_lossy().as_ref());
    assert_eq!(std::fs::read_to_string(installed.join("index.ts")).unwrap(), "v1");
    assert!(apps.resolve("/todo@1").await.unwrap().is_some());

    let (status, _) = upload_to(&apps, "/apps/upload", "todo.tgz", &app_tgz("todo", "1.0.0", "v2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(std::fs::read_to_string(installed.join("index.ts")).unwrap(), "v2");
    assert!(pool.retired.lock().unwrap().contains(&"todo@1.0.0".to_owned()), "replaced app's workers are retired");

    let zip = zip_of(&[E::File("package.json", br#"{"name":"@acme/ui","version":"2.0.0"}"#), E::File("index.html", b"<html>")]);
    let (status, json) = upload_to(&apps, "/apps/upload", "ui.zip", &zip).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(tmp.path().join("apps/@acme/ui/2.0.0/index.html").is_file());

    let (status, json) = send(&apps, http::Request::get("/apps").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = json.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["@acme/ui", "todo"]);
    assert_eq!(json[1]["versions"], serde_json::json!(["1.0.0"]));
    let leftovers: Vec<_> = tree(&tmp.path().join("apps")).into_iter().filter(|p| p.contains(".buntime-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn bad_uploads_leave_everything_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = apps_with(tmp.path(), None);
    write(tmp.path(), "apps/todo/1.0.0/index.ts", "original");
    let before = tree(tmp.path());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("zip-slip", tgz(&[E::File("package/package.json", br#"{"name":"todo","version":"1.0.0"}"#), E::File("../evil", b"x")]), "INVALID_ARCHIVE"),
        ("absolute", tgz(&[E::File("/tmp/buntime-evil", b"x")]), "INVALID_ARCHIVE"),
        ("symlink", tgz(&[E::File("package/package.json", br#"{"name":"todo","version":"1.0.0"}"#), E::Symlink("package/x", "/etc")]), "INVALID_ARCHIVE"),
        ("hardlink", tgz(&[E::File("package/package.json", br#"{"name":"todo","version":"1.0.0"}"#), E::HardLink("package/x", "/etc/passwd")]), "INVALID_ARCHIVE"),
        ("zip symlink", zip_of(&[E::File("package.json", br#"{"name":"todo","version":"1.0.0"}"#), E::Symlink("x", "/etc")]), "INVALID_ARCHIVE"),
        ("garbage", b"not an archive".to_vec(), "INVALID_ARCHIVE"),
        ("no name", tgz(&[E::File("package/index.ts", b"")]), "MISSING_PACKAGE_NAME"),
        ("traversing name", app_tgz("../../evil", "1.0.0", ""), "INVALID_PACKAGE_NAME"),
        ("scoped traversal", app_tgz("@../evil", "1.0.0", ""), "INVALID_PACKAGE_NAME"),
        ("traversing version", app_tgz("todo", "../../x", ""), "INVALID_VERSION"),
        ("odd version", app_tgz("todo", "banana", ""), "INVALID_VERSION"),
    ];
    for (what, data, code) in cases {
        let name = if what.starts_with("zip") { "a.zip" } else { "a.tgz" };
        let (status, json) = upload_to(&apps, "/apps/upload", name, &data).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {json}");
        assert_eq!(json["code"], code, "{what}: {json}");
        assert_eq!(tree(tmp.path()), before, "{what} changed the tree");
    }
    assert!(!Path::new("/tmp/buntime-evil").exists());
}

#[tokio::test]
async fn uploads_validate_the_request() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = apps_with(tmp.path(), None);
    let (status, json) = upload_to(&apps, "/apps/upload", "app.rar", b"x").await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_FILE_TYPE")));
    let mut req = multipart("other", "a.tgz", b"x");
    *req.uri_mut() = "/apps/upload".parse().unwrap();
    let (status, json) = send(&apps, req).await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("NO_FILE_PROVIDED")));
    let (status, json) = send(&apps, http::Request::post("/apps/upload").body(Body::from("x")).unwrap()).await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("NO_FILE_PROVIDED")));

    let env = buntime_core::Env::from_pairs([("RUNTIME_WORKER_DIRS", "/x")]);
    let mut config = buntime_core::RuntimeConfig::from_env(&env, tmp.path()).unwrap();
    config.worker_dirs.clear();
    config.plugin_dirs.clear();
    let empty = Apps::new(Arc::new(config), Arc::new(env), None);
    let (_, json) = upload_to(&empty, "/apps/upload", "a.tgz", b"x").await;
    assert_eq!(json["code"], "NO_WORKER_DIRS");
    let (_, json) = upload_to(&empty, "/plugins/upload", "a.tgz", b"x").await;
    assert_eq!(json["code"], "NO_PLUGIN_DIRS");
}

#[tokio::test]
async fn app_deletes_remove_versions_and_reject_traversal() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = Arc::new(MockPool::default());
    let apps = apps_with(tmp.path(), Some(pool.clone()));
    write(tmp.path(), "apps/todo/1.0.0/index.ts", "");
    write(tmp.path(), "apps/todo/2.0.0/index.ts", "");
    write(tmp.path(), "apps/flat@1.0.0/index.ts", "");
    write(tmp.path(), "apps/@acme/ui/1.0.0/index.ts", "");
    write(tmp.path(), "outside/keep.txt", "keep");
    let cases: &[(&str, StatusCode, &str)] = &[
        ("/apps/_/todo/%2e%2e", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/apps/_/..", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/apps/_/%2e%2e%2foutside", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/apps/%40..%2F..%2Foutside/x", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/apps/_/todo/..%2F..%2F..%2Foutside", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/apps/_/todo/9.9.9", StatusCode::NOT_FOUND, "VERSION_NOT_FOUND"),
        ("/apps/_/nope", StatusCode::NOT_FOUND, "APP_NOT_FOUND"),
    ];
    for (path, status, code) in cases {
        let (got, json) = send(&apps, del(path)).await;
        assert_eq!((got, json["code"].as_str()), (*status, Some(*code)), "{path}: {json}");
    }
    assert!(tmp.path().join("outside/keep.txt").is_file());

    let (status, _) = send(&apps, del("/apps/_/todo/1.0.0")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tmp.path().join("apps/todo/1.0.0").exists() && tmp.path().join("apps/todo/2.0.0").exists());
    assert!(pool.retired.lock().unwrap().contains(&"todo@1.0.0".to_owned()));

    let (status, _) = send(&apps, del("/apps/_/todo")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tmp.path().join("apps/todo").exists());
    assert!(pool.retired.lock().unwrap().contains(&"todo@2.0.0".to_owned()));

    let (status, _) = send(&apps, del("/apps/_/flat/1.0.0")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tmp.path().join("apps/flat@1.0.0").exists());

    let (status, _) = send(&apps, del("/apps/@acme/ui")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tmp.path().join("apps/@acme/ui").exists());
    assert!(apps.resolve("/@acme/ui").await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_a_symlinked_app_removes_only_the_link() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = apps_with(tmp.path(), None);
    write(tmp.path(), "elsewhere/app/index.ts", "keep");
    std::fs::create_dir_all(tmp.path().join("apps")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("elsewhere/app"), tmp.path().join("apps/linked")).unwrap();
    let (status, _) = send(&apps, del("/apps/_/linked")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tmp.path().join("apps/linked").exists());
    assert!(tmp.path().join("elsewhere/app/index.ts").is_file());
}

#[tokio::test]
async fn plugin_uploads_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = apps_with(tmp.path(), None);
    let manifest = b"name: \"@acme/plugin-x\"\nversion: 1.2.0\nbase: /x\n";
    let data = tgz(&[E::Dir("package/"), E::File("package/manifest.yaml", manifest), E::File("package/plugin.ts", b"v1")]);
    let (status, json) = upload_to(&apps, "/plugins/upload", "p.tgz", &data).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["data"]["plugin"]["name"], "@acme/plugin-x");
    assert_eq!(json["data"]["plugin"]["version"], "1.2.0");
    let dir = tmp.path().join("plugins/@acme/plugin-x");
    assert_eq!(json["data"]["plugin"]["installedAt"], dir.to_string_lossy().as_ref());
    assert!(dir.join("plugin.ts").is_file());

    write(tmp.path(), "outside/keep.txt", "keep");
    let cases: &[(&str, StatusCode, &str)] = &[
        ("/plugins/..%2Foutside", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/plugins/%2e%2e", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/plugins/%40acme%2F..%2F..%2Foutside", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/plugins/%20", StatusCode::BAD_REQUEST, "MISSING_NAME"),
        ("/plugins/nope", StatusCode::NOT_FOUND, "PLUGIN_NOT_FOUND"),
    ];
    for (path, status, code) in cases {
        let (got, json) = send(&apps, del(path)).await;
        assert_eq!((got, json["code"].as_str()), (*status, Some(*code)), "{path}: {json}");
    }
    assert!(tmp.path().join("outside/keep.txt").is_file());
    let (status, json) = send(&apps, del("/plugins/%40acme%2Fplugin-x")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(!dir.exists());
}

#[tokio::test]
async fn uploads_never_follow_symlinked_scopes_out_of_the_worker_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = apps_with(tmp.path(), None);
    std::fs::create_dir_all(tmp.path().join("apps")).unwrap();
    std::fs::create_dir_all(tmp.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), tmp.path().join("apps/@acme")).unwrap();
    let (status, json) = upload_to(&apps, "/apps/upload", "ui.tgz", &app_tgz("@acme/ui", "1.0.0", "x")).await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("PATH_TRAVERSAL")), "{json}");
    assert!(tree(&tmp.path().join("elsewhere")).is_empty());
}

#[tokio::test]
async fn plugins_are_enabled_and_disabled_in_their_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = apps_with(tmp.path(), None);
    write(tmp.path(), "plugins/@acme/plugin-x/manifest.yaml", "# keep me\nname: \"@acme/plugin-x\"\nbase: /x\n");
    let post = |path: &str| http::Request::post(path).body(Body::empty()).unwrap();
    let (status, json) = send(&apps, post("/plugins/%40acme%2Fplugin-x/disable")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!((json["data"]["plugin"]["name"].as_str(), json["data"]["plugin"]["enabled"].as_bool()), (Some("@acme/plugin-x"), Some(false)));
    let file = tmp.path().join("plugins/@acme/plugin-x/manifest.yaml");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "# keep me\nname: \"@acme/plugin-x\"\nbase: /x\nenabled: false\n");
    let (status, _) = send(&apps, post("/plugins/%40acme%2Fplugin-x/enable")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(std::fs::read_to_string(&file).unwrap().ends_with("enabled: true\n"));

    write(tmp.path(), "plugins/bare/index.ts", "");
    let cases: &[(&str, StatusCode, &str)] = &[
        ("/plugins/nope/enable", StatusCode::NOT_FOUND, "PLUGIN_NOT_FOUND"),
        ("/plugins/..%2Foutside/disable", StatusCode::BAD_REQUEST, "INVALID_NAME"),
        ("/plugins/bare/disable", StatusCode::BAD_REQUEST, "NO_MANIFEST"),
    ];
    for (path, status, code) in cases {
        let (got, json) = send(&apps, post(path)).await;
        assert_eq!((got, json["code"].as_str()), (*status, Some(*code)), "{path}: {json}");
    }
}
