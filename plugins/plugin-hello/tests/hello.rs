//! The seed's step 7 for Rust: the hello plugin loaded from its real manifest, requested in-process.

use buntime_plugin_hello::HelloPlugin;
use buntime_testkit::PluginHarness;

fn harness() -> PluginHarness {
    PluginHarness::from_manifest_file(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.yaml"), HelloPlugin::new)
}

#[tokio::test]
async fn serves_a_greeting_under_its_base() {
    let h = harness().start().await.unwrap();
    let res = h.get("/hello/api/greeting").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), serde_json::json!({ "message": "Hello from Buntime" }));
    assert_eq!(res.headers["x-request-id"], "test-request");
}

#[tokio::test]
async fn unknown_paths_under_its_base_are_not_found() {
    let h = harness().start().await.unwrap();
    assert_eq!(h.get("/hello/nope").await.status, 404);
    assert_eq!(h.get("/api/greeting").await.status, 404);
}

#[tokio::test]
async fn logs_init_and_shutdown_tagged_with_its_name() {
    let h = harness().start().await.unwrap();
    assert!(h.logs().contains("plugin=@buntime/plugin-hello") && h.logs().contains("hello plugin initialized"), "{:?}", h.logs().lines());
    let logs = h.shutdown().await;
    assert!(logs.contains("hello plugin shut down"), "{:?}", logs.lines());
}

#[tokio::test]
async fn the_environment_overrides_the_manifest_greeting() {
    let h = harness().env("HELLO_GREETING", "Hi from env").start().await.unwrap();
    assert_eq!(h.get("/hello/api/greeting").await.json()["message"], "Hi from env");
}

#[tokio::test]
async fn the_manifest_greeting_overrides_the_default() {
    let h = PluginHarness::new("name: \"@buntime/plugin-hello\"\nbase: /hi\ngreeting: Howdy\n", HelloPlugin::new).start().await.unwrap();
    assert_eq!(h.get("/hi/api/greeting").await.json()["message"], "Howdy");
}

#[tokio::test]
async fn a_bad_base_in_the_manifest_is_reported() {
    let err = PluginHarness::new("name: \"@buntime/plugin-hello\"\nbase: /api\n", HelloPlugin::new).start().await.unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
}
