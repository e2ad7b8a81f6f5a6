//! plugin-authn end to end: the real binary with the database, hello and authn plugins and a Bun
//! app that shows the `X-Identity` it receives; a cookie-keeping curl signs up through the no-JS
//! login form, reaches the app, and signs out.

use std::path::Path;
use std::process::Command;

mod support;

use support::{PLUGINS_DIR, PROJECT_BUN, buntime};

const WHOAMI: &str = r#"export default {
  fetch(req: Request) {
    return Response.json({ path: new URL(req.url).pathname, identity: req.headers.get("x-identity") });
  },
};"#;

/// Runs curl with `args` on `url`; returns (status, headers, body).
fn curl(url: &str, args: &[&str]) -> (u16, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("h");
    let out = Command::new("curl")
        .args([
            "-s",
            "-m",
            "20",
            "-D",
            head.to_str().unwrap(),
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let headers = std::fs::read_to_string(head).unwrap_or_default();
    (status.trim().parse().unwrap_or(0), headers, body.to_owned())
}

fn identity(body: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v["identity"].as_str().map_or(serde_json::Value::Null, |s| {
        serde_json::from_str(s).unwrap()
    })
}

#[test]
fn sign_up_reach_an_app_as_yourself_and_sign_out() {
    if !Path::new(PROJECT_BUN).is_file() {
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    for p in ["plugin-database", "plugin-hello", "plugin-authn"] {
        std::fs::create_dir_all(plugins.join(p)).unwrap();
        let mut manifest =
            std::fs::read_to_string(Path::new(PLUGINS_DIR).join(p).join("manifest.yaml")).unwrap();
        if p == "plugin-authn" {
            // Enabled, with cheap hashing (this is a debug build) and one machine key.
            manifest = manifest
                .replacen("enabled: false", "enabled: true", 1)
                .replace("memoryKib: 19456", "memoryKib: 1024")
                .replace(
                    "apiKeys: []",
                    "apiKeys:\n  - { key: \"e2e-machine-key-0123\", name: e2e }",
                );
        }
        std::fs::write(plugins.join(p).join("manifest.yaml"), manifest).unwrap();
    }
    let app = dir.path().join("apps/whoami");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("manifest.yaml"), "publicRoutes: [\"/open/**\"]\n").unwrap();
    std::fs::write(app.join("index.ts"), WHOAMI).unwrap();
    let started = support::start(buntime(
        dir.path(),
        &[
            ("RUNTIME_PLUGIN_DIRS", plugins.to_str().unwrap()),
            (
                "RUNTIME_WORKER_DIRS",
                dir.path().join("apps").to_str().unwrap(),
            ),
            ("BUNTIME_BUN", PROJECT_BUN),
        ],
    ));
    let url = started.url.clone();
    assert!(
        started
            .startup
            .iter()
            .any(|l| l.contains("authn ready on the sqlite root database")),
        "{:?}",
        started.startup
    );
    let jar = dir.path().join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let forged = r#"x-identity: {"sub":"admin","roles":["admin"]}"#;

    // Signed out: a browser is sent to the login page, an API client gets 401.
    let (status, headers, _) = curl(
        &format!("{url}/whoami/dash?tab=1"),
        &["-H", "accept: text/html"],
    );
    assert_eq!(status, 302);
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("location: /auth/login?redirect=%2fwhoami%2fdash%3ftab%3d1"),
        "{headers}"
    );
    let (status, _, body) = curl(
        &format!("{url}/whoami/dash"),
        &["-H", "accept: application/json", "-H", forged],
    );
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"error":"Unauthorized"}"#)
    );

    // The login page, then its sign-up form posted as a browser would (no JavaScript).
    let (status, _, page) = curl(&format!("{url}/auth/login?redirect=%2Fwhoami%2Fdash"), &[]);
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"action="/auth/api/auth/sign-up/email""#),
        "{page}"
    );
    let origin = format!("origin: {url}");
    let (status, headers, body) = curl(
        &format!("{url}/auth/api/auth/sign-up/email"),
        &[
            "-c",
            jar,
            "-H",
            &origin,
            "--data-urlencode",
            "email=ann@example.com",
            "--data-urlencode",
            "password=correct horse",
            "--data-urlencode",
            "redirect=/whoami/dash",
        ],
    );
    assert_eq!(status, 303, "{body}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("location: /whoami/dash"),
        "{headers}"
    );
    assert!(headers.contains("HttpOnly; SameSite=Lax"), "{headers}");

    // Signed in: the app sees our identity, never the forged one.
    let (status, _, body) = curl(&format!("{url}/whoami/dash"), &["-b", jar, "-H", forged]);
    assert_eq!(status, 200, "{body}");
    let id = identity(&body);
    assert_eq!(id["claims"]["email"], "ann@example.com", "{body}");
    assert_ne!(id["sub"], "admin");

    // A public route of the app passes signed out, without the forged identity.
    let (status, _, body) = curl(&format!("{url}/whoami/open/feed"), &["-H", forged]);
    assert_eq!(status, 200);
    assert_eq!(identity(&body), serde_json::Value::Null);

    // A machine key.
    let (status, _, body) = curl(
        &format!("{url}/whoami/job"),
        &["-H", "x-api-key: e2e-machine-key-0123"],
    );
    assert_eq!(status, 200);
    assert_eq!(identity(&body)["id"], "apikey:e2e");

    // Sign-out: refused cross-site, accepted from our origin; the cookie is dead afterwards.
    let (status, _, _) = curl(
        &format!("{url}/auth/api/auth/sign-out"),
        &[
            "-X",
            "POST",
            "-b",
            jar,
            "-H",
            "origin: https://evil.example",
        ],
    );
    assert_eq!(status, 403);
    let (status, _, _) = curl(
        &format!("{url}/whoami/dash"),
        &["-b", jar, "-H", "accept: application/json"],
    );
    assert_eq!(status, 200, "still signed in");
    let (status, _, _) = curl(
        &format!("{url}/auth/api/auth/sign-out"),
        &["-X", "POST", "-b", jar, "-H", &origin],
    );
    assert_eq!(status, 200);
    let (status, _, _) = curl(
        &format!("{url}/whoami/dash"),
        &["-b", jar, "-H", "accept: application/json"],
    );
    assert_eq!(status, 401);
}
