//! SCIM provisioning end to end: the real binary (database, authn with `scim.enabled`, a Bun app
//! that shows its `X-Identity`). A runtime admin creates a SCIM token with the master key, a
//! provisioning client creates a user and a group over HTTP, the user signs in and reaches the app
//! with those groups and roles, and deactivation ends the session.

use std::path::Path;
use std::process::Command;

mod support;

use serde_json::{Value, json};
use support::{PLUGINS_DIR, PROJECT_BUN, buntime};

const WHOAMI: &str = r#"export default {
  fetch(req: Request) {
    return Response.json({ identity: req.headers.get("x-identity") });
  },
};"#;
const MASTER: &str = "e2e-master-key-0123456789abcdef";

/// Runs curl with `args` on `url`; returns (status, body).
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

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

#[test]
fn a_provisioned_user_signs_in_with_its_groups_and_deactivation_ends_the_session() {
    if !Path::new(PROJECT_BUN).is_file() {
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    for p in ["plugin-database", "plugin-authn"] {
        std::fs::create_dir_all(plugins.join(p)).unwrap();
        let mut manifest =
            std::fs::read_to_string(Path::new(PLUGINS_DIR).join(p).join("manifest.yaml")).unwrap();
        if p == "plugin-authn" {
            manifest = manifest
                .replacen("enabled: false", "enabled: true", 1)
                .replace("memoryKib: 19456", "memoryKib: 1024")
                .replace("scim:\n  enabled: false", "scim:\n  enabled: true");
        }
        std::fs::write(plugins.join(p).join("manifest.yaml"), manifest).unwrap();
    }
    let app = dir.path().join("apps/whoami");
    std::fs::create_dir_all(&app).unwrap();
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
            ("RUNTIME_MASTER_KEY", MASTER),
        ],
    ));
    let url = started.url.clone();
    let v2 = format!("{url}/auth/api/scim/v2");
    let ctype = "content-type: application/scim+json";

    // Discovery is open; the rest needs a token that only a runtime admin can create.
    let (status, body) = curl(&format!("{v2}/ServiceProviderConfig"), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["bulk"]["maxOperations"], 1000);
    let (status, _) = curl(&format!("{v2}/Users"), &[]);
    assert_eq!(status, 401);
    let token_body = json!({"name": "idp"}).to_string();
    let (status, _) = curl(
        &format!("{url}/auth/api/scim/tokens"),
        &["-H", "content-type: application/json", "-d", &token_body],
    );
    assert_eq!(status, 401, "no runtime key, no token");
    let master = format!("x-api-key: {MASTER}");
    let (status, body) = curl(
        &format!("{url}/auth/api/scim/tokens"),
        &[
            "-H",
            &master,
            "-H",
            "content-type: application/json",
            "-d",
            &token_body,
        ],
    );
    assert_eq!(status, 201, "{body}");
    let bearer = format!(
        "authorization: Bearer {}",
        json_of(&body)["token"].as_str().unwrap()
    );

    // The provisioning client: a user with a password and a role, then a group with it.
    let user = json!({"userName": "pat@example.com", "displayName": "Pat", "password": "correct horse battery", "roles": [{"value": "editor"}]});
    let (status, body) = curl(
        &format!("{v2}/Users"),
        &["-H", &bearer, "-H", ctype, "-d", &user.to_string()],
    );
    assert_eq!(status, 201, "{body}");
    let id = json_of(&body)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        json_of(&body)["meta"]["location"],
        format!("http://localhost:8000/auth/api/scim/v2/Users/{id}")
    );
    let group = json!({"displayName": "Engineering", "members": [{"value": id}]});
    let (status, body) = curl(
        &format!("{v2}/Groups"),
        &["-H", &bearer, "-H", ctype, "-d", &group.to_string()],
    );
    assert_eq!(status, 201, "{body}");
    // filter=userName eq "PAT@example.com", percent-encoded.
    let filter = format!("{v2}/Users?filter=userName%20eq%20%22PAT%40example.com%22");
    let (status, body) = curl(&filter, &["-H", &bearer]);
    assert_eq!(
        (status, json_of(&body)["totalResults"].clone()),
        (200, json!(1))
    );

    // The user signs in and reaches the app with the group and the role.
    let jar = dir.path().join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let origin = format!("origin: {url}");
    let creds = json!({"email": "pat@example.com", "password": "correct horse battery"});
    let (status, body) = curl(
        &format!("{url}/auth/api/auth/sign-in/email"),
        &[
            "-c",
            jar,
            "-H",
            &origin,
            "-H",
            "content-type: application/json",
            "-d",
            &creds.to_string(),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl(
        &format!("{url}/whoami/me"),
        &["-b", jar, "-H", "accept: application/json"],
    );
    assert_eq!(status, 200, "{body}");
    let identity: Value =
        serde_json::from_str(json_of(&body)["identity"].as_str().unwrap()).unwrap();
    assert_eq!(identity["sub"], id.as_str());
    assert_eq!(identity["groups"], json!(["Engineering"]));
    assert_eq!(identity["roles"], json!(["editor"]));

    // Deactivated: the live session ends at once and sign-in is refused.
    let off = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, body) = curl(
        &format!("{v2}/Users/{id}"),
        &[
            "-X",
            "PATCH",
            "-H",
            &bearer,
            "-H",
            ctype,
            "-d",
            &off.to_string(),
        ],
    );
    assert_eq!(
        (status, json_of(&body)["active"].clone()),
        (200, json!(false)),
        "{body}"
    );
    let (status, _) = curl(
        &format!("{url}/whoami/me"),
        &["-b", jar, "-H", "accept: application/json"],
    );
    assert_eq!(status, 401);
    let (status, _) = curl(
        &format!("{url}/auth/api/auth/sign-in/email"),
        &[
            "-H",
            &origin,
            "-H",
            "content-type: application/json",
            "-d",
            &creds.to_string(),
        ],
    );
    assert_eq!(status, 401);
}
