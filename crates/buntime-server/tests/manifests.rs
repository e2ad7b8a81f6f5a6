//! Manifest parsing cannot stall the runtime, and mistakes get clear answers: deep YAML is refused
//! fast while other requests are served, uploads say what is wrong with their manifest, deletes
//! and uploads never remove something else silently, and API errors are JSON.

mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use support::{Fixture, Got, get, send};

const BOUNDARY: &str = "XbuntimeX";
/// Deep enough that the YAML parser alone takes tens of seconds (it is quadratic in depth).
const DEPTH: usize = 100_000;

fn deep_yaml(head: &str) -> String {
    format!("{head}x: {}{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH))
}

/// A `.tgz` of `package/<name>` files.
fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best()));
    for (name, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("package/{name}"), body.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

async fn upload(h: &buntime_server::RuntimeHandle, kind: &str, archive: &[u8]) -> Got {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.tgz\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(archive);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let req = http::Request::post(format!("{}/api/{kind}/upload", h.url()))
        .header("origin", h.url())
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(body))
        .unwrap();
    send(req).await
}

async fn delete(h: &buntime_server::RuntimeHandle, path: &str) -> Got {
    send(http::Request::delete(format!("{}{path}", h.url())).header("origin", h.url()).body(Body::empty()).unwrap()).await
}

fn message(got: &Got) -> String {
    got.json()["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_app_manifest_is_refused_fast_and_not_parsed_per_request() {
    let f = Fixture::new();
    f.file("apps/deep/manifest.yaml", &deep_yaml("timeout: 5\n")).file("apps/deep/index.ts", "");
    f.file("apps/spa/index.html", "<html><head></head><body>spa</body></html>");
    // Compare files on every request, so only a change can make the manifest parse again.
    let (h, apps) = f.start_with_apps(&[("RUNTIME_WORKER_CONFIG_CACHE_TTL_MS", "0")]).await;
    let started = Instant::now();
    let (deep, spa) = tokio::join!(get(&h, "/deep"), get(&h, "/spa"));
    assert_eq!(spa.status, 200, "{}", spa.body);
    assert_eq!((deep.status, deep.json()["code"].as_str()), (500, Some("INVALID_WORKER_CONFIG")), "{}", deep.body);
    let m = message(&deep);
    assert!(m.contains("deep/manifest.yaml") && m.contains("nests deeper than 64 levels"), "{m}");
    // Generous: the refusal takes microseconds; parsing takes tens of seconds.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    for _ in 0..5 {
        assert_eq!(get(&h, "/deep").await.status, 500);
        assert_eq!(get(&h, "/spa").await.status, 200);
    }
    assert_eq!(apps.config_loads(), 2, "one load per app: unchanged manifests are not parsed again");
    f.file("apps/deep/manifest.yaml", "timeout: 5\n");
    let fixed = get(&h, "/deep").await;
    assert_ne!(fixed.json()["code"].as_str(), Some("INVALID_WORKER_CONFIG"), "a changed manifest is read again: {}", fixed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_with_a_deeply_nested_manifest_is_refused_fast_naming_the_file() {
    let f = Fixture::new();
    let h = f.start().await;
    let archive = tgz(&[("manifest.yaml", &deep_yaml("name: bomb\n"))]);
    assert!(archive.len() < 1024, "the attack is a small upload: {} bytes", archive.len());
    for kind in ["apps", "plugins"] {
        let started = Instant::now();
        let (res, health) = tokio::join!(upload(&h, kind, &archive), get(&h, "/api/health"));
        assert_eq!(health.status, 200);
        assert_eq!((res.status, res.json()["code"].as_str()), (400, Some("INVALID_MANIFEST")), "{kind}: {}", res.body);
        let m = message(&res);
        assert!(m.contains("`manifest.yaml`") && m.contains("nests deeper than 64 levels"), "{kind}: {m}");
        assert!(started.elapsed() < Duration::from_secs(10), "{kind}: {:?}", started.elapsed());
    }
    assert!(!f.root.path().join("apps/bomb").exists() && !f.root.path().join("plugins/bomb").exists());
}

#[tokio::test]
async fn a_plugin_upload_with_bad_yaml_says_so_with_the_parsers_position() {
    let f = Fixture::new();
    let h = f.start().await;
    let res = upload(&h, "plugins", &tgz(&[("manifest.yaml", "name: p\nbase: [oops\n")])).await;
    assert_eq!((res.status, res.json()["code"].as_str()), (400, Some("INVALID_MANIFEST")), "{}", res.body);
    let m = message(&res);
    assert!(m.contains("`manifest.yaml` is not valid YAML") && m.contains("line 3 column 1"), "{m}");
    let dup = upload(&h, "plugins", &tgz(&[("manifest.yaml", "name: p\nname: q\n")])).await;
    assert_eq!(dup.json()["code"].as_str(), Some("INVALID_MANIFEST"), "{}", dup.body);
    assert!(message(&dup).contains("key `name` appears twice"), "{}", dup.body);
}

#[tokio::test]
async fn a_plugin_upload_never_replaces_another_plugins_directory() {
    let f = Fixture::new();
    f.plugin("hello", "name: \"@acme/plugin-hello\"\n");
    f.plugin("same", "name: same\nversion: \"1\"\n");
    let h = f.start().await;
    let res = upload(&h, "plugins", &tgz(&[("manifest.yaml", "name: hello\n"), ("plugin.ts", "")])).await;
    assert_eq!((res.status, res.json()["code"].as_str()), (409, Some("PLUGIN_CONFLICT")), "{}", res.body);
    let m = message(&res);
    assert!(m.contains("plugin `@acme/plugin-hello`") && m.contains("plugin `hello`"), "{m}");
    let kept = std::fs::read_to_string(f.root.path().join("plugins/hello/manifest.yaml")).unwrap();
    assert!(kept.contains("@acme/plugin-hello"), "{kept}");
    // The same plugin may be replaced.
    let same = upload(&h, "plugins", &tgz(&[("manifest.yaml", "name: same\nversion: \"2\"\n")])).await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert!(std::fs::read_to_string(f.root.path().join("plugins/same/manifest.yaml")).unwrap().contains("\"2\""));
}

#[tokio::test]
async fn deleting_an_app_needs_an_at_scope_or_underscore() {
    let f = Fixture::new();
    f.file("apps/todo/index.html", "<html></html>");
    let h = f.start().await;
    for scope in ["acme", "x", "scope"] {
        let res = delete(&h, &format!("/api/apps/{scope}/todo")).await;
        assert_eq!((res.status, res.json()["code"].as_str()), (400, Some("INVALID_SCOPE")), "{}", res.body);
        let m = message(&res);
        assert!(m.contains(&format!("`{scope}` is not a scope")) && m.contains("`@scope`") && m.contains("`_`"), "{m}");
        assert!(f.root.path().join("apps/todo").exists(), "the unscoped app must survive");
    }
    assert_eq!(delete(&h, "/api/apps/acme/todo/1.0.0").await.status, 400);
    assert_eq!(delete(&h, "/api/apps/_/todo").await.status, 200);
    assert!(!f.root.path().join("apps/todo").exists());
}

#[tokio::test]
async fn a_flat_and_a_nested_dir_of_one_version_answer_500_naming_both() {
    let f = Fixture::new();
    f.file("apps/dup@1.0.0/index.html", "<html>flat</html>").file("apps/dup/1.0.0/index.html", "<html>nested</html>");
    let h = f.start().await;
    for path in ["/dup", "/dup@1.0.0"] {
        let res = get(&h, path).await;
        assert_eq!((res.status, res.json()["code"].as_str()), (500, Some("APP_KEY_COLLISION")), "{path}: {}", res.body);
        let m = message(&res);
        assert!(m.contains("apps/dup@1.0.0") && m.contains("apps/dup/1.0.0"), "{path}: {m}");
    }
}

#[tokio::test]
async fn api_errors_from_extractors_are_json() {
    let f = Fixture::new();
    let h = f.start().await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(3 * 1024 * 1024));
    let req = http::Request::post(format!("{}/api/keys", h.url()))
        .header("origin", h.url())
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status, 413, "{}", &res.body[..res.body.len().min(200)]);
    assert_eq!(res.headers["content-type"], "application/json");
    let json = res.json();
    assert_eq!((json["success"].as_bool(), json["code"].as_str()), (Some(false), Some("PAYLOAD_TOO_LARGE")), "{}", res.body);
    assert!(json["message"].as_str().is_some_and(|m| m.contains("length limit")), "{}", res.body);
    let wrong_method = send(http::Request::put(format!("{}/api/health", h.url())).header("origin", h.url()).body(Body::empty()).unwrap()).await;
    assert_eq!((wrong_method.status, wrong_method.json()["code"].as_str()), (405, Some("METHOD_NOT_ALLOWED")), "{}", wrong_method.body);
    assert!(wrong_method.headers.contains_key("allow"));
}

#[tokio::test]
async fn uploads_beyond_the_concurrency_cap_are_refused_before_their_body_is_read() {
    use tokio::io::AsyncWriteExt as _;
    let f = Fixture::new();
    let h = f.start_with(&[("RUNTIME_MAX_UPLOADS", "1")]).await;
    // A slow client holds the only slot: headers and the start of a 99 MB body.
    let mut slow = tokio::net::TcpStream::connect(h.url().trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /api/apps/upload HTTP/1.1\r\nHost: x\r\nOrigin: {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 99000000\r\n\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.tgz\"\r\n\r\n",
        h.url()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&[0u8; 64 * 1024]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let refused = upload(&h, "apps", &tgz(&[("manifest.yaml", "name: a\nversion: 1.0.0\n")])).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.json()["code"], "TOO_MANY_UPLOADS");
    assert_eq!(refused.headers["retry-after"], "5");
    // The slot comes back when the slow client goes away.
    drop(slow);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ok = upload(&h, "apps", &tgz(&[("package.json", r#"{"name":"a","version":"1.0.0"}"#), ("index.ts", "export default {fetch(){return new Response('a')}}")])).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}
