//! The request pipeline over real HTTP: hook order, short-circuit, replace, failures, routing
//! precedence, reserved paths, body limits and the runtime's own endpoints.

mod support;

use axum::body::Body;
use support::{Fixture, get, post, send};

#[tokio::test]
async fn hooks_run_in_dependency_order_not_scan_order() {
    let f = Fixture::new();
    f.plugin("a-app", "name: app\ndependencies: [auth]\n")
        .plugin("b-auth", "name: auth\ndependencies: [db]\n")
        .plugin("c-db", "name: db\n")
        .plugin("d-web", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    assert_eq!(get(&h, "/web/echo").await.status, 200);
    let order: Vec<String> = f.journal.matching("request:").into_iter().map(|e| e.split(':').nth(1).unwrap().to_owned()).collect();
    // Kahn's algorithm, ties broken by scan order: db and web have no dependencies.
    assert_eq!(order, vec!["db", "web", "auth", "app"]);
    h.shutdown().await.unwrap();
    let shutdown: Vec<String> = f.journal.matching("shutdown:").into_iter().map(|e| e.split(':').nth(1).unwrap().to_owned()).collect();
    assert_eq!(shutdown, vec!["app", "auth", "web", "db"], "on_shutdown runs in reverse order");
}

#[tokio::test]
async fn a_short_circuit_answers_and_skips_later_hooks_and_routes() {
    let f = Fixture::new();
    f.plugin("a", "name: gate\naction: respond\n").plugin("b", "name: later\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let res = get(&h, "/web/echo").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.body, "blocked by gate");
    assert!(res.headers.contains_key("x-request-id"), "every response carries a request id");
    assert!(f.journal.matching("request:later").is_empty(), "later hooks must not run");
}

#[tokio::test]
async fn an_early_answer_is_shown_to_the_plugins_that_already_passed_the_request_only() {
    let f = Fixture::new();
    f.plugin("a", "name: edge\nshortCircuitHeader: edge\nresponseHeader: edge\n")
        .plugin("b", "name: gate\naction: respond\n")
        .plugin("c", "name: late\nshortCircuitHeader: late\n");
    let h = f.start().await;
    let res = get(&h, "/anything").await;
    assert_eq!(res.status, 403);
    let seen: Vec<_> = res.headers.get_all("x-short-seen-by").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(seen, ["edge"], "only plugins whose on_request ran before the gate");
    assert!(!res.headers.contains_key("x-seen-by"), "on_response still does not run for a short-circuit");

    let f = Fixture::new();
    f.plugin("a", "name: edge\nshortCircuitHeader: edge\n").plugin("b", "name: strict\naction: unauthorized\n");
    let h = f.start().await;
    let res = get(&h, "/anything").await;
    assert_eq!((res.status, res.headers.get("x-short-seen-by").map(|v| v.to_str().unwrap())), (401, Some("edge")), "hook errors too");
}

#[tokio::test]
async fn a_replaced_request_is_what_every_later_step_sees() {
    let f = Fixture::new();
    f.plugin("a", "name: rewriter\naction: replace\nreplacePath: /web/echo?from=replace\n")
        .plugin("b", "name: observer\n")
        .plugin("c", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let res = get(&h, "/somewhere/else").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["query"], "from=replace");
    assert_eq!(body["replacedBy"], "rewriter");
    assert_eq!(f.journal.matching("request:observer"), vec!["request:observer:/web/echo:false"]);
}

#[tokio::test]
async fn a_failing_hook_answers_500_json_without_internals_and_the_runtime_keeps_serving() {
    let f = Fixture::new();
    f.plugin("a", "name: broken\naction: fail\n");
    let h = f.start().await;
    let res = get(&h, "/anything").await;
    assert_eq!(res.status, 500);
    assert_eq!(res.json()["code"], "INTERNAL_SERVER_ERROR");
    assert!(!res.body.contains("password"), "internals leaked: {}", res.body);
    assert_eq!(get(&h, "/api/health").await.status, 200);
}

#[tokio::test]
async fn a_panicking_hook_or_route_answers_500_and_the_process_survives() {
    let f = Fixture::new();
    f.plugin("a", "name: panicky\naction: panic\n");
    f.plugin("b", "name: web\nbase: /web\nroutes: true\nenabled: false\n");
    let h = f.start().await;
    for _ in 0..3 {
        let res = get(&h, "/x").await;
        assert_eq!(res.status, 500);
        assert_eq!(res.json()["success"], false);
    }
    h.shutdown().await.unwrap();

    let f = Fixture::new();
    f.plugin("b", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    assert_eq!(get(&h, "/web/boom").await.status, 500);
    assert_eq!(get(&h, "/web/echo").await.status, 200);
}

#[tokio::test]
async fn a_hook_error_with_a_public_kind_keeps_its_status_and_message() {
    let f = Fixture::new();
    f.plugin("a", "name: authn\naction: unauthorized\n");
    let h = f.start().await;
    let res = get(&h, "/app").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["message"], "token required");
}

#[tokio::test]
async fn routes_see_their_base_stripped_and_unknown_paths_are_404() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let res = get(&h, "/web/echo?x=1").await;
    assert_eq!(res.json()["path"], "/echo");
    assert_eq!(res.json()["query"], "x=1");
    assert_eq!(get(&h, "/web/missing").await.status, 404);
    assert_eq!(get(&h, "/webx/echo").await.status, 404, "bases match whole segments only");
    let res = get(&h, "/nothing-here").await;
    assert_eq!((res.status, res.body.as_str()), (404, "Not Found"));
}

#[tokio::test]
async fn a_native_plugins_ui_answers_the_gets_its_routes_do_not_claim() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\nentrypoint: ui/dist/index.html\ninjectBase: true\n")
        .file("plugins/a/ui/dist/index.html", "<html><head></head><body>web ui</body></html>")
        .file("plugins/a/ui/dist/app.js", "console.log(1)");
    let h = f.start().await;
    for path in ["/web", "/web/", "/web/entries", "/web/entries/deep?x=1"] {
        let res = get(&h, path).await;
        assert_eq!(res.status, 200, "{path}: {}", res.body);
        assert!(res.body.contains("web ui") && res.body.contains(r#"<base href="/web/" />"#), "{path}: {}", res.body);
    }
    assert_eq!(get(&h, "/web/app.js").await.body, "console.log(1)");
    assert_eq!(get(&h, "/web/echo").await.json()["path"], "/echo", "the plugin's routes come first");
    // A 404 that a route answered is the plugin's own answer, not a cue to show the UI.
    let res = get(&h, "/web/gone").await;
    assert_eq!((res.status, res.json()["error"].as_str()), (404, Some("Key not found")), "{}", res.body);
    assert_eq!(get(&h, "/web/missing.js").await.status, 404);
    // Files beside the UI's directory (the plugin's manifest, its sources) are never served.
    assert_eq!(get(&h, "/web/manifest.yaml").await.status, 404);
}

#[tokio::test]
async fn an_unbuilt_plugin_ui_serves_nothing_rather_than_the_plugins_directory() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\nentrypoint: ui/dist/index.html\n")
        .file("plugins/a/Cargo.toml", "[package]")
        .file("plugins/a/src/lib.rs", "//! sources")
        .file("plugins/a/ui/src/index.html", "<html>source</html>");
    let h = f.start().await;
    for path in ["/web", "/web/entries", "/web/Cargo.toml", "/web/src/lib.rs", "/web/ui/src/index.html"] {
        let res = get(&h, path).await;
        assert_eq!(res.status, 404, "{path}: {}", res.body);
    }
    assert_eq!(get(&h, "/web/echo").await.status, 200, "the routes still answer");
    // Once built, it is served (the config cache notices the entrypoint appearing).
    f.file("plugins/a/ui/dist/index.html", "<html><head></head><body>built</body></html>");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let res = get(&h, "/web/entries").await;
        if res.status == 200 {
            assert!(res.body.contains("built"), "{}", res.body);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the built UI was never served: {} {}", res.status, res.body);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_api_and_reserved_bases_cannot_be_taken_by_plugins() {
    let f = Fixture::new();
    f.plugin("a", "name: sneaky\nbase: /api\nroutes: true\n")
        .plugin("b", "name: health\nbase: /health\nroutes: true\n")
        .plugin("c", "name: fine\nbase: /fine\nroutes: true\n");
    let h = f.start().await;
    let ready = get(&h, "/api/health/ready").await.json();
    assert_eq!(ready["plugins"], 1, "{ready}");
    assert_eq!(get(&h, "/api/health").await.json()["status"], "healthy");
    let res = post(&h, "/api/plugins/reload").await;
    assert_eq!(res.status, 422);
    let errors = res.json()["errors"].to_string();
    assert!(errors.contains("reserved") && errors.contains("`base`"), "{errors}");
}

#[tokio::test]
async fn an_api_prefix_moves_the_api_and_its_reserved_base() {
    let f = Fixture::new();
    f.plugin("a", "name: api-owner\nbase: /api\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_API_PREFIX", "/_")]).await;
    assert_eq!(get(&h, "/_/api/health").await.status, 200);
    assert_eq!(get(&h, "/api/echo").await.json()["plugin"], "api-owner");
    assert_eq!(get(&h, "/.well-known/buntime").await.json()["api"], "/_/api");
}

#[tokio::test]
async fn public_routes_are_resolved_for_hooks() {
    let f = Fixture::new();
    f.plugin("a", "name: observer\n").plugin("b", "name: web\nbase: /web\nroutes: true\npublicRoutes: [\"/echo\"]\n");
    let h = f.start().await;
    get(&h, "/web/echo").await;
    get(&h, "/web/slow?ms=1").await;
    assert_eq!(f.journal.matching("request:observer"), vec!["request:observer:/web/echo:true", "request:observer:/web/slow:false"]);
}

#[tokio::test]
async fn response_hooks_run_in_order() {
    let f = Fixture::new();
    f.plugin("a", "name: first\nresponseHeader: one\n").plugin("b", "name: second\nresponseHeader: two\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let res = get(&h, "/web/echo").await;
    let seen: Vec<_> = res.headers.get_all("x-seen-by").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(seen, vec!["one", "two"]);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let big = send(
        http::Request::post(format!("{}/web/upload", h.url()))
            .header("content-length", (10 * 1024 * 1024 + 1).to_string())
            .body(Body::from(vec![0u8; 10 * 1024 * 1024 + 1]))
            .unwrap(),
    )
    .await;
    assert_eq!(big.status, 413);
    let ok = send(http::Request::post(format!("{}/web/upload", h.url())).body(Body::from(vec![1u8; 1000])).unwrap()).await;
    assert_eq!(ok.body, "got 1000 bytes");
}

#[tokio::test]
async fn request_ids_are_kept_or_generated() {
    let f = Fixture::new();
    let h = f.start().await;
    let res = send(http::Request::get(format!("{}/nope", h.url())).header("x-request-id", "abc-123").body(Body::empty()).unwrap()).await;
    assert_eq!(res.headers["x-request-id"], "abc-123");
    let res = get(&h, "/api/health").await;
    assert_eq!(res.headers["x-request-id"].len(), 36);
}

#[tokio::test]
async fn health_endpoints_and_well_known_answer() {
    let f = Fixture::new();
    f.plugin("a", "name: alpha\nversion: \"2.1.0\"\nbase: /alpha\nmenus: [{ title: Alpha, path: /alpha }]\n");
    let h = f.start().await;
    assert_eq!(get(&h, "/api/health/live").await.json()["status"], "live");
    let ready = get(&h, "/api/health/ready").await;
    assert_eq!((ready.status, ready.json()["status"].as_str()), (200, Some("ready")));
    let wk = get(&h, "/.well-known/buntime").await.json();
    assert_eq!(wk["api"], "/api");
    let loaded = get(&h, "/api/plugins/loaded").await.json();
    assert_eq!(loaded[0]["name"], "alpha");
    assert_eq!(loaded[0]["version"], "2.1.0");
    assert_eq!(loaded[0]["menus"][0]["title"], "Alpha");
    let listed = get(&h, "/api/plugins").await.json();
    assert_eq!(listed[0]["name"], "a");
    assert_eq!(get(&h, "/api/nope").await.status, 404);
}

#[tokio::test]
async fn excluded_plugins_do_not_stop_the_runtime_and_readiness_names_them() {
    let f = Fixture::new();
    f.plugin("a", "name: orphan\ndependencies: [ghost]\n")
        .plugin("b", "name: bad\nbase: nope\n")
        .plugin("c", "name: slowpoke\ninitSleepMs: 2000\n")
        .plugin("d", "name: crashy\ninitPanic: true\n")
        .plugin("e", "name: failing\ninitFail: true\n")
        .plugin("f", "name: web\nbase: /web\nroutes: true\n");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = f.builder(&[]).init_timeout(std::time::Duration::from_millis(200)).build().spawn(listener).await.unwrap();
    assert_eq!(get(&h, "/web/echo").await.status, 200);
    let ready = get(&h, "/api/health/ready").await.json();
    assert_eq!(ready["plugins"], 1);
    let failed = ready["failed"].to_string();
    for name in ["orphan", "bad", "slowpoke", "crashy", "failing"] {
        assert!(failed.contains(name), "{name} missing from {failed}");
    }
}

#[tokio::test]
async fn services_are_shared_with_dependents_during_init() {
    let f = Fixture::new();
    f.plugin("a", "name: consumer\ndependencies: [provider]\nconsume: provider\n").plugin("b", "name: provider\nprovide: hi there\n");
    let h = f.start().await;
    assert_eq!(f.journal.matching("consumed:"), vec!["consumed:consumer:hi there"]);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_router_404_hands_the_request_on_to_the_app_of_the_same_name() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let app = f.root.path().join("apps/web");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("index.html"), "<html><head></head><body>app</body></html>").unwrap();
    std::fs::write(app.join("page.txt"), "from the app").unwrap();
    let h = f.start().await;
    assert_eq!(get(&h, "/web/echo").await.json()["plugin"], "web", "the plugin's route wins");
    let res = get(&h, "/web/page.txt").await;
    assert_eq!((res.status, res.body.as_str()), (200, "from the app"), "a router 404 falls through to the app");
    let posted = send(http::Request::post(format!("{}/web/upload", h.url())).body(Body::from(vec![7u8; 64])).unwrap()).await;
    assert_eq!(posted.body, "got 64 bytes", "bodies reach the plugin route intact");
}
