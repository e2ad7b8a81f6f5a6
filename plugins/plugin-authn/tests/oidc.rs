//! OIDC sign-in against a real OpenID Provider (`oidc-provider`, started per test): the whole
//! browser flow, account linking, RP-initiated logout, and the attacks: wrong or missing state,
//! another browser's state, a replayed callback or code, ID tokens with another audience or
//! issuer, expired, with a wrong or missing nonce, or signed by another key.

mod support;

use http::{Method, header};
use serde_json::{Value, json};
use support::op::{Browser, Op};
use support::{Auth, ORIGIN, start_with};

async fn setup() -> Option<(Op, Auth)> {
    let op = Op::start(&[])?;
    let a = start_with(&op.providers_block(), &[]).await;
    Some((op, a))
}

fn location(res: &buntime_testkit::TestResponse) -> String {
    res.headers[header::LOCATION].to_str().unwrap().to_owned()
}

/// What the echo route saw with `b`'s cookies (as an API client).
async fn whoami(a: &Auth, b: &Browser) -> (u16, Value) {
    let cookie = b.session().unwrap_or_default();
    let res = a
        .get(
            "/echo/me",
            &[("cookie", &cookie), ("accept", "application/json")],
        )
        .await;
    (res.status.as_u16(), res.json())
}

/// Follows the callback and asserts it was refused with `status`, a page saying `says`, and no
/// session.
async fn assert_refused(a: &Auth, b: &mut Browser, callback: &str, status: u16, says: &str) {
    let res = b.rp(a, Method::GET, callback, None).await;
    let page = res.text();
    assert_eq!(res.status, status, "{page}");
    assert!(page.contains(says), "expected `{says}` in: {page}");
    assert!(b.session().is_none(), "no session cookie after a refusal");
    assert_eq!(whoami(a, b).await.0, 401);
}

#[tokio::test]
async fn sign_in_with_the_provider_reaches_a_route_as_that_user_and_logs_out_at_the_provider() {
    let Some((op, a)) = setup().await else { return };
    let mut b = Browser::new();

    // Signed out, a page sends the browser to the login page, which lists the provider.
    let res = b.rp(&a, Method::GET, "/echo/me?tab=1", None).await;
    assert_eq!(res.status, 302);
    assert_eq!(
        location(&res),
        "/auth/login?redirect=%2Fecho%2Fme%3Ftab%3D1"
    );
    let page = b
        .rp(
            &a,
            Method::GET,
            "/auth/login?redirect=%2Fecho%2Fme%3Ftab%3D1",
            None,
        )
        .await
        .text();
    assert!(
        page.contains(r#"action="/auth/api/auth/sign-in/oauth2""#),
        "{page}"
    );
    assert!(
        page.contains(r#"name="providerId" value="corp""#)
            && page.contains("Sign in with Corp SSO"),
        "{page}"
    );
    let providers = a.get("/auth/api/providers", &[]).await.json();
    assert_eq!(
        providers[1],
        json!({"displayName": "Corp SSO", "icon": "lucide:key-round", "providerId": "corp", "type": "generic-oidc"})
    );

    // The button → the provider's login and consent pages → back to the callback.
    let callback = b
        .sign_in_to_callback(&a, &op, "ann@example.com", "/echo/me?tab=1")
        .await;
    assert!(
        callback.contains("code=") && callback.contains("state="),
        "{callback}"
    );
    let res = b.rp(&a, Method::GET, &callback, None).await;
    assert_eq!(res.status, 302, "{}", res.text());
    assert_eq!(location(&res), "/echo/me?tab=1");
    let set = res
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(
        set.iter().any(
            |c| c.starts_with("buntime.session_token=") && c.contains("HttpOnly; SameSite=Lax")
        ),
        "{set:?}"
    );
    assert!(
        !b.cookies.contains_key("buntime.oauth_binding"),
        "the flow's binding cookie is cleared"
    );

    // The route sees the provider's user; the session is an ordinary one (listed like a password one).
    let (status, body) = whoami(&a, &b).await;
    assert_eq!(status, 200);
    let id = &body["identity"];
    assert_eq!(id["claims"]["email"], "ann@example.com", "{body}");
    assert_eq!(id["claims"]["emailVerified"], true);
    assert_eq!(id["claims"]["name"], "User ann");
    let cookie = b.session().unwrap();
    let sessions = a
        .get("/auth/api/sessions", &[("cookie", &cookie)])
        .await
        .json();
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len(),
        1,
        "{sessions}"
    );
    assert_eq!(sessions["sessions"][0]["userId"], id["sub"]);

    // Signing in again finds the same user.
    let mut again = Browser::new();
    let callback = again
        .sign_in_to_callback(&a, &op, "ann@example.com", "/")
        .await;
    assert_eq!(again.rp(&a, Method::GET, &callback, None).await.status, 302);
    assert_eq!(whoami(&a, &again).await.1["identity"]["sub"], id["sub"]);

    // Logout from our own page: the session ends here, then at the provider, and back to `/`.
    let res = a
        .get(
            "/auth/api/logout?redirect=/",
            &[("cookie", &cookie), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(res.status, 302);
    let to = location(&res);
    assert!(
        to.starts_with(&format!("{}/session/end?", op.issuer)),
        "{to}"
    );
    assert!(
        to.contains("id_token_hint=") && to.contains("client_id=buntime"),
        "{to}"
    );
    let back = b.at_provider(&op.issuer, &to, "ann@example.com").await;
    assert_eq!(back, format!("{ORIGIN}/"));
    b.keep(&res);
    assert_eq!(whoami(&a, &b).await.0, 401, "signed out");
    // The provider's session is gone too: a new sign-in asks for the login again.
    let res = b
        .rp(
            &a,
            Method::POST,
            "/auth/api/auth/sign-in/oauth2",
            Some(&[("providerId", "corp")]),
        )
        .await;
    let (status, to, _) = b.op_get(&location(&res)).await;
    assert_eq!(status, 303);
    let to = to.unwrap();
    assert!(
        to.starts_with("/interaction/"),
        "not straight back to us: {to}"
    );
    let (_, _, page) = b.op_get(&format!("{}{to}", op.issuer)).await;
    assert!(page.contains(r#"name="login""#), "{page}");
}

#[tokio::test]
async fn a_verified_provider_email_links_to_the_password_account_and_an_unverified_one_does_not() {
    let Some((op, a)) = setup().await else { return };
    let ann = a.user("ann@example.com").await;
    let password_sub = a.echo(&ann).await.json()["identity"]["sub"].clone();
    let mut b = Browser::new();
    let callback = b.sign_in_to_callback(&a, &op, "ann@example.com", "/").await;
    assert_eq!(b.rp(&a, Method::GET, &callback, None).await.status, 302);
    assert_eq!(
        whoami(&a, &b).await.1["identity"]["sub"],
        password_sub,
        "same user"
    );

    // The provider does not vouch for this address: no takeover of the password account.
    a.user("unverified-bob@example.com").await;
    let mut b = Browser::new();
    let callback = b
        .sign_in_to_callback(&a, &op, "unverified-bob@example.com", "/")
        .await;
    assert_refused(&a, &mut b, &callback, 403, "has not verified that address").await;
    // A new address, unverified, gets a new (unverified) user.
    let mut b = Browser::new();
    let callback = b
        .sign_in_to_callback(&a, &op, "unverified-carol@example.com", "/")
        .await;
    assert_eq!(b.rp(&a, Method::GET, &callback, None).await.status, 302);
    assert_eq!(
        whoami(&a, &b).await.1["identity"]["claims"]["emailVerified"],
        false
    );
}

#[tokio::test]
async fn a_wrong_missing_or_foreign_state_is_refused_and_the_real_one_still_works() {
    let Some((op, a)) = setup().await else { return };
    let mut b = Browser::new();
    let callback = b.sign_in_to_callback(&a, &op, "ann@example.com", "/").await;
    let url = url::Url::parse(&callback).unwrap();
    let with = |state: Option<&str>| {
        let mut u = url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != "state")
            .collect();
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        drop(q);
        u.to_string()
    };
    assert_refused(
        &a,
        &mut b,
        &with(Some("forged-state")),
        400,
        "is unknown, expired or already used",
    )
    .await;
    assert_refused(&a, &mut b, &with(None), 400, "has no `state`").await;
    // The real callback opened in another browser (login CSRF: an attacker's flow in a victim's
    // browser) lacks the binding cookie.
    let mut victim = Browser::new();
    assert_refused(
        &a,
        &mut victim,
        &callback,
        403,
        "was not started in this browser",
    )
    .await;
    // The forged callbacks did not use up this browser's sign-in.
    let res = b.rp(&a, Method::GET, &callback, None).await;
    assert_eq!(res.status, 302, "{}", res.text());
    assert_eq!(whoami(&a, &b).await.0, 200);
}

#[tokio::test]
async fn a_replayed_callback_and_a_replayed_code_are_refused() {
    let Some((op, a)) = setup().await else { return };
    let mut b = Browser::new();
    let first = b.sign_in_to_callback(&a, &op, "ann@example.com", "/").await;
    assert_eq!(b.rp(&a, Method::GET, &first, None).await.status, 302);

    // The same callback again (same state and code) in a fresh browser that kept the binding.
    let mut replay = Browser::new();
    let second = replay
        .sign_in_to_callback(&a, &op, "ann@example.com", "/")
        .await;
    let binding = replay.cookies["buntime.oauth_binding"].clone();
    assert_refused(
        &a,
        &mut replay,
        &first,
        400,
        "is unknown, expired or already used",
    )
    .await;

    // A fresh flow's state with the first (already redeemed) code: the provider refuses it.
    let code = |u: &str| {
        url::Url::parse(u)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    };
    let swapped = second.replace(&code(&second), &code(&first));
    replay
        .cookies
        .insert("buntime.oauth_binding".into(), binding);
    assert_refused(
        &a,
        &mut replay,
        &swapped,
        401,
        "refused the authorization code",
    )
    .await;
}

#[tokio::test]
async fn id_tokens_with_another_audience_or_issuer_expired_a_wrong_nonce_or_key_are_refused() {
    let Some((op, a)) = setup().await else { return };
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let cases = [
        (
            json!({"set": {"aud": "someone-else"}}),
            "issued for another client",
        ),
        (
            json!({"set": {"iss": "https://evil.example"}}),
            "issued by another provider",
        ),
        (
            json!({"set": {"exp": past, "iat": past - 600}}),
            "has expired",
        ),
        (
            json!({"set": {"nonce": "not-this-flows-nonce"}}),
            "nonce does not match",
        ),
        (json!({"unset": ["nonce"]}), "nonce does not match"),
        (json!({"foreignKey": true}), "signature does not verify"),
    ];
    for (tamper, says) in cases {
        let mut b = Browser::new();
        let callback = b.sign_in_to_callback(&a, &op, "ann@example.com", "/").await;
        op.tamper(tamper.clone()).await;
        assert_refused(&a, &mut b, &callback, 401, says).await;
    }
    // Discovery was read once for all these sign-ins, and once more when a signature failed
    // (which could have been a key rotation at the provider).
    assert_eq!(op.discoveries().await, 2);
    // Untampered, the same provider signs in fine.
    let mut b = Browser::new();
    let callback = b.sign_in_to_callback(&a, &op, "ann@example.com", "/").await;
    assert_eq!(b.rp(&a, Method::GET, &callback, None).await.status, 302);
    assert_eq!(whoami(&a, &b).await.0, 200);
}

#[tokio::test]
async fn an_unreachable_provider_gets_a_clear_error_and_email_sign_in_keeps_working() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let providers = format!(
        "providers:\n  - type: email-password\n  - type: generic-oidc\n    providerId: corp\n    issuer: http://127.0.0.1:{port}\n    clientId: buntime\n"
    );
    let a = start_with(&providers, &[]).await;
    let mut b = Browser::new();
    let res = b
        .rp(
            &a,
            Method::POST,
            "/auth/api/auth/sign-in/oauth2",
            Some(&[("providerId", "corp")]),
        )
        .await;
    assert_eq!(res.status, 502);
    assert!(
        res.text().contains("SSO cannot be reached right now"),
        "{}",
        res.text()
    );
    let json = a
        .send(
            Method::POST,
            "/auth/api/auth/sign-in/oauth2",
            Some(json!({"providerId": "nope"})),
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(
        (json.status.as_u16(), json.json()["code"].as_str()),
        (404, Some("PROVIDER_NOT_FOUND"))
    );
    assert_eq!(a.sign_up("ann@example.com").await.status, 200);
}

#[tokio::test]
async fn the_page_after_an_oidc_sign_in_is_always_on_this_site() {
    let Some((op, a)) = setup().await else { return };
    for evil in [
        "//evil.example/x",
        "https://evil.example/x",
        "/\\evil.example",
    ] {
        let mut b = Browser::new();
        let callback = b
            .sign_in_to_callback(&a, &op, "ann@example.com", evil)
            .await;
        let res = b.rp(&a, Method::GET, &callback, None).await;
        assert_eq!(res.status, 302);
        assert_eq!(location(&res), "/", "{evil}");
    }
    // An API client starts with JSON and gets the provider URL to open.
    let res = a
        .send(
            Method::POST,
            "/auth/api/auth/sign-in/oauth2",
            Some(json!({"providerId": "corp", "callbackURL": "/echo/me"})),
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["redirect"], true);
    let url = res.json()["url"].as_str().unwrap().to_owned();
    for param in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "client_id=buntime",
    ] {
        assert!(url.contains(param), "{param} in {url}");
    }
    // Started from another site: refused like every state-changing call.
    let res = a
        .send(
            Method::POST,
            "/auth/api/auth/sign-in/oauth2",
            Some(json!({"providerId": "corp"})),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(res.status, 403);
}

#[tokio::test]
async fn keycloak_realm_and_client_roles_from_the_id_token_become_the_users_roles() {
    // The provider puts `realm_access`/`resource_access` in the ID token, as Keycloak's `roles`
    // scope does with "add to ID token".
    let Some(op) = Op::start(&[("OIDC_ID_TOKEN_CLAIMS", "1")]) else {
        return;
    };
    let providers = format!(
        "providers:\n  - type: keycloak\n    providerId: corp\n    issuer: {}\n    clientId: buntime\n    clientSecret: buntime-secret\n    scopes: [email, profile, roles]\n",
        op.issuer
    );
    let a = start_with(&providers, &[]).await;
    let mut b = Browser::new();
    let callback = b.sign_in_to_callback(&a, &op, "kim@example.com", "/").await;
    assert_eq!(b.rp(&a, Method::GET, &callback, None).await.status, 302);
    let (status, body) = whoami(&a, &b).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["identity"]["roles"],
        json!(["user", "deployer"]),
        "{body}"
    );
    assert_eq!(body["identity"]["claims"]["email"], "kim@example.com");
}
