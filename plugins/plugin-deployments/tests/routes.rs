//! Every route of `/deployments/api` through the real loader and pipeline: success bodies, the
//! error codes of spec §7, traversal in every path parameter, and roles.

mod support;

use http::Method;
use serde_json::{Value, json};
use support::{Deploy, start};

fn codes(res: &buntime_testkit::TestResponse) -> (u16, String) {
    (res.status.as_u16(), res.json()["code"].as_str().unwrap_or_default().to_owned())
}

fn names(res: &buntime_testkit::TestResponse) -> Vec<String> {
    res.json()["data"]["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect()
}

async fn sample() -> Deploy {
    let d = start("").await;
    d.write("todo/1.0.0/manifest.yaml", "visibility: protected\nttl: 10\ntimeout: 30\n");
    d.write("todo/1.0.0/index.ts", "export default {}\n");
    d.write("todo/1.0.0/src/app.ts", "1234567890");
    d.write("todo/2.0.0/manifest.yaml", "visibility: public\n");
    d.write("todo/2.0.0/index.ts", "v2");
    d.write("secret@1.0.0/manifest.yaml", "visibility: internal\n");
    d.write("secret@1.0.0/index.ts", "x");
    d.write("notes.txt", "hello");
    d.write("todo/1.0.0/node_modules/dep/index.js", "hidden");
    std::fs::create_dir_all(d.plugins.join("my-plugin")).unwrap();
    d
}

#[tokio::test]
async fn the_virtual_root_lists_the_roots_and_a_folder_lists_dirs_first_with_sizes_visibility_and_validation() {
    let d = sample().await;
    let res = d.get("/deployments/api/list").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["success"], true);
    assert_eq!(res.json()["data"]["path"], "");
    assert_eq!(names(&res), ["apps", "plugins"]);
    assert_eq!(res.json()["data"]["entries"][0]["isDirectory"], true);

    let res = d.get("/deployments/api/list?path=apps").await;
    assert_eq!(res.status, 200, "{}", res.text());
    // `secret` is internal: hidden. Folders first, then files.
    assert_eq!(names(&res), ["todo", "notes.txt"]);
    let todo = &res.json()["data"]["entries"][0];
    assert_eq!(todo["path"], "apps/todo");
    // The most restrictive version wins for the app folder.
    assert_eq!(todo["visibility"], "protected");
    // node_modules is excluded from sizes too: 3 manifests/index files + app.ts.
    assert_eq!(todo["files"], 5);
    assert_eq!(res.json()["data"]["entries"][1]["size"], 5);
    assert!(res.json()["data"]["entries"][1]["updatedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(res.json()["data"]["currentVisibility"], "public");

    let res = d.get("/deployments/api/list?path=apps/todo").await;
    let entries = res.json()["data"]["entries"].clone();
    assert_eq!(entries[0]["name"], "1.0.0");
    assert_eq!(entries[0]["visibility"], "protected");
    assert_eq!(entries[0]["configValidation"]["isValid"], false);
    assert!(entries[0]["configValidation"]["errors"][0].as_str().unwrap().contains("ttl"));
    assert_eq!(entries[1]["configValidation"], json!({"errors": [], "isValid": true, "warnings": []}));

    // Inherited downward; excluded names are not listed.
    let res = d.get("/deployments/api/list?path=apps/todo/1.0.0").await;
    assert_eq!(res.json()["data"]["currentVisibility"], "protected");
    assert_eq!(names(&res), ["src", "index.ts", "manifest.yaml"]);
    assert_eq!(res.json()["data"]["entries"][0]["visibility"], "protected");

    let res = d.get("/deployments/api/list?path=apps/nope").await;
    assert_eq!(codes(&res), (404, "DIR_NOT_FOUND".into()));
    let res = d.get("/deployments/api/list?path=nope").await;
    assert_eq!(codes(&res), (404, "DIR_NOT_FOUND".into()));
    let res = d.get("/deployments/api/list?path=apps/notes.txt").await;
    assert_eq!(codes(&res), (404, "DIR_NOT_FOUND".into()));
}

#[tokio::test]
async fn mkdir_creates_nested_folders_and_refuses_the_root() {
    let d = start("").await;
    let res = d.post("/deployments/api/mkdir", json!({"path": "apps/new/1.0.0"})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), json!({"success": true, "data": {"path": "apps/new/1.0.0"}}));
    assert!(d.apps.join("new/1.0.0").is_dir());
    // Again: nothing to do.
    assert_eq!(d.post("/deployments/api/mkdir", json!({"path": "apps/new/1.0.0"})).await.status, 200);
    assert_eq!(codes(&d.post("/deployments/api/mkdir", json!({})).await), (400, "PATH_REQUIRED".into()));
    assert_eq!(codes(&d.post("/deployments/api/mkdir", json!({"path": ""})).await), (400, "PATH_REQUIRED".into()));
    assert_eq!(codes(&d.post("/deployments/api/mkdir", json!({"path": "apps"})).await), (400, "CANNOT_CREATE_AT_ROOT".into()));
    d.write("file", "x");
    assert_eq!(codes(&d.post("/deployments/api/mkdir", json!({"path": "apps/file/x"})).await), (409, "NOT_A_DIRECTORY".into()));
    let res = d.call(Method::POST, "/deployments/api/mkdir", Some("application/json"), "{not json", "editor").await;
    assert_eq!(codes(&res), (400, "INVALID_BODY".into()));
}

#[tokio::test]
async fn delete_removes_files_and_folders_at_once_and_refuses_roots() {
    let d = sample().await;
    let res = d.json(Method::DELETE, "/deployments/api/delete", json!({"path": "apps/todo/1.0.0"})).await;
    assert_eq!(res.json(), json!({"success": true}));
    assert!(!d.apps.join("todo/1.0.0").exists());
    let res = d.call(Method::DELETE, "/deployments/api/delete?path=apps/notes.txt", None, "", "editor").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(!d.apps.join("notes.txt").exists());
    assert_eq!(codes(&d.json(Method::DELETE, "/deployments/api/delete", json!({"path": "apps/gone"})).await), (404, "FILE_NOT_FOUND".into()));
    assert_eq!(codes(&d.json(Method::DELETE, "/deployments/api/delete", json!({})).await), (400, "PATH_REQUIRED".into()));
    assert_eq!(codes(&d.json(Method::DELETE, "/deployments/api/delete", json!({"path": "apps"})).await), (400, "CANNOT_DELETE_ROOT".into()));
    assert_eq!(codes(&d.json(Method::DELETE, "/deployments/api/delete", json!({"path": "/"})).await), (400, "CANNOT_DELETE_ROOT".into()));
    // No staging folder is left behind.
    assert!(d.tree().iter().all(|p| !p.contains(".buntime-deploy-")), "{:?}", d.tree());
}

#[tokio::test]
async fn rename_never_replaces_and_validates_the_new_name() {
    let d = sample().await;
    let res = d.post("/deployments/api/rename", json!({"path": "apps/todo/2.0.0", "newName": "2.1.0"})).await;
    assert_eq!(res.json(), json!({"success": true, "data": {"path": "apps/todo/2.1.0"}}));
    assert_eq!(d.read("todo/2.1.0/index.ts"), "v2");
    let res = d.post("/deployments/api/rename", json!({"path": "apps/todo/2.1.0", "newName": "1.0.0"})).await;
    assert_eq!(codes(&res), (409, "ALREADY_EXISTS".into()));
    assert_eq!(d.read("todo/1.0.0/src/app.ts"), "1234567890");
    for bad in ["../x", "a/b", "..", "a\u{0}b", ""] {
        let res = d.post("/deployments/api/rename", json!({"path": "apps/todo/2.1.0", "newName": bad})).await;
        let expected = if bad.is_empty() { "PATH_AND_NAME_REQUIRED" } else { "INVALID_NAME" };
        assert_eq!(codes(&res), (400, expected.into()), "{bad:?}");
    }
    assert_eq!(codes(&d.post("/deployments/api/rename", json!({"path": "apps/todo"})).await), (400, "PATH_AND_NAME_REQUIRED".into()));
    assert_eq!(codes(&d.post("/deployments/api/rename", json!({"path": "apps", "newName": "x"})).await), (400, "CANNOT_RENAME_ROOT".into()));
    assert_eq!(codes(&d.post("/deployments/api/rename", json!({"path": "apps/none", "newName": "x"})).await), (404, "FILE_NOT_FOUND".into()));
    assert!(!d.dir.path().join("x").exists());
}

#[tokio::test]
async fn move_takes_items_of_a_version_into_a_version_of_the_same_root_only() {
    let d = sample().await;
    let res = d.post("/deployments/api/move", json!({"path": "apps/todo/1.0.0/src", "destPath": "apps/todo/2.0.0"})).await;
    assert_eq!(res.json(), json!({"success": true, "data": {"path": "apps/todo/2.0.0/src"}}));
    assert_eq!(d.read("todo/2.0.0/src/app.ts"), "1234567890");
    assert!(!d.apps.join("todo/1.0.0/src").exists());

    let mv = |path: &str, dest: &str| json!({"path": path, "destPath": dest});
    for (body, expected) in [
        (json!({"destPath": "apps/todo/2.0.0"}), (400, "PATH_REQUIRED")),
        (json!({"path": "apps/todo/2.0.0/src"}), (400, "DEST_PATH_REQUIRED")),
        (mv("apps", "apps/todo/2.0.0"), (400, "CANNOT_MOVE_ROOT")),
        (mv("apps/todo/2.0.0/src", "plugins/my-plugin"), (400, "CROSS_DIR_MOVE_NOT_SUPPORTED")),
        (mv("apps/todo/2.0.0", "apps/todo/1.0.0"), (400, "NOT_IN_VERSION")),
        (mv("apps/todo/2.0.0/src", "apps/todo"), (400, "DEST_NOT_IN_VERSION")),
        (mv("apps/todo/2.0.0/src", "apps/todo/2.0.0/src"), (400, "CANNOT_MOVE_INTO_ITSELF")),
        (mv("apps/todo/2.0.0/src", "apps/todo/2.0.0/src/deeper"), (400, "CANNOT_MOVE_INTO_ITSELF")),
        (mv("apps/todo/2.0.0/index.ts", "apps/todo/1.0.0"), (409, "ALREADY_EXISTS")),
        (mv("apps/todo/2.0.0/none", "apps/todo/1.0.0"), (404, "FILE_NOT_FOUND")),
        (mv("apps/todo/2.0.0/src", "apps/todo/3.0.0"), (404, "DEST_NOT_FOUND")),
    ] {
        let res = d.post("/deployments/api/move", body.clone()).await;
        assert_eq!(codes(&res), (expected.0, expected.1.to_owned()), "{body}");
    }
    assert_eq!(d.read("todo/2.0.0/src/app.ts"), "1234567890");
    assert_eq!(d.read("todo/1.0.0/index.ts"), "export default {}\n");
}

#[tokio::test]
async fn batches_report_each_failure_and_apply_the_rest() {
    let d = sample().await;
    d.write("todo/2.0.0/a.txt", "a");
    d.write("todo/2.0.0/b.txt", "b");
    let res = d.post("/deployments/api/move-batch", json!({"paths": ["apps/todo/2.0.0/a.txt", "apps/todo/2.0.0/../x", "apps/todo/2.0.0/b.txt"], "destPath": "apps/todo/1.0.0"})).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["success"], false);
    assert_eq!(res.json()["errors"], json!([{"path": "apps/todo/2.0.0/../x", "code": "INVALID_PATH", "message": res.json()["errors"][0]["message"]}]));
    assert_eq!(d.read("todo/1.0.0/a.txt"), "a");
    assert_eq!(d.read("todo/1.0.0/b.txt"), "b");
    let res = d.post("/deployments/api/delete-batch", json!({"paths": ["apps/todo/1.0.0/a.txt", "apps/todo/1.0.0/b.txt"]})).await;
    assert_eq!(res.json(), json!({"success": true}));
    assert!(!d.apps.join("todo/1.0.0/a.txt").exists());
    for (uri, body, code) in [
        ("/deployments/api/delete-batch", json!({}), "PATHS_REQUIRED"),
        ("/deployments/api/delete-batch", json!({"paths": []}), "PATHS_REQUIRED"),
        ("/deployments/api/delete-batch", json!({"paths": [1]}), "PATHS_REQUIRED"),
        ("/deployments/api/move-batch", json!({"destPath": "apps/todo/1.0.0"}), "PATHS_REQUIRED"),
        ("/deployments/api/move-batch", json!({"paths": ["apps/todo/2.0.0/index.ts"]}), "DEST_PATH_REQUIRED"),
    ] {
        assert_eq!(codes(&d.post(uri, body).await), (400, code.into()), "{uri}");
    }
    let res = d.post("/deployments/api/delete-batch", json!({"paths": ["apps", "apps/nope"]})).await;
    let errors: Vec<Value> = res.json()["errors"].as_array().unwrap().iter().map(|e| e["code"].clone()).collect();
    assert_eq!(errors, [json!("CANNOT_DELETE_ROOT"), json!("FILE_NOT_FOUND")]);
}

#[tokio::test]
async fn refresh_drops_cached_sizes() {
    let d = sample().await;
    let size = |res: &buntime_testkit::TestResponse| res.json()["data"]["entries"][0]["size"].clone();
    let before = size(&d.get("/deployments/api/list?path=apps").await);
    // A change the cache cannot see without a walk (a file rewritten two levels down).
    std::fs::write(d.apps.join("todo/1.0.0/src/app.ts"), "1").unwrap();
    assert_eq!(size(&d.get("/deployments/api/list?path=apps").await), before);
    assert_eq!(d.get("/deployments/api/refresh?path=apps/todo").await.json(), json!({"success": true}));
    assert_eq!(size(&d.get("/deployments/api/list?path=apps").await).as_u64().unwrap(), before.as_u64().unwrap() - 9);
    assert_eq!(d.post("/deployments/api/refresh", json!({})).await.json(), json!({"success": true}));
    assert_eq!(codes(&d.get("/deployments/api/refresh?path=apps/..").await), (400, "INVALID_PATH".into()));
}

#[tokio::test]
async fn every_path_parameter_refuses_traversal_and_nothing_outside_a_root_changes() {
    let d = sample().await;
    std::fs::write(d.dir.path().join("outside.txt"), "keep").unwrap();
    let before = d.tree();
    let bad = ["apps/../outside.txt", "apps/%2e%2e/outside.txt", "apps/todo/..%2f..%2foutside.txt", "apps/a\u{0}b", "apps\\..\\outside.txt", "../outside.txt"];
    for p in bad {
        let q: String = percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC).to_string();
        for uri in [format!("/deployments/api/list?path={q}"), format!("/deployments/api/download?path={q}"), format!("/deployments/api/refresh?path={q}")] {
            assert_eq!(codes(&d.get(&uri).await), (400, "INVALID_PATH".into()), "{uri}");
        }
        for (uri, body) in [
            ("/deployments/api/mkdir", json!({"path": p})),
            ("/deployments/api/rename", json!({"path": p, "newName": "x"})),
            ("/deployments/api/move", json!({"path": p, "destPath": "apps/todo/2.0.0"})),
            ("/deployments/api/move", json!({"path": "apps/todo/1.0.0/index.ts", "destPath": p})),
        ] {
            assert_eq!(codes(&d.post(uri, body.clone()).await), (400, "INVALID_PATH".into()), "{uri} {body}");
        }
        assert_eq!(codes(&d.json(Method::DELETE, "/deployments/api/delete", json!({"path": p})).await), (400, "INVALID_PATH".into()));
        let res = d.upload(Some(p), &[("a.txt", b"x", None)]).await;
        assert_eq!(codes(&res), (400, "INVALID_PATH".into()), "upload path {p:?}");
        let res = d.upload(Some("apps/todo/2.0.0"), &[("a.txt", b"x", Some(p.trim_start_matches("apps/")))]).await;
        assert_eq!(res.status, 400, "upload paths[] {p:?}: {}", res.text());
    }
    let res = d.get("/deployments/api/download-batch?paths=apps/../outside.txt").await;
    assert_eq!(codes(&res), (404, "NO_VALID_PATHS".into()));
    assert_eq!(d.tree(), before);
    assert_eq!(std::fs::read_to_string(d.dir.path().join("outside.txt")).unwrap(), "keep");
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_out_of_a_root_are_refused_for_reads_and_writes() {
    let d = sample().await;
    let secret = d.dir.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("key"), "s3cret").unwrap();
    std::os::unix::fs::symlink(&secret, d.apps.join("todo/2.0.0/link")).unwrap();
    for uri in ["/deployments/api/list?path=apps/todo/2.0.0/link", "/deployments/api/download?path=apps/todo/2.0.0/link/key", "/deployments/api/download?path=apps/todo/2.0.0/link"] {
        assert_eq!(codes(&d.get(uri).await), (403, "PATH_OUTSIDE_ROOT".into()), "{uri}");
    }
    let res = d.upload(Some("apps/todo/2.0.0/link"), &[("evil.txt", b"x", None)]).await;
    assert_eq!(codes(&res), (403, "PATH_OUTSIDE_ROOT".into()));
    assert_eq!(codes(&d.post("/deployments/api/mkdir", json!({"path": "apps/todo/2.0.0/link/sub"})).await), (403, "PATH_OUTSIDE_ROOT".into()));
    // The listing leaves the link out, and so does a zip of the version.
    assert!(!names(&d.get("/deployments/api/list?path=apps/todo/2.0.0").await).contains(&"link".to_owned()));
    let zip = d.get("/deployments/api/download?path=apps/todo/2.0.0").await;
    assert!(!support::py_unzip(&zip.body).keys().any(|k| k.contains("link")));
    assert_eq!(std::fs::read_dir(&secret).unwrap().count(), 1);
    // Deleting the link removes the link, not what it points to.
    assert_eq!(d.json(Method::DELETE, "/deployments/api/delete", json!({"path": "apps/todo/2.0.0/link"})).await.status, 200);
    assert_eq!(std::fs::read_to_string(secret.join("key")).unwrap(), "s3cret");
}

#[tokio::test]
async fn reads_need_the_viewer_role_and_writes_the_editor_role() {
    let d = sample().await;
    assert_eq!(d.call(Method::GET, "/deployments/api/list?path=apps", None, "", "viewer").await.status, 200);
    assert_eq!(d.call(Method::GET, "/deployments/api/download?path=apps/notes.txt", None, "", "viewer").await.status, 200);
    assert_eq!(d.call(Method::POST, "/deployments/api/refresh", None, "", "viewer").await.status, 200);
    let res = d.call(Method::POST, "/deployments/api/mkdir", Some("application/json"), r#"{"path":"apps/x"}"#, "viewer").await;
    assert_eq!(codes(&res), (403, "PERMISSION_DENIED".into()));
    let res = d.call(Method::DELETE, "/deployments/api/delete?path=apps/notes.txt", None, "", "viewer").await;
    assert_eq!(res.status, 403);
    assert!(d.apps.join("notes.txt").exists() && !d.apps.join("x").exists());
    assert_eq!(codes(&d.call(Method::GET, "/deployments/api/list", None, "", "none").await), (401, "AUTH_REQUIRED".into()));
    // A page the plugin does not serve is a plain 404 for anyone: signing in would not help.
    assert_eq!(d.call(Method::GET, "/deployments/apps", None, "", "none").await.status, 404);
    // Deeper too: the guard leaves paths no route claims to the UI.
    assert_eq!(d.call(Method::GET, "/deployments/apps/todo", None, "", "none").await.status, 404);
    // Without an access model (no HTTP server in front), every call is refused.
    let res = d.h.get("/deployments/api/list").await;
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["code"], "ACCESS_CONTROL_UNAVAILABLE");
}

#[tokio::test]
async fn menus_get_one_item_per_root() {
    let d = start("").await;
    let menus = &d.h.generation().plugins[0].menus;
    assert_eq!(menus[0]["path"], "/deployments");
    assert_eq!(menus[0]["items"], json!([
        {"title": "apps", "icon": "lucide:folder", "path": "/deployments/apps"},
        {"title": "plugins", "icon": "lucide:folder", "path": "/deployments/plugins"}
    ]));
}

#[tokio::test]
async fn roots_default_to_the_runtime_dirs() {
    // The harness runs the runtime with RUNTIME_WORKER_DIRS=<tmp>/apps, RUNTIME_PLUGIN_DIRS=<tmp>/plugins.
    let manifest = include_str!("../manifest.yaml");
    let h = buntime_testkit::PluginHarness::new(manifest, buntime_plugin_deployments::DeploymentsPlugin::new)
        .start()
        .await
        .unwrap();
    let mut req = http::Request::builder().uri("/deployments/api/list").body(axum::body::Body::empty()).unwrap();
    req.extensions_mut().insert(buntime_core::access::AccessGate(std::sync::Arc::new(support::FakeAccess)));
    let res = h.send(req).await;
    assert_eq!(res.status, 200, "{}", res.text());
    // The apps root does not exist yet; it is listed (and served) all the same.
    assert_eq!(names(&res), ["apps", "plugins"]);
    let logged = h.logs().lines().join("\n");
    assert!(logged.contains("deployments ready: roots apps"), "{logged}");
}

#[tokio::test]
async fn the_env_excludes_list_replaces_the_manifest_one() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    for f in ["app/1.0.0/dist/a.js", "app/1.0.0/.cache/c", "app/1.0.0/index.ts"] {
        let p = apps.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    let manifest = format!("{}\nworkerDirs: [{:?}]\n", include_str!("../manifest.yaml"), apps.display().to_string());
    let h = buntime_testkit::PluginHarness::new(&manifest, buntime_plugin_deployments::DeploymentsPlugin::new)
        .env("DEPLOYMENTS_EXCLUDES", "dist")
        .start()
        .await
        .unwrap();
    let mut req = http::Request::builder().uri("/deployments/api/list?path=apps/app/1.0.0").body(axum::body::Body::empty()).unwrap();
    req.extensions_mut().insert(buntime_core::access::AccessGate(std::sync::Arc::new(support::FakeAccess)));
    let res = h.send(req).await;
    assert_eq!(names(&res), [".cache", "index.ts"]);
}

#[tokio::test]
async fn every_write_announces_exactly_the_paths_it_changed_to_the_app_backend() {
    let backend = std::sync::Arc::new(support::FakeApps::default());
    let d = support::start_with("", Some(backend.clone())).await;
    d.write("todo/1.0.0/index.ts", "1");
    d.write("todo/1.0.0/src/a.ts", "a");
    d.write("other/1.0.0/index.ts", "o");
    let apps = d.apps.clone();
    let last = || backend.changed.lock().unwrap().last().cloned().unwrap_or_default();

    // A new app uploaded into the root: only its own folder changed, not every app's.
    let res = d.upload(Some("apps"), &[("index.ts", b"n", Some("new/1.0.0/index.ts"))]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(last(), [apps.join("new")]);
    assert_eq!(d.post("/deployments/api/mkdir", json!({"path": "apps/todo/2.0.0"})).await.status, 200);
    assert_eq!(last(), [apps.join("todo/2.0.0")]);
    assert_eq!(d.post("/deployments/api/move", json!({"path": "apps/todo/1.0.0/src", "destPath": "apps/todo/2.0.0"})).await.status, 200);
    assert_eq!(last(), [apps.join("todo/1.0.0/src"), apps.join("todo/2.0.0/src")]);
    assert_eq!(d.post("/deployments/api/rename", json!({"path": "apps/todo/2.0.0", "newName": "3.0.0"})).await.status, 200);
    assert_eq!(last(), [apps.join("todo/2.0.0"), apps.join("todo/3.0.0")]);
    assert_eq!(d.json(Method::DELETE, "/deployments/api/delete", json!({"path": "apps/todo/1.0.0"})).await.status, 200);
    assert_eq!(last(), [apps.join("todo/1.0.0")]);
    // Reads and refused writes announce nothing.
    let before = backend.changed.lock().unwrap().len();
    d.get("/deployments/api/list?path=apps").await;
    d.post("/deployments/api/mkdir", json!({"path": "apps"})).await;
    assert_eq!(backend.changed.lock().unwrap().len(), before);
}
