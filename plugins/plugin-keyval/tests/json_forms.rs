//! The JSON forms of routes whose GET/query forms only carry `/`-joined path keys: `POST
//! /api/keys/count` and `/paginate`, `POST /api/watch/prefix/poll` and `DELETE /api/indexes` with
//! a JSON body. Each answers what its path form answers, and keeps key parts' types.

mod support;

use serde_json::{Value, json};
use support::start;

/// A prefix whose parts the path form cannot carry: a boolean, a bigint, bytes and a digit string.
fn typed_prefix() -> Value {
    json!(["t", true, {"__type": "bigint", "value": "12"}, {"__type": "bytes", "value": "AAE="}, "12"])
}

fn child(n: i64) -> Value {
    let mut k = typed_prefix();
    k.as_array_mut().unwrap().push(json!(n));
    k
}

async fn set(kv: &support::Kv, key: Value, value: Value) -> String {
    let res = kv
        .post(
            "/keyval/api/atomic",
            json!({"checks": [], "mutations": [{"type": "set", "key": key, "value": value}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.json());
    res.json()["versionstamp"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn post_count_and_paginate_answer_as_the_get_forms_do() {
    let kv = start().await;
    for i in 1..=5 {
        kv.put(&format!("/keyval/api/keys/p/{i}"), json!({"n": i}))
            .await;
    }
    assert_eq!(
        kv.post("/keyval/api/keys/count", json!({"prefix": ["p"]}))
            .await
            .json(),
        kv.get("/keyval/api/keys/count?prefix=p").await.json()
    );
    assert_eq!(
        kv.post(
            "/keyval/api/keys/count",
            json!({"prefix": ["p"], "start": ["p", 2], "end": ["p", 4], "where": {"n": {"$gt": 2}}})
        )
        .await
        .json(),
        json!({"count": 1})
    );
    let get = kv
        .get("/keyval/api/keys/paginate?prefix=p&limit=2")
        .await
        .json();
    let post = kv
        .post(
            "/keyval/api/keys/paginate",
            json!({"prefix": ["p"], "limit": 2}),
        )
        .await
        .json();
    assert_eq!(post, get);
    let next = kv
        .post(
            "/keyval/api/keys/paginate",
            json!({"prefix": ["p"], "limit": 2, "cursor": post["cursor"]}),
        )
        .await
        .json();
    let keys: Vec<Value> = next["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].clone())
        .collect();
    assert_eq!(keys, [json!(["p", 3]), json!(["p", 4])]);
    assert_eq!(next["hasMore"], true);
    let reversed = kv
        .post(
            "/keyval/api/keys/paginate",
            json!({"prefix": ["p"], "limit": 1, "reverse": true, "where": {"n": {"$lt": 5}}}),
        )
        .await
        .json();
    assert_eq!(reversed["entries"][0]["key"], json!(["p", 4]));
}

#[tokio::test]
async fn post_count_and_paginate_keep_typed_prefixes() {
    let kv = start().await;
    set(&kv, child(1), json!(1)).await;
    set(&kv, child(2), json!(2)).await;
    // Same path form (`t/true/12/AAE=/12/…`), other types: not counted.
    set(&kv, json!(["t", "true", 12, "AAE=", 12, 1]), json!(0)).await;
    assert_eq!(
        kv.post("/keyval/api/keys/count", json!({"prefix": typed_prefix()}))
            .await
            .json(),
        json!({"count": 2})
    );
    let page = kv
        .post(
            "/keyval/api/keys/paginate",
            json!({"prefix": typed_prefix(), "limit": 1}),
        )
        .await
        .json();
    assert_eq!(page["entries"][0]["key"], child(1));
    assert_eq!(page["hasMore"], true);
}

#[tokio::test]
async fn post_count_and_paginate_name_bad_fields() {
    let kv = start().await;
    for (path, body, error) in [
        (
            "/keyval/api/keys/count",
            json!({"prefix": 5}),
            "prefix must be a key (an array of parts)",
        ),
        (
            "/keyval/api/keys/paginate",
            json!({"cursor": 5}),
            "cursor must be a string",
        ),
        (
            "/keyval/api/keys/paginate",
            json!({"cursor": "not-a-cursor"}),
            "cursor is not a cursor returned by paginate",
        ),
        (
            "/keyval/api/keys/count",
            json!([1]),
            "body must be an object",
        ),
    ] {
        let res = kv.post(path, body).await;
        assert_eq!(
            (res.status.as_u16(), res.json()),
            (400, json!({"error": error})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn post_prefix_poll_returns_deleted_keys_with_their_types() {
    let kv = start().await;
    let vs1 = set(&kv, child(1), json!("a")).await;
    let vs2 = set(&kv, child(2), json!("b")).await;
    let first = kv
        .post(
            "/keyval/api/watch/prefix/poll",
            json!({"prefix": typed_prefix()}),
        )
        .await
        .json();
    assert_eq!(
        first,
        json!({
            "entries": [
                {"key": child(1), "value": "a", "versionstamp": vs1},
                {"key": child(2), "value": "b", "versionstamp": vs2},
            ],
            "versionstamps": [
                {"key": child(1), "versionstamp": vs1},
                {"key": child(2), "versionstamp": vs2},
            ],
        })
    );

    kv.post(
        "/keyval/api/keys/delete-batch",
        json!({"keys": [child(1)], "exact": true}),
    )
    .await;
    let vs2b = set(&kv, child(2), json!("b2")).await;
    let next = kv
        .post(
            "/keyval/api/watch/prefix/poll",
            json!({"prefix": typed_prefix(), "versionstamps": first["versionstamps"]}),
        )
        .await
        .json();
    assert_eq!(
        next,
        json!({
            "entries": [
                {"key": child(2), "value": "b2", "versionstamp": vs2b},
                {"key": child(1), "value": null, "versionstamp": null},
            ],
            "versionstamps": [{"key": child(2), "versionstamp": vs2b}],
        })
    );
    let quiet = kv
        .post(
            "/keyval/api/watch/prefix/poll",
            json!({"prefix": typed_prefix(), "versionstamps": next["versionstamps"]}),
        )
        .await
        .json();
    assert_eq!(quiet["entries"], json!([]));
}

#[tokio::test]
async fn get_prefix_poll_still_matches_typed_keys_by_their_path() {
    let kv = start().await;
    let vs = set(&kv, json!(["g", true]), json!(1)).await;
    let first = kv
        .get("/keyval/api/watch/prefix/poll?prefix=g")
        .await
        .json();
    assert_eq!(first["versionstamps"], format!("g/true:{vs}"));
    // Sent back, the path names the same entry: nothing changed, nothing deleted.
    let again = kv
        .get(&format!(
            "/keyval/api/watch/prefix/poll?prefix=g&versionstamps=g/true:{vs}"
        ))
        .await
        .json();
    assert_eq!(again["entries"], json!([]));
}

#[tokio::test]
async fn post_prefix_poll_names_bad_fields() {
    let kv = start().await;
    for (body, error) in [
        (json!({}), "prefix is required"),
        (
            json!({"prefix": ["p"], "versionstamps": "p/a:1"}),
            "versionstamps must be an array of {key, versionstamp}",
        ),
        (
            json!({"prefix": ["p"], "versionstamps": [{"key": ["p", 1]}]}),
            "versionstamps[0].versionstamp must be a string",
        ),
        (
            json!({"prefix": ["p"], "versionstamps": [{"key": 7, "versionstamp": "x"}]}),
            "versionstamps[0].key must be a key (an array of parts)",
        ),
        (
            json!({"prefix": ["p"], "limit": 0}),
            "limit must be a positive integer",
        ),
    ] {
        let res = kv.post("/keyval/api/watch/prefix/poll", body.clone()).await;
        assert_eq!(
            (res.status.as_u16(), res.json()),
            (400, json!({"error": error})),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_index_on_a_typed_prefix_is_removed_by_a_json_body() {
    let kv = start().await;
    let res = kv
        .post(
            "/keyval/api/indexes",
            json!({"prefix": typed_prefix(), "options": {"fields": ["title"]}}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.json());
    assert_eq!(
        kv.get("/keyval/api/indexes").await.json()[0]["prefix"],
        typed_prefix()
    );
    let res = kv
        .delete(
            "/keyval/api/indexes",
            Some(json!({"prefix": typed_prefix()})),
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"ok": true}))
    );
    assert_eq!(kv.get("/keyval/api/indexes").await.json(), json!([]));

    let res = kv
        .delete("/keyval/api/indexes", Some(json!({"prefix": "nope"})))
        .await;
    assert_eq!(res.status, 200, "a path-string prefix is accepted too");
    let res = kv
        .delete("/keyval/api/indexes", Some(json!({"other": 1})))
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (400, json!({"error": "prefix is required"}))
    );
}
