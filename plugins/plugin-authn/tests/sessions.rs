//! Sign-up, sign-in (JSON and the no-JS form), the session API, sign-out, session listing and
//! revocation, cookie attributes, and the stored password hash.

mod support;

use buntime_plugin_database::{DatabaseService, Statement};
use http::{Method, header};
use serde_json::json;
use support::{ORIGIN, PASSWORD, session_cookie, start, start_with};

#[tokio::test]
async fn sign_up_sets_an_http_only_lax_cookie_and_the_session_shows_the_user() {
    let a = start().await;
    let res = a.sign_up("Ann@Example.com").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["user"]["email"], "ann@example.com");
    let set = res
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain http without a trusted proxy: {set}"
    );
    let cookie = session_cookie(&res).unwrap();
    let me = a.get("/auth/api/session", &[("cookie", &cookie)]).await;
    assert_eq!(me.json()["user"]["email"], "ann@example.com");
    assert_eq!(me.json()["user"]["name"], "Ann");
    let anon = a.get("/auth/api/session", &[]).await;
    assert_eq!(anon.status, 200);
    assert_eq!(anon.json(), json!(null));
}

#[tokio::test]
async fn cookies_are_secure_behind_a_trusted_https_proxy_only() {
    let trusted = start_with("", &[("RUNTIME_TRUST_PROXY", "true")]).await;
    let res = trusted
        .send(
            Method::POST,
            "/auth/api/auth/sign-up/email",
            Some(json!({"email": "a@example.com", "password": PASSWORD})),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert!(
        res.headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
    let untrusted = start().await;
    let res = untrusted
        .send(
            Method::POST,
            "/auth/api/auth/sign-up/email",
            Some(json!({"email": "a@example.com", "password": PASSWORD})),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert!(
        !res.headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Secure"),
        "the header is not trusted"
    );
    let public_https = start_with("trustedOrigins: [\"https://app.example.com\"]\n", &[]).await;
    let res = public_https
        .send(
            Method::POST,
            "/auth/api/auth/sign-up/email",
            Some(json!({"email": "a@example.com", "password": PASSWORD})),
            &[],
        )
        .await;
    assert!(
        res.headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
}

#[tokio::test]
async fn sign_in_with_the_right_password_only() {
    let a = start().await;
    a.user("ann@example.com").await;
    let ok = a.sign_in("ANN@example.com", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(session_cookie(&ok).is_some());
    let bad = a.sign_in("ann@example.com", "wrong password").await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["code"], "INVALID_EMAIL_OR_PASSWORD");
    assert!(bad.headers.get(header::SET_COOKIE).is_none());
    let unknown = a.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.json(),
        bad.json(),
        "an unknown account answers exactly like a wrong password"
    );
}

#[tokio::test]
async fn bad_sign_up_input_names_the_field() {
    let a = start().await;
    let post = |body| {
        a.send(
            Method::POST,
            "/auth/api/auth/sign-up/email",
            Some(body),
            &[],
        )
    };
    let res = post(json!({"email": "not-an-email", "password": PASSWORD})).await;
    assert_eq!(res.status, 400);
    assert!(res.json()["message"].as_str().unwrap().contains("`email`"));
    let res = post(json!({"email": "a@example.com", "password": "short"})).await;
    assert_eq!(res.status, 400);
    assert!(
        res.json()["message"]
            .as_str()
            .unwrap()
            .contains("`password`")
    );
    let res = post(json!({"email": "a@example.com", "password": 12_345_678})).await;
    assert_eq!(res.status, 400);
    assert!(
        res.json()["message"]
            .as_str()
            .unwrap()
            .contains("`password`")
    );
    let res = a
        .send(Method::POST, "/auth/api/auth/sign-up/email", None, &[])
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "INVALID_JSON");
    assert_eq!(a.sign_up("a@example.com").await.status, 200);
    let dup = a.sign_up("A@example.com").await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.json()["code"], "USER_ALREADY_EXISTS");
}

#[tokio::test]
async fn sign_up_can_be_turned_off() {
    let a = start_with(
        "providers:\n  - type: email-password\n    allowSignUp: false\n",
        &[],
    )
    .await;
    let res = a.sign_up("a@example.com").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "SIGN_UP_DISABLED");
    let page = a.get("/auth/login", &[]).await.text();
    assert!(!page.contains("Create an account"));
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_phc_strings_and_tokens_as_hashes() {
    let a = start().await;
    let cookie = a.user("ann@example.com").await;
    let db =
        a.h.generation()
            .services
            .get::<DatabaseService>(buntime_plugin_database::NAME)
            .unwrap();
    let res = db
        .execute(
            buntime_plugin_database::Target::root(),
            Statement::new("SELECT password_hash FROM authn_account"),
        )
        .await
        .unwrap();
    let stored = format!("{:?}", res.rows[0][0]);
    assert!(
        stored.contains("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{stored}"
    );
    assert!(!stored.contains(PASSWORD));
    let res = db
        .execute(
            buntime_plugin_database::Target::root(),
            Statement::new("SELECT token_hash FROM authn_session"),
        )
        .await
        .unwrap();
    let token = cookie.split_once('=').unwrap().1.split('.').next().unwrap();
    let stored = format!("{:?}", res.rows[0][0]);
    assert!(
        !stored.contains(token),
        "the database holds a hash of the token, not the token"
    );
}

#[tokio::test]
async fn the_login_form_works_without_javascript() {
    let a = start().await;
    a.user("ann@example.com").await;
    let page = a
        .get("/auth/login?redirect=%2Fecho%2Fdash%3Ftab%3D2", &[])
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text();
    assert!(
        html.contains(r#"<form method="post" action="/auth/api/auth/sign-in/email">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"name="redirect" value="/echo/dash?tab=2""#),
        "{html}"
    );
    assert!(
        html.contains("Sign in with Email"),
        "one button per provider"
    );

    let ok = a
        .form(
            "/auth/api/auth/sign-in/email",
            &[
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("redirect", "/echo/dash?tab=2"),
            ],
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.headers[header::LOCATION], "/echo/dash?tab=2");
    let cookie = session_cookie(&ok).unwrap();
    assert_eq!(
        a.echo(&cookie).await.json()["identity"]["claims"]["email"],
        "ann@example.com"
    );

    let bad = a
        .form(
            "/auth/api/auth/sign-in/email",
            &[
                ("email", "ann@example.com"),
                ("password", "nope"),
                ("redirect", "/x"),
            ],
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(bad.status, 401);
    let html = bad.text();
    assert!(html.contains("invalid email or password"), "{html}");
    assert!(
        html.contains(r#"value="ann@example.com""#),
        "the email is kept"
    );
    let signed_in = a
        .get("/auth/login?redirect=/echo/x", &[("cookie", &cookie)])
        .await;
    assert_eq!(
        signed_in.status, 302,
        "a signed-in visitor goes straight on"
    );
    assert_eq!(signed_in.headers[header::LOCATION], "/echo/x");
}

#[tokio::test]
async fn sign_out_ends_the_session_everywhere() {
    let a = start().await;
    let cookie = a.user("ann@example.com").await;
    assert_eq!(a.echo(&cookie).await.status, 200);
    let out = a
        .send(
            Method::POST,
            "/auth/api/auth/sign-out",
            None,
            &[("cookie", &cookie), ("origin", ORIGIN)],
        )
        .await;
    assert_eq!(out.status, 200);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        a.echo(&cookie).await.status,
        401,
        "the cached session was evicted too"
    );
    assert_eq!(
        a.get("/auth/api/session", &[("cookie", &cookie)])
            .await
            .json(),
        json!(null)
    );
}

#[tokio::test]
async fn logout_by_link_from_our_pages_redirects_and_post_answers_json() {
    let a = start().await;
    let cookie = a.user("ann@example.com").await;
    let res = a
        .get(
            "/auth/api/logout?redirect=/echo/bye",
            &[("cookie", &cookie), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(res.headers[header::LOCATION], "/echo/bye");
    assert_eq!(a.echo(&cookie).await.status, 401);
    let cookie = a.sign_in("ann@example.com", PASSWORD).await;
    let cookie = session_cookie(&cookie).unwrap();
    let res = a
        .send(
            Method::POST,
            "/auth/api/logout",
            None,
            &[("cookie", &cookie), ("origin", ORIGIN)],
        )
        .await;
    assert_eq!(res.json(), json!({"success": true, "oidcLogoutUrl": null}));
    assert_eq!(a.echo(&cookie).await.status, 401);
}

#[tokio::test]
async fn sessions_are_listed_and_one_can_be_revoked() {
    let a = start().await;
    let laptop = a.user("ann@example.com").await;
    let phone = session_cookie(&a.sign_in("ann@example.com", PASSWORD).await).unwrap();
    assert_eq!(a.echo(&phone).await.status, 200, "fills the cache");
    let list = a
        .get("/auth/api/sessions", &[("cookie", &laptop)])
        .await
        .json();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    let res = a
        .send(
            Method::DELETE,
            &format!("/auth/api/sessions/{other}"),
            None,
            &[("cookie", &laptop), ("origin", ORIGIN)],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        a.echo(&phone).await.status,
        401,
        "revocation evicts the cached session"
    );
    assert_eq!(a.echo(&laptop).await.status, 200);
    let again = a
        .send(
            Method::DELETE,
            &format!("/auth/api/sessions/{other}"),
            None,
            &[("cookie", &laptop)],
        )
        .await;
    assert_eq!(again.status, 404);

    let mallory = a.user("mallory@example.com").await;
    let mine = a
        .get("/auth/api/sessions", &[("cookie", &laptop)])
        .await
        .json()["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = a
        .send(
            Method::DELETE,
            &format!("/auth/api/sessions/{mine}"),
            None,
            &[("cookie", &mallory)],
        )
        .await;
    assert_eq!(res.status, 404, "another user's session cannot be revoked");
    assert_eq!(a.echo(&laptop).await.status, 200);
    assert_eq!(a.get("/auth/api/sessions", &[]).await.status, 401);
}

#[tokio::test]
async fn providers_list_the_email_provider() {
    let a = start().await;
    let res = a.get("/auth/api/providers", &[]).await;
    assert_eq!(
        res.json(),
        json!([{"displayName": "Email", "icon": "lucide:mail", "providerId": "email-password", "type": "email-password"}])
    );
}
