//! plugin-authz end to end: the real binary with authz enabled (its policy file named through a
//! `${VAR}` placeholder) in front of the hello plugin; 403s, policy changes over HTTP with the
//! CSRF rule, and policies that survive a reload and a restart.

use std::process::Command;

mod support;

use support::{PLUGINS_DIR, buntime};

const MASTER_KEY: &str = "e2e-master-key-0123456789abcdef";
const ADMIN: &str = r#"{"sub":"root","roles":["admin"],"groups":[],"claims":{}}"#;

fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "20", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A plugin dir with hello and authz (enabled, persisting to `${AUTHZ_POLICIES}`).
fn plugins(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("plugins");
    for name in ["plugin-hello", "plugin-authz"] {
        std::fs::create_dir_all(root.join(name)).unwrap();
        let mut text =
            std::fs::read_to_string(format!("{PLUGINS_DIR}/{name}/manifest.yaml")).unwrap();
        if name == "plugin-authz" {
            text = text
                .replace("enabled: false", "enabled: true")
                .replace("store: memory", "store: file\npath: \"${AUTHZ_POLICIES}\"");
        }
        std::fs::write(root.join(name).join("manifest.yaml"), text).unwrap();
    }
    root
}

#[test]
fn authz_guards_a_native_route_and_its_policies_survive_reload_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = plugins(dir.path());
    let file = dir.path().join("policies.json");
    let apps = dir.path().join("apps");
    let env = [
        ("RUNTIME_PLUGIN_DIRS", root.to_str().unwrap()),
        ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()),
        ("RUNTIME_MASTER_KEY", MASTER_KEY),
        ("AUTHZ_POLICIES", file.to_str().unwrap()),
    ];
    let started = support::start(buntime(dir.path(), &env));
    let url = started.url.clone();
    let greeting = format!("{url}/hello/api/greeting");
    let identity = format!("x-identity: {ADMIN}");

    let (status, body) = curl(&greeting, &[]);
    assert_eq!(
        (status, json(&body)),
        (
            403,
            serde_json::json!({"error": "Forbidden", "reason": "No applicable policy", "policy": null})
        )
    );
    let (status, body) = curl(&greeting, &["-H", &identity]);
    assert_eq!(
        (status, json(&body)["message"].as_str()),
        (200, Some("Hello from Buntime"))
    );

    // Let anonymous callers read the greeting: a same-origin admin write.
    let policy = r#"{"id":"greeting-public","effect":"permit","priority":10,"subjects":[],"resources":[{"path":"/hello/api/greeting"}],"actions":[{"method":"GET"}]}"#;
    let policies = format!("{url}/authz/api/policies");
    let post = |origin: &str| {
        curl(
            &policies,
            &[
                "-X",
                "POST",
                "-H",
                &identity,
                "-H",
                &format!("origin: {origin}"),
                "-H",
                "content-type: application/json",
                "-d",
                policy,
            ],
        )
    };
    let (status, body) = post("https://evil.example");
    assert_eq!(
        (status, json(&body)["code"].as_str()),
        (403, Some("CSRF_BLOCKED"))
    );
    let (status, body) = post(&url);
    assert_eq!(status, 201, "{body}");
    assert_eq!(curl(&greeting, &[]).0, 200);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("greeting-public"), "{saved}");

    let (status, body) = curl(
        &format!("{url}/api/plugins/reload"),
        &["-X", "POST", "-H", &format!("x-api-key: {MASTER_KEY}")],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        curl(&greeting, &[]).0,
        200,
        "the new generation loaded the file"
    );
    drop(started);

    let started = support::start(buntime(dir.path(), &env));
    let url = started.url.clone();
    assert_eq!(
        curl(&format!("{url}/hello/api/greeting"), &[]).0,
        200,
        "and so did the restarted binary"
    );
    let (_, body) = curl(&format!("{url}/authz/api/policies"), &["-H", &identity]);
    let ids: Vec<_> = json(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["admin-full-access", "users-read-only", "greeting-public"]
    );
}

#[test]
fn an_unset_placeholder_keeps_authz_out_and_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let root = plugins(dir.path());
    let out = buntime(
        dir.path(),
        &[("RUNTIME_PLUGIN_DIRS", root.to_str().unwrap())],
    )
    .arg("check")
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("key `path`") && text.contains("`AUTHZ_POLICIES` is not set"),
        "{text}"
    );
}
