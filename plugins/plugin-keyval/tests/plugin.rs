//! Start-up: the plugin loads over the real database plugin and creates its tables; without the
//! database plugin it refuses to start.

mod support;

use buntime_plugin_database::Statement;
use buntime_plugin_keyval::KeyvalPlugin;
use buntime_testkit::PluginHarness;
use support::{MANIFEST, start};

#[tokio::test]
async fn creates_every_table_in_the_root_database() {
    let kv = start().await;
    let res = kv.engine().query(Statement::new("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'kv_%' ORDER BY name")).await.unwrap();
    let names: Vec<String> = res.rows.iter().map(|r| format!("{:?}", r[0])).collect();
    assert_eq!(
        names,
        [
            "kv_dlq",
            "kv_entries",
            "kv_indexes",
            "kv_metrics",
            "kv_queue"
        ]
        .map(|n| format!("Text({n:?})"))
    );
    assert!(
        kv.state
            .path()
            .join("database/sqlite/_default.db")
            .is_file(),
        "entries live in the sqlite root database"
    );
}

#[tokio::test]
async fn refuses_to_start_without_the_database_plugin() {
    let err = PluginHarness::new(MANIFEST, KeyvalPlugin::new)
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("@buntime/plugin-database"), "{err}");
}
