//! `AccessControl::authorize` end to end: when auth is required, the master key, expiry and
//! revocation, CSRF, and a damaged store.

mod support;

use std::sync::Arc;

use buntime_auth::{AccessControl, Caller, Denied, KeyStore, Principal, Role};
use buntime_core::Response;
use http::{Method, StatusCode};
use support::{Fixture, body_json, body_string, headers, with_key, write_store};

const SAME_ORIGIN: &[(&str, &str)] = &[
    ("origin", "http://localhost:8000"),
    ("host", "localhost:8000"),
];

#[test]
fn without_keys_or_master_everything_is_open() {
    let fx = Fixture::new(None, false);
    assert!(!fx.access.auth_required().unwrap());
    assert_eq!(
        fx.access
            .authorize(&Method::GET, "/keys", &headers(&[]), false)
            .unwrap(),
        Caller::Anonymous
    );
    assert_eq!(
        fx.access
            .authorize(&Method::POST, "/keys", &headers(SAME_ORIGIN), false)
            .unwrap(),
        Caller::Anonymous
    );
}

#[test]
fn a_master_key_alone_requires_auth_and_grants_everything() {
    let fx = Fixture::new(Some("s3cret"), false);
    assert!(matches!(
        fx.access
            .authorize(&Method::GET, "/apps", &headers(&[]), false),
        Err(Denied::AuthRequired)
    ));
    assert!(matches!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key("s3cre"), false),
        Err(Denied::AuthRequired)
    ));
    let bearer = headers(&[("authorization", "BEARER s3cret")]);
    let caller = fx
        .access
        .authorize(&Method::DELETE, "/keys/1", &bearer, false)
        .unwrap();
    let p = caller.into_principal().unwrap();
    assert_eq!(p, Principal::master());
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        serde_json::json!({"id":0,"name":"master","keyPrefix":"master","role":"admin","permissions":[],"createdAt":0,"isMaster":true})
    );
}

#[test]
fn a_blank_master_key_counts_as_none() {
    let store = Arc::new(KeyStore::new(tempfile::tempdir().unwrap().path()));
    assert!(!AccessControl::new(store, Some("  ".to_owned()), false).has_master_key());
}

#[test]
fn expired_keys_are_refused_but_keep_auth_required() {
    let fx = Fixture::new(None, false);
    let secret = fx.key_with(Role::Admin, &[], Some(86_400), 1_000);
    assert!(matches!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key(&secret), false),
        Err(Denied::AuthRequired)
    ));
    assert!(fx.access.auth_required().unwrap());
}

#[test]
fn revoked_keys_are_refused_and_stop_counting() {
    let fx = Fixture::new(None, false);
    let keep = fx.key(Role::Viewer, &[]);
    let gone = fx.key(Role::Admin, &[]);
    assert!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key(&gone), false)
            .is_ok()
    );
    assert!(fx.access.store().revoke(2).unwrap());
    assert!(matches!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key(&gone), false),
        Err(Denied::AuthRequired)
    ));
    assert!(fx.access.store().revoke(1).unwrap());
    assert!(
        !fx.access.auth_required().unwrap(),
        "only revoked keys left"
    );
    assert_eq!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key(&keep), false)
            .unwrap(),
        Caller::Anonymous
    );
}

#[tokio::test]
async fn denials_have_the_exact_bodies() {
    let r = Response::from(Denied::AuthRequired);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body_json(r).await,
        serde_json::json!({"code":"AUTH_REQUIRED","error":"Unauthorized"})
    );
    let r = Response::from(Denied::PermissionDenied(
        buntime_auth::Permission::KeysCreate,
    ));
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body_json(r).await,
        serde_json::json!({"code":"PERMISSION_DENIED","error":"Missing permission: keys:create"})
    );
    let r = Response::from(Denied::OriginRequired);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_string(r).await, "Forbidden - Origin required");
    let r = Response::from(Denied::ForeignOrigin);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_string(r).await, "Forbidden");
}

mod csrf {
    use super::*;

    fn anon_post(
        fx: &Fixture,
        pairs: &[(&'static str, &str)],
        from_worker: bool,
    ) -> Result<Caller, Denied> {
        fx.access.authorize(
            &Method::POST,
            "/plugins/reload",
            &headers(pairs),
            from_worker,
        )
    }

    #[test]
    fn missing_origin_is_refused() {
        let fx = Fixture::new(None, false);
        assert!(matches!(
            anon_post(&fx, &[("host", "localhost:8000")], false),
            Err(Denied::OriginRequired)
        ));
    }

    #[test]
    fn foreign_null_and_userinfo_origins_are_refused() {
        let fx = Fixture::new(None, false);
        for origin in [
            "https://evil.example",
            "null",
            "http://user:pw@localhost:8000",
            "ftp://localhost:8000",
            "http://localhost:9000",
        ] {
            let got = anon_post(
                &fx,
                &[("origin", origin), ("host", "localhost:8000")],
                false,
            );
            assert!(
                matches!(got, Err(Denied::ForeignOrigin)),
                "{origin}: {got:?}"
            );
        }
    }

    #[test]
    fn same_origin_passes_and_safe_methods_are_not_checked() {
        let fx = Fixture::new(None, false);
        assert!(anon_post(&fx, SAME_ORIGIN, false).is_ok());
        assert!(
            fx.access
                .authorize(&Method::GET, "/apps", &headers(&[]), false)
                .is_ok()
        );
        for m in [Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(
                matches!(
                    fx.access.authorize(&m, "/apps/x", &headers(&[]), false),
                    Err(Denied::OriginRequired)
                ),
                "{m}"
            );
        }
    }

    #[test]
    fn the_internal_header_alone_does_not_exempt() {
        let fx = Fixture::new(None, false);
        let forged = anon_post(
            &fx,
            &[("x-buntime-internal", "true"), ("host", "localhost:8000")],
            false,
        );
        assert!(matches!(forged, Err(Denied::OriginRequired)), "{forged:?}");
        let forged = anon_post(
            &fx,
            &[
                ("x-buntime-internal", "true"),
                ("origin", "https://evil.example"),
                ("host", "a"),
            ],
            false,
        );
        assert!(matches!(forged, Err(Denied::ForeignOrigin)));
    }

    #[test]
    fn requests_from_our_workers_are_exempt() {
        let fx = Fixture::new(None, false);
        assert!(anon_post(&fx, &[], true).is_ok());
        assert!(
            anon_post(
                &fx,
                &[("origin", "https://evil.example"), ("host", "a")],
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn a_valid_key_is_exempt_but_an_invalid_one_is_not() {
        let fx = Fixture::new(None, false);
        let admin = fx.key(Role::Admin, &[]);
        assert!(
            fx.access
                .authorize(&Method::POST, "/plugins/reload", &with_key(&admin), false)
                .is_ok()
        );
        assert!(fx.access.store().revoke(1).unwrap());
        // Auth is off again (only a revoked key), so the bad key makes the caller anonymous: CSRF applies.
        let got = fx
            .access
            .authorize(&Method::POST, "/plugins/reload", &with_key(&admin), false);
        assert!(matches!(got, Err(Denied::OriginRequired)), "{got:?}");
    }

    #[test]
    fn forwarded_host_counts_only_behind_a_trusted_proxy() {
        let pairs: &[(&str, &str)] = &[
            ("origin", "https://public.example"),
            ("host", "10.0.0.5:8000"),
            ("x-forwarded-host", "public.example"),
        ];
        let trusted = Fixture::new(None, true);
        assert!(anon_post(&trusted, pairs, false).is_ok());
        let untrusted = Fixture::new(None, false);
        assert!(matches!(
            anon_post(&untrusted, pairs, false),
            Err(Denied::ForeignOrigin)
        ));
        let spoof: &[(&str, &str)] = &[
            ("origin", "https://evil.example"),
            ("host", "a.example"),
            ("x-forwarded-host", "evil.example"),
        ];
        assert!(matches!(
            anon_post(&untrusted, spoof, false),
            Err(Denied::ForeignOrigin)
        ));
    }

    #[test]
    fn without_a_host_header_the_uri_authority_is_used() {
        let fx = Fixture::new(None, false);
        let req = http::Request::builder()
            .method(Method::POST)
            .uri("https://api.example/api/plugins/reload")
            .header("origin", "https://api.example")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        assert!(
            fx.access
                .authorize_parts(&parts, "/plugins/reload", false)
                .is_ok()
        );
        // Through `authorize` (headers only) the host is unknown, so the request is refused.
        assert!(matches!(
            fx.access
                .authorize(&parts.method, "/plugins/reload", &parts.headers, false),
            Err(Denied::ForeignOrigin)
        ));
    }
}

mod damaged_store {
    use super::*;

    fn gate(dir: &std::path::Path, master: Option<&str>) -> AccessControl {
        AccessControl::new(
            Arc::new(KeyStore::new(dir)),
            master.map(str::to_owned),
            false,
        )
    }

    #[tokio::test]
    async fn garbage_content_gives_503_on_private_paths_and_spares_public_ones() {
        let tmp = tempfile::tempdir().unwrap();
        write_store(
            tmp.path(),
            b"this is not an sqlite database, just some garbage bytes...........................",
            0o600,
        );
        let gate = gate(tmp.path(), None);
        assert_eq!(
            gate.authorize(&Method::GET, "/health", &headers(&[]), false)
                .unwrap(),
            Caller::Anonymous
        );
        assert_eq!(
            gate.authorize(
                &Method::GET,
                "/plugins/loaded",
                &with_key("btk_anything"),
                false
            )
            .unwrap(),
            Caller::Anonymous
        );
        let denied = gate
            .authorize(&Method::GET, "/apps", &headers(&[]), false)
            .unwrap_err();
        assert!(matches!(denied, Denied::StoreUnavailable(_)), "{denied:?}");
        let res = Response::from(denied);
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_json(res).await;
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], "KEY_STORE_UNAVAILABLE");
        let msg = body["message"].as_str().unwrap();
        assert!(
            msg.contains("api-keys.db") && msg.contains("move it aside"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn world_readable_store_gives_503_naming_the_chmod() {
        let tmp = tempfile::tempdir().unwrap();
        drop(KeyStore::open(tmp.path()).unwrap());
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            tmp.path().join("api-keys.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let gate = gate(tmp.path(), None);
        let res = Response::from(
            gate.authorize(&Method::GET, "/keys", &with_key("btk_x"), false)
                .unwrap_err(),
        );
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_json(res).await;
        assert!(
            body["message"].as_str().unwrap().contains("chmod 600"),
            "{body}"
        );
        assert!(
            gate.authorize(&Method::GET, "/health/live", &headers(&[]), false)
                .is_ok()
        );
    }

    #[test]
    fn the_master_key_still_works_and_no_key_is_still_401() {
        let tmp = tempfile::tempdir().unwrap();
        write_store(tmp.path(), b"garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage", 0o600);
        let gate = gate(tmp.path(), Some("m"));
        assert!(
            gate.authorize(&Method::DELETE, "/apps/_/x", &with_key("m"), false)
                .unwrap()
                .principal()
                .unwrap()
                .is_master
        );
        assert!(matches!(
            gate.authorize(&Method::GET, "/apps", &headers(&[]), false),
            Err(Denied::AuthRequired)
        ));
        assert!(matches!(
            gate.authorize(&Method::GET, "/apps", &with_key("btk_x"), false),
            Err(Denied::StoreUnavailable(_))
        ));
    }
}

mod check_request {
    use super::*;
    use buntime_auth::WorkerToken;
    use buntime_auth::worker_token::WORKER_TOKEN_HEADER;

    fn post(token: Option<&str>) -> buntime_core::Request {
        let mut b = http::Request::builder()
            .method(Method::POST)
            .uri("/api/plugins/reload")
            .header("host", "a");
        if let Some(t) = token {
            b = b.header(WORKER_TOKEN_HEADER, t);
        }
        b.header("x-buntime-internal", "true")
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn the_worker_token_exempts_from_csrf_and_is_stripped() {
        let token = WorkerToken::generate().unwrap();
        let fx = Fixture::new(None, false);
        let access = AccessControl::new(fx.access.store().clone(), None, false)
            .with_worker_token(token.clone());
        let mut req = post(Some(token.as_str()));
        assert_eq!(
            access.check_request(&mut req, "/plugins/reload").unwrap(),
            Caller::Anonymous
        );
        assert!(req.headers().get(WORKER_TOKEN_HEADER).is_none());
        let mut forged = post(Some("btk_wrong"));
        assert!(matches!(
            access.check_request(&mut forged, "/plugins/reload"),
            Err(Denied::OriginRequired)
        ));
        let mut legacy_only = post(None);
        assert!(matches!(
            access.check_request(&mut legacy_only, "/plugins/reload"),
            Err(Denied::OriginRequired)
        ));
    }

    #[test]
    fn a_valid_key_puts_the_principal_in_the_extensions() {
        let fx = Fixture::new(Some("m"), false);
        let mut req = http::Request::builder()
            .uri("/api/apps")
            .header("x-api-key", "m")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(
            fx.access
                .check_request(&mut req, "/apps")
                .unwrap()
                .principal()
                .unwrap()
                .is_master
        );
        assert!(req.extensions().get::<Principal>().unwrap().is_master);
    }
}
