//! The cost authz adds to a native route: the hello route through the real pipeline, in process,
//! alone and behind authz with 10 policies, interleaved in one run; plus one PDP evaluation.
//!
//! Run: `bench/authz.sh` (release build). Env: `ROUNDS` (20), `PER_ROUND` (2000).

use std::time::{Duration, Instant};

use buntime_plugin_authz::{AuthzPlugin, EvaluationContext};
use buntime_testkit::{PluginHarness, StartedHarness};

const HELLO: &str = include_str!("../../plugin-hello/manifest.yaml");
const IDENTITY: &str = r#"{"sub":"u-42","roles":["user","reader"],"groups":["staff"],"claims":{"tier":3,"email":"u42@example.com"}}"#;

/// Ten policies of every kind the hook evaluates, none of which is the one that permits first,
/// so deny-overrides visits all ten (the worst case for this algorithm).
fn manifest() -> String {
    let mut m = String::from(
        "name: \"@buntime/plugin-authz\"\nbase: /authz\ncombiningAlgorithm: deny-overrides\ndefaultEffect: deny\ntimeZone: Europe/Berlin\npolicySeed:\n  enabled: false\npolicies:\n",
    );
    let policies = [
        r#"{id: p1, effect: permit, priority: 100, subjects: [{role: admin}], resources: [{path: "/**"}], actions: [{method: "*"}]}"#,
        r#"{id: p2, effect: deny, priority: 95, subjects: [{group: banned}], resources: [], actions: []}"#,
        r#"{id: p3, effect: deny, priority: 90, subjects: [], resources: [{path: "/hello/admin/*"}], actions: [{method: DELETE}]}"#,
        r#"{id: p4, effect: permit, priority: 80, subjects: [{role: "team-*"}], resources: [{app: "notes*"}], actions: []}"#,
        r#"{id: p5, effect: deny, priority: 70, subjects: [{claim: {name: tier, value: 9, operator: gt}}], resources: [], actions: [{method: POST}]}"#,
        r#"{id: p6, effect: permit, priority: 60, subjects: [{claim: {name: email, value: "@corp\\.example$", operator: regex}}], resources: [], actions: []}"#,
        r#"{id: p7, effect: deny, priority: 50, subjects: [], resources: [{path: "/hello/*"}], actions: [{method: GET}], conditions: [{type: ip, blocklist: ["203.0.113.0/24"], allowlist: ["198.51.100.0/24"]}]}"#,
        r#"{id: p8, effect: permit, priority: 40, subjects: [{role: user}], resources: [{path: "/users/{owner}/**", owner: self}], actions: []}"#,
        r#"{id: p9, effect: deny, priority: 30, subjects: [], resources: [{path: "/hello/*"}], actions: [], conditions: [{type: time, after: "03:00", before: "03:01"}]}"#,
        r#"{id: p10, effect: permit, priority: 10, subjects: [{role: user}], resources: [{path: "/hello/api/**"}], actions: [{method: GET}]}"#,
    ];
    for p in policies {
        m.push_str(&format!("  - {p}\n"));
    }
    m
}

async fn run(h: &StartedHarness, identity: bool, n: usize, out: &mut Vec<Duration>) {
    for _ in 0..n {
        let mut req = http::Request::get("/hello/api/greeting");
        if identity {
            req = req.header("x-identity", IDENTITY);
        }
        let req = req.body(axum::body::Body::empty()).unwrap();
        let t = Instant::now();
        let res = h.send(req).await;
        out.push(t.elapsed());
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let per_round: usize = std::env::var("PER_ROUND")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let state = std::env::temp_dir().join(format!("authz-bench-{}", std::process::id()));
    let alone = PluginHarness::new(HELLO, buntime_plugin_hello::HelloPlugin::new)
        .env("RUNTIME_STATE_DIR", state.to_str().unwrap())
        .start()
        .await
        .unwrap();
    let guarded = PluginHarness::new(&manifest(), AuthzPlugin::new)
        .with_plugin(HELLO, buntime_plugin_hello::HelloPlugin::new)
        .env("RUNTIME_STATE_DIR", state.to_str().unwrap())
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let svc = guarded
        .generation()
        .services
        .get::<buntime_plugin_authz::AuthzService>(buntime_plugin_authz::NAME)
        .unwrap();
    assert_eq!(svc.policy_set().len(), 10);

    // Warm up both, then interleave rounds so drift (other load on the machine) hits both alike.
    let (mut a, mut g) = (Vec::new(), Vec::new());
    run(&alone, false, per_round, &mut a).await;
    run(&guarded, true, per_round, &mut g).await;
    a.clear();
    g.clear();
    for _ in 0..rounds {
        run(&alone, false, per_round, &mut a).await;
        run(&guarded, true, per_round, &mut g).await;
    }
    let (a50, a99) = (pct(&mut a, 0.5), pct(&mut a, 0.99));
    let (g50, g99) = (pct(&mut g, 0.5), pct(&mut g, 0.99));

    // The decision alone: the same context the hook builds, 10 policies, all visited.
    let ctx: EvaluationContext = serde_json::from_value(serde_json::json!({
        "subject": {"id": "u-42", "roles": ["user", "reader"], "groups": ["staff"], "claims": {"tier": 3, "email": "u42@example.com"}},
        "resource": {"app": "hello", "path": "/hello/api/greeting"}, "action": {"method": "GET"}, "environment": {"ip": "unknown"}
    }))
    .unwrap();
    let set = svc.policy_set();
    assert!(set.evaluate(&ctx).is_permit());
    let mut e = Vec::with_capacity(200_000);
    for _ in 0..200_000 {
        let t = Instant::now();
        std::hint::black_box(set.evaluate(std::hint::black_box(&ctx)));
        e.push(t.elapsed());
    }
    let (e50, e99) = (pct(&mut e, 0.5), pct(&mut e, 0.99));
    let n = a.len();
    println!(
        "requests per variant: {n} ({rounds} interleaved rounds of {per_round}), in process, one thread"
    );
    println!(
        "hello alone           p50 {:>7.2} µs   p99 {:>7.2} µs",
        a50.as_secs_f64() * 1e6,
        a99.as_secs_f64() * 1e6
    );
    println!(
        "hello + authz (10)    p50 {:>7.2} µs   p99 {:>7.2} µs",
        g50.as_secs_f64() * 1e6,
        g99.as_secs_f64() * 1e6
    );
    println!(
        "added by authz        p50 {:>7.2} µs",
        (g50.as_secs_f64() - a50.as_secs_f64()) * 1e6
    );
    println!(
        "PDP evaluate (10)     p50 {:>7.2} µs   p99 {:>7.2} µs",
        e50.as_secs_f64() * 1e6,
        e99.as_secs_f64() * 1e6
    );
    let _ = std::fs::remove_dir_all(&state);
}
