//! `Apps` behind the core pipeline: routing, body limits, broken manifests and missing pools.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use buntime_apps::backend::Apps;
use buntime_core::pipeline::Pipeline;
use buntime_core::{Env, Generation, RuntimeConfig};
use http::StatusCode;
use http_body_util::BodyExt;

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

fn pipeline(root: &Path) -> Pipeline {
    let env = Env::from_pairs([
        ("RUNTIME_WORKER_DIRS", root.join("apps").to_string_lossy().into_owned()),
        ("RUNTIME_PLUGIN_DIRS", root.join("plugins").to_string_lossy().into_owned()),
    ]);
    let config = RuntimeConfig::from_env(&env, root).unwrap();
    Pipeline { apps: Some(Arc::new(Apps::new(Arc::new(config), Arc::new(env), None))) }
}

async fn send(p: &Pipeline, method: &str, uri: &str, body: &'static str) -> (StatusCode, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("x-request-id", "test")
        .header("accept", "text/html")
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap();
    let res = p.handle(Arc::new(Generation::empty()), req).await;
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn apps_are_routed_limited_and_failures_answer_json() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "apps/spa/index.html", "<html><head></head><body>spa</body></html>");
    write(tmp.path(), "apps/spa/manifest.yaml", "injectBase: true\nmaxBodySize: 4");
    write(tmp.path(), "apps/todo/index.ts", "export default {}");
    write(tmp.path(), "apps/bad/index.ts", "");
    write(tmp.path(), "apps/bad/manifest.yml", "ttl: 5\ntimeout: 30");
    let p = pipeline(tmp.path());

    let (status, body) = send(&p, "GET", "/spa/some/route", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<base href=\"/spa/\" />"), "{body}");
    assert_eq!(send(&p, "GET", "/spa/missing.js", "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&p, "POST", "/spa/x", "too long").await.0, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, body) = send(&p, "GET", "/todo/x", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("WORKER_POOL_UNAVAILABLE"), "{body}");

    let (status, body) = send(&p, "GET", "/bad", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("INVALID_WORKER_CONFIG") && body.contains("manifest.yml") && body.contains("`ttl`"), "{body}");

    assert_eq!(send(&p, "GET", "/nothing-here", "").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_repository_example_apps_resolve() {
    use buntime_core::AppBackend;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env = Env::from_pairs([("RUNTIME_WORKER_DIRS", repo.join("apps").to_string_lossy().into_owned())]);
    let config = RuntimeConfig::from_env(&env, &repo).unwrap();
    let apps = Apps::new(Arc::new(config), Arc::new(env), None);
    for (path, version) in [("/hello-app", None), ("/greeter", Some("2.1.0")), ("/greeter@1", Some("1.0.0")), ("/spa", None)] {
        let app = apps.resolve(path).await.unwrap().unwrap_or_else(|| panic!("{path} did not resolve"));
        assert!(app.info.config.is_object(), "{path}: {:?}", app.info);
        if let Some(v) = version {
            assert_eq!(app.info.version, v, "{path}");
        }
    }
    let p = Pipeline { apps: Some(Arc::new(apps)) };
    let (status, body) = send(&p, "GET", "/spa/", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("window.__env__=") && body.contains("<base href=\"/spa/\" />"), "{body}");
}
