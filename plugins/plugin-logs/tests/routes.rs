//! The logs plugin through the real loader and pipeline: adding, filtering, stats, clearing,
//! bad input, redaction, the services, and the SSE feed across ring trimming.

mod support;

use std::time::Duration;

use buntime_plugin_logs::{Filter, LogsService, NAME};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use support::{MANIFEST, add, manifest_with, messages, post, start};

#[tokio::test]
async fn entries_come_back_newest_first_with_stats() {
    let h = start(MANIFEST).await;
    let empty = h.get("/logs/api").await;
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.json(),
        json!({"logs": [], "stats": {"counts": {"debug": 0, "error": 0, "info": 0, "warn": 0}, "newest": null, "oldest": null, "total": 0}})
    );
    let res = post(
        &h,
        "/logs/api",
        r#"{"level":"info","message":"first","source":"test","meta":{"n":1}}"#,
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["success"], true);
    add(&h, "error", "second", "test").await;
    let v = h.get("/logs/api").await.json();
    assert_eq!(messages(&v), ["second", "first"]);
    let first = &v["logs"][1];
    assert_eq!(
        (
            first["id"].as_u64(),
            first["level"].as_str(),
            first["source"].as_str()
        ),
        (Some(1), Some("info"), Some("test"))
    );
    assert_eq!(first["meta"], json!({"n": 1}));
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
    let stats = h.get("/logs/api/stats").await.json();
    assert_eq!(
        stats["counts"],
        json!({"debug": 0, "error": 1, "info": 1, "warn": 0})
    );
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["oldest"], first["timestamp"]);
}

#[tokio::test]
async fn filters_select_by_level_and_case_insensitive_search_in_message_or_source_with_a_limit() {
    let h = start(MANIFEST).await;
    add(&h, "info", "Database ready", "@buntime/plugin-database").await;
    add(&h, "warn", "slow request", "gateway").await;
    add(&h, "info", "hello", "Greeter").await;
    assert_eq!(
        messages(&h.get("/logs/api?level=warn").await.json()),
        ["slow request"]
    );
    assert_eq!(
        messages(&h.get("/logs/api?search=READY").await.json()),
        ["Database ready"]
    );
    assert_eq!(
        messages(&h.get("/logs/api?search=greet").await.json()),
        ["hello"]
    );
    assert_eq!(
        messages(&h.get("/logs/api?level=info&limit=1").await.json()),
        ["hello"]
    );
    assert_eq!(
        h.get("/logs/api?level=info&limit=1").await.json()["stats"]["total"],
        3,
        "stats cover the whole buffer"
    );
}

#[tokio::test]
async fn the_ring_keeps_max_entries_and_clear_empties_it() {
    let h = start(&manifest_with(&[("maxEntries: 1000", "maxEntries: 3")])).await;
    for i in 0..5 {
        add(&h, "debug", &format!("m{i}"), "t").await;
    }
    let v = h.get("/logs/api").await.json();
    assert_eq!(messages(&v), ["m4", "m3", "m2"]);
    assert_eq!(v["stats"]["counts"]["debug"], 3);
    let res = post(&h, "/logs/api/clear", "").await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"success": true}))
    );
    assert_eq!(h.get("/logs/api/stats").await.json()["total"], 0);
}

#[tokio::test]
async fn bad_input_gets_a_400_naming_the_field() {
    let h = start(MANIFEST).await;
    for (body, field) in [
        (r#"{"message":"x"}"#, "level"),
        (r#"{"level":"loud","message":"x"}"#, "level"),
        (r#"{"level":"info"}"#, "message"),
        (r#"{"level":"info","message":5}"#, "message"),
        (r#"{"level":"info","message":"x","source":""}"#, "source"),
        ("[1,2]", "object"),
        ("not json", "JSON"),
    ] {
        let res = post(&h, "/logs/api", body).await;
        assert_eq!(res.status, 400, "{body}");
        assert_eq!(res.json()["code"], "VALIDATION_ERROR");
        assert!(
            res.json()["message"].as_str().unwrap().contains(field),
            "{body}: {}",
            res.text()
        );
    }
    for (query, field) in [
        ("level=loud", "level"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("limit=100001", "limit"),
    ] {
        let res = h.get(&format!("/logs/api?{query}")).await;
        assert_eq!(res.status, 400, "{query}");
        assert!(
            res.json()["message"].as_str().unwrap().contains(field),
            "{query}: {}",
            res.text()
        );
    }
    assert_eq!(
        h.get("/logs/api/stats").await.json()["total"],
        0,
        "nothing bad was stored"
    );
}

#[tokio::test]
async fn bad_manifest_keys_stop_the_plugin_and_are_named() {
    let err = buntime_testkit::PluginHarness::new(
        &manifest_with(&[("maxEntries: 1000", "maxEntries: 0")]),
        buntime_plugin_logs::LogsPlugin::new,
    )
    .start()
    .await
    .unwrap_err();
    assert!(err.to_string().contains("maxEntries"), "{err}");
}

#[tokio::test]
async fn secrets_in_added_entries_never_reach_readers() {
    let h = start(MANIFEST).await;
    let body = json!({
        "level": "warn",
        "message": "denied btk_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY with Authorization: Bearer eyJhbGciOi.payload.sig",
        "source": "gateway",
        "meta": {"headers": {"cookie": "sid=s3ss10n", "x-api-key": "master-secret-1"}, "password": "hunter22"},
    });
    assert_eq!(post(&h, "/logs/api", &body.to_string()).await.status, 200);
    let text = h.get("/logs/api").await.text();
    for secret in [
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
        "eyJhbGciOi",
        "s3ss10n",
        "master-secret-1",
        "hunter22",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("[REDACTED]"));
}

#[tokio::test]
async fn the_typed_and_json_services_add_query_count_and_clear() {
    let h = start(MANIFEST).await;
    let typed = h
        .generation()
        .services
        .get::<LogsService>(NAME)
        .expect("typed service");
    let json_svc = h
        .generation()
        .services
        .get_json(NAME)
        .expect("JSON service");
    let added = json_svc
        .call(
            "addLog",
            vec![json!({"level": "warn", "message": "from js", "source": "js-plugin"})],
        )
        .await
        .unwrap();
    assert_eq!(added["success"], true);
    assert_eq!(typed.get_logs(&Filter::default())[0].message, "from js");
    let got = json_svc
        .call("getLogs", vec![json!({"level": "warn", "limit": 5})])
        .await
        .unwrap();
    assert_eq!(got[0]["source"], "js-plugin");
    assert_eq!(
        json_svc.call("getStats", vec![]).await.unwrap()["counts"]["warn"],
        1
    );
    let err = json_svc
        .call("addLog", vec![json!({"message": "no level"})])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("level"), "{err}");
    assert!(
        json_svc
            .call("getLogs", vec![json!({"limit": 0})])
            .await
            .is_err()
    );
    assert!(json_svc.call("nope", vec![]).await.is_err());
    json_svc.call("clearLogs", vec![]).await.unwrap();
    assert_eq!(typed.get_stats()["total"], 0);
}

/// Reads SSE events until `done` says enough, parsing each event's `id` and JSON `data`.
async fn read_events(
    body: &mut axum::body::Body,
    buf: &mut String,
    mut done: impl FnMut(&[(u64, Value)]) -> bool,
) -> Vec<(u64, Value)> {
    let mut events = Vec::new();
    while !done(&events) {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&data));
        }
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in event.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            events.push((
                id.expect("every event has an id"),
                data.expect("every event has JSON data"),
            ));
        }
    }
    events
}

fn ids(events: &[(u64, Value)]) -> Vec<u64> {
    events
        .iter()
        .flat_map(|(_, d)| {
            d["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_u64().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn sse_sends_each_new_entry_exactly_once_in_order_although_the_ring_is_trimmed() {
    let h = start(&manifest_with(&[
        ("maxEntries: 1000", "maxEntries: 3"),
        ("sseInterval: 1000", "sseInterval: 100"),
    ]))
    .await;
    add(&h, "info", "before", "t").await;
    let req = http::Request::builder()
        .uri("/logs/api/sse")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = h.send_streaming(req).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut buf = String::new();
    let mut all = read_events(&mut body, &mut buf, |e| !e.is_empty()).await;
    assert!(
        ids(&all).is_empty(),
        "entries from before the connection are not replayed"
    );
    assert_eq!(all[0].1["stats"]["total"], 1);
    // Ten entries through a ring of three: each shows up once, whatever tick it lands in.
    for i in 0..10 {
        add(&h, "info", &format!("live {i}"), "t").await;
        let want = u64::try_from(i).unwrap() + 2;
        let more = read_events(&mut body, &mut buf, |e| ids(e).contains(&want)).await;
        all.extend(more);
    }
    assert_eq!(ids(&all), (2..=11).collect::<Vec<u64>>());
    assert!(all.iter().all(|(_, d)| d.get("missed").is_none()));
    let (last_event_id, _) = all.last().unwrap();
    assert_eq!(*last_event_id, 11);
}

#[tokio::test]
async fn sse_resumes_after_last_event_id_and_reports_entries_it_can_no_longer_send() {
    let h = start(&manifest_with(&[
        ("maxEntries: 1000", "maxEntries: 3"),
        ("sseInterval: 1000", "sseInterval: 100"),
    ]))
    .await;
    for i in 0..6 {
        add(&h, "info", &format!("m{i}"), "t").await;
    }
    let req = http::Request::builder()
        .uri("/logs/api/sse")
        .header("last-event-id", "2")
        .body(axum::body::Body::empty())
        .unwrap();
    let mut body = h.send_streaming(req).await.into_body();
    let mut buf = String::new();
    let events = read_events(&mut body, &mut buf, |e| !e.is_empty()).await;
    assert_eq!(ids(&events), [4, 5, 6]);
    assert_eq!(
        events[0].1["missed"], 1,
        "entry 3 left the ring before the client came back"
    );
}
