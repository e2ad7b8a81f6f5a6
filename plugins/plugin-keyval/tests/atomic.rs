//! `POST /keyval/api/atomic`: checks and mutations in one transaction.

mod support;

use serde_json::{Value, json};
use support::start;

#[tokio::test]
async fn checks_pass_then_every_mutation_applies_under_one_versionstamp() {
    let kv = start().await;
    let vs = kv.put("/keyval/api/keys/acct/a", json!(100)).await.json()["versionstamp"].clone();
    let res = kv
        .post(
            "/keyval/api/atomic",
            json!({
                "checks": [{"key": ["acct", "a"], "versionstamp": vs}, {"key": ["acct", "b"], "versionstamp": null}],
                "mutations": [
                    {"type": "set", "key": ["acct", "a"], "value": 70},
                    {"type": "set", "key": ["acct", "b"], "value": 30},
                    {"type": "sum", "key": ["stats", "transfers"], "value": 1},
                    {"type": "append", "key": ["log"], "value": ["a->b"]},
                    {"type": "set", "key": ["log", {"__type": "uuidv7"}], "value": "entry"}
                ]
            }),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["ok"], true);
    let commit = body["versionstamp"].as_str().unwrap().to_owned();
    for (path, value) in [
        ("acct/a", json!(70)),
        ("acct/b", json!(30)),
        ("stats/transfers", json!(1)),
        ("log", json!(["a->b"])),
    ] {
        let e = kv.get(&format!("/keyval/api/keys/{path}")).await.json();
        assert_eq!(
            (e["value"].clone(), e["versionstamp"].as_str().unwrap()),
            (value, commit.as_str()),
            "{path}"
        );
    }
    let placeholder = kv
        .post("/keyval/api/keys/list", json!({"prefix": ["log"]}))
        .await
        .json();
    assert_eq!(
        placeholder,
        json!([{"key": ["log", commit], "value": "entry", "versionstamp": commit}]),
        "the UUIDv7 placeholder is the commit versionstamp"
    );
}

#[tokio::test]
async fn a_failed_check_writes_nothing() {
    let kv = start().await;
    kv.put("/keyval/api/keys/k", json!("old")).await;
    let res = kv
        .post(
            "/keyval/api/atomic",
            json!({"checks": [{"key": ["k"], "versionstamp": null}], "mutations": [{"type": "set", "key": ["other"], "value": 1}, {"type": "delete", "key": ["k"]}]}),
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"ok": false}))
    );
    assert_eq!(kv.get("/keyval/api/keys/other").await.status, 404);
    assert_eq!(kv.get("/keyval/api/keys/k").await.json()["value"], "old");
    let res = kv.post("/keyval/api/atomic", json!({"checks": [{"key": ["k"], "versionstamp": "0190aaaa-0000-7000-8000-000000000000"}], "mutations": [{"type": "delete", "key": ["k"]}]})).await;
    assert_eq!(
        res.json(),
        json!({"ok": false}),
        "a stale versionstamp fails too"
    );
}

#[tokio::test]
async fn a_mutation_that_does_not_fit_rolls_back_the_earlier_ones() {
    let kv = start().await;
    kv.put("/keyval/api/keys/s", json!("text")).await;
    let res = kv.post("/keyval/api/atomic", json!({"mutations": [{"type": "set", "key": ["first"], "value": 1}, {"type": "sum", "key": ["s"], "value": 1}]})).await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .contains("mutations[1]: sum needs the stored value to be an integer"),
        "{}",
        res.text()
    );
    assert_eq!(
        kv.get("/keyval/api/keys/first").await.status,
        404,
        "nothing of the failed commit stays"
    );
}

async fn commit(kv: &support::Kv, m: Value) -> buntime_testkit::TestResponse {
    kv.post("/keyval/api/atomic", json!({"mutations": [m]}))
        .await
}

#[tokio::test]
async fn sum_max_min_append_prepend() {
    let kv = start().await;
    commit(
        &kv,
        json!({"type": "sum", "key": ["n"], "value": {"__type": "bigint", "value": "5"}}),
    )
    .await;
    commit(&kv, json!({"type": "sum", "key": ["n"], "value": "-2"})).await;
    commit(&kv, json!({"type": "max", "key": ["hi"], "value": 4})).await;
    commit(&kv, json!({"type": "max", "key": ["hi"], "value": 2})).await;
    commit(&kv, json!({"type": "min", "key": ["lo"], "value": 4})).await;
    commit(&kv, json!({"type": "min", "key": ["lo"], "value": 2})).await;
    commit(
        &kv,
        json!({"type": "append", "key": ["l"], "value": [2, 3]}),
    )
    .await;
    commit(&kv, json!({"type": "prepend", "key": ["l"], "value": [1]})).await;
    for (k, v) in [
        ("n", json!(3)),
        ("hi", json!(4)),
        ("lo", json!(2)),
        ("l", json!([1, 2, 3])),
    ] {
        assert_eq!(
            kv.get(&format!("/keyval/api/keys/{k}")).await.json()["value"],
            v,
            "{k}"
        );
    }
    let res = commit(&kv, json!({"type": "append", "key": ["l"], "value": 1})).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (400, json!({"error": "append value must be an array"}))
    );
    let res = commit(
        &kv,
        json!({"type": "sum", "key": ["n"], "value": 9007199254740991_i64}),
    )
    .await;
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .contains("safe integer range"),
        "{}",
        res.text()
    );
    let res = kv
        .post(
            "/keyval/api/atomic",
            json!({"mutations": [{"type": "set", "key": ["x"]}]}),
        )
        .await;
    assert_eq!(
        res.json()["error"],
        "mutations[0].value is required for set"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_increments_sum_exactly() {
    let kv = std::sync::Arc::new(start().await);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            let res = kv
                .post(
                    "/keyval/api/atomic",
                    json!({"mutations": [{"type": "sum", "key": ["counter"], "value": 1}]}),
                )
                .await;
            assert_eq!(res.json()["ok"], true, "{}", res.text());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(kv.get("/keyval/api/keys/counter").await.json()["value"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn optimistic_read_modify_write_retries_never_lose_an_update() {
    // The client-side transaction pattern: read, then commit guarded by the read's versionstamp.
    let kv = std::sync::Arc::new(start().await);
    kv.put("/keyval/api/keys/c", json!(0)).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let e = kv.get("/keyval/api/keys/c").await.json();
                let n = e["value"].as_i64().unwrap();
                let res = kv.post("/keyval/api/atomic", json!({"checks": [{"key": ["c"], "versionstamp": e["versionstamp"]}], "mutations": [{"type": "set", "key": ["c"], "value": n + 1}]})).await;
                if res.json()["ok"] == true {
                    break;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        kv.get("/keyval/api/keys/c").await.json()["value"],
        8,
        "no check passed against a stale read"
    );
}
