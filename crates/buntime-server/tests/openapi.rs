//! The OpenAPI document: valid 3.1, and in step with the routes the server mounts.

mod support;

use axum::body::Body;
use support::{Fixture, get, send};

fn operations(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_with_metadata() {
    let f = Fixture::new();
    let h = f.start().await;
    let res = get(&h, "/api/openapi.json").await;
    assert_eq!(res.status, 200);
    let spec = oas3::from_json(&res.body).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    assert_eq!(spec.info.title, "Buntime API");
    assert_eq!(spec.servers[0].url, "/api");
    let doc = res.json();
    assert_eq!(doc["info"]["contact"], serde_json::json!({"name": "Buntime"}), "this project's own contact, no library default");
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        assert!(op["summary"].is_string(), "{method} {path} has no summary");
        assert!(op["tags"][0].is_string(), "{method} {path} has no tag");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} documents no response");
    }
}

#[tokio::test]
async fn every_documented_operation_is_mounted_and_the_core_routes_are_documented() {
    let f = Fixture::new();
    let h = f.start().await;
    let doc = get(&h, "/api/openapi.json").await.json();
    let ops = operations(&doc);
    for expected in [("GET", "/health"), ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/plugins"), ("GET", "/plugins/loaded"), ("POST", "/plugins/reload"), ("GET", "/openapi.json"), ("GET", "/docs")] {
        assert!(ops.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} missing from {ops:?}");
    }
    for (method, path) in &ops {
        // Path parameters get a placeholder value; the route must exist (no API fallback answer).
        let concrete = regex_lite_replace(path);
        let req = http::Request::builder()
            .method(method.as_str())
            .uri(format!("{}/api{concrete}", h.url()))
            .header("origin", h.url())
            .body(Body::empty())
            .unwrap();
        let res = send(req).await;
        assert_ne!(res.json()["code"], "NO_SUCH_API_ROUTE", "{method} {path} is documented but not mounted");
        assert_ne!(res.status, 405, "{method} {path} is documented but mounted for another method");
    }
    // And an undocumented path is not routed.
    assert_eq!(get(&h, "/api/not-a-route").await.json()["code"], "NO_SUCH_API_ROUTE");
}

fn regex_lite_replace(path: &str) -> String {
    path.split('/').map(|seg| if seg.starts_with('{') { "x" } else { seg }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn the_docs_page_lists_every_operation() {
    let f = Fixture::new();
    let h = f.start().await;
    let doc = get(&h, "/api/openapi.json").await.json();
    let page = get(&h, "/api/docs").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.body.contains("<title>Buntime API Docs</title>"));
    for (method, path) in operations(&doc) {
        assert!(page.body.contains(&format!("<span class=\"m\">{method}</span><code>/api{path}</code>")), "{method} {path} not on the page");
    }
}
