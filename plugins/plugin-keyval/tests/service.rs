//! The services: the typed [`Kv`] engine for native plugins and the JSON service for TS plugins.

mod support;

use buntime_plugin_keyval::{AtomicOp, DeleteOptions, Key, ListOptions, Selector};
use serde_json::json;
use support::start;

#[tokio::test]
async fn the_typed_engine_reads_what_http_wrote_and_back() {
    let kv = start().await;
    let engine = kv.engine();
    kv.put("/keyval/api/keys/proxy/rules/1", json!({"path": "/a"}))
        .await;
    let key = Key::from_json(&json!(["proxy", "rules", 2])).unwrap();
    let vs = engine.set(&key, json!({"path": "/b"}), None).await.unwrap();
    assert_eq!(
        kv.get("/keyval/api/keys/proxy/rules/2").await.json()["versionstamp"],
        vs
    );

    let prefix = Key::from_json(&json!(["proxy", "rules"])).unwrap();
    let sel = Selector {
        prefix: Some(prefix.clone()),
        ..Selector::default()
    };
    let all = engine.list(&sel, &ListOptions::default()).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|e| e.value["path"].clone())
            .collect::<Vec<_>>(),
        [json!("/a"), json!("/b")]
    );
    assert_eq!(engine.count(&sel).await.unwrap(), 2);
    let op = AtomicOp::from_json(&json!({"checks": [{"key": ["proxy", "rules", 2], "versionstamp": vs}], "mutations": [{"type": "delete", "key": ["proxy", "rules", 2]}]})).unwrap();
    assert!(engine.atomic(&op).await.unwrap().is_some());
    assert_eq!(
        engine
            .delete(&prefix, &DeleteOptions::default())
            .await
            .unwrap(),
        1
    );
    assert!(engine.get(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn the_json_service_speaks_the_http_shapes() {
    let kv = start().await;
    let svc =
        kv.h.generation()
            .services
            .get_json(buntime_plugin_keyval::NAME)
            .expect("a JSON service is provided");
    let set = svc
        .call(
            "set",
            vec![
                json!(["s", 1]),
                json!({"v": 1}),
                json!({"expiresIn": 60000}),
            ],
        )
        .await
        .unwrap();
    assert_eq!(set["ok"], true);
    let got = svc.call("get", vec![json!(["s", 1])]).await.unwrap();
    assert_eq!(
        got,
        json!({"key": ["s", 1], "value": {"v": 1}, "versionstamp": set["versionstamp"]})
    );
    assert_eq!(
        svc.call("get", vec![json!(["nope"])]).await.unwrap(),
        json!({"key": ["nope"], "value": null, "versionstamp": null})
    );
    assert_eq!(
        svc.call("list", vec![json!({"prefix": ["s"]})])
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        svc.call("count", vec![json!({"prefix": ["s"]})])
            .await
            .unwrap(),
        json!(1)
    );
    let page = svc
        .call("paginate", vec![json!({"prefix": ["s"], "limit": 1})])
        .await
        .unwrap();
    assert_eq!(page["hasMore"], false);
    let commit = svc
        .call(
            "atomic",
            vec![json!({"checks": [{"key": ["s", 1], "versionstamp": null}], "mutations": []})],
        )
        .await
        .unwrap();
    assert_eq!(commit, json!({"ok": false}));
    assert_eq!(
        svc.call("delete", vec![json!(["s"])]).await.unwrap(),
        json!({"deletedCount": 1})
    );
    let err = svc
        .call(
            "set",
            vec![json!("not/a/key/array"), json!(1), json!({"expiresIn": -1})],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), buntime_core::ErrorKind::BadRequest);
    assert!(err.to_string().contains("expiresIn"), "{err}");
    let err = svc.call("frobnicate", vec![]).await.unwrap_err();
    assert!(
        err.to_string().contains("unknown method `frobnicate`"),
        "{err}"
    );
}

#[tokio::test]
async fn the_json_service_enqueues_and_searches_with_the_http_bodies() {
    let kv = start().await;
    let svc =
        kv.h.generation()
            .services
            .get_json(buntime_plugin_keyval::NAME)
            .expect("a JSON service is provided");
    let queued = svc
        .call(
            "enqueue",
            vec![json!({"value": {"to": "ada"}, "options": {"delay": 60000}})],
        )
        .await
        .unwrap();
    assert_eq!(queued["ok"], true);
    let stats = svc.call("queueStats", vec![]).await.unwrap();
    assert_eq!(stats, kv.get("/keyval/api/queue/stats").await.json());
    assert_eq!((stats["pending"].clone(), stats["total"].clone()), (json!(1), json!(1)));

    // A prefix the path form cannot name: a boolean part.
    let prefix = json!(["posts", true]);
    let created = svc
        .call(
            "createIndex",
            vec![json!({"prefix": prefix, "options": {"fields": ["title"], "tokenize": "porter"}})],
        )
        .await
        .unwrap();
    assert_eq!(created, json!({"ok": true}));
    let indexes = svc.call("listIndexes", vec![]).await.unwrap();
    assert_eq!(indexes, kv.get("/keyval/api/indexes").await.json());
    assert_eq!(
        (indexes[0]["prefix"].clone(), indexes[0]["tokenize"].clone()),
        (prefix.clone(), json!("porter"))
    );
    for (n, title, status) in [(1, "Running fast", "draft"), (2, "She runs", "published")] {
        svc.call(
            "set",
            vec![json!(["posts", true, n]), json!({"title": title, "status": status})],
        )
        .await
        .unwrap();
    }
    let hits = svc
        .call(
            "search",
            vec![json!({"prefix": prefix, "query": "run", "options": {"where": {"status": "published"}}})],
        )
        .await
        .unwrap();
    let keys: Vec<_> = hits.as_array().unwrap().iter().map(|h| h["key"].clone()).collect();
    assert_eq!(keys, [json!(["posts", true, 2])]);
    assert_eq!(
        svc.call("removeIndex", vec![json!({"prefix": prefix})])
            .await
            .unwrap(),
        json!({"ok": true})
    );
    assert_eq!(svc.call("listIndexes", vec![]).await.unwrap(), json!([]));

    for (method, args, error) in [
        ("enqueue", vec![json!({"options": {}})], "value is required"),
        ("createIndex", vec![json!({"prefix": ["p"]})], "options.fields must be a non-empty array"),
        ("search", vec![json!({"prefix": ["p"]})], "query is required"),
        ("removeIndex", vec![json!({})], "prefix is required"),
    ] {
        let err = svc.call(method, args).await.unwrap_err();
        assert_eq!(err.kind(), buntime_core::ErrorKind::BadRequest, "{method}");
        assert!(err.to_string().contains(error), "{method}: {err}");
    }
}
