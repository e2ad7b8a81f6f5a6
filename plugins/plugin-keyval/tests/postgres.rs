//! The keyval engine on the database plugin's PostgreSQL adapter, against a real server started by
//! the test: the same HTTP answers as on SQLite (filters compared engine to engine), atomic
//! check-and-set and queue claims raced from two independent plugin instances (two pools, as two
//! replicas have), and the one refusal (full-text indexes need SQLite).

mod support;

use std::collections::HashSet;

use buntime_testkit::PgServer;
use serde_json::{Value, json};
use support::{Kv, drain, start, start_pg};

async fn put(kv: &Kv, path: &str, value: Value) -> String {
    let res = kv.put(&format!("/keyval/api/keys/{path}"), value).await;
    assert_eq!(res.status, 200, "{path}: {}", res.text());
    res.json()["versionstamp"].as_str().unwrap().to_owned()
}

async fn list_keys(kv: &Kv, body: Value) -> Vec<Value> {
    let res = kv.post("/keyval/api/keys/list", body.clone()).await;
    assert_eq!(res.status, 200, "{body}: {}", res.text());
    res.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].clone())
        .collect()
}

#[tokio::test]
async fn entries_lists_ranges_expiry_and_deletes_work_on_postgres() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let kv = start_pg(&pg.url()).await;
    let vs = put(&kv, "users/1", json!({"name": "Ada"})).await;
    put(&kv, "users/2", json!({"name": "Bob"})).await;
    put(&kv, "users/10", json!("ten")).await;
    put(&kv, "usersx/1", json!(true)).await;
    let e = kv.get("/keyval/api/keys/users/1").await;
    assert_eq!(
        (e.status.as_u16(), e.json()),
        (
            200,
            json!({"key": ["users", 1], "value": {"name": "Ada"}, "versionstamp": vs})
        )
    );
    // Numbers sort numerically inside the bytea keys, and `usersx` is not under `users`.
    assert_eq!(
        list_keys(&kv, json!({"prefix": ["users"]})).await,
        vec![
            json!(["users", 1]),
            json!(["users", 2]),
            json!(["users", 10])
        ]
    );
    assert_eq!(
        list_keys(
            &kv,
            json!({"prefix": ["users"], "reverse": true, "limit": 2})
        )
        .await,
        vec![json!(["users", 10]), json!(["users", 2])]
    );
    assert_eq!(
        kv.get("/keyval/api/keys/count?prefix=users").await.json(),
        json!({"count": 3})
    );
    let page = kv
        .post(
            "/keyval/api/keys/paginate",
            json!({"prefix": ["users"], "limit": 2}),
        )
        .await
        .json();
    assert_eq!(page["hasMore"], true);
    let next = kv
        .post(
            "/keyval/api/keys/paginate",
            json!({"prefix": ["users"], "limit": 2, "cursor": page["cursor"]}),
        )
        .await
        .json();
    assert_eq!(next["entries"][0]["key"], json!(["users", 10]));
    assert_eq!(next["hasMore"], false);

    // Bytes and bigint key parts round-trip through bytea; batch keeps request order.
    let bytes_key = json!(["b", {"__type": "bytes", "value": "AAEC/w=="}, {"__type": "bigint", "value": "9007199254740993"}]);
    let res = kv
        .post(
            "/keyval/api/atomic",
            json!({"mutations": [{"type": "set", "key": bytes_key, "value": {"big": {"__type": "bigint", "value": "12345678901234567890"}}}]}),
        )
        .await;
    assert_eq!(res.json()["ok"], true, "{}", res.text());
    let batch = kv
        .post(
            "/keyval/api/keys/batch",
            json!({"keys": [["nope"], bytes_key]}),
        )
        .await
        .json();
    assert_eq!(batch[0]["versionstamp"], Value::Null);
    assert_eq!(batch[1]["key"], bytes_key);
    assert_eq!(
        batch[1]["value"],
        json!({"big": {"__type": "bigint", "value": "12345678901234567890"}})
    );

    // Sub-second expiry: hidden at once when due, then swept.
    let res = kv
        .put("/keyval/api/keys/tmp/a?expiresIn=150", json!(1))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(kv.get("/keyval/api/keys/tmp/a").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(kv.get("/keyval/api/keys/tmp/a").await.status, 404);

    // A subtree delete counts only what it removed, in the same statement.
    let res = kv.delete("/keyval/api/keys/users", None).await;
    assert_eq!(res.json(), json!({"deletedCount": 3}));
    assert_eq!(kv.get("/keyval/api/keys/usersx/1").await.status, 200);

    let m = kv.get("/keyval/api/metrics").await.json();
    assert!(
        m["storage"]["entries"].as_i64().unwrap() >= 2
            && m["storage"]["sizeBytes"].as_i64().unwrap() > 0,
        "{m}"
    );
}

/// Values every filter below runs over, on both engines.
fn filter_fixture() -> Vec<(&'static str, Value)> {
    vec![
        (
            "a",
            json!({"age": 36, "name": "Ada", "tags": ["x", "y"], "meta": {"born": 1815}, "ok": true, "note": null}),
        ),
        (
            "b",
            json!({"age": 41.5, "name": "bob", "tags": [], "meta": {"born": 1983}, "ok": false, "note": ""}),
        ),
        (
            "c",
            json!({"age": "36", "name": "Carla 50%", "tags": ["y"], "ok": true}),
        ),
        (
            "d",
            json!({"name": "dave_x", "age": 7, "meta": {"born": "1990"}, "tags": "x"}),
        ),
        ("e", json!([1, 2, 3])),
        ("f", json!("just text")),
    ]
}

fn filters() -> Vec<Value> {
    vec![
        json!({"age": 36}),
        json!({"age": "36"}),
        json!({"age": {"$gt": 10}}),
        json!({"age": {"$gte": 36, "$lt": 42}}),
        json!({"age": {"$between": [7, 36]}}),
        json!({"age": {"$ne": 36}}),
        json!({"age": {"$in": [7, 41.5, "36"]}}),
        json!({"age": {"$nin": [36]}}),
        json!({"name": {"$lt": "b"}}),
        json!({"name": {"$contains": "a"}}),
        json!({"name": {"$notContains": "a"}}),
        json!({"name": {"$startsWith": "Ca"}}),
        json!({"name": {"$endsWith": "_x"}}),
        json!({"name": {"$endsWith": ""}}),
        json!({"name": {"$containsi": "A"}}),
        json!({"name": {"$notContainsi": "A"}}),
        json!({"name": {"$startsWithi": "BO"}}),
        json!({"name": {"$endsWithi": "50%"}}),
        json!({"name": {"$containsi": "_"}}),
        json!({"ok": true}),
        json!({"ok": false}),
        json!({"note": null}),
        json!({"note": {"$null": true}}),
        json!({"note": {"$null": false}}),
        json!({"note": {"$empty": true}}),
        json!({"tags": {"$empty": true}}),
        json!({"tags": {"$notEmpty": true}}),
        json!({"tags": ["x", "y"]}),
        json!({"tags.0": "y"}),
        json!({"meta.born": {"$lt": 1900}}),
        json!({"meta": {"born": 1983}}),
        json!({"$.meta.born": {"$gte": 1900}}),
        json!({"$or": [{"age": 7}, {"ok": false}]}),
        json!({"$and": [{"ok": true}, {"age": {"$gt": 0}}]}),
        json!({"$not": {"ok": true}}),
        json!({"$or": []}),
        json!({"missing": {"$ne": 1}}),
    ]
}

#[tokio::test]
async fn every_where_filter_selects_the_same_entries_as_on_sqlite() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let pg_kv = start_pg(&pg.url()).await;
    let lite = start().await;
    for kv in [&pg_kv, &lite] {
        for (k, v) in filter_fixture() {
            put(kv, &format!("f/{k}"), v).await;
        }
    }
    for f in filters() {
        let body = json!({"prefix": ["f"], "where": f});
        let (on_pg, on_sqlite) = (
            list_keys(&pg_kv, body.clone()).await,
            list_keys(&lite, body.clone()).await,
        );
        assert_eq!(on_pg, on_sqlite, "where {f}");
        let count = pg_kv
            .post("/keyval/api/keys/count", body.clone())
            .await
            .json();
        assert_eq!(count["count"], json!(on_pg.len()), "count where {f}");
    }
    // A couple of absolute answers, so "same as SQLite" is not "both empty".
    assert_eq!(
        list_keys(
            &pg_kv,
            json!({"prefix": ["f"], "where": {"age": {"$gt": 10}}})
        )
        .await,
        vec![json!(["f", "a"]), json!(["f", "b"])]
    );
    assert_eq!(
        list_keys(
            &pg_kv,
            json!({"prefix": ["f"], "where": {"name": {"$containsi": "_"}}})
        )
        .await,
        vec![json!(["f", "d"])]
    );
    // Filtered deletes use the same predicate.
    let res = pg_kv
        .delete("/keyval/api/keys/f", Some(json!({"where": {"ok": true}})))
        .await;
    assert_eq!(res.json(), json!({"deletedCount": 2}));
    let bad = pg_kv
        .post("/keyval/api/keys/list", json!({"where": {"$[#-1]": 1}}))
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("not supported on postgres"),
        "{}",
        bad.text()
    );
}

/// Increments `["counter"]` with check-and-set until one commit succeeds; returns the attempts.
async fn cas_increment(kv: &Kv) -> u32 {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let cur = kv.get("/keyval/api/keys/counter").await.json();
        let n = cur["value"].as_i64().unwrap();
        let res = kv
            .post(
                "/keyval/api/atomic",
                json!({"checks": [{"key": ["counter"], "versionstamp": cur["versionstamp"]}],
                       "mutations": [{"type": "set", "key": ["counter"], "value": n + 1}]}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        if res.json()["ok"] == true {
            return attempts;
        }
    }
}

const EACH: usize = 25;

/// Runs [`EACH`] check-and-set increments; returns how many conflicts were retried.
async fn cas_worker(kv: &Kv) -> u32 {
    let mut conflicts = 0;
    for _ in 0..EACH {
        conflicts += cas_increment(kv).await - 1;
    }
    conflicts
}

/// Runs [`EACH`] `sum` mutations of 1 on `["hits"]`.
async fn sum_worker(kv: &Kv) {
    for _ in 0..EACH {
        let res = kv
            .post(
                "/keyval/api/atomic",
                json!({"mutations": [{"type": "sum", "key": ["hits"], "value": 1}]}),
            )
            .await;
        assert_eq!(res.json()["ok"], true, "{}", res.text());
    }
}

#[tokio::test]
async fn check_and_set_from_two_instances_loses_no_update() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let a = start_pg(&pg.url()).await;
    let b = start_pg(&pg.url()).await;
    put(&a, "counter", json!(0)).await;
    let (ca, cb, ca2, cb2) = tokio::join!(
        cas_worker(&a),
        cas_worker(&b),
        cas_worker(&a),
        cas_worker(&b)
    );
    let total = (4 * EACH) as i64;
    for kv in [&a, &b] {
        assert_eq!(
            kv.get("/keyval/api/keys/counter").await.json()["value"],
            json!(total),
            "every successful check-and-set is counted exactly once"
        );
    }
    // Four writers on one key must have collided; a run without conflicts proves nothing.
    assert!(ca + cb + ca2 + cb2 > 0, "the writers never raced");

    // `sum` mutations from both instances at once: none lost.
    tokio::join!(
        sum_worker(&a),
        sum_worker(&b),
        sum_worker(&a),
        sum_worker(&b)
    );
    assert_eq!(
        b.get("/keyval/api/keys/hits").await.json()["value"],
        json!(total)
    );
}

#[tokio::test]
async fn queue_messages_are_claimed_once_across_two_instances() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let a = start_pg(&pg.url()).await;
    let b = start_pg(&pg.url()).await;
    let mut ids = HashSet::new();
    for i in 0..30 {
        let res = a
            .post("/keyval/api/queue/enqueue", json!({"value": {"n": i}}))
            .await;
        ids.insert(res.json()["id"].as_str().unwrap().to_owned());
    }
    let (ga, gb, ga2, gb2) = tokio::join!(drain(&a), drain(&b), drain(&a), drain(&b));
    let all: Vec<String> = [ga, gb, ga2, gb2].concat();
    let unique: HashSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), 30, "no message is delivered twice");
    assert_eq!(unique, ids);
    assert_eq!(
        b.get("/keyval/api/queue/stats").await.json(),
        json!({"pending": 0, "processing": 30, "dlq": 0, "total": 30})
    );
}

#[tokio::test]
async fn full_text_indexes_are_refused_with_the_reason() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let kv = start_pg(&pg.url()).await;
    let res = kv
        .post(
            "/keyval/api/indexes",
            json!({"prefix": ["docs"], "fields": ["title"]}),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(
        res.text().contains("need the sqlite adapter"),
        "{}",
        res.text()
    );
}

#[tokio::test]
async fn a_watcher_on_one_instance_sees_commits_made_through_another() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let a = start_pg(&pg.url()).await;
    let b = start_pg(&pg.url()).await;
    let soon = std::time::Duration::from_secs(5);
    let (_, mut keys) = support::Events::open(&b, "/keyval/api/watch?keys=w/x&initial=false").await;
    let (_, mut prefix) =
        support::Events::open(&b, "/keyval/api/watch/prefix?prefix=w&initial=false").await;
    // The listener connects in the background; wait until a write made through `a` arrives.
    let mut sent = Vec::new();
    let mut got = None;
    for _ in 0..20 {
        sent.push(
            a.put("/keyval/api/keys/w/x", json!({"n": 1})).await.json()["versionstamp"].clone(),
        );
        if let Some(e) = keys.next(std::time::Duration::from_millis(500)).await {
            got = Some(e);
            break;
        }
    }
    let (name, data) = got.expect("a write through the other instance reaches this watcher");
    assert_eq!(
        (name.as_str(), &data[0]["key"], &data[0]["value"]),
        ("change", &json!(["w", "x"]), &json!({"n": 1}))
    );
    assert!(sent.contains(&data[0]["versionstamp"]), "{data}");
    // Writes sent before the listener was up may still be on their way: let them arrive.
    while keys
        .next(std::time::Duration::from_millis(300))
        .await
        .is_some()
    {}
    let (_, data) = prefix.next(soon).await.expect("prefix watchers too");
    assert_eq!(data[0]["key"], json!(["w", "x"]), "{data}");

    // An atomic commit of two keys and a delete, each one event with the final state.
    let res = a
        .post(
            "/keyval/api/atomic",
            json!({"mutations": [{"type": "set", "key": ["w", "x"], "value": 2}, {"type": "set", "key": ["w", "y"], "value": 3}]}),
        )
        .await;
    assert_eq!(res.json()["ok"], true);
    let (_, data) = keys.next(soon).await.unwrap();
    assert_eq!(
        data,
        json!([{"key": ["w", "x"], "value": 2, "versionstamp": res.json()["versionstamp"]}])
    );
    a.delete("/keyval/api/keys/w/x", None).await;
    let mut last = keys.next(soon).await.unwrap().1;
    // The prefix stream may have queued the atomic commit first; the key stream ends on the delete.
    if last[0]["value"] != Value::Null {
        last = keys.next(soon).await.unwrap().1;
    }
    assert_eq!(
        last,
        json!([{"key": ["w", "x"], "value": null, "versionstamp": null}])
    );
}

#[tokio::test]
async fn a_queue_listener_on_one_instance_is_woken_by_an_enqueue_on_another() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let a = start_pg(&pg.url()).await;
    let b = start_pg(&pg.url()).await;
    let (_, mut events) = support::Events::open(&b, "/keyval/api/queue/listen").await;
    // Give the cross-process listener time to connect (it starts with the plugin).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let res = a
        .post("/keyval/api/queue/enqueue", json!({"value": {"job": 1}}))
        .await;
    let id = res.json()["id"].clone();
    // An idle listener otherwise sleeps until its 15 s heartbeat: arriving within 5 s means the
    // other instance's enqueue woke it.
    let (name, data) = events
        .next(std::time::Duration::from_secs(5))
        .await
        .expect("the listener on b gets a's message");
    assert_eq!(
        (name.as_str(), &data["id"], &data["value"]),
        ("message", &id, &json!({"job": 1}))
    );
}
