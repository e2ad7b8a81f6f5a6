//! The dashboard API: stats, config, rate-limit management, metrics history and shell excludes
//! (in KeyVal when it is loaded, surviving a restart), the shell itself and the SSE feed.

mod support;

use std::time::Duration;

use buntime_plugin_database::DatabasePlugin;
use buntime_plugin_gateway::GatewayPlugin;
use buntime_plugin_keyval::KeyvalPlugin;
use buntime_testkit::PluginHarness;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::{ADMIN_PEER, DATABASE_MANIFEST, FakeApps, KEYVAL_MANIFEST, start, start_with};

const A: &str = "198.51.100.1:5000";
const B: &str = "198.51.100.2:5000";

#[tokio::test]
async fn stats_config_and_rate_limit_management() {
    let gw = start("rateLimit:\n  requests: 2\n  window: 30s\n  keyBy: ip\n  excludePaths: [\"^/gateway/api/\"]\n", &[]).await;
    for _ in 0..3 {
        gw.get("/echo/x", A, &[]).await;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    gw.get("/echo/x", B, &[]).await;
    let m = gw.api("/rate-limit/metrics").await;
    assert_eq!(
        m,
        json!({"totalRequests": 4, "blockedRequests": 1, "allowedRequests": 3, "activeBuckets": 2, "config": {"capacity": 2, "windowSeconds": 30}})
    );
    let stats = gw.api("/stats").await;
    assert_eq!(
        stats["rateLimit"]["config"],
        json!({"requests": 2, "window": "30s", "keyBy": "ip"})
    );
    assert_eq!(stats["cors"]["enabled"], true);
    assert_eq!(stats["cache"], json!({"enabled": false}));
    assert_eq!(stats["shell"]["enabled"], false);
    assert_eq!(stats["logs"]["total"], 4);
    let config = gw.api("/config").await;
    assert_eq!(
        config["rateLimit"]["excludePaths"],
        json!(["^/gateway/api/"])
    );
    assert_eq!(config["cors"]["origin"], "*");
    assert_eq!(config["cors"]["maxAge"], 86400);
    assert_eq!(config["shell"], Value::Null);

    let buckets = gw.api("/rate-limit/buckets?limit=1").await;
    assert_eq!(buckets.as_array().unwrap().len(), 1);
    assert_eq!(
        buckets[0]["key"], "ip:198.51.100.2",
        "most recently active first"
    );
    let res = gw
        .call(
            Method::DELETE,
            "/gateway/api/rate-limit/buckets/ip%3A198.51.100.1",
            "",
        )
        .await;
    assert_eq!(
        res.json(),
        json!({"deleted": true, "key": "ip:198.51.100.1"}),
        "the key is URL-decoded"
    );
    assert_eq!(
        gw.get("/echo/x", A, &[]).await.status,
        200,
        "a deleted bucket starts full"
    );
    let res = gw
        .call(Method::POST, "/gateway/api/rate-limit/clear", "")
        .await;
    assert_eq!(res.json(), json!({"cleared": 2}));
}

#[tokio::test]
async fn rate_limit_routes_say_when_it_is_off() {
    let gw = start("rateLimit: false\n", &[]).await;
    let res = gw
        .get("/gateway/api/rate-limit/metrics", ADMIN_PEER, &[])
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (400, json!({"error": "Rate limiting not enabled"}))
    );
    assert_eq!(gw.api("/stats").await["rateLimit"]["enabled"], false);
}

#[tokio::test]
async fn a_bad_manifest_names_the_file_the_key_and_the_fix() {
    let err = PluginHarness::new(
        &support::manifest("rateLimit:\n  window: 5 weeks\n  keyBy: header:x-client\n"),
        GatewayPlugin::new,
    )
    .start()
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("manifest.yaml"), "{err}");
    assert!(err.contains("`rateLimit.window`: `5 weeks` is not a window; write digits with an optional unit s, m, h or d, such as `30s` or `1m`"), "{err}");
    assert!(err.contains("`rateLimit.keyBy`"), "{err}");
}

fn with_keyval(state: &std::path::Path) -> impl FnOnce(PluginHarness) -> PluginHarness {
    let state = state.to_str().unwrap().to_owned();
    move |h| {
        h.with_plugin(KEYVAL_MANIFEST, KeyvalPlugin::new)
            .with_plugin(DATABASE_MANIFEST, DatabasePlugin::new)
            .env("RUNTIME_STATE_DIR", &state)
            .apps(std::sync::Arc::new(FakeApps))
    }
}

#[tokio::test]
async fn the_shell_serves_navigations_and_its_excludes_persist_in_keyval() {
    let state = tempfile::tempdir().unwrap();
    let shell = "shellDir: cpanel\nshellExcludes: \"admin\"\n";
    let gw = start_with(shell, &[], with_keyval(state.path())).await;
    let nav = [("sec-fetch-dest", "document")];
    let res = gw.get("/echo/page", A, &nav).await;
    assert_eq!(
        res.text(),
        "shell /srv/apps/cpanel /echo/page base=/",
        "an app name resolved by the runtime"
    );
    assert_eq!(res.headers["access-control-allow-origin"], "*");
    assert_eq!(
        gw.get("/echo/page", A, &[("sec-fetch-dest", "iframe")])
            .await
            .text(),
        "echo /page #1",
        "frames load the app"
    );
    assert_eq!(
        gw.get(
            "/echo/page",
            A,
            &[
                ("sec-fetch-dest", "document"),
                ("cookie", "GATEWAY_SHELL_EXCLUDES=echo")
            ]
        )
        .await
        .text(),
        "echo /page #2"
    );

    let res = gw
        .call(
            Method::POST,
            "/gateway/api/shell/excludes",
            r#"{"basename": "echo"}"#,
        )
        .await;
    assert_eq!(
        res.json(),
        json!({"added": true, "basename": "echo", "source": "keyval"})
    );
    assert_eq!(gw.get("/echo/page", A, &nav).await.text(), "echo /page #3");
    for (body, why) in [
        (r#"{"basename": ""}"#, "basename is required"),
        (r#"{"basename": "../x"}"#, "invalid basename"),
        (r#"{"basename": "admin"}"#, "already excluded"),
    ] {
        let res = gw
            .call(Method::POST, "/gateway/api/shell/excludes", body)
            .await;
        assert_eq!(res.status, 400, "{body}");
        assert!(
            res.json()["error"].as_str().unwrap().contains(why),
            "{}",
            res.text()
        );
    }
    let list = gw.api("/shell/excludes").await;
    assert_eq!(list[0], json!({"basename": "admin", "source": "env"}));
    assert_eq!(
        (list[1]["basename"].as_str(), list[1]["source"].as_str()),
        (Some("echo"), Some("keyval"))
    );
    let res = gw
        .call(Method::DELETE, "/gateway/api/shell/excludes/admin", "")
        .await;
    assert_eq!(res.status, 400, "env excludes are read-only");
    gw.h.shutdown().await;

    // A restart with the same state: the exclude came back from KeyVal.
    let gw = start_with(shell, &[], with_keyval(state.path())).await;
    assert_eq!(gw.get("/echo/page", A, &nav).await.text(), "echo /page #1");
    let res = gw
        .call(Method::DELETE, "/gateway/api/shell/excludes/echo", "")
        .await;
    assert_eq!(res.json(), json!({"removed": true, "basename": "echo"}));
    assert!(
        gw.get("/echo/page", A, &nav)
            .await
            .text()
            .starts_with("shell ")
    );
}

#[tokio::test]
async fn shell_routes_say_when_there_is_no_shell() {
    let gw = start("", &[]).await;
    let res = gw.get("/gateway/api/shell/excludes", ADMIN_PEER, &[]).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (400, json!({"error": "Shell not configured"}))
    );
    assert_eq!(
        gw.get("/echo/page", A, &[("sec-fetch-dest", "document")])
            .await
            .text(),
        "echo /page #1"
    );
}

#[tokio::test]
async fn metrics_history_is_kept_in_keyval_and_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let gw = start_with("", &[], with_keyval(state.path())).await;
    gw.get("/echo/x", A, &[]).await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let history = gw.api("/metrics/history?limit=5").await;
    let first = history
        .as_array()
        .unwrap()
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no snapshot: {history}"));
    assert_eq!(first["totalRequests"], 1);
    assert!(first["timestamp"].as_u64().unwrap() > 0);
    gw.h.shutdown().await;

    let gw = start_with("", &[], with_keyval(state.path())).await;
    let history = gw.api("/metrics/history").await;
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["totalRequests"] == 1),
        "{history}"
    );
    assert_eq!(
        gw.call(Method::DELETE, "/gateway/api/metrics/history", "")
            .await
            .json(),
        json!({"cleared": true})
    );
    assert_eq!(gw.api("/metrics/history").await, json!([]));
}

#[tokio::test]
async fn without_keyval_history_lives_in_memory() {
    let gw = start("", &[]).await;
    gw.get("/echo/x", A, &[]).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let history = gw.api("/metrics/history").await;
    assert_eq!(history[0]["totalRequests"], 1, "{history}");
}

#[tokio::test]
async fn the_sse_feed_sends_a_frame_a_second() {
    let gw = start("", &[]).await;
    gw.get("/echo/x", A, &[]).await;
    let res =
        gw.h.send_streaming(support::req(
            Method::GET,
            "/gateway/api/sse",
            ADMIN_PEER,
            &[],
        ))
        .await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        v["rateLimit"]["config"],
        json!({"requests": 1000, "window": "1m", "keyBy": "ip"})
    );
    assert_eq!(
        v["cors"],
        json!({"enabled": true, "origin": "*", "credentials": false, "methods": ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"]})
    );
    assert_eq!(v["shell"], Value::Null);
    assert_eq!(v["recentLogs"][0]["path"], "/echo/x");
}

#[tokio::test]
async fn the_limited_client_cannot_reset_its_own_bucket() {
    let gw = start("rateLimit:\n  requests: 1\n  window: 1h\n", &[]).await;
    assert_eq!(gw.get("/echo/x", A, &[]).await.status, 200);
    assert_eq!(gw.get("/echo/x", A, &[]).await.status, 429);
    let remote = |origin: &'static str, peer: &'static str| {
        let mut r = support::req(
            Method::POST,
            "/gateway/api/rate-limit/clear",
            peer,
            &[("origin", origin)],
        );
        *r.body_mut() = axum::body::Body::empty();
        r
    };
    for (origin, peer) in [
        ("https://evil.example", "203.0.113.50:4000"),
        (support::PUBLIC_URL, "203.0.113.51:4000"),
    ] {
        let res = gw.h.send(remote(origin, peer)).await;
        assert_eq!(res.status, 403, "{origin}: {}", res.text());
        assert_eq!(res.json()["error"], "Forbidden");
    }
    let mut delete = support::req(
        Method::DELETE,
        "/gateway/api/rate-limit/buckets/ip%3A198.51.100.1",
        "198.51.100.9:5001",
        &[],
    );
    *delete.body_mut() = axum::body::Body::empty();
    assert_eq!(gw.h.send(delete).await.status, 403, "no Origin, not local");
    assert_eq!(
        gw.get("/echo/x", A, &[]).await.status,
        429,
        "the bucket is still empty"
    );
    let res = gw
        .call(Method::POST, "/gateway/api/rate-limit/clear", "")
        .await;
    assert_eq!(
        res.json(),
        json!({"cleared": 5}),
        "a local page of this runtime may (A, three refused callers, itself)"
    );
}
