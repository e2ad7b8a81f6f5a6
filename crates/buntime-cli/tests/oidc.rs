//! OIDC sign-in end to end: the real binary (database, authn with an OIDC provider whose secret
//! comes from `${OIDC_CLIENT_SECRET}`, and a Bun app that shows its `X-Identity`) and a real
//! OpenID Provider (`oidc-provider`, `packages/oidc-e2e`), driven by one cookie-keeping HTTP
//! client that follows redirects like a browser: login page → provider login and consent forms →
//! callback → the app as that user → logout at the provider.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod support;

use support::{PLUGINS_DIR, PROJECT_BUN, REPO, buntime};

const WHOAMI: &str = r#"export default {
  fetch(req: Request) {
    return Response.json({ path: new URL(req.url).pathname, identity: req.headers.get("x-identity") });
  },
};"#;

struct Op(Child);

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first form of `html`: its action and hidden fields.
fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].replace("&amp;", "&"))
    };
    let start = html
        .find("<form")
        .unwrap_or_else(|| panic!("no form in {html}"));
    let tag_end = html[start..].find('>').unwrap() + start;
    let action = attr(&html[start..tag_end], "action").unwrap();
    let body_end = html[tag_end..]
        .find("</form>")
        .map_or(html.len(), |e| e + tag_end);
    let mut fields = Vec::new();
    let mut rest = &html[tag_end..body_end];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').map_or(rest.len(), |e| e + i);
        let tag = &rest[i..end];
        if tag.contains("type=\"hidden\"")
            && let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value"))
        {
            fields.push((n, v));
        }
        rest = &rest[end..];
    }
    (action, fields)
}

#[test]
fn sign_in_with_a_real_provider_reach_an_app_as_yourself_and_log_out_there() {
    let pkg = Path::new(REPO).join("packages/oidc-e2e");
    if !Path::new(PROJECT_BUN).is_file() || !pkg.join("node_modules/oidc-provider").is_dir() {
        eprintln!("skipping: Bun or oidc-provider is not installed (run scripts/setup.sh)");
        return;
    }
    // The runtime's port is chosen first: the provider must know the redirect URI.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = format!("http://127.0.0.1:{port}");
    let mut op = Command::new(PROJECT_BUN)
        .current_dir(&pkg)
        .arg("src/provider.ts")
        .env("OIDC_CLIENT_SECRET", "e2e-client-secret")
        .env(
            "OIDC_REDIRECT_URIS",
            format!("{site}/auth/api/auth/oauth2/callback/corp"),
        )
        .env(
            "OIDC_POST_LOGOUT_REDIRECT_URIS",
            format!("{site}/auth/login"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(op.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _op = Op(op);
    let issuer = serde_json::from_str::<serde_json::Value>(&line).unwrap()["issuer"]
        .as_str()
        .unwrap_or_else(|| panic!("the provider did not start: {line}"))
        .to_owned();

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
                .replace("  - http://localhost:8000", &format!("  - {site}"))
                .replace(
                    "    allowSignUp: true\n",
                    &format!(
                        "    allowSignUp: true\n  - type: generic-oidc\n    providerId: corp\n    displayName: Corp SSO\n    issuer: {issuer}\n    clientId: buntime\n    clientSecret: \"${{OIDC_CLIENT_SECRET}}\"\n"
                    ),
                );
        }
        std::fs::write(plugins.join(p).join("manifest.yaml"), manifest).unwrap();
    }
    let app = dir.path().join("apps/whoami");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("index.ts"), WHOAMI).unwrap();
    let port_s = port.to_string();
    let started = support::start(buntime(
        dir.path(),
        &[
            ("PORT", port_s.as_str()),
            ("RUNTIME_PLUGIN_DIRS", plugins.to_str().unwrap()),
            (
                "RUNTIME_WORKER_DIRS",
                dir.path().join("apps").to_str().unwrap(),
            ),
            ("BUNTIME_BUN", PROJECT_BUN),
            ("OIDC_CLIENT_SECRET", "e2e-client-secret"),
        ],
    ));
    assert!(
        started
            .startup
            .iter()
            .any(|l| l.contains("register the redirect URI")
                && l.contains(&format!("{site}/auth/api/auth/oauth2/callback/corp"))),
        "{:?}",
        started.startup
    );

    let browser = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // Signed out: the app's page leads to the login page, which has the provider's button.
    let res = browser
        .get(format!("{site}/whoami/dash"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(res.url().path(), "/auth/login");
    let page = res.text().unwrap();
    assert!(page.contains("Sign in with Corp SSO"), "{page}");

    // The button, then the provider's login form, then its consent form.
    let res = browser
        .post(format!("{site}/auth/api/auth/sign-in/oauth2"))
        .header("origin", &site)
        .form(&[("providerId", "corp"), ("redirect", "/whoami/dash")])
        .send()
        .unwrap();
    assert!(
        res.url()
            .as_str()
            .starts_with(&format!("{issuer}/interaction/")),
        "{}",
        res.url()
    );
    let (action, mut fields) = form_of(&res.text().unwrap());
    fields.push(("login".into(), "dana@example.com".into()));
    fields.push(("password".into(), "whatever".into()));
    let res = browser.post(&action).form(&fields).send().unwrap();
    let (action, fields) = form_of(&res.text().unwrap());
    assert!(
        fields.iter().any(|(k, v)| k == "prompt" && v == "consent"),
        "{fields:?}"
    );
    let res = browser.post(&action).form(&fields).send().unwrap();

    // Back through the callback to the app, as the provider's user.
    assert_eq!(res.url().as_str(), format!("{site}/whoami/dash"));
    let body: serde_json::Value = res.json().unwrap();
    let identity: serde_json::Value =
        serde_json::from_str(body["identity"].as_str().expect("an X-Identity")).unwrap();
    assert_eq!(
        identity["claims"]["email"], "dana@example.com",
        "{identity}"
    );
    assert_eq!(identity["claims"]["emailVerified"], true);

    // Logout: here, then at the provider (its confirmation form), then back to our login page.
    let res = browser
        .get(format!("{site}/auth/api/logout?redirect=/auth/login"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .unwrap();
    assert!(res.url().as_str().starts_with(&issuer), "{}", res.url());
    let (action, mut fields) = form_of(&res.text().unwrap());
    fields.push(("logout".into(), "yes".into()));
    let res = browser.post(&action).form(&fields).send().unwrap();
    assert_eq!(res.url().as_str(), format!("{site}/auth/login"));
    let res = browser
        .get(format!("{site}/whoami/dash"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401, "signed out");
}
