//! The gateway's hooks as a client sees them: 429s with their headers, buckets per client,
//! preflights, CORS on every answer, the response cache and the request log.

mod support;

use http::Method;
use serde_json::json;
use support::{ADMIN_PEER, header, req, start};

const A: &str = "198.51.100.1:5000";
const B: &str = "198.51.100.2:5000";

#[tokio::test]
async fn the_fourth_request_of_three_per_minute_gets_429_with_its_headers() {
    let gw = start("rateLimit:\n  requests: 3\n  window: 1m\n", &[]).await;
    for left in ["2", "1", "0"] {
        let res = gw.get("/echo/x", A, &[]).await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(header(&res, "x-ratelimit-limit"), Some("3"));
        assert_eq!(header(&res, "x-ratelimit-remaining"), Some(left));
    }
    let res = gw.get("/echo/x", A, &[]).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.json(), json!({"error": "Too Many Requests"}));
    assert_eq!(
        header(&res, "retry-after"),
        Some("20"),
        "one token every 20 s"
    );
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("0"));
    let reset: u64 = header(&res, "x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        reset > buntime_plugin_gateway::now_ms() + 59_000,
        "full again in a minute: {reset}"
    );
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("*"),
        "CORS on the 429 too"
    );
    assert_eq!(
        gw.calls.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the app never saw the 4th"
    );
    assert_eq!(
        gw.get("/echo/x", B, &[]).await.status,
        200,
        "another client has its own bucket"
    );
    assert_eq!(
        gw.get("/health", A, &[]).await.status,
        404,
        "excluded paths are never limited (nothing serves it)"
    );
}

#[tokio::test]
async fn forwarded_for_picks_the_bucket_only_behind_a_trusted_proxy() {
    let gw = start("rateLimit:\n  requests: 1\n  window: 1h\n", &[]).await;
    assert_eq!(
        gw.get("/echo/x", A, &[("x-forwarded-for", "203.0.113.1")])
            .await
            .status,
        200
    );
    let spoofed = gw
        .get("/echo/x", A, &[("x-forwarded-for", "203.0.113.2")])
        .await;
    assert_eq!(
        spoofed.status, 429,
        "a client-chosen X-Forwarded-For is not a new bucket"
    );

    let proxied = start(
        "rateLimit:\n  requests: 1\n  window: 1h\n",
        &[("RUNTIME_TRUST_PROXY", "true")],
    )
    .await;
    assert_eq!(
        proxied
            .get(
                "/echo/x",
                A,
                &[("x-forwarded-for", "203.0.113.1, 10.0.0.1")]
            )
            .await
            .status,
        200
    );
    assert_eq!(
        proxied
            .get("/echo/x", A, &[("x-forwarded-for", "203.0.113.2")])
            .await
            .status,
        200
    );
    assert_eq!(
        proxied
            .get("/echo/x", A, &[("x-forwarded-for", "203.0.113.1")])
            .await
            .status,
        429
    );
    let buckets = proxied.api("/rate-limit/buckets").await;
    let keys: Vec<&str> = buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"ip:203.0.113.1") && keys.contains(&"ip:203.0.113.2"),
        "{keys:?}"
    );
}

#[tokio::test]
async fn preflights_get_204_before_rate_limiting_and_never_reach_the_app() {
    let gw = start("rateLimit:\n  requests: 1\n  window: 1h\ncors:\n  origin: [\"https://app.example\"]\n  credentials: true\n  exposedHeaders: [x-request-id]\n  maxAge: 600\n", &[]).await;
    assert_eq!(gw.get("/echo/x", A, &[]).await.status, 200);
    let pre = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "content-type"),
    ];
    let res = gw.h.send(req(Method::OPTIONS, "/echo/x", A, &pre)).await;
    assert_eq!(
        res.status, 204,
        "an exhausted bucket still gets its preflight"
    );
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        header(&res, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(&res, "access-control-allow-methods"),
        Some("GET, HEAD, PUT, PATCH, POST, DELETE")
    );
    assert_eq!(
        header(&res, "access-control-allow-headers"),
        Some("content-type")
    );
    assert_eq!(
        header(&res, "access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(header(&res, "access-control-max-age"), Some("600"));
    let vary: Vec<_> = res
        .headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(vary, ["Origin", "Access-Control-Request-Headers"]);
    assert!(res.body.is_empty());

    let other =
        gw.h.send(req(
            Method::OPTIONS,
            "/echo/x",
            B,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
            ],
        ))
        .await;
    assert_eq!(other.status, 204);
    assert_eq!(header(&other, "access-control-allow-origin"), None);
    let plain = gw.h.send(req(Method::OPTIONS, "/echo/x", B, &[])).await;
    assert_eq!(
        plain.text(),
        "echo /x #2",
        "an OPTIONS without Access-Control-Request-Method is the app's"
    );
}

#[tokio::test]
async fn ordinary_answers_get_cors_for_allowed_origins_only() {
    let gw = start(
        "cors:\n  origin: \"https://a.example, https://b.example\"\n",
        &[],
    )
    .await;
    let res = gw
        .get("/echo/x", A, &[("origin", "https://b.example")])
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("https://b.example"),
        "a comma string is a list"
    );
    assert_eq!(header(&res, "vary"), Some("Origin"));
    let res = gw
        .get("/echo/x", A, &[("origin", "https://c.example")])
        .await;
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    let res = gw
        .get("/nothing-here", A, &[("origin", "https://a.example")])
        .await;
    assert_eq!(
        (
            res.status.as_u16(),
            header(&res, "access-control-allow-origin")
        ),
        (404, Some("https://a.example")),
        "404s too"
    );
}

#[tokio::test]
async fn the_cache_answers_repeat_gets_until_invalidated() {
    let gw = start("cache:\n  ttl: 1m\n  maxEntries: 10\n", &[]).await;
    let first = gw.get("/echo/page?x=1", A, &[]).await;
    assert_eq!(
        (first.text(), header(&first, "x-cache")),
        ("echo /page #1".to_owned(), Some("MISS"))
    );
    let again = gw.get("/echo/page?x=1", B, &[]).await;
    assert_eq!(
        (again.text(), header(&again, "x-cache")),
        ("echo /page #1".to_owned(), Some("HIT"))
    );
    assert!(header(&again, "age").is_some());
    assert_eq!(
        gw.get("/echo/page?x=2", A, &[]).await.text(),
        "echo /page #2",
        "the query is part of the key"
    );
    assert_eq!(
        gw.get("/echo/page?x=1", A, &[("cookie", "session=1")])
            .await
            .text(),
        "echo /page #3",
        "a caller with a cookie is never served from the cache"
    );
    assert_eq!(
        gw.get("/echo/nostore", A, &[]).await.text(),
        "echo /nostore #4"
    );
    assert_eq!(
        gw.get("/echo/nostore", A, &[]).await.text(),
        "echo /nostore #5",
        "no-store is honoured"
    );

    let res = gw
        .call(
            Method::POST,
            "/gateway/api/cache/invalidate",
            r#"{"key": "/echo/page?x=1"}"#,
        )
        .await;
    assert_eq!(
        res.json(),
        json!({"invalidated": 1, "key": "/echo/page?x=1"})
    );
    assert_eq!(
        gw.get("/echo/page?x=1", A, &[]).await.text(),
        "echo /page #6"
    );
    let res = gw
        .call(
            Method::POST,
            "/gateway/api/cache/invalidate",
            r#"{"pattern": "^/echo/"}"#,
        )
        .await;
    assert_eq!(res.json()["invalidated"], 2);
    let bad = gw
        .call(
            Method::POST,
            "/gateway/api/cache/invalidate",
            r#"{"pattern": "("}"#,
        )
        .await;
    assert_eq!(bad.status, 400);
    let stats = gw.api("/stats").await;
    assert_eq!(stats["cache"]["enabled"], true);
    assert_eq!(stats["cache"]["hits"], 1);
}

#[tokio::test]
async fn without_a_cache_section_invalidation_says_so() {
    let gw = start("", &[]).await;
    let res = gw
        .call(Method::POST, "/gateway/api/cache/invalidate", "{}")
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (400, json!({"error": "Cache not enabled"}))
    );
}

#[tokio::test]
async fn every_request_is_logged_with_its_status_but_not_the_dashboards_own_calls() {
    let gw = start(
        "rateLimit:\n  requests: 2\n  window: 1h\n  excludePaths: [\"^/gateway/api/\"]\n",
        &[],
    )
    .await;
    gw.get("/echo/a", A, &[]).await;
    gw.get("/missing", A, &[]).await;
    let limited = gw.get("/echo/b", A, &[]).await;
    assert_eq!(limited.status, 429);
    gw.api("/stats").await;
    let logs = gw.api("/logs").await;
    let rows: Vec<(String, u64, bool)> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
                e["rateLimited"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("/echo/b".to_owned(), 429, true),
            ("/missing".to_owned(), 404, false),
            ("/echo/a".to_owned(), 200, false)
        ]
    );
    assert_eq!(logs[0]["ip"], "198.51.100.1");
    assert_eq!(logs[0]["method"], "GET");
    assert_eq!(
        gw.api("/logs?rateLimited=true")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        gw.api("/logs?statusRange=4&limit=1").await[0]["path"],
        "/echo/b"
    );
    assert_eq!(gw.api("/logs?ip=203.0.113.9").await, json!([]));
    let stats = gw.api("/logs/stats").await;
    assert_eq!(
        (
            stats["total"].as_u64(),
            stats["rateLimited"].as_u64(),
            stats["byStatus"].clone()
        ),
        (Some(3), Some(1), json!({"2xx": 1, "4xx": 2}))
    );
    let bad = gw
        .get("/gateway/api/logs?statusRange=9", ADMIN_PEER, &[])
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        gw.call(Method::DELETE, "/gateway/api/logs", "")
            .await
            .json(),
        json!({"cleared": true})
    );
    assert_eq!(gw.api("/logs").await, json!([]));
}

const AUTHN_MANIFEST: &str = include_str!("../../plugin-authn/manifest.yaml");
const KEY_A: &str = "gateway-test-key-a-0123456789abcdef";
const KEY_B: &str = "gateway-test-key-b-0123456789abcdef";
const KEY_C: &str = "gateway-test-key-c-0123456789abcdef";

#[tokio::test]
async fn key_by_user_buckets_callers_authn_vouches_for_and_never_a_forged_identity() {
    let state = tempfile::tempdir().unwrap();
    let authn = AUTHN_MANIFEST.replacen("enabled: false", "enabled: true", 1).replace("apiKeys: []", &format!("apiKeys:\n  - {{ key: {KEY_A}, name: a, roles: [] }}\n  - {{ key: {KEY_B}, name: b, roles: [] }}\n  - {{ key: {KEY_C}, name: c, roles: [] }}"));
    let state_dir = state.path().to_str().unwrap().to_owned();
    let gw = support::start_with(
        "rateLimit:\n  requests: 1\n  window: 1h\n  keyBy: user\n",
        &[],
        move |h| {
            h.with_plugin(&authn, buntime_plugin_authn::AuthnPlugin::new)
                .with_plugin(
                    support::DATABASE_MANIFEST,
                    buntime_plugin_database::DatabasePlugin::new,
                )
                .env("RUNTIME_STATE_DIR", &state_dir)
        },
    )
    .await;
    let order: Vec<&str> = gw.h.generation().plugins.iter().map(|p| p.name()).collect();
    let (g, a) = (
        order.iter().position(|n| *n == "@buntime/plugin-gateway"),
        order.iter().position(|n| *n == "@buntime/plugin-authn"),
    );
    assert!(g < a, "the gateway runs before authn: {order:?}");

    assert_eq!(
        gw.get("/echo/x", A, &[("x-api-key", KEY_A)]).await.status,
        200
    );
    assert_eq!(
        gw.get("/echo/x", A, &[("x-api-key", KEY_A)]).await.status,
        429,
        "user:apikey:a is spent"
    );
    assert_eq!(
        gw.get("/echo/x", A, &[("x-api-key", KEY_B)]).await.status,
        200,
        "same address, another caller"
    );
    assert_eq!(
        gw.get("/echo/x", A, &[]).await.status,
        401,
        "anonymous: the address's bucket, then authn says who"
    );
    let forged = gw
        .get(
            "/echo/x",
            A,
            &[("x-identity", r#"{"sub":"someone-else","roles":[]}"#)],
        )
        .await;
    assert_eq!(forged.status, 429, "a forged X-Identity is no new bucket");
    assert_eq!(
        gw.get(
            "/echo/x",
            A,
            &[("x-api-key", "not-a-key-0123456789abcdef0123")]
        )
        .await
        .status,
        429,
        "an unknown key is anonymous"
    );
    let listed = gw
        .get(
            "/gateway/api/rate-limit/buckets",
            ADMIN_PEER,
            &[("x-api-key", KEY_C)],
        )
        .await;
    let keys: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap().to_owned())
        .collect();
    for k in [
        "user:apikey:a",
        "user:apikey:b",
        "user:apikey:c",
        "ip:198.51.100.1",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
    }
}

#[tokio::test]
async fn authns_401_still_gets_cors_and_a_log_entry() {
    let state = tempfile::tempdir().unwrap();
    let authn = AUTHN_MANIFEST
        .replacen("enabled: false", "enabled: true", 1)
        .replace(
            "apiKeys: []",
            &format!("apiKeys:\n  - {{ key: {KEY_C}, name: c, roles: [] }}"),
        );
    let state_dir = state.path().to_str().unwrap().to_owned();
    let gw = support::start_with(
        "cors:\n  origin: [\"https://app.example\"]\n  credentials: true\n",
        &[],
        move |h| {
            h.with_plugin(&authn, buntime_plugin_authn::AuthnPlugin::new)
                .with_plugin(
                    support::DATABASE_MANIFEST,
                    buntime_plugin_database::DatabasePlugin::new,
                )
                .env("RUNTIME_STATE_DIR", &state_dir)
        },
    )
    .await;
    let res = gw
        .get(
            "/echo/x",
            A,
            &[
                ("origin", "https://app.example"),
                ("accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("https://app.example"),
        "the browser can read the 401"
    );
    assert_eq!(
        header(&res, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(header(&res, "x-ratelimit-limit"), Some("1000"));
    let gw_state =
        gw.h.generation()
            .services
            .get::<buntime_plugin_authn::Authn>(buntime_plugin_authn::NAME);
    assert!(gw_state.is_some(), "authn provides its typed service");
    let pre =
        gw.h.send(req(
            Method::OPTIONS,
            "/echo/x",
            A,
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
            ],
        ))
        .await;
    assert_eq!(
        pre.status,
        204,
        "a preflight never meets authn: {}",
        pre.text()
    );
}

#[tokio::test]
async fn preflight_false_leaves_preflights_to_the_app_and_head_reads_cached_gets() {
    let gw = start(
        "cors:\n  origin: \"*\"\n  preflight: false\ncache:\n  ttl: 1m\n",
        &[],
    )
    .await;
    let res =
        gw.h.send(req(
            Method::OPTIONS,
            "/echo/x",
            A,
            &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "PUT"),
            ],
        ))
        .await;
    assert_eq!(
        res.text(),
        "echo /x #1",
        "the app answers its own preflight"
    );
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("*"),
        "and still gets the CORS headers"
    );
    assert_eq!(gw.get("/echo/page", A, &[]).await.text(), "echo /page #2");
    let head = gw.h.send(req(Method::HEAD, "/echo/page", A, &[])).await;
    assert_eq!(
        (
            head.status.as_u16(),
            header(&head, "x-cache"),
            head.body.len()
        ),
        (200, Some("HIT"), 0)
    );
    assert_eq!(gw.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}
