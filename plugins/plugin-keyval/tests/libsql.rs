//! The keyval engine on the database plugin's libsql adapter, against a real sqld started by the
//! test: entries and lists, atomic check-and-set and queue claims raced from two independent plugin
//! instances (as two replicas of the runtime sharing one sqld), and full-text search (sqld is
//! SQLite, FTS5 included).

mod support;

use std::collections::HashSet;

use buntime_testkit::SqldServer;
use serde_json::{Value, json};
use support::{Kv, drain, start_libsql};

async fn put(kv: &Kv, path: &str, value: Value) -> String {
    let res = kv.put(&format!("/keyval/api/keys/{path}"), value).await;
    assert_eq!(res.status, 200, "{path}: {}", res.text());
    res.json()["versionstamp"].as_str().unwrap().to_owned()
}

async fn list_keys(kv: &Kv, body: Value) -> Vec<Value> {
    let res = kv.post("/keyval/api/keys/list", body.clone()).await;
    assert_eq!(res.status, 200, "{body}: {}", res.text());
    res.json().as_array().unwrap().iter().map(|e| e["key"].clone()).collect()
}

#[tokio::test]
async fn entries_lists_and_deletes_work_on_sqld() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let kv = start_libsql(&sqld.url(), &sqld.admin_url()).await;
    let vs = put(&kv, "users/1", json!({"name": "Ada"})).await;
    put(&kv, "users/2", json!({"name": "Bob"})).await;
    put(&kv, "users/10", json!("ten")).await;
    put(&kv, "usersx/1", json!(true)).await;
    let e = kv.get("/keyval/api/keys/users/1").await;
    assert_eq!((e.status.as_u16(), e.json()), (200, json!({"key": ["users", 1], "value": {"name": "Ada"}, "versionstamp": vs})));
    assert_eq!(list_keys(&kv, json!({"prefix": ["users"]})).await, vec![json!(["users", 1]), json!(["users", 2]), json!(["users", 10])]);
    assert_eq!(list_keys(&kv, json!({"prefix": ["users"], "where": {"name": {"$eq": "Bob"}}})).await, vec![json!(["users", 2])]);
    assert_eq!(kv.get("/keyval/api/keys/count?prefix=users").await.json(), json!({"count": 3}));
    let res = kv.delete("/keyval/api/keys/users", None).await;
    assert_eq!(res.json(), json!({"deletedCount": 3}));
    assert_eq!(kv.get("/keyval/api/keys/users/1").await.status, 404);
    assert_eq!(list_keys(&kv, json!({"prefix": []})).await, vec![json!(["usersx", 1])]);
}

/// Increments `["counter"]` with check-and-set until one commit succeeds; returns the conflicts.
async fn cas_worker(kv: &Kv, times: usize) -> u32 {
    let mut conflicts = 0;
    for _ in 0..times {
        loop {
            let cur = kv.get("/keyval/api/keys/counter").await.json();
            let n = cur["value"].as_i64().unwrap();
            let body = json!({"checks": [{"key": ["counter"], "versionstamp": cur["versionstamp"]}],
                              "mutations": [{"type": "set", "key": ["counter"], "value": n + 1}]});
            let res = kv.post("/keyval/api/atomic", body).await;
            assert_eq!(res.status, 200, "{}", res.text());
            if res.json()["ok"] == true {
                break;
            }
            conflicts += 1;
        }
    }
    conflicts
}

#[tokio::test]
async fn check_and_set_and_queue_claims_from_two_instances_on_one_sqld() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let a = start_libsql(&sqld.url(), &sqld.admin_url()).await;
    let b = start_libsql(&sqld.url(), &sqld.admin_url()).await;
    put(&a, "counter", json!(0)).await;
    let (c1, c2, c3, c4) = tokio::join!(cas_worker(&a, 15), cas_worker(&b, 15), cas_worker(&a, 15), cas_worker(&b, 15));
    for kv in [&a, &b] {
        assert_eq!(kv.get("/keyval/api/keys/counter").await.json()["value"], json!(60), "every successful check-and-set counted once");
    }
    assert!(c1 + c2 + c3 + c4 > 0, "the writers never raced");

    let mut ids = HashSet::new();
    for i in 0..20 {
        let res = a.post("/keyval/api/queue/enqueue", json!({"value": {"n": i}})).await;
        ids.insert(res.json()["id"].as_str().unwrap().to_owned());
    }
    let (ga, gb, ga2, gb2) = tokio::join!(drain(&a), drain(&b), drain(&a), drain(&b));
    let all: Vec<String> = [ga, gb, ga2, gb2].concat();
    assert_eq!(all.len(), 20, "no message is delivered twice");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), ids);
}

#[tokio::test]
async fn full_text_search_works_on_sqld() {
    let Some(sqld) = SqldServer::start_or_skip() else { return };
    let kv = start_libsql(&sqld.url(), &sqld.admin_url()).await;
    let res = kv.post("/keyval/api/indexes", json!({"prefix": ["posts"], "fields": ["title", "body"]})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    put(&kv, "posts/1", json!({"title": "Rust on the server", "body": "memory safety without a collector"})).await;
    put(&kv, "posts/2", json!({"title": "Bun and TypeScript", "body": "fast startup"})).await;
    let res = kv.post("/keyval/api/search", json!({"prefix": ["posts"], "query": "safety"})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let keys: Vec<Value> = res.json().as_array().unwrap().iter().map(|e| e["key"].clone()).collect();
    assert_eq!(keys, vec![json!(["posts", 1])], "{}", res.text());
}
