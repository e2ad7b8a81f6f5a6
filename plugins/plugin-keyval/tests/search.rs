//! `/keyval/api/indexes` and `/keyval/api/search`: FTS5 indexes created, listed and removed,
//! back-filled, kept in step with sets and deletes, tokenizers, query syntax and the errors.

mod support;

use serde_json::{Value, json};
use support::{Kv, start};

async fn create_index(kv: &Kv, body: Value) {
    let res = kv.post("/keyval/api/indexes", body).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"ok": true})),
        "{}",
        res.text()
    );
}

async fn put(kv: &Kv, path: &str, value: Value) {
    let res = kv.put(&format!("/keyval/api/keys/{path}"), value).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

/// Searches with `POST /api/search` and returns the matching keys, best first.
async fn search(kv: &Kv, prefix: Value, query: &str) -> Vec<Value> {
    let res = kv
        .post(
            "/keyval/api/search",
            json!({"prefix": prefix, "query": query}),
        )
        .await;
    assert_eq!(res.status, 200, "{query}: {}", res.text());
    res.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].clone())
        .collect()
}

fn sorted(mut keys: Vec<Value>) -> Vec<Value> {
    keys.sort_by_key(ToString::to_string);
    keys
}

#[tokio::test]
async fn fts5_is_compiled_into_the_bundled_sqlite() {
    let kv = start().await;
    let res = kv
        .engine()
        .query(buntime_plugin_database::Statement::new(
            "SELECT sqlite_compileoption_used('ENABLE_FTS5')",
        ))
        .await
        .unwrap();
    assert_eq!(
        res.rows[0][0],
        buntime_plugin_database::Value::Integer(1),
        "libsqlite3-sys's bundled build enables FTS5"
    );
}

#[tokio::test]
async fn indexes_are_created_listed_and_removed() {
    let kv = start().await;
    create_index(&kv, json!({"prefix": ["posts"], "options": {"fields": ["title", "body"], "tokenize": "porter"}})).await;
    // The original SDK's flat shape is accepted too (§S-2).
    create_index(&kv, json!({"prefix": ["users"], "fields": ["name"]})).await;
    let list = kv.get("/keyval/api/indexes").await.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let posts = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["prefix"] == json!(["posts"]))
        .unwrap();
    assert_eq!(
        (posts["fields"].clone(), posts["tokenize"].clone()),
        (json!(["title", "body"]), json!("porter"))
    );
    let table = posts["tableName"].as_str().unwrap();
    assert!(table.starts_with("kv_fts_") && table.len() == 23, "{table}");
    let users = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["prefix"] == json!(["users"]))
        .unwrap();
    assert_eq!(users["tokenize"], "unicode61", "the default tokenizer");

    let res = kv.delete("/keyval/api/indexes?prefix=posts", None).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"ok": true}))
    );
    let list = kv.get("/keyval/api/indexes").await.json();
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i["prefix"].clone())
            .collect::<Vec<_>>(),
        [json!(["users"])]
    );
    let tables = kv
        .engine()
        .query(buntime_plugin_database::Statement::with_args(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = ?",
            [buntime_plugin_database::Value::from(table)],
        ))
        .await
        .unwrap();
    assert_eq!(
        tables.rows[0][0],
        buntime_plugin_database::Value::Integer(0),
        "the FTS table is dropped"
    );
    let res = kv.delete("/keyval/api/indexes?prefix=posts", None).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"ok": true})),
        "idempotent"
    );
}

#[tokio::test]
async fn creating_an_index_back_fills_existing_entries() {
    let kv = start().await;
    put(
        &kv,
        "posts/1",
        json!({"title": "Rust ownership explained", "meta": {"tags": ["memory", "safety"]}}),
    )
    .await;
    put(
        &kv,
        "posts/2",
        json!({"title": "Cooking pasta", "meta": {"tags": ["food"]}}),
    )
    .await;
    put(
        &kv,
        "drafts/1",
        json!({"title": "Rust drafts are not under the prefix"}),
    )
    .await;
    kv.put(
        "/keyval/api/keys/posts/3?expiresIn=1",
        json!({"title": "Rust expired"}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    create_index(
        &kv,
        json!({"prefix": ["posts"], "options": {"fields": ["title", "meta.tags"]}}),
    )
    .await;
    assert_eq!(
        search(&kv, json!(["posts"]), "rust").await,
        [json!(["posts", 1])],
        "back-filled, prefix-scoped, expired hidden"
    );
    assert_eq!(
        search(&kv, json!(["posts"]), "safety").await,
        [json!(["posts", 1])],
        "nested arrays are indexed"
    );
    let res = kv
        .post(
            "/keyval/api/search",
            json!({"prefix": ["posts"], "query": "pasta"}),
        )
        .await;
    let vs = kv.get("/keyval/api/keys/posts/2").await.json()["versionstamp"].clone();
    assert_eq!(
        res.json(),
        json!([{"key": ["posts", 2], "value": {"title": "Cooking pasta", "meta": {"tags": ["food"]}}, "versionstamp": vs}]),
        "live entries"
    );
}

#[tokio::test]
async fn sets_updates_and_deletes_keep_the_index_in_step() {
    let kv = start().await;
    create_index(
        &kv,
        json!({"prefix": ["docs"], "options": {"fields": ["text", "n"]}}),
    )
    .await;
    put(&kv, "docs/a", json!({"text": "alpha beta", "n": 42})).await;
    put(&kv, "docs/b", json!({"text": "beta gamma"})).await;
    assert_eq!(
        sorted(search(&kv, json!(["docs"]), "beta").await),
        [json!(["docs", "a"]), json!(["docs", "b"])]
    );
    assert_eq!(
        search(&kv, json!(["docs"]), "42").await,
        [json!(["docs", "a"])],
        "numbers are stringified"
    );

    put(&kv, "docs/a", json!({"text": "delta"})).await;
    assert_eq!(
        search(&kv, json!(["docs"]), "beta").await,
        [json!(["docs", "b"])],
        "the old text is gone"
    );
    assert_eq!(
        search(&kv, json!(["docs"]), "delta").await,
        [json!(["docs", "a"])]
    );

    kv.delete("/keyval/api/keys/docs/b", None).await;
    assert_eq!(
        search(&kv, json!(["docs"]), "gamma").await,
        Vec::<Value>::new()
    );
    // Deleted, then set again: indexed once, not twice.
    put(&kv, "docs/b", json!({"text": "gamma again"})).await;
    assert_eq!(
        search(&kv, json!(["docs"]), "gamma").await,
        [json!(["docs", "b"])]
    );
    // Atomic sets are indexed too.
    let res = kv.post("/keyval/api/atomic", json!({"mutations": [{"type": "set", "key": ["docs", "c"], "value": {"text": "epsilon"}}]})).await;
    assert_eq!(res.json()["ok"], true, "{}", res.text());
    assert_eq!(
        search(&kv, json!(["docs"]), "epsilon").await,
        [json!(["docs", "c"])]
    );
    let res = kv
        .post(
            "/keyval/api/atomic",
            json!({"mutations": [{"type": "delete", "key": ["docs", "c"]}]}),
        )
        .await;
    assert_eq!(res.json()["ok"], true, "{}", res.text());
    assert_eq!(
        search(&kv, json!(["docs"]), "epsilon").await,
        Vec::<Value>::new()
    );
    let table = kv.get("/keyval/api/indexes").await.json()[0]["tableName"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = kv
        .engine()
        .query(buntime_plugin_database::Statement::new(format!(
            "SELECT COUNT(*) FROM {table}"
        )))
        .await
        .unwrap();
    assert_eq!(
        rows.rows[0][0],
        buntime_plugin_database::Value::Integer(2),
        "one row per live entry (a, b): deletes remove theirs"
    );
}

#[tokio::test]
async fn porter_stems_and_unicode61_does_not() {
    let kv = start().await;
    create_index(
        &kv,
        json!({"prefix": ["stem"], "options": {"fields": ["t"], "tokenize": "porter"}}),
    )
    .await;
    create_index(
        &kv,
        json!({"prefix": ["plain"], "options": {"fields": ["t"], "tokenize": "unicode61"}}),
    )
    .await;
    for p in ["stem", "plain"] {
        put(
            &kv,
            &format!("{p}/1"),
            json!({"t": "The runners were running"}),
        )
        .await;
        put(&kv, &format!("{p}/2"), json!({"t": "Café Olé"})).await;
    }
    assert_eq!(
        search(&kv, json!(["stem"]), "run").await,
        [json!(["stem", 1])]
    );
    assert_eq!(
        search(&kv, json!(["plain"]), "run").await,
        Vec::<Value>::new()
    );
    assert_eq!(
        search(&kv, json!(["plain"]), "running").await,
        [json!(["plain", 1])]
    );
    assert_eq!(
        search(&kv, json!(["plain"]), "cafe").await,
        [json!(["plain", 2])],
        "unicode61 folds diacritics"
    );
    assert_eq!(
        search(&kv, json!(["plain"]), "CAFÉ").await,
        [json!(["plain", 2])],
        "and case"
    );
}

#[tokio::test]
async fn and_or_not_phrases_limit_and_where() {
    let kv = start().await;
    create_index(
        &kv,
        json!({"prefix": ["p"], "options": {"fields": ["title", "body"]}}),
    )
    .await;
    put(
        &kv,
        "p/1",
        json!({"title": "red apple", "body": "sweet", "price": 3}),
    )
    .await;
    put(
        &kv,
        "p/2",
        json!({"title": "green apple", "body": "sour", "price": 5}),
    )
    .await;
    put(
        &kv,
        "p/3",
        json!({"title": "red cherry", "body": "sweet", "price": 9}),
    )
    .await;
    assert_eq!(
        search(&kv, json!(["p"]), "red AND apple").await,
        [json!(["p", 1])]
    );
    assert_eq!(
        search(&kv, json!(["p"]), "red apple").await,
        [json!(["p", 1])],
        "implicit AND"
    );
    assert_eq!(
        sorted(search(&kv, json!(["p"]), "cherry OR green").await),
        [json!(["p", 2]), json!(["p", 3])]
    );
    assert_eq!(
        search(&kv, json!(["p"]), "apple NOT green").await,
        [json!(["p", 1])]
    );
    assert_eq!(
        search(&kv, json!(["p"]), "\"red cherry\"").await,
        [json!(["p", 3])]
    );
    assert_eq!(
        sorted(search(&kv, json!(["p"]), "app*").await),
        [json!(["p", 1]), json!(["p", 2])]
    );
    assert_eq!(
        search(&kv, json!(["p"]), "sweet").await.len(),
        2,
        "every field is searched"
    );

    let res = kv
        .post(
            "/keyval/api/search",
            json!({"prefix": ["p"], "query": "sweet OR sour", "options": {"limit": 1}}),
        )
        .await;
    assert_eq!(res.json().as_array().unwrap().len(), 1);
    let res = kv.post("/keyval/api/search", json!({"prefix": ["p"], "query": "apple OR cherry", "options": {"where": {"price": {"$gte": 5}}}})).await;
    assert_eq!(
        sorted(
            res.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["key"].clone())
                .collect()
        ),
        [json!(["p", 2]), json!(["p", 3])]
    );
    // The SDK's top-level `where` (§S-2).
    let res = kv
        .post(
            "/keyval/api/search",
            json!({"prefix": ["p"], "query": "red", "where": {"price": {"$lt": 5}}}),
        )
        .await;
    assert_eq!(
        res.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].clone())
            .collect::<Vec<_>>(),
        [json!(["p", 1])]
    );

    let res = kv
        .get("/keyval/api/search?prefix=p&query=cherry&limit=5")
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()[0]["key"], json!(["p", 3]));
}

#[tokio::test]
async fn bad_queries_and_unindexed_prefixes_are_client_errors() {
    let kv = start().await;
    create_index(&kv, json!({"prefix": ["p"], "options": {"fields": ["t"]}})).await;
    put(&kv, "p/1", json!({"t": "x"})).await;
    for q in ["\"unterminated", "AND", "a OR", "(a", "nosuchcol: a"] {
        let res = kv
            .post("/keyval/api/search", json!({"prefix": ["p"], "query": q}))
            .await;
        assert_eq!(res.status, 400, "{q}: {}", res.text());
        assert!(
            res.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("query is not a valid full-text query"),
            "{q}: {}",
            res.text()
        );
    }
    let res = kv
        .post(
            "/keyval/api/search",
            json!({"prefix": ["other"], "query": "x"}),
        )
        .await;
    assert_eq!(res.status, 404, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({"error": "No search index on prefix [\"other\"]; create one with POST /api/indexes"})
    );
    let res = kv.get("/keyval/api/search?prefix=p/1&query=x").await;
    assert_eq!(
        res.status, 404,
        "only an index on exactly the prefix serves it"
    );

    for (body, error) in [
        (json!({"query": "x"}), "prefix is required"),
        (json!({"prefix": ["p"]}), "query is required"),
        (json!({"prefix": ["p"], "query": "  "}), "query is required"),
        (
            json!({"prefix": ["p"], "query": "x", "options": {"limit": 0}}),
            "limit must be a positive integer",
        ),
    ] {
        let res = kv.post("/keyval/api/search", body.clone()).await;
        assert_eq!(
            (res.status.as_u16(), res.json()),
            (400, json!({"error": error})),
            "{body}"
        );
    }
    for path in ["/keyval/api/search?query=x", "/keyval/api/search?prefix=p"] {
        assert_eq!(kv.get(path).await.status, 400, "{path}");
    }
    let res = kv
        .post(
            "/keyval/api/search",
            json!({"prefix": ["p"], "query": "x", "options": {"where": {"t": {"$nope": 1}}}}),
        )
        .await;
    assert_eq!(res.status, 400);

    for (body, error) in [
        (
            json!({"prefix": ["p"], "options": {}}),
            "options.fields must be a non-empty array",
        ),
        (
            json!({"prefix": ["p"], "options": {"fields": "t"}}),
            "options.fields must be a non-empty array",
        ),
        (
            json!({"prefix": ["p"], "options": {"fields": []}}),
            "At least one field must be specified",
        ),
        (
            json!({"prefix": ["p"], "options": {"fields": [1]}}),
            "options.fields[0] must be a string",
        ),
        (json!({"options": {"fields": ["t"]}}), "prefix is required"),
    ] {
        let res = kv.post("/keyval/api/indexes", body.clone()).await;
        assert_eq!(
            (res.status.as_u16(), res.json()),
            (400, json!({"error": error})),
            "{body}"
        );
    }
    let res = kv
        .post(
            "/keyval/api/indexes",
            json!({"prefix": ["p"], "options": {"fields": ["t"], "tokenize": "trigram"}}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("options.tokenize")
    );
    let res = kv.delete("/keyval/api/indexes", None).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (400, json!({"error": "prefix is required"}))
    );
}

#[tokio::test]
async fn recreating_an_index_with_other_fields_replaces_it() {
    let kv = start().await;
    put(&kv, "r/1", json!({"a": "apple", "b": "banana"})).await;
    create_index(&kv, json!({"prefix": ["r"], "options": {"fields": ["a"]}})).await;
    assert_eq!(
        search(&kv, json!(["r"]), "banana").await,
        Vec::<Value>::new()
    );
    create_index(&kv, json!({"prefix": ["r"], "options": {"fields": ["b"]}})).await;
    assert_eq!(search(&kv, json!(["r"]), "banana").await, [json!(["r", 1])]);
    assert_eq!(
        search(&kv, json!(["r"]), "apple").await,
        Vec::<Value>::new()
    );
    assert_eq!(
        kv.get("/keyval/api/indexes")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
