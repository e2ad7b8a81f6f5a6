//! The proxy in the test kit, against a real upstream on 127.0.0.1: static rules, rewriting,
//! headers both ways, HTML rewriting, 502 / 504 JSON, and bad manifests.

mod support;

use http::Method;
use serde_json::json;
use support::{call, closed_port, start, upstream};

#[tokio::test]
async fn a_static_rule_rewrites_the_path_keeps_the_query_and_sets_headers() {
    let up = upstream().await;
    let h = start(&format!(
        "rules:\n  - pattern: \"^/api/(\\\\w+)/(.*)$\"\n    target: \"http://{up}\"\n    rewrite: \"echo/$2/$1\"\n    changeOrigin: true\n    headers: {{ x-upstream-key: secret }}\n"
    ))
    .await;
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("/api/users/7/posts?limit=2")
        .header("host", "runtime.test")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("x-end", "kept")
        .body(axum::body::Body::from("hello upstream"))
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let seen = res.json();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/echo/7/posts/users?limit=2");
    assert_eq!(seen["body"], "hello upstream");
    let headers = &seen["headers"];
    assert_eq!(
        headers["host"],
        up.to_string(),
        "changeOrigin sends the target's host"
    );
    assert_eq!(headers["x-forwarded-host"], "runtime.test");
    assert_eq!(headers["x-upstream-key"], "secret");
    assert_eq!(headers["x-end"], "kept");
    assert!(
        headers["via"].as_str().unwrap().starts_with("1.1 buntime-"),
        "{headers}"
    );
    assert!(
        headers.get("x-hop").is_none(),
        "a header `Connection` names is hop-by-hop: {headers}"
    );

    // Paths no rule matches go on down the pipeline (here: nothing, 404).
    assert_eq!(h.get("/other").await.status, 404);
}

#[tokio::test]
async fn disabled_rules_are_skipped_and_the_first_enabled_match_wins() {
    let up = upstream().await;
    let h = start(&format!(
        "rules:\n  - {{ pattern: \"^/x\", target: \"http://127.0.0.1:{}\", enabled: false }}\n  - {{ pattern: \"^/x\", target: \"http://{up}\", rewrite: /echo/second }}\n  - {{ pattern: \"^/x\", target: \"http://{up}\", rewrite: /echo/third }}\n",
        closed_port()
    ))
    .await;
    assert_eq!(h.get("/x").await.json()["uri"], "/echo/second");
    let listed = call(&h, Method::GET, "/redirects/api/rules", None)
        .await
        .json();
    let ids: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["readonly"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("static-0".to_owned(), true),
            ("static-1".to_owned(), true),
            ("static-2".to_owned(), true)
        ]
    );
}

#[tokio::test]
async fn html_gets_a_base_and_relative_paths_and_hop_headers_are_dropped() {
    let up = upstream().await;
    let h = start(&format!("rules:\n  - {{ pattern: \"^/site/page$\", target: \"http://{up}\", rewrite: /page, base: /site, relativePaths: true }}\n")).await;
    let res = h.get("/site/page").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.text(),
        r#"<html><head><base href="/site/"><title>t</title></head><body><script src="./app.js"></script><a href="//cdn.example/x">cdn</a></body></html>"#
    );
    assert!(
        res.headers.get("x-upstream-hop").is_none() && res.headers.get("content-length").is_none(),
        "{:?}",
        res.headers
    );

    // JSON through the same kind of rule is untouched.
    let h = start(&format!("rules:\n  - {{ pattern: \"^/echo\", target: \"http://{up}\", base: /site, relativePaths: true }}\n")).await;
    let res = h.get("/echo/a").await;
    assert_eq!(
        res.json()["headers"]["accept-encoding"],
        "identity",
        "rewriting rules ask for uncompressed bodies"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_and_a_silent_one_a_504() {
    let up = upstream().await;
    let h = start(&format!(
        "upstreamTimeout: 300ms\nrules:\n  - {{ pattern: \"^/down\", target: \"http://127.0.0.1:{}\" }}\n  - {{ pattern: \"^/slow\", target: \"http://{up}\" }}\n",
        closed_port()
    ))
    .await;
    let res = h.get("/down").await;
    assert_eq!(res.status, 502);
    let msg = res.json()["error"].as_str().unwrap().to_owned();
    assert!(
        msg.starts_with("Proxy error: ") && msg.to_lowercase().contains("connect"),
        "{msg}"
    );
    let started = std::time::Instant::now();
    let res = h.get("/slow").await;
    assert_eq!(res.status, 504, "{}", res.text());
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Proxy timeout: ")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn an_upstream_redirect_to_itself_lands_behind_the_rule_again() {
    let up = upstream().await;
    let h = start(&format!(
        "rules:\n  - {{ pattern: \"^/app/(.*)$\", target: \"http://{up}\", rewrite: \"/$1\", changeOrigin: true }}\n  - {{ pattern: \"^/kept/(.*)$\", target: \"http://{up}\", rewrite: \"/$1\" }}\n  - {{ pattern: \"^/odd/(\\\\w+)$\", target: \"http://{up}\", rewrite: \"/$1\", changeOrigin: true }}\n"
    ))
    .await;
    // changeOrigin: the upstream redirects to its own address, which the client cannot use.
    let res = h.get("/app/go").await;
    assert_eq!(res.status, 302);
    assert_eq!(res.headers["location"], "/app/echo/done?from=go");
    // Without changeOrigin the upstream saw the client's Host; the path is still mapped back.
    let req = http::Request::get("/kept/go").header("host", "buntime.example:8000").body(axum::body::Body::empty()).unwrap();
    let res = h.send(req).await;
    assert_eq!(res.headers["location"], "/kept/echo/done?from=go");
    // A pattern that cannot be read backwards leaves the Location as the upstream sent it.
    let res = h.get("/odd/go").await;
    assert_eq!(res.headers["location"], format!("http://{up}/echo/done?from=go").as_str());
}

#[tokio::test]
async fn a_tls_target_whose_handshake_fails_is_a_502() {
    // A plain-HTTP listener cannot complete a TLS handshake: a 502, never a hang or a panic.
    let up = upstream().await;
    let h = start(&format!(
        "upstreamTimeout: 2s\nrules:\n  - {{ pattern: \"^/tls\", target: \"https://{up}\" }}\n"
    ))
    .await;
    let res = h.get("/tls").await;
    assert_eq!(res.status, 502, "{}", res.text());
}

#[tokio::test]
async fn bad_manifest_rules_are_named_by_index_and_field() {
    let err = buntime_testkit::PluginHarness::new(
        &support::manifest("upstreamTimeout: soon\nrules:\n  - { pattern: \"(\", target: \"http://a\" }\n  - { pattern: \"^/\", target: \"ftp://a\" }\n"),
        buntime_plugin_proxy::ProxyPlugin::new,
    )
    .start()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`rules[0].pattern`: Invalid regex pattern"),
        "{err}"
    );
    assert!(err.contains("`rules[1].target`"), "{err}");
    assert!(err.contains("`upstreamTimeout`"), "{err}");
}

#[tokio::test]
async fn without_keyval_writes_answer_400_and_static_rules_still_serve() {
    let up = upstream().await;
    let h = start(&format!(
        "rules:\n  - {{ pattern: \"^/echo\", target: \"http://{up}\" }}\n"
    ))
    .await;
    let res = call(
        &h,
        Method::POST,
        "/redirects/api/rules",
        Some(json!({"pattern": "^/b", "target": "http://x"})),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Dynamic rules not enabled"),
        "{}",
        res.text()
    );
    assert_eq!(h.get("/echo").await.status, 200);
}

#[tokio::test]
async fn a_catch_all_rule_never_takes_the_rules_api() {
    let up = upstream().await;
    let h = start(&format!(
        "rules:\n  - {{ pattern: \"^/\", target: \"http://{up}\", rewrite: /echo/all }}\n"
    ))
    .await;
    assert_eq!(h.get("/redirects").await.json()["uri"], "/echo/all");
    let res = call(&h, Method::GET, "/redirects/api/rules", None).await;
    assert_eq!(res.json()[0]["id"], "static-0", "{}", res.text());
}
