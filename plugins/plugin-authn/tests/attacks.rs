//! Attacks, each a test: forged, tampered and foreign-key cookies, expired sessions, open
//! redirects, brute force, forged `X-Identity`, CSRF on sign-out, and sign-in timing of unknown
//! vs known users.

mod support;

use std::time::{Duration, Instant};

use http::{Method, header};
use serde_json::json;
use support::{ORIGIN, PASSWORD, session_cookie, start, start_with};

#[tokio::test]
async fn forged_and_tampered_cookies_are_refused() {
    let a = start().await;
    let cookie = a.user("ann@example.com").await;
    let (name, value) = cookie.split_once('=').unwrap();
    let (token, sig) = value.split_once('.').unwrap();
    let flip = |s: &str| {
        let mut c: Vec<char> = s.chars().collect();
        c[3] = if c[3] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect::<String>()
    };
    for forged in [
        format!("{name}={}.{sig}", flip(token)),
        format!("{name}={token}.{}", flip(sig)),
        format!("{name}={token}"),
        format!(
            "{name}=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ),
        format!("{name}=.{sig}"),
        format!("{name}={value}x"),
    ] {
        let res = a.echo(&forged).await;
        assert_eq!(res.status, 401, "{forged}");
    }
    assert_eq!(a.echo(&cookie).await.status, 200);
}

#[tokio::test]
async fn a_cookie_signed_with_another_key_is_refused_and_rotation_keeps_old_cookies() {
    let old_key = "o".repeat(40);
    let new_key = "n".repeat(40);
    let old = start_with(&format!("session:\n  secrets: [\"{old_key}\"]\n"), &[]).await;
    let cookie = old.user("ann@example.com").await;
    drop(old.h);
    // The same database (state dir), restarted with another key only: the cookie is foreign.
    let state = old.state;
    let restart = |secrets: String| {
        let dir = state.path().to_str().unwrap().to_owned();
        async move { support::start_in(&format!("session:\n  secrets: {secrets}\n"), &dir).await }
    };
    let foreign = restart(format!("[\"{new_key}\"]")).await;
    assert_eq!(foreign.echo(&cookie).await.status, 401);
    let rotated = restart(format!("[\"{new_key}\", \"{old_key}\"]")).await;
    assert_eq!(
        rotated.echo(&cookie).await.status,
        200,
        "the old key still verifies during rotation"
    );
    let fresh = session_cookie(&rotated.sign_in("ann@example.com", PASSWORD).await).unwrap();
    assert_eq!(
        foreign.echo(&fresh).await.status,
        200,
        "new cookies are signed with the new key"
    );
}

#[tokio::test]
async fn expired_sessions_are_refused_even_when_cached() {
    let a = start_with("session:\n  ttl: 1s\n  cacheTtl: 1h\n", &[]).await;
    let cookie = a.user("ann@example.com").await;
    assert_eq!(a.echo(&cookie).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(a.echo(&cookie).await.status, 401);
    assert_eq!(
        a.get("/auth/api/session", &[("cookie", &cookie)])
            .await
            .json(),
        json!(null)
    );
}

#[tokio::test]
async fn open_redirects_are_refused_everywhere() {
    let a = start().await;
    a.user("ann@example.com").await;
    let evil = [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:evil.example",
    ];
    for target in evil {
        let res = a
            .form(
                "/auth/api/auth/sign-in/email",
                &[
                    ("email", "ann@example.com"),
                    ("password", PASSWORD),
                    ("redirect", target),
                ],
                &[("origin", ORIGIN)],
            )
            .await;
        assert_eq!(res.status, 303);
        assert_eq!(
            res.headers[header::LOCATION],
            "/",
            "sign-in redirect={target}"
        );
        let q = url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>();
        let page = a
            .get(&format!("/auth/login?redirect={q}"), &[])
            .await
            .text();
        assert!(
            page.contains(r#"name="redirect" value="/""#),
            "login page redirect={target}"
        );
        let out = a
            .get(
                &format!("/auth/api/logout?redirect={q}"),
                &[("sec-fetch-site", "same-origin")],
            )
            .await;
        assert_eq!(
            out.headers[header::LOCATION],
            "/",
            "logout redirect={target}"
        );
    }
}

#[tokio::test]
async fn brute_force_gets_429_with_retry_after_even_for_the_right_password() {
    let a = start().await;
    a.user("ann@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            a.sign_in("ann@example.com", "guess-guess").await.status,
            401
        );
    }
    let res = a.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.json()["code"], "TOO_MANY_ATTEMPTS");
    let retry: u64 = res.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    assert!(session_cookie(&res).is_none());
}

#[tokio::test]
async fn brute_force_across_accounts_is_limited_per_ip() {
    let a = start_with(
        "rateLimit:\n  maxPerAccount: 100\n  maxPerIp: 3\n",
        &[("RUNTIME_TRUST_PROXY", "true")],
    )
    .await;
    for i in 0..3 {
        let res = a
            .send(
                Method::POST,
                "/auth/api/auth/sign-in/email",
                Some(json!({"email": format!("u{i}@example.com"), "password": "x"})),
                &[("x-forwarded-for", "203.0.113.7")],
            )
            .await;
        assert_eq!(res.status, 401);
    }
    let res = a
        .send(
            Method::POST,
            "/auth/api/auth/sign-in/email",
            Some(json!({"email": "u9@example.com", "password": "x"})),
            &[("x-forwarded-for", "203.0.113.7")],
        )
        .await;
    assert_eq!(res.status, 429);
    let other = a
        .send(
            Method::POST,
            "/auth/api/auth/sign-in/email",
            Some(json!({"email": "u9@example.com", "password": "x"})),
            &[("x-forwarded-for", "198.51.100.1")],
        )
        .await;
    assert_eq!(other.status, 401, "another client is not blocked");
}

#[tokio::test]
async fn a_forged_x_identity_never_reaches_a_route() {
    let a = start().await;
    let forged = r#"{"sub":"admin","roles":["admin"],"groups":[],"claims":{}}"#;
    let res = a
        .get(
            "/echo/x",
            &[("x-identity", forged), ("accept", "application/json")],
        )
        .await;
    assert_eq!(res.status, 401, "a header is no identity");
    let res = a.get("/echo/public/x", &[("x-identity", forged)]).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json()["identity"],
        json!(null),
        "stripped on public routes too (S-9)"
    );
    let cookie = a.user("ann@example.com").await;
    let res = a
        .get("/echo/x", &[("x-identity", forged), ("cookie", &cookie)])
        .await;
    assert_eq!(
        res.json()["identity"]["claims"]["email"],
        "ann@example.com",
        "ours replaces theirs"
    );
}

#[tokio::test]
async fn cross_site_sign_out_and_revocation_are_refused() {
    let a = start().await;
    let cookie = a.user("ann@example.com").await;
    for path in ["/auth/api/auth/sign-out", "/auth/api/logout"] {
        let res = a
            .send(
                Method::POST,
                path,
                None,
                &[("cookie", &cookie), ("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(res.status, 403, "{path}");
        assert_eq!(res.json()["code"], "CSRF_REJECTED");
        let res = a
            .send(
                Method::POST,
                path,
                None,
                &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
            )
            .await;
        assert_eq!(res.status, 403, "{path} without Origin");
    }
    let res = a
        .get(
            "/auth/api/logout?redirect=/",
            &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(
        res.status, 200,
        "a link from elsewhere only shows a confirmation"
    );
    assert!(
        res.text()
            .contains(r#"<form method="post" action="/auth/api/logout">"#)
    );
    let id = a
        .get("/auth/api/sessions", &[("cookie", &cookie)])
        .await
        .json()["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = a
        .send(
            Method::DELETE,
            &format!("/auth/api/sessions/{id}"),
            None,
            &[("cookie", &cookie), ("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(a.echo(&cookie).await.status, 200, "still signed in");
    let login_csrf = a
        .form(
            "/auth/api/auth/sign-in/email",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(login_csrf.status, 403, "login CSRF");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn unknown_and_known_users_take_the_same_time_to_refuse() {
    // Real-ish hash cost so the hash, not the lookup, dominates either way.
    let a = start_with(
        "password:\n  memoryKib: 8192\n  iterations: 2\n  parallelism: 1\n",
        &[],
    )
    .await;
    a.user("ann@example.com").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..6 {
        // Different accounts each round so the limiter never steps in.
        let t = Instant::now();
        let res = a
            .sign_in(&format!("nobody{i}@example.com"), "wrong password")
            .await;
        unknown.push(t.elapsed());
        assert_eq!(res.status, 401);
        let t = Instant::now();
        let res = a.sign_in("ann@example.com", "wrong password").await;
        known.push(t.elapsed());
        assert_eq!(res.status, 401);
        if i == 3 {
            a.sign_in("ann@example.com", PASSWORD).await; // resets ann's failure count
        }
    }
    let (k, u) = (median(known), median(unknown));
    let ratio = u.as_secs_f64() / k.as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "known {k:?} vs unknown {u:?}");
}
