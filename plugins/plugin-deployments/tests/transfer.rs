//! Uploads (files, folders, zips written by Python's `zipfile`) and downloads (files, folders and
//! batches streamed as zip, read back by Python), with zip-slip, zip bombs and concurrency.

mod support;

use http::Method;
use serde_json::json;
use support::{py_unzip, py_zip, start};

fn codes(res: &buntime_testkit::TestResponse) -> (u16, String) {
    (res.status.as_u16(), res.json()["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn files_and_folders_upload_into_place_with_their_relative_paths() {
    let d = start("").await;
    let res = d.upload(Some("apps/todo/1.0.0"), &[("index.ts", b"export default 1", Some("index.ts")), ("app.ts", b"app", Some("src/app.ts"))]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), json!({"success": true, "data": {"path": "apps/todo/1.0.0", "files": ["apps/todo/1.0.0/index.ts", "apps/todo/1.0.0/src/app.ts"]}}));
    assert_eq!(d.read("todo/1.0.0/src/app.ts"), "app");
    // Without `paths[]`, the file name is used; an existing file is replaced.
    let res = d.upload(Some("apps/todo/1.0.0"), &[("index.ts", b"v2", None)]).await;
    assert_eq!(res.status, 200);
    assert_eq!(d.read("todo/1.0.0/index.ts"), "v2");
    assert!(d.tree().iter().all(|p| !p.contains(".buntime-deploy-")), "{:?}", d.tree());
}

#[tokio::test]
async fn upload_errors_name_what_is_missing_and_write_nothing() {
    let d = start("").await;
    let before = d.tree();
    assert_eq!(codes(&d.upload(Some("apps/x"), &[]).await), (400, "NO_FILES_PROVIDED".into()));
    assert_eq!(codes(&d.upload(None, &[("a.txt", b"x", None)]).await), (400, "CANNOT_UPLOAD_TO_ROOT".into()));
    assert_eq!(codes(&d.upload(Some(""), &[("a.txt", b"x", None)]).await), (400, "CANNOT_UPLOAD_TO_ROOT".into()));
    let res = d.call(Method::POST, "/deployments/api/upload", Some("application/json"), "{}", "editor").await;
    assert_eq!(codes(&res), (400, "NO_FILES_PROVIDED".into()));
    // A file where a folder is needed: checked before anything moves.
    d.write("app/1.0.0/src", "a file");
    let before_conflict = d.tree();
    let res = d.upload(Some("apps/app/1.0.0"), &[("ok.txt", b"x", Some("ok.txt")), ("b.ts", b"x", Some("src/b.ts"))]).await;
    assert_eq!(codes(&res), (409, "NOT_A_DIRECTORY".into()));
    assert_eq!(d.tree(), before_conflict);
    std::fs::remove_file(d.apps.join("app/1.0.0/src")).unwrap();
    std::fs::remove_dir_all(d.apps.join("app")).unwrap();
    assert_eq!(d.tree(), before);
}

#[tokio::test]
async fn a_zip_is_extracted_in_place_and_a_zip_slip_or_bomb_writes_nothing() {
    let d = start("zipMaxBytes: 1mb\nzipMaxEntries: 20\n").await;
    let zip = py_zip(&[("index.ts", "export default {}"), ("src/", ""), ("src/a.ts", "a"), ("static/css/x.css", "body{}")], None);
    let res = d.upload(Some("apps/todo/1.0.0"), &[("bundle.zip", &zip, None)]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(d.read("todo/1.0.0/index.ts"), "export default {}");
    assert_eq!(d.read("todo/1.0.0/static/css/x.css"), "body{}");
    assert!(!d.apps.join("todo/1.0.0/bundle.zip").exists());

    let before = d.tree();
    for (name, zip, code, status) in [
        ("slip.zip", py_zip(&[("ok.txt", "x"), ("../../evil.txt", "evil")], None), "ZIP_UNSAFE_ENTRY", 400),
        ("abs.zip", py_zip(&[("/tmp/evil.txt", "evil")], None), "ZIP_UNSAFE_ENTRY", 400),
        ("bs.zip", py_zip(&[("..\\evil.txt", "evil")], None), "ZIP_UNSAFE_ENTRY", 400),
        ("bomb.zip", py_zip(&[("ok.txt", "x")], Some(("zeros.bin", 0, 50 * 1024 * 1024))), "ZIP_TOO_LARGE", 413),
        ("many.zip", py_zip(&(0..30).map(|i| (Box::leak(format!("f{i}").into_boxed_str()) as &str, "x")).collect::<Vec<_>>(), None), "ZIP_TOO_LARGE", 413),
        ("junk.zip", b"this is not a zip".to_vec(), "INVALID_ZIP", 400),
    ] {
        let res = d.upload(Some("apps/todo/1.0.0"), &[("first.txt", b"would land", None), (name, &zip, None)]).await;
        assert_eq!(codes(&res), (status, code.to_owned()), "{name}: {}", res.text());
        assert!(res.json()["message"].as_str().unwrap().contains(name), "{}", res.text());
    }
    assert_eq!(d.tree(), before);
    assert!(!d.dir.path().join("evil.txt").exists());
}

#[tokio::test]
async fn concurrent_uploads_to_one_version_each_land_whole() {
    let d = start("").await;
    let a: Vec<u8> = vec![b'a'; 300_000];
    let b: Vec<u8> = vec![b'b'; 300_000];
    let fa: &[support::Upload<'_>] = &[("one", &a, None), ("two", &a, None)];
    let fb: &[support::Upload<'_>] = &[("one", &b, None), ("two", &b, None)];
    let (ra, rb) = tokio::join!(d.upload(Some("apps/app/1.0.0"), fa), d.upload(Some("apps/app/1.0.0"), fb));
    assert_eq!((ra.status.as_u16(), rb.status.as_u16()), (200, 200));
    let (one, two) = (d.read("app/1.0.0/one"), d.read("app/1.0.0/two"));
    // Each file is whole, and both come from the upload applied last.
    assert!(one == two && (one.bytes().all(|c| c == b'a') || one.bytes().all(|c| c == b'b')));
    assert_eq!(one.len(), 300_000);
}

#[tokio::test]
async fn files_download_as_is_and_folders_and_batches_as_zips_python_reads() {
    let d = start("").await;
    d.write("todo/1.0.0/manifest.yaml", "excludes: [secret.env]\n");
    d.write("todo/1.0.0/index.ts", &"export const x = 1;\n".repeat(500));
    d.write("todo/1.0.0/src/a.ts", "a");
    d.write("todo/1.0.0/logo.png", "png-bytes");
    d.write("todo/1.0.0/secret.env", "TOKEN=1");
    d.write("todo/1.0.0/.git/HEAD", "ref");
    d.write("todo/1.0.0/.dirinfo", "{}");
    d.write("notes.txt", "hello");

    let res = d.get("/deployments/api/download?path=apps/notes.txt").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "hello");
    assert_eq!(res.headers["content-length"], "5");
    assert_eq!(res.headers["content-disposition"], "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes%2Etxt");

    let res = d.get("/deployments/api/download?path=apps/todo/1.0.0").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["content-type"], "application/zip");
    assert!(res.headers["content-disposition"].to_str().unwrap().contains("filename=\"1.0.0.zip\""));
    let files = py_unzip(&res.body);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["index.ts", "logo.png", "manifest.yaml", "src/", "src/a.ts"]);
    assert_eq!(files["index.ts"], "export const x = 1;\n".repeat(500));

    let res = d.get("/deployments/api/download-batch?paths=apps/notes.txt,apps/todo/1.0.0/src,apps/missing,apps/../x").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let files = py_unzip(&res.body);
    assert_eq!(files.keys().map(String::as_str).collect::<Vec<_>>(), ["notes.txt", "src/", "src/a.ts"]);
    assert!(res.headers["content-disposition"].to_str().unwrap().contains("download.zip"));

    for (uri, expected) in [
        ("/deployments/api/download", (400, "PATH_REQUIRED")),
        ("/deployments/api/download?path=apps", (400, "CANNOT_DOWNLOAD_ROOT")),
        ("/deployments/api/download?path=apps/none", (404, "FILE_NOT_FOUND")),
        ("/deployments/api/download?path=nope/x", (404, "FILE_NOT_FOUND")),
        ("/deployments/api/download-batch", (400, "PATHS_REQUIRED")),
        ("/deployments/api/download-batch?paths=apps/none,apps", (404, "NO_VALID_PATHS")),
    ] {
        assert_eq!(codes(&d.get(uri).await), (expected.0, expected.1.to_owned()), "{uri}");
    }
}

#[tokio::test]
async fn a_downloaded_folder_uploads_back_as_the_same_tree() {
    let d = start("").await;
    d.write("app/1.0.0/index.ts", "i");
    d.write("app/1.0.0/deep/er/x.txt", "x");
    let zip = d.get("/deployments/api/download?path=apps/app/1.0.0").await.body;
    let res = d.upload(Some("apps/app/2.0.0"), &[("v1.zip", &zip, None)]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(d.read("app/2.0.0/deep/er/x.txt"), "x");
    assert_eq!(d.read("app/2.0.0/index.ts"), "i");
}

#[tokio::test]
async fn uploads_past_the_runtime_default_body_limit_pass_up_to_max_upload_size() {
    let d = start("maxUploadSize: 12mb\n").await;
    let big = vec![b'x'; 11 * 1024 * 1024];
    let res = d.upload(Some("apps/big/1.0.0"), &[("big.bin", &big, None)]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(std::fs::metadata(d.apps.join("big/1.0.0/big.bin")).unwrap().len(), big.len() as u64);
    let before = d.tree();
    let too_big = vec![b'y'; 13 * 1024 * 1024];
    let res = d.upload(Some("apps/big/1.0.0"), &[("big.bin", &too_big, None)]).await;
    assert_eq!(codes(&res), (413, "PAYLOAD_TOO_LARGE".into()), "{}", res.text());
    assert_eq!(d.tree(), before);
    assert_eq!(std::fs::metadata(d.apps.join("big/1.0.0/big.bin")).unwrap().len(), big.len() as u64);
}
