//! A real OpenID Provider (`oidc-provider` from npm, `packages/oidc-e2e`, run with the project's
//! pinned Bun) on 127.0.0.1, and a browser-like client: one cookie jar for the provider (reqwest's)
//! and one for the runtime under test (requests go through the harness, as `http://localhost:8000`).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use buntime_testkit::TestResponse;
use http::{Method, header};
use serde_json::Value;

use super::{Auth, ORIGIN};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A running provider, killed when dropped.
pub struct Op {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub issuer: String,
    http: reqwest::Client,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The redirect URI the plugin registers for provider `corp` behind `ORIGIN`.
pub fn callback_uri() -> String {
    format!("{ORIGIN}/auth/api/auth/oauth2/callback/corp")
}

impl Op {
    /// Starts the provider with the test client (`buntime` / `buntime-secret`), the redirect URI
    /// of provider `corp` and `ORIGIN/` as post-logout URI; `None` (after saying why) when
    /// `scripts/setup.sh` has not installed Bun and the package.
    pub fn start(env: &[(&str, &str)]) -> Option<Self> {
        let bun = Path::new(REPO).join(".tools/node_modules/bun/bin/bun.exe");
        let pkg = Path::new(REPO).join("packages/oidc-e2e");
        if !bun.is_file() || !pkg.join("node_modules/oidc-provider").is_dir() {
            eprintln!("skipping: Bun or oidc-provider is not installed (run scripts/setup.sh)");
            return None;
        }
        let mut cmd = Command::new(bun);
        cmd.current_dir(&pkg)
            .arg("src/provider.ts")
            .env("OIDC_REDIRECT_URIS", callback_uri())
            .env("OIDC_POST_LOGOUT_REDIRECT_URIS", format!("{ORIGIN}/"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("bun starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the provider prints its issuer within 30 s");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        let issuer = v["issuer"].as_str().expect("issuer").to_owned();
        Some(Self {
            child,
            issuer,
            http: reqwest::Client::new(),
        })
    }

    /// Makes the provider's next token response carry a rewritten ID token (see provider.ts).
    pub async fn tamper(&self, spec: Value) {
        let res = self
            .http
            .post(format!("{}/__test/tamper", self.issuer))
            .body(spec.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }

    /// How often the discovery document has been read.
    pub async fn discoveries(&self) -> u64 {
        let res = self
            .http
            .get(format!("{}/__test/stats", self.issuer))
            .send()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        v["discoveries"].as_u64().unwrap()
    }

    /// The authn manifest blocks for this provider as `corp`, plus email/password.
    pub fn providers_block(&self) -> String {
        format!(
            "providers:\n  - type: email-password\n    displayName: Email\n  - type: generic-oidc\n    providerId: corp\n    displayName: Corp SSO\n    issuer: {}\n    clientId: buntime\n    clientSecret: buntime-secret\n",
            self.issuer
        )
    }
}

/// A browser: the provider's cookies in reqwest's jar, the runtime's in `cookies`.
pub struct Browser {
    op: reqwest::Client,
    /// The runtime's cookies (`name → value`).
    pub cookies: BTreeMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// The first `<form …>` of `html` as (action, fields of its hidden inputs).
fn form_of(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].replace("&amp;", "&"))
    };
    let start = html.find("<form")?;
    let tag_end = html[start..].find('>')? + start;
    let action = attr(&html[start..tag_end], "action")?;
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
    Some((action, fields))
}

impl Browser {
    pub fn new() -> Self {
        Self {
            op: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps the cookies a runtime response set (a `Max-Age=0` one is deleted).
    pub fn keep(&mut self, res: &TestResponse) {
        for c in res.headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    /// Sends a request to the runtime as a browser on `ORIGIN` would (its cookies; `Origin` on a
    /// form post), keeping the cookies it sets.
    pub async fn rp(
        &mut self,
        a: &Auth,
        method: Method,
        path_or_url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> TestResponse {
        let path = path_or_url.strip_prefix(ORIGIN).unwrap_or(path_or_url);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .header("sec-fetch-mode", "navigate");
        if !self.cookies.is_empty() {
            req = req.header(header::COOKIE, self.cookie_header());
        }
        let body = match form {
            Some(fields) => {
                req = req
                    .header(header::ORIGIN, ORIGIN)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish()
            }
            None => String::new(),
        };
        let res =
            a.h.send(req.body(axum::body::Body::from(body)).unwrap())
                .await;
        self.keep(&res);
        res
    }

    /// Drives the provider's pages from `url` (its login form with `login`, consent, logout
    /// confirmation) until it redirects off the provider; returns that URL.
    pub async fn at_provider(&self, issuer: &str, url: &str, login: &str) -> String {
        let mut next: (String, Option<Vec<(String, String)>>) = (url.to_owned(), None);
        for _ in 0..20 {
            let (at, form) = next.clone();
            let res = match &form {
                None => self.op.get(&at).send().await.unwrap(),
                Some(fields) => self.op.post(&at).form(fields).send().await.unwrap(),
            };
            let status = res.status();
            if status.is_redirection() {
                let loc = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
                let abs = url::Url::parse(&at)
                    .unwrap()
                    .join(&loc)
                    .unwrap()
                    .to_string();
                if !abs.starts_with(issuer) {
                    return abs;
                }
                next = (abs, None);
                continue;
            }
            let html = res.text().await.unwrap();
            assert_eq!(status, 200, "provider page {at}: {html}");
            let (action, mut fields) =
                form_of(&html).unwrap_or_else(|| panic!("no form at {at}: {html}"));
            if html.contains("name=\"login\"") {
                fields.push(("login".into(), login.into()));
                fields.push(("password".into(), "any-password".into()));
            }
            if html.contains("op.logoutForm") {
                fields.push(("logout".into(), "yes".into()));
            }
            let action = url::Url::parse(&at)
                .unwrap()
                .join(&action)
                .unwrap()
                .to_string();
            next = (action, Some(fields));
        }
        panic!("the provider never sent the browser back");
    }

    /// One GET at the provider with this browser's cookies: (status, `Location`, body).
    pub async fn op_get(&self, url: &str) -> (u16, Option<String>, String) {
        let res = self.op.get(url).send().await.unwrap();
        let loc = res
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status().as_u16(), loc, res.text().await.unwrap())
    }

    /// The whole sign-in from the login page's `corp` button: returns the callback URL the
    /// provider sent the browser to (not yet followed).
    pub async fn sign_in_to_callback(
        &mut self,
        a: &Auth,
        op: &Op,
        login: &str,
        redirect: &str,
    ) -> String {
        let res = self
            .rp(
                a,
                Method::POST,
                "/auth/api/auth/sign-in/oauth2",
                Some(&[("providerId", "corp"), ("redirect", redirect)]),
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.text());
        let to = res.headers[header::LOCATION].to_str().unwrap().to_owned();
        assert!(to.starts_with(&format!("{}/auth?", op.issuer)), "{to}");
        let back = self.at_provider(&op.issuer, &to, login).await;
        assert!(back.starts_with(&callback_uri()), "{back}");
        back
    }

    /// The session cookie, when the runtime set one.
    pub fn session(&self) -> Option<String> {
        self.cookies
            .get("buntime.session_token")
            .map(|v| format!("buntime.session_token={v}"))
    }
}
