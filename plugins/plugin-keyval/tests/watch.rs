//! `/keyval/api/watch…`: SSE change streams fed by commits, and their polling twins.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Events, start, start_with};

const SOON: Duration = Duration::from_secs(2);

#[tokio::test]
async fn key_watch_sends_the_snapshot_then_each_commit() {
    let kv = start().await;
    kv.put("/keyval/api/keys/w/a", json!(1)).await;
    let (headers, mut events) = Events::open(&kv, "/keyval/api/watch?keys=w/a,w/b").await;
    assert_eq!(headers[http::header::CONTENT_TYPE], "text/event-stream");
    let (name, data) = events.next(SOON).await.unwrap();
    assert_eq!(name, "change");
    assert_eq!(data[0]["value"], 1);
    assert_eq!(
        data[1],
        json!({"key": ["w", "b"], "value": null, "versionstamp": null}),
        "absent keys are in the snapshot as nulls"
    );

    let vs = kv.put("/keyval/api/keys/w/b", json!("new")).await.json()["versionstamp"].clone();
    let (name, data) = events.next(SOON).await.expect("the write arrives");
    assert_eq!(
        (name.as_str(), data),
        (
            "change",
            json!([{"key": ["w", "b"], "value": "new", "versionstamp": vs}])
        )
    );

    kv.put("/keyval/api/keys/w/other", json!(0)).await;
    kv.delete("/keyval/api/keys/w/a", None).await;
    let (_, data) = events.next(SOON).await.unwrap();
    assert_eq!(
        data,
        json!([{"key": ["w", "a"], "value": null, "versionstamp": null}]),
        "unwatched keys are not reported; deletions are null entries"
    );
}

#[tokio::test]
async fn initial_false_skips_the_snapshot_and_atomic_commits_arrive_as_one_event() {
    let kv = start().await;
    let (_, mut events) = Events::open(&kv, "/keyval/api/watch?keys=x,y&initial=false").await;
    kv.post("/keyval/api/atomic", json!({"mutations": [{"type": "set", "key": ["x"], "value": 1}, {"type": "set", "key": ["y"], "value": 2}]})).await;
    let (name, data) = events.next(SOON).await.unwrap();
    assert_eq!(name, "change");
    assert_eq!(data.as_array().unwrap().len(), 2, "{data}");
    assert_eq!(data[0]["versionstamp"], data[1]["versionstamp"]);
}

#[tokio::test]
async fn prefix_watch_reports_descendants_and_deletions() {
    let kv = start().await;
    kv.put("/keyval/api/keys/room/1", json!("hi")).await;
    let (_, mut events) = Events::open(&kv, "/keyval/api/watch/prefix?prefix=room").await;
    let (_, data) = events.next(SOON).await.unwrap();
    assert_eq!(
        data,
        json!([{"key": ["room", 1], "value": "hi", "versionstamp": data[0]["versionstamp"]}])
    );
    kv.put("/keyval/api/keys/roomy", json!("not a child")).await;
    kv.put("/keyval/api/keys/room/2", json!("yo")).await;
    let (_, data) = events.next(SOON).await.unwrap();
    assert_eq!(data[0]["key"], json!(["room", 2]));
    kv.delete("/keyval/api/keys/room", None).await;
    let (_, data) = events.next(SOON).await.unwrap();
    assert_eq!(
        data,
        json!([{"key": ["room", 1], "value": null, "versionstamp": null}, {"key": ["room", 2], "value": null, "versionstamp": null}])
    );
}

#[tokio::test]
async fn quiet_streams_ping() {
    let kv = start_with("watch:\n  heartbeat: 50").await;
    let (_, mut events) = Events::open(&kv, "/keyval/api/watch?keys=q&initial=false").await;
    let (name, _) = events.next(SOON).await.unwrap();
    assert_eq!(name, "ping");
}

#[tokio::test]
async fn missing_parameters_are_400() {
    let kv = start().await;
    for (path, error) in [
        ("/keyval/api/watch", "Missing 'keys' query parameter"),
        ("/keyval/api/watch/poll", "Missing 'keys' query parameter"),
        (
            "/keyval/api/watch/prefix",
            "Missing 'prefix' query parameter",
        ),
        (
            "/keyval/api/watch/prefix/poll",
            "Missing 'prefix' query parameter",
        ),
    ] {
        let res = kv.get(path).await;
        assert_eq!(
            (res.status.as_u16(), res.json()),
            (400, json!({"error": error})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn polling_diffs_against_the_versionstamps_sent_back() {
    let kv = start().await;
    let vs_a = kv.put("/keyval/api/keys/p/a", json!(1)).await.json()["versionstamp"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = kv
        .get(&format!(
            "/keyval/api/watch/poll?keys=p/a,p/b&versionstamps={vs_a},"
        ))
        .await
        .json();
    assert_eq!(res, json!({"entries": [], "versionstamps": [vs_a, ""]}));
    let vs_b = kv.put("/keyval/api/keys/p/b", json!(2)).await.json()["versionstamp"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = kv
        .get(&format!(
            "/keyval/api/watch/poll?keys=p/a,p/b&versionstamps={vs_a},"
        ))
        .await
        .json();
    assert_eq!(
        res["entries"],
        json!([{"key": ["p", "b"], "value": 2, "versionstamp": vs_b}])
    );

    let first = kv
        .get("/keyval/api/watch/prefix/poll?prefix=p")
        .await
        .json();
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    let marks = first["versionstamps"].as_str().unwrap().to_owned();
    assert_eq!(marks, format!("p/a:{vs_a},p/b:{vs_b}"));
    kv.delete("/keyval/api/keys/p/a", None).await;
    let next = kv
        .get(&format!(
            "/keyval/api/watch/prefix/poll?prefix=p&versionstamps={marks}"
        ))
        .await
        .json();
    assert_eq!(
        next,
        json!({"entries": [{"key": ["p", "a"], "value": null, "versionstamp": null}], "versionstamps": format!("p/b:{vs_b}")})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_reach_a_watcher_in_commit_order() {
    let kv = std::sync::Arc::new(start().await);
    let (_, mut events) = Events::open(&kv, "/keyval/api/watch?keys=hot&initial=false").await;
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move {
                assert_eq!(kv.put("/keyval/api/keys/hot", json!(i)).await.status, 200)
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let last = kv.get("/keyval/api/keys/hot").await.json()["versionstamp"].clone();
    let mut seen = Vec::new();
    while seen.last() != Some(&last) {
        let (_, data) = events.next(SOON).await.expect("every write arrives");
        seen.extend(
            data.as_array()
                .unwrap()
                .iter()
                .map(|e| e["versionstamp"].clone()),
        );
    }
    assert_eq!(seen.len(), 20, "one event per commit, the stored one last");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(seen, sorted, "in commit order (UUIDv7 versionstamps grow)");
}

#[tokio::test]
async fn a_watcher_that_falls_behind_the_feed_resyncs_to_the_final_state() {
    let kv = start().await;
    let (_, mut events) =
        Events::open(&kv, "/keyval/api/watch/prefix?prefix=lagp&initial=false").await;
    // `a` is reported; then, while nobody reads the stream, `a` is deleted and 1100 more commits
    // push that deletion out of the feed's buffer (1024 commits).
    assert_eq!(
        kv.put("/keyval/api/keys/lagp/a", json!("a")).await.status,
        200
    );
    for i in 0..20 {
        kv.put("/keyval/api/keys/lagp/b", json!(i)).await;
    }
    assert_eq!(
        kv.delete("/keyval/api/keys/lagp/a", None).await.json()["deletedCount"],
        1
    );
    for i in 0..1100 {
        kv.put("/keyval/api/keys/lagp/b", json!(i)).await;
    }
    let last = kv.get("/keyval/api/keys/lagp/b").await.json()["versionstamp"].clone();
    let (mut a_deleted, mut b_final) = (false, false);
    while !(a_deleted && b_final) {
        let Some((_, data)) = events.next(Duration::from_secs(5)).await else {
            break;
        };
        for e in data.as_array().unwrap() {
            a_deleted |= e["key"] == json!(["lagp", "a"]) && e["value"].is_null();
            b_final |= e["versionstamp"] == last;
        }
    }
    assert!(
        a_deleted,
        "the deletion that fell out of the buffer is still reported"
    );
    assert!(b_final, "the last write arrives");
}
