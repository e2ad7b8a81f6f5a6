//! `store: database` on a real PostgreSQL server (skipped when PostgreSQL is not installed, a
//! failure under CI): the portable statements work there, and policies survive a restart.

mod support;

use http::Method;
use serde_json::json;
use support::{ADMIN, ORIGIN, start_over};

fn pg_manifest(url: &str) -> String {
    format!(
        "name: \"@buntime/plugin-database\"\nbase: \"/database\"\nenabled: true\nadapters:\n  - type: postgres\n    default: true\n    url: \"{url}\"\n"
    )
}

#[tokio::test]
async fn policies_persist_in_postgres_across_a_restart() {
    let Some(pg) = buntime_testkit::PgServer::start_or_skip() else {
        return;
    };
    let db = pg_manifest(&pg.url());
    let a = start_over(tempfile::tempdir().unwrap(), "store: database\n", &[], &db).await;
    let policy = json!({"id": "readers", "effect": "permit", "priority": 5, "subjects": [{"role": "reader"}], "resources": [], "actions": []});
    assert_eq!(a.put_policy(policy.clone()).await.status, 201);
    let mut changed = policy.clone();
    changed["priority"] = json!(7);
    assert_eq!(
        a.put_policy(changed).await.status,
        201,
        "replacing runs delete + insert in one transaction"
    );
    let res = a
        .call(
            Method::DELETE,
            "/authz/api/policies/users-read-only",
            Some(ADMIN),
            Some(ORIGIN),
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    a.h.shutdown().await;
    let b = start_over(tempfile::tempdir().unwrap(), "store: database\n", &[], &db).await;
    let list = b.get_as("/authz/api/policies", Some(ADMIN)).await.json();
    let got: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].clone(), p["priority"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (json!("admin-full-access"), json!(100)),
            (json!("readers"), json!(7))
        ]
    );
}
