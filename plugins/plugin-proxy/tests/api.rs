//! The rules API with KeyVal behind it: every status code of the spec, rules used right after
//! they are created, and rules that survive a new generation.

mod support;

use http::Method;
use serde_json::{Value, json};
use support::{call, start_with_keyval, upstream};

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn rules_are_created_used_changed_reordered_toggled_and_deleted() {
    let up = upstream().await;
    let state = tempfile::tempdir().unwrap();
    let h = start_with_keyval(
        state.path(),
        "rules:\n  - { pattern: \"^/fixed\", target: \"http://127.0.0.1:9\" }\n",
    )
    .await;
    let api = "/redirects/api/rules";

    // Creation: required fields and a valid regex.
    let res = call(&h, Method::POST, api, Some(json!({"target": "http://x"}))).await;
    assert_eq!(
        (res.status.as_u16(), res.json()["field"].clone()),
        (400, json!("pattern"))
    );
    let res = call(&h, Method::POST, api, Some(json!({"pattern": "^/a"}))).await;
    assert_eq!(
        (res.status.as_u16(), res.json()["field"].clone()),
        (400, json!("target"))
    );
    let res = call(
        &h,
        Method::POST,
        api,
        Some(json!({"pattern": "(?<x", "target": "http://x"})),
    )
    .await;
    assert_eq!(
        (res.status.as_u16(), res.json()["error"].clone()),
        (400, json!("Invalid regex pattern"))
    );
    let res = call(
        &h,
        Method::POST,
        api,
        Some(json!({"pattern": "^/a", "target": "http://x", "headers": {"x": 1}})),
    )
    .await;
    assert_eq!(
        (res.status.as_u16(), res.json()["field"].clone()),
        (400, json!("headers.x"))
    );

    let res = call(&h, Method::POST, api, Some(json!({"name": "one", "pattern": "^/one(/.*)?$", "target": format!("http://{up}"), "rewrite": "/echo$1"}))).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let one = res.json();
    assert_eq!(
        (
            one["order"].clone(),
            one["readonly"].clone(),
            one["ws"].clone(),
            one["secure"].clone()
        ),
        (json!(0), json!(false), json!(true), json!(true))
    );
    let one_id = one["id"].as_str().unwrap().to_owned();
    assert_eq!(one_id.len(), 36, "a UUID");
    let two = call(&h, Method::POST, api, Some(json!({"name": "two", "pattern": "^/one", "target": format!("http://{up}"), "rewrite": "/echo/two"}))).await.json();
    assert_eq!(two["order"], 1);
    let two_id = two["id"].as_str().unwrap().to_owned();

    // Used at once; the first by order wins.
    assert_eq!(h.get("/one/x?q=1").await.json()["uri"], "/echo/x?q=1");

    // Reads.
    assert_eq!(
        ids(&call(&h, Method::GET, api, None).await.json()),
        ["static-0", one_id.as_str(), two_id.as_str()]
    );
    assert_eq!(
        call(&h, Method::GET, &format!("{api}/{two_id}"), None)
            .await
            .json()["name"],
        "two"
    );
    let res = call(&h, Method::GET, &format!("{api}/nope"), None).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (404, json!({"error": "Rule not found"}))
    );

    // Static rules are read-only.
    for (method, path) in [
        (Method::PUT, format!("{api}/static-0")),
        (Method::PATCH, format!("{api}/static-0/toggle")),
        (Method::DELETE, format!("{api}/static-0")),
    ] {
        let res = call(&h, method.clone(), &path, Some(json!({"name": "x"}))).await;
        assert_eq!(res.status, 403, "{method} {path}");
        assert!(
            res.json()["error"].as_str().unwrap().starts_with("Cannot "),
            "{}",
            res.text()
        );
    }
    assert_eq!(
        call(&h, Method::PUT, &format!("{api}/static-0"), Some(json!({})))
            .await
            .json()["error"],
        "Cannot modify static rules"
    );

    // Partial update keeps id and order, re-validates.
    let res = call(
        &h,
        Method::PUT,
        &format!("{api}/{one_id}"),
        Some(json!({"name": "renamed", "id": "hijack", "order": 99})),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        (
            res.json()["name"].clone(),
            res.json()["id"].clone(),
            res.json()["order"].clone()
        ),
        (json!("renamed"), json!(one_id), json!(0))
    );
    assert_eq!(
        call(
            &h,
            Method::PUT,
            &format!("{api}/{one_id}"),
            Some(json!({"pattern": "["}))
        )
        .await
        .status,
        400
    );
    assert_eq!(
        call(&h, Method::PUT, &format!("{api}/nope"), Some(json!({})))
            .await
            .status,
        404
    );

    // Reorder: every dynamic id exactly once.
    let reorder = |ids: Value| {
        call(
            &h,
            Method::PUT,
            "/redirects/api/rules/reorder",
            Some(json!({ "ids": ids })),
        )
    };
    assert_eq!(reorder(json!([two_id])).await.status, 400, "a missing id");
    assert_eq!(
        reorder(json!([two_id, two_id])).await.status,
        400,
        "a repeated id"
    );
    assert_eq!(reorder(json!([two_id, "nope"])).await.status, 404);
    assert_eq!(
        reorder(json!(["static-0", two_id, one_id])).await.status,
        403
    );
    let res = reorder(json!([two_id, one_id])).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        ids(&res.json()),
        ["static-0", two_id.as_str(), one_id.as_str()]
    );
    assert_eq!(
        h.get("/one/x").await.json()["uri"],
        "/echo/two",
        "the new first rule serves"
    );

    // Toggle off: the other rule serves.
    let res = call(&h, Method::PATCH, &format!("{api}/{two_id}/toggle"), None).await;
    assert_eq!(res.json()["enabled"], false);
    assert_eq!(h.get("/one/x").await.json()["uri"], "/echo/x");

    // Writes need the gate's permission.
    let mut req = http::Request::builder()
        .method(Method::DELETE)
        .uri(format!("{api}/{one_id}"))
        .header("x-test-deny", "1")
        .body(axum::body::Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(buntime_core::access::AccessGate(std::sync::Arc::new(
            support::FakeAccess,
        )));
    let res = h.send(req).await;
    assert_eq!(
        (res.status.as_u16(), res.text()),
        (403, "denied: needs plugins:config".to_owned())
    );
    // The guard covers the API routes only: the UI's paths fall through (to the runtime, which
    // serves the page; 404 in this harness) instead of being refused to a caller without a key.
    for path in ["/redirects", "/redirects/index.js"] {
        let mut req = http::Request::get(path).header("x-test-deny", "1").body(axum::body::Body::empty()).unwrap();
        req.extensions_mut().insert(buntime_core::access::AccessGate(std::sync::Arc::new(support::FakeAccess)));
        assert_eq!(h.send(req).await.status, 404, "{path}");
    }

    // The rules are in KeyVal: a new generation (same state dir) loads them in order.
    drop(h.shutdown().await);
    let h = start_with_keyval(state.path(), "rules: []\n").await;
    let listed = call(&h, Method::GET, api, None).await.json();
    assert_eq!(ids(&listed), [two_id.as_str(), one_id.as_str()]);
    assert_eq!(listed[0]["enabled"], false);
    assert_eq!(h.get("/one/y").await.json()["uri"], "/echo/y");

    let res = call(&h, Method::DELETE, &format!("{api}/{one_id}"), None).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"success": true}))
    );
    assert_eq!(
        call(&h, Method::DELETE, &format!("{api}/{one_id}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        h.get("/one/y").await.status,
        404,
        "no enabled rule left for the path"
    );
}
