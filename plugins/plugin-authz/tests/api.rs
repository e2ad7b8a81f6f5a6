//! The policy API: CRUD with field-named 400s, CSRF on writes, evaluate and explain, persistence
//! to a file and to the database plugin across restarts, and the typed service.

mod support;

use http::Method;
use serde_json::json;
use support::{ADMIN, MASTER_KEY, ORIGIN, identity, start, start_in};

fn policy(id: &str) -> serde_json::Value {
    json!({"id": id, "name": "Readers", "effect": "permit", "priority": 5, "subjects": [{"role": "reader"}], "resources": [{"path": "/echo/**"}], "actions": [{"method": "GET"}]})
}

#[tokio::test]
async fn policies_crud() {
    let a = start("").await;
    let res = a.put_policy(policy("readers")).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["id"], "readers");
    let list = a.get_as("/authz/api/policies", Some(ADMIN)).await.json();
    let ids: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["admin-full-access", "users-read-only", "readers"]);
    let one = a.get_as("/authz/api/policies/readers", Some(ADMIN)).await;
    assert_eq!(one.json(), policy("readers"));
    assert_eq!(
        a.get_as("/echo/x", Some(&identity("r", &["reader"])))
            .await
            .status,
        200,
        "takes effect at once"
    );
    let mut changed = policy("readers");
    changed["effect"] = json!("deny");
    assert_eq!(a.put_policy(changed).await.status, 201, "upsert");
    assert_eq!(
        a.get_as("/authz/api/policies", Some(ADMIN))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        a.get_as("/echo/x", Some(&identity("r", &["reader"])))
            .await
            .status,
        403
    );
    let res = a
        .call(
            Method::DELETE,
            "/authz/api/policies/readers",
            Some(ADMIN),
            Some(ORIGIN),
            None,
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (200, json!({"success": true}))
    );
    let res = a
        .call(
            Method::DELETE,
            "/authz/api/policies/readers",
            Some(ADMIN),
            Some(ORIGIN),
            None,
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (404, json!({"error": "Policy not found"}))
    );
    assert_eq!(
        a.get_as("/authz/api/policies/readers", Some(ADMIN))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn bad_policies_are_400s_naming_the_field() {
    let a = start("").await;
    let cases = [
        (
            json!({"effect": "permit", "subjects": [], "resources": [], "actions": []}),
            "id",
        ),
        (
            json!({"id": "x", "effect": "allow", "subjects": [], "resources": [], "actions": []}),
            "effect",
        ),
        (
            json!({"id": "x", "effect": "permit", "subjects": {}, "resources": [], "actions": []}),
            "subjects",
        ),
        (
            json!({"id": "x", "effect": "permit", "subjects": [{"role": 1}], "resources": [], "actions": []}),
            "subjects[0].role",
        ),
        (
            json!({"id": "x", "effect": "permit", "subjects": [], "resources": [], "actions": [], "conditions": [{"type": "ip", "blocklist": ["10.0.0.300/8"]}]}),
            "conditions[0].blocklist[0]",
        ),
        (
            json!({"id": "x", "effect": "permit", "subjects": [], "resources": [], "actions": [], "conditions": [{"type": "time", "timeZone": "Atlantis"}]}),
            "conditions[0].timeZone",
        ),
        (json!([1]), ""),
    ];
    for (body, field) in cases {
        let res = a.put_policy(body.clone()).await;
        assert_eq!(res.status, 400, "{body}");
        let got = res.json();
        assert_eq!(got["error"], "Invalid policy structure", "{got}");
        assert_eq!(got["field"], field, "{got}");
        assert!(
            got["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{got}"
        );
    }
    let res = a
        .call(
            Method::POST,
            "/authz/api/policies",
            Some(ADMIN),
            Some(ORIGIN),
            None,
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()["error"].as_str()),
        (400, Some("Invalid JSON"))
    );
    assert_eq!(
        a.get_as("/authz/api/policies", Some(ADMIN))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing was added"
    );
}

#[tokio::test]
async fn policy_writes_need_the_runtimes_origin_or_a_runtime_key() {
    let a = start("").await;
    let post = |origin: Option<&'static str>| {
        a.call(
            Method::POST,
            "/authz/api/policies",
            Some(ADMIN),
            origin,
            Some(policy("p")),
        )
    };
    let res = post(None).await;
    assert_eq!(
        (res.status.as_u16(), res.json()["code"].as_str()),
        (403, Some("CSRF_BLOCKED"))
    );
    let res = post(Some("https://evil.example")).await;
    assert_eq!(
        (res.status.as_u16(), res.json()["code"].as_str()),
        (403, Some("CSRF_BLOCKED"))
    );
    let res = a
        .call(
            Method::DELETE,
            "/authz/api/policies/admin-full-access",
            Some(ADMIN),
            Some("https://evil.example"),
            None,
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(
        a.get_as("/authz/api/policies", Some(ADMIN))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing changed"
    );
    assert_eq!(post(Some(ORIGIN)).await.status, 201);
    // A runtime key needs no Origin, and reaches the policy API even without an identity the
    // policies permit (so a deny-all policy cannot lock the operator out).
    let req = http::Request::post("/authz/api/policies")
        .header("x-api-key", MASTER_KEY)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(policy("by-key").to_string()))
        .unwrap();
    assert_eq!(a.h.send(req).await.status, 201);
    let req = http::Request::post("/authz/api/policies")
        .header("x-api-key", "wrong")
        .body(axum::body::Body::from(policy("x").to_string()))
        .unwrap();
    assert_eq!(
        a.h.send(req).await.status,
        403,
        "a wrong key is no key: the policies deny the anonymous caller"
    );
}

#[tokio::test]
async fn evaluate_and_explain() {
    let a = start("").await;
    let ctx = json!({"subject": {"id": "u", "roles": ["user"]}, "resource": {"app": "notes", "path": "/api/notes"}, "action": {"method": "GET"}});
    let res = a
        .call(
            Method::POST,
            "/authz/api/evaluate",
            Some(ADMIN),
            None,
            Some(ctx.clone()),
        )
        .await;
    assert_eq!(
        res.json(),
        json!({"effect": "permit", "reason": "Allow user role read-only access to API", "matchedPolicy": "users-read-only"})
    );
    let mut post = ctx.clone();
    post["action"]["method"] = json!("POST");
    let res = a
        .call(
            Method::POST,
            "/authz/api/evaluate",
            Some(ADMIN),
            None,
            Some(post),
        )
        .await;
    assert_eq!(
        res.json(),
        json!({"effect": "deny", "reason": "No applicable policy"})
    );
    let res = a
        .call(
            Method::POST,
            "/authz/api/explain",
            Some(ADMIN),
            None,
            Some(ctx),
        )
        .await
        .json();
    assert_eq!(res["decision"]["matchedPolicy"], "users-read-only");
    assert_eq!(
        res["policies"],
        json!([{"id": "users-read-only", "name": "Users Read-Only", "effect": "permit", "priority": 90}])
    );
    assert_eq!(res["trace"][0]["reason"], "no subject matcher matches");
    assert_eq!(res["context"]["environment"]["ip"], "unknown");
    let res = a
        .call(
            Method::POST,
            "/authz/api/evaluate",
            Some(ADMIN),
            None,
            Some(json!({"subject": {"roles": "admin"}})),
        )
        .await;
    assert_eq!(
        (res.status.as_u16(), res.json()["field"].as_str()),
        (400, Some("subject.roles"))
    );
}

#[tokio::test]
async fn a_policy_file_survives_a_restart_and_is_rewritten_on_every_change() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("authz/policies.json");
    let extra = format!("path: {}\n", file.display());
    let a = start_in(tempfile::tempdir().unwrap(), &extra).await;
    assert_eq!(a.put_policy(policy("readers")).await.status, 201);
    a.call(
        Method::DELETE,
        "/authz/api/policies/users-read-only",
        Some(ADMIN),
        Some(ORIGIN),
        None,
    )
    .await;
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ids: Vec<_> = on_disk["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, [json!("admin-full-access"), json!("readers")]);
    a.h.shutdown().await;
    let b = start_in(tempfile::tempdir().unwrap(), &extra).await;
    let ids: Vec<_> = b
        .get_as("/authz/api/policies", Some(ADMIN))
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!("admin-full-access"), json!("readers")],
        "loaded, and not re-seeded (the store is not empty)"
    );
    assert_eq!(
        b.get_as("/echo/x", Some(&identity("r", &["reader"])))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_malformed_policy_file_stops_the_plugin_instead_of_dropping_policies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.json");
    std::fs::write(&file, r#"{"policies": [{"id": "x", "effect": "allow", "subjects": [], "resources": [], "actions": []}]}"#).unwrap();
    let manifest = support::manifest(&format!("path: {}\n", file.display()));
    let err =
        buntime_testkit::PluginHarness::new(&manifest, buntime_plugin_authz::AuthzPlugin::new)
            .env("RUNTIME_STATE_DIR", dir.path().to_str().unwrap())
            .start()
            .await
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("policies.json") && err.contains("policies[0].effect"),
        "{err}"
    );
}

#[tokio::test]
async fn the_database_store_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let keep = state.path().to_owned();
    let a = start_in(state, "store: database\n").await;
    assert_eq!(a.put_policy(policy("readers")).await.status, 201);
    let mut changed = policy("readers");
    changed["priority"] = json!(7);
    assert_eq!(a.put_policy(changed).await.status, 201);
    a.call(
        Method::DELETE,
        "/authz/api/policies/users-read-only",
        Some(ADMIN),
        Some(ORIGIN),
        None,
    )
    .await;
    let Authz { h, state } = a;
    h.shutdown().await;
    assert!(
        keep.join("database").exists(),
        "the database plugin wrote under the state dir"
    );
    let b = start_in(state, "store: database\n").await;
    let list = b.get_as("/authz/api/policies", Some(ADMIN)).await.json();
    let got: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].clone(), p["priority"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (json!("admin-full-access"), json!(100)),
            (json!("readers"), json!(7))
        ]
    );
}

use support::Authz;

#[tokio::test]
async fn the_typed_service_decides_and_seeds() {
    let a = start("policySeed:\n  enabled: false\n").await;
    let svc =
        a.h.generation()
            .services
            .get::<buntime_plugin_authz::AuthzService>(buntime_plugin_authz::NAME)
            .expect("service registered");
    let p: buntime_plugin_authz::Policy = serde_json::from_value(policy("readers")).unwrap();
    assert_eq!(svc.seed_policies(vec![p.clone()], true).await.unwrap(), 1);
    assert_eq!(
        svc.seed_policies(vec![p], true).await.unwrap(),
        0,
        "only if empty"
    );
    let ctx: buntime_plugin_authz::EvaluationContext =
        serde_json::from_value(json!({"subject": {"id": "r", "roles": ["reader"]}, "resource": {"path": "/echo/a"}, "action": {"method": "GET"}})).unwrap();
    assert!(svc.evaluate(&ctx).is_permit());
    assert_eq!(
        a.get_as("/echo/a", Some(&identity("r", &["reader"])))
            .await
            .status,
        200,
        "the hook sees the service's change"
    );
}
