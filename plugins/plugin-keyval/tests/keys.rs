//! `/keyval/api/keys…`: CRUD by path key, batch reads and deletes, list/count/paginate, expiry and
//! the 400s for bad input, all against the real database plugin and SQLite.

mod support;

use serde_json::{Value, json};
use support::{start, start_with};

fn keys_of(list: &Value) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].clone())
        .collect()
}

#[tokio::test]
async fn put_get_and_delete_by_path_key() {
    let kv = start().await;
    let res = kv
        .put(
            "/keyval/api/keys/users/42",
            json!({"name": "Ada", "n": {"__type": "bigint", "value": "9007199254740993"}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let vs = res.json()["versionstamp"].as_str().unwrap().to_owned();
    assert_eq!(res.json()["ok"], true);
    assert_eq!(uuid_version(&vs), 7, "versionstamps are UUIDv7: {vs}");

    let res = kv.get("/keyval/api/keys/users/42").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json(),
        json!({"key": ["users", 42], "value": {"name": "Ada", "n": {"__type": "bigint", "value": "9007199254740993"}}, "versionstamp": vs})
    );

    let res = kv.put("/keyval/api/keys/users/42", json!("v2")).await;
    let vs2 = res.json()["versionstamp"].as_str().unwrap().to_owned();
    assert_ne!(vs, vs2, "every set gets a new versionstamp");
    assert!(vs2 > vs, "UUIDv7 versionstamps sort by time");

    let res = kv.get("/keyval/api/keys/users/43").await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (404, json!({"error": "Key not found"}))
    );

    // Percent-encoded separators stay inside their part; numbers only when they are safe integers.
    kv.put("/keyval/api/keys/a%2Fb/007", json!(1)).await;
    assert_eq!(
        kv.get("/keyval/api/keys/a%2Fb/007").await.json()["key"],
        json!(["a/b", 7])
    );
    // A fixed route name is still a usable key for the other methods.
    assert_eq!(kv.put("/keyval/api/keys/count", json!(5)).await.status, 200);
    assert_eq!(
        kv.delete("/keyval/api/keys/count", None).await.json(),
        json!({"deletedCount": 1})
    );
}

fn uuid_version(s: &str) -> u32 {
    s.chars().nth(14).and_then(|c| c.to_digit(16)).unwrap_or(0)
}

#[tokio::test]
async fn delete_takes_the_subtree_unless_exact_and_honours_where() {
    let kv = start().await;
    for (path, v) in [
        ("t", json!(0)),
        ("t/a", json!({"s": "on"})),
        ("t/a/x", json!({"s": "off"})),
        ("t/b", json!({"s": "on"})),
        ("tz", json!(1)),
    ] {
        assert_eq!(
            kv.put(&format!("/keyval/api/keys/{path}"), v).await.status,
            200
        );
    }
    let res = kv
        .delete("/keyval/api/keys/t/a", Some(json!({"exact": true})))
        .await;
    assert_eq!(res.json(), json!({"deletedCount": 1}));
    assert_eq!(
        kv.get("/keyval/api/keys/t/a/x").await.status,
        200,
        "exact leaves descendants"
    );

    let res = kv
        .delete("/keyval/api/keys/t", Some(json!({"where": {"s": "on"}})))
        .await;
    assert_eq!(res.json(), json!({"deletedCount": 1}), "only t/b matches");
    let res = kv.delete("/keyval/api/keys/t", None).await;
    assert_eq!(res.json(), json!({"deletedCount": 2}), "t and t/a/x");
    assert_eq!(
        kv.get("/keyval/api/keys/tz").await.status,
        200,
        "a sibling sharing the prefix text is untouched"
    );
    assert_eq!(
        kv.delete("/keyval/api/keys/t", None).await.json(),
        json!({"deletedCount": 0})
    );
}

#[tokio::test]
async fn batch_get_keeps_request_order_with_null_misses() {
    let kv = start().await;
    kv.put("/keyval/api/keys/b", json!(2)).await;
    kv.put("/keyval/api/keys/a", json!(1)).await;
    let res = kv
        .post(
            "/keyval/api/keys/batch",
            json!({"keys": [["b"], ["zz"], ["a"], ["b"]]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(
        keys_of(&body),
        [json!(["b"]), json!(["zz"]), json!(["a"]), json!(["b"])]
    );
    assert_eq!(
        body[1],
        json!({"key": ["zz"], "value": null, "versionstamp": null})
    );
    assert_eq!(
        (
            body[0]["value"].clone(),
            body[2]["value"].clone(),
            body[3]["value"].clone()
        ),
        (json!(2), json!(1), json!(2))
    );

    let res = kv
        .post(
            "/keyval/api/keys/delete-batch",
            json!({"keys": [["a"], ["b"], ["zz"]]}),
        )
        .await;
    assert_eq!(res.json(), json!({"deletedCount": 2, "success": true}));
}

#[tokio::test]
async fn list_count_and_paginate_cover_strict_descendants_in_key_order() {
    let kv = start().await;
    kv.put("/keyval/api/keys/p", json!("self")).await;
    for i in [3, 1, 10, 2] {
        kv.put(&format!("/keyval/api/keys/p/{i}"), json!({"i": i}))
            .await;
    }
    kv.put("/keyval/api/keys/p/x/deep", json!("deep")).await;
    kv.put("/keyval/api/keys/pq", json!("sibling")).await;

    let list = kv.get("/keyval/api/keys?prefix=p").await.json();
    assert_eq!(
        keys_of(&list),
        [
            json!(["p", "x", "deep"]),
            json!(["p", 1]),
            json!(["p", 2]),
            json!(["p", 3]),
            json!(["p", 10])
        ],
        "types order by tag (strings before numbers); numbers numerically"
    );
    let list = kv
        .get("/keyval/api/keys?prefix=p&reverse=true&limit=2")
        .await
        .json();
    assert_eq!(keys_of(&list), [json!(["p", 10]), json!(["p", 3])]);
    let list = kv
        .get("/keyval/api/keys?prefix=p&start=p/2&end=p/10")
        .await
        .json();
    assert_eq!(
        keys_of(&list),
        [json!(["p", 2]), json!(["p", 3])],
        "start inclusive, end exclusive"
    );
    assert_eq!(
        kv.get("/keyval/api/keys")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        7,
        "no prefix: everything"
    );

    let list = kv
        .post(
            "/keyval/api/keys/list",
            json!({"prefix": ["p"], "where": {"i": {"$gte": 3}}}),
        )
        .await
        .json();
    assert_eq!(keys_of(&list), [json!(["p", 3]), json!(["p", 10])]);

    assert_eq!(
        kv.get("/keyval/api/keys/count?prefix=p").await.json(),
        json!({"count": 5})
    );
    assert_eq!(
        kv.get("/keyval/api/keys/count").await.json(),
        json!({"count": 7})
    );

    let mut seen = Vec::new();
    let mut url = "/keyval/api/keys/paginate?prefix=p&limit=2".to_owned();
    loop {
        let page = kv.get(&url).await.json();
        seen.extend(keys_of(&page["entries"]));
        if page["hasMore"] == false {
            assert_eq!(page["cursor"], Value::Null);
            break;
        }
        let cursor = page["cursor"].as_str().unwrap();
        url = format!(
            "/keyval/api/keys/paginate?prefix=p&limit=2&cursor={}",
            urlencode(cursor)
        );
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(
        seen,
        keys_of(&kv.get("/keyval/api/keys?prefix=p").await.json())
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[tokio::test]
async fn list_limit_is_capped_and_non_positive_limits_are_refused() {
    let kv = start().await;
    let res = kv.get("/keyval/api/keys?limit=0").await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (400, json!({"error": "limit must be a positive integer"}))
    );
    assert_eq!(kv.get("/keyval/api/keys?limit=-5").await.status, 400);
    assert_eq!(kv.get("/keyval/api/keys?limit=abc").await.status, 400);
    assert_eq!(kv.get("/keyval/api/keys?limit=100000").await.status, 200);
}

#[tokio::test]
async fn expired_entries_are_hidden_then_swept() {
    let kv = start_with("sweepInterval: 100").await;
    assert_eq!(
        kv.put("/keyval/api/keys/tmp?expiresIn=150", json!(1))
            .await
            .status,
        200
    );
    kv.put("/keyval/api/keys/tmp2", json!(2)).await;
    assert_eq!(kv.get("/keyval/api/keys/tmp").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(kv.get("/keyval/api/keys/tmp").await.status, 404, "expired");
    assert_eq!(
        kv.get("/keyval/api/keys/count").await.json(),
        json!({"count": 1})
    );
    assert_eq!(
        keys_of(&kv.get("/keyval/api/keys").await.json()),
        [json!(["tmp2"])]
    );
    // The sweeper removes the row itself.
    let mut rows = 1;
    for _ in 0..50 {
        let res = kv
            .engine()
            .query(buntime_plugin_database::Statement::new(
                "SELECT COUNT(*) FROM kv_entries",
            ))
            .await
            .unwrap();
        rows = match res.rows[0][0] {
            buntime_plugin_database::Value::Integer(n) => n,
            _ => -1,
        };
        if rows == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rows, 1, "the sweeper deleted the expired row");
}

#[tokio::test]
async fn bad_input_answers_400_naming_the_field() {
    let kv = start_with("maxValueBytes: 1024").await;
    let cases: Vec<(http::Method, &str, Option<Value>, &str)> = vec![
        (
            http::Method::PUT,
            "/keyval/api/keys/a?expiresIn=0",
            Some(json!(1)),
            "expiresIn must be a positive number",
        ),
        (
            http::Method::PUT,
            "/keyval/api/keys/a?expiresIn=soon",
            Some(json!(1)),
            "expiresIn",
        ),
        (
            http::Method::PUT,
            "/keyval/api/keys/a",
            None,
            "body must be the JSON value to store",
        ),
        (
            http::Method::PUT,
            "/keyval/api/keys/a",
            Some(json!("x".repeat(2000))),
            "maxValueBytes",
        ),
        (
            http::Method::POST,
            "/keyval/api/keys/batch",
            Some(json!({"keys": []})),
            "keys must not be empty",
        ),
        (
            http::Method::POST,
            "/keyval/api/keys/batch",
            Some(json!({"keys": [["a"], [null]]})),
            "keys[1]: key part 0",
        ),
        (
            http::Method::POST,
            "/keyval/api/keys/batch",
            Some(json!({"keys": vec![json!(["a"]); 1001]})),
            "at most 1000 keys",
        ),
        (
            http::Method::POST,
            "/keyval/api/keys/batch",
            Some(json!({})),
            "keys must be an array",
        ),
        (
            http::Method::POST,
            "/keyval/api/keys/list",
            Some(json!({"prefix": 3})),
            "prefix must be a key",
        ),
        (
            http::Method::POST,
            "/keyval/api/keys/list",
            Some(json!({"where": {"a": {"$regex": "x"}}})),
            "where: `a`: unknown operator $regex",
        ),
        (
            http::Method::POST,
            "/keyval/api/keys/delete-batch",
            Some(json!({"keys": [["a"]], "exact": "yes"})),
            "exact must be true or false",
        ),
        (
            http::Method::GET,
            "/keyval/api/keys/paginate?cursor=%%%",
            None,
            "cursor",
        ),
    ];
    for (method, path, body, needle) in cases {
        let res = kv.send(method.clone(), path, body).await;
        assert_eq!(res.status, 400, "{method} {path}: {}", res.text());
        let err = res.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(err.contains(needle), "{method} {path}: {err}");
    }
    let long = format!("/keyval/api/keys/{}", vec!["p"; 21].join("/"));
    let res = kv.put(&long, json!(1)).await;
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .contains("limited to 20 parts"),
        "{}",
        res.text()
    );
    let res = kv
        .put(&format!("/keyval/api/keys/{}", "x".repeat(1025)), json!(1))
        .await;
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .contains("1024 characters"),
        "{}",
        res.text()
    );
    let res = kv
        .send(http::Method::POST, "/keyval/api/keys/list", None)
        .await;
    assert_eq!(res.status, 200, "an empty list body lists everything");
}
