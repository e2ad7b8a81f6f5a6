//! The enforcement hook: 403 JSON with reason and policy, identities from `X-Identity`, seeds,
//! excluded paths, algorithms and conditions as a request sees them.

mod support;

use http::Method;
use serde_json::json;
use support::{ADMIN, identity, start};

#[tokio::test]
async fn seeded_policies_let_admins_through_and_deny_everyone_else_with_a_reason() {
    let a = start("").await;
    let res = a.get_as("/echo/notes", Some(ADMIN)).await;
    assert_eq!(
        (res.status.as_u16(), res.text()),
        (200, "echo /notes".to_owned())
    );
    let res = a.get_as("/echo/notes", None).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.headers["content-type"], "application/json");
    assert_eq!(
        res.json(),
        json!({"error": "Forbidden", "reason": "No applicable policy", "policy": null})
    );
    let res = a
        .get_as("/echo/notes", Some(&identity("u1", &["user"])))
        .await;
    assert_eq!(res.status, 403, "`users-read-only` covers /api/** only");
    let res = a.get_as("/echo/notes", Some("{not json")).await;
    assert_eq!(res.status, 403, "a malformed identity is anonymous");
    assert!(a.h.logs().contains("malformed X-Identity"));
}

#[tokio::test]
async fn excluded_paths_are_never_evaluated() {
    let a = start("").await;
    assert_eq!(a.get_as("/echo/app.css", None).await.status, 200);
    assert_eq!(
        a.get_as("/public/logo", None).await.status,
        404,
        "not evaluated: nothing serves it"
    );
    assert_eq!(
        a.get_as("/echo/public/logo", None).await.status,
        403,
        "`^/public/` is anchored"
    );
    assert_eq!(
        a.get_as("/echo/health-records", None).await.status,
        403,
        "the original's unanchored `/health` let this through"
    );
    assert_eq!(a.get_as("/echo/private", None).await.status, 403);
}

#[tokio::test]
async fn without_policies_and_identity_requests_pass_but_identified_callers_get_the_default() {
    let a = start("policySeed:\n  enabled: false\n").await;
    assert_eq!(a.get_as("/echo/x", None).await.status, 200);
    let res = a.get_as("/echo/x", Some(&identity("u1", &["user"]))).await;
    assert_eq!(res.status, 403);
}

#[tokio::test]
async fn a_deny_policy_names_itself_and_its_description() {
    let a = start("").await;
    let res = a
        .put_policy(json!({
            "id": "no-deletes", "description": "Nobody deletes notes", "effect": "deny", "priority": 200,
            "subjects": [], "resources": [{"path": "/echo/notes/*"}], "actions": [{"method": "DELETE"}]
        }))
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = a
        .call(Method::DELETE, "/echo/notes/1", Some(ADMIN), None, None)
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.json(),
        json!({"error": "Forbidden", "reason": "Nobody deletes notes", "policy": "no-deletes"})
    );
    assert_eq!(
        a.call(Method::GET, "/echo/notes/1", Some(ADMIN), None, None)
            .await
            .status,
        200,
        "deny-overrides: only DELETE"
    );
}

#[tokio::test]
async fn permit_overrides_from_the_manifest() {
    let a = start("combiningAlgorithm: permit-overrides\n").await;
    a.put_policy(json!({"id": "deny-all", "effect": "deny", "priority": 1000, "subjects": [], "resources": [], "actions": []})).await;
    let res = a.get_as("/echo/x", Some(ADMIN)).await;
    assert_eq!(
        res.status, 200,
        "admin-full-access permits and permits override"
    );
    assert_eq!(
        a.get_as("/echo/x", Some(&identity("u", &["user"])))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn owner_self_from_a_path_segment() {
    let a = start("").await;
    let res = a
        .put_policy(json!({
            "id": "own-notes", "effect": "permit", "subjects": [{"role": "user"}],
            "resources": [{"path": "/echo/users/{owner}/**", "owner": "self"}], "actions": []
        }))
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(
        a.get_as(
            "/echo/users/alice/notes",
            Some(&identity("alice", &["user"]))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        a.get_as("/echo/users/alice/notes", Some(&identity("bob", &["user"])))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn ip_conditions_see_forwarded_addresses_only_behind_a_trusted_proxy() {
    let office = json!({
        "id": "office", "effect": "permit", "priority": 500, "subjects": [{"role": "user"}], "resources": [], "actions": [],
        "conditions": [{"type": "ip", "allowlist": ["10.0.0.0/8"], "blocklist": ["10.66.0.0/16"]}]
    });
    let req = |ip: &str| {
        http::Request::get("/echo/x")
            .header("x-identity", identity("u", &["user"]))
            .header("x-forwarded-for", ip)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    // In-process requests have no peer: without a trusted proxy the address is unknown, and an
    // unknown address is in no allowlist, whatever X-Forwarded-For claims.
    let a = start("").await;
    assert_eq!(a.put_policy(office.clone()).await.status, 201);
    assert_eq!(
        a.h.send(req("10.1.2.3")).await.status,
        403,
        "X-Forwarded-For is not believed by default"
    );
    let a = support::start_with_env(
        tempfile::tempdir().unwrap(),
        "",
        &[("RUNTIME_TRUST_PROXY", "true")],
    )
    .await;
    assert_eq!(a.put_policy(office).await.status, 201);
    assert_eq!(a.h.send(req("10.1.2.3")).await.status, 200);
    assert_eq!(
        a.h.send(req("10.66.1.1")).await.status,
        403,
        "blocklisted range"
    );
    assert_eq!(
        a.h.send(req("192.0.2.1")).await.status,
        403,
        "outside the allowlist"
    );
}

#[tokio::test]
async fn time_windows_use_the_configured_time_zone() {
    // A window that holds all day in one zone and never in the other: 00:00-23:59 on no day of
    // the week is never; instead, compare a zone where "now" is known to be inside a 12-hour
    // window with the zone 12 hours away, where it is outside.
    let now = jiff::Timestamp::now();
    let utc = now.to_zoned(jiff::tz::TimeZone::UTC);
    let start_h = utc.hour();
    let window = |from: i8| format!("{:02}:00", from.rem_euclid(24));
    let a = start("timeZone: Etc/GMT-12\n").await;
    let inside = json!({
        "id": "utc-window", "effect": "permit", "priority": 500, "subjects": [{"role": "user"}], "resources": [], "actions": [],
        "conditions": [{"type": "time", "after": window(start_h), "before": window(start_h + 1), "timeZone": "UTC"}]
    });
    assert_eq!(a.put_policy(inside).await.status, 201);
    let user = identity("u", &["user"]);
    let ok = a.get_as("/echo/x", Some(&user)).await.status;
    // Minute boundaries: the hour may roll over between computing the window and the request.
    let rolled = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour()
        != start_h;
    assert!(ok == 200 || rolled, "inside the UTC window");
    // Same window, no zone of its own: read in the plugin's `Etc/GMT-12` (UTC+12), it is 12 hours off.
    let shifted = json!({
        "id": "utc-window", "effect": "permit", "priority": 500, "subjects": [{"role": "user"}], "resources": [], "actions": [],
        "conditions": [{"type": "time", "after": window(start_h), "before": window(start_h + 1)}]
    });
    assert_eq!(a.put_policy(shifted).await.status, 201);
    assert_eq!(
        a.get_as("/echo/x", Some(&user)).await.status,
        403,
        "12 hours away in the plugin's zone"
    );
}
