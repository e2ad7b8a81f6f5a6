//! `where` filters (§A.8) through `POST /keyval/api/keys/list` and deletes: every operator.

mod support;

use serde_json::{Value, json};
use support::start;

async fn seeded() -> support::Kv {
    let kv = start().await;
    let docs = [
        (
            "ada",
            json!({"name": "Ada Lovelace", "age": 36, "tags": ["math", "poet"], "role": "admin", "bio": "100% analytical_engine", "nick": null, "meta": {"born": 1815}}),
        ),
        (
            "alan",
            json!({"name": "Alan Turing", "age": 41, "tags": [], "role": "user", "bio": "", "meta": {"born": 1912}}),
        ),
        (
            "grace",
            json!({"name": "grace hopper", "age": 85, "tags": ["navy"], "role": "user", "bio": "COBOL", "nick": "Amazing Grace"}),
        ),
        ("num", json!({"name": 7, "age": "36"})),
    ];
    for (id, doc) in docs {
        assert_eq!(
            kv.put(&format!("/keyval/api/keys/people/{id}"), doc)
                .await
                .status,
            200
        );
    }
    kv
}

async fn ids(kv: &support::Kv, filter: Value) -> Vec<String> {
    let res = kv
        .post(
            "/keyval/api/keys/list",
            json!({"prefix": ["people"], "where": filter}),
        )
        .await;
    assert_eq!(res.status, 200, "{filter}: {}", res.text());
    res.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"][1].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_operator_selects_what_it_says() {
    let kv = seeded().await;
    let cases = [
        (json!({"role": "user"}), vec!["alan", "grace"]),
        (json!({"role": {"$eq": "admin"}}), vec!["ada"]),
        (json!({"role": {"$ne": "user"}}), vec!["ada", "num"]),
        (json!({"age": {"$gt": 36}}), vec!["alan", "grace"]),
        (json!({"age": {"$gte": 36}}), vec!["ada", "alan", "grace"]),
        (json!({"age": {"$lt": 41}}), vec!["ada"]),
        (json!({"age": {"$lte": 41}}), vec!["ada", "alan"]),
        (
            json!({"age": {"$between": [40, 90]}}),
            vec!["alan", "grace"],
        ),
        (json!({"age": 36}), vec!["ada"]),
        (json!({"age": "36"}), vec!["num"]),
        (json!({"role": {"$in": ["admin", "nobody"]}}), vec!["ada"]),
        (
            json!({"role": {"$nin": ["admin"]}}),
            vec!["alan", "grace", "num"],
        ),
        (json!({"name": {"$contains": "Turing"}}), vec!["alan"]),
        (json!({"name": {"$contains": "turing"}}), vec![]),
        (json!({"name": {"$notContains": "a"}}), vec!["num"]),
        (json!({"name": {"$startsWith": "A"}}), vec!["ada", "alan"]),
        (json!({"name": {"$endsWith": "Lovelace"}}), vec!["ada"]),
        (json!({"name": {"$containsi": "HOPPER"}}), vec!["grace"]),
        (json!({"name": {"$notContainsi": "A"}}), vec!["num"]),
        (json!({"name": {"$startsWithi": "grace"}}), vec!["grace"]),
        (json!({"name": {"$endsWithi": "TURING"}}), vec!["alan"]),
        (json!({"bio": {"$containsi": "100%"}}), vec!["ada"]),
        (json!({"bio": {"$containsi": "l_e"}}), vec!["ada"]),
        (json!({"bio": {"$containsi": "0_"}}), vec![]),
        (json!({"nick": {"$null": true}}), vec!["ada", "alan", "num"]),
        (json!({"nick": {"$null": false}}), vec!["grace"]),
        (json!({"bio": {"$empty": true}}), vec!["alan", "num"]),
        (json!({"tags": {"$empty": true}}), vec!["alan", "num"]),
        (json!({"tags": {"$notEmpty": true}}), vec!["ada", "grace"]),
        (json!({"meta.born": {"$lt": 1900}}), vec!["ada"]),
        (json!({"$.meta.born": 1912}), vec!["alan"]),
        (json!({"tags.0": "navy"}), vec!["grace"]),
        (
            json!({"$or": [{"role": "admin"}, {"age": {"$gt": 80}}]}),
            vec!["ada", "grace"],
        ),
        (
            json!({"$and": [{"role": "user"}, {"age": {"$lt": 80}}]}),
            vec!["alan"],
        ),
        (json!({"$not": {"role": "user"}}), vec!["ada", "num"]),
        (json!({"role": "user", "age": {"$gt": 50}}), vec!["grace"]),
        (json!({"tags": ["math", "poet"]}), vec!["ada"]),
        (json!({"age": {"$gt": 30, "$lt": 40}}), vec!["ada"]),
    ];
    for (filter, want) in cases {
        assert_eq!(ids(&kv, filter.clone()).await, want, "{filter}");
    }
}

#[tokio::test]
async fn now_operands_compare_against_query_time() {
    let kv = start().await;
    kv.put(
        "/keyval/api/keys/ev/past",
        json!({"at": {"$now": true, "$offset": -60_000}}),
    )
    .await;
    kv.put(
        "/keyval/api/keys/ev/future",
        json!({"at": {"$now": true, "$offset": 3_600_000}}),
    )
    .await;
    let res = kv
        .post(
            "/keyval/api/keys/list",
            json!({"prefix": ["ev"], "where": {"at": {"$lt": {"$now": true}}}}),
        )
        .await;
    let keys: Vec<Value> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].clone())
        .collect();
    assert_eq!(keys, [json!(["ev", "past"])]);
    let stored = kv.get("/keyval/api/keys/ev/past").await.json()["value"]["at"].clone();
    assert!(
        stored.as_i64().unwrap() > 1_700_000_000_000,
        "$now was resolved at write time: {stored}"
    );
}

#[tokio::test]
async fn filters_restrict_deletes_and_counts() {
    let kv = seeded().await;
    let res = kv
        .post(
            "/keyval/api/keys/delete-batch",
            json!({"keys": [["people"]], "where": {"role": "user"}}),
        )
        .await;
    assert_eq!(res.json()["deletedCount"], 2);
    assert_eq!(ids(&kv, json!({})).await, ["ada", "num"]);
}
