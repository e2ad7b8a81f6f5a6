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
fn without_keys_or_master_local_callers_are_let_through_in_development() {
    let fx = Fixture::new(None, false);
    assert!(!fx.access.auth_required().unwrap());
    assert_eq!(
        fx.access
            .authorize(&Method::GET, "/keys", &headers(&[]), false, true)
            .unwrap(),
        Caller::Anonymous
    );
    assert_eq!(
        fx.access
            .authorize(&Method::POST, "/keys", &headers(SAME_ORIGIN), false, true)
            .unwrap(),
        Caller::Anonymous
    );
}

#[test]
fn a_master_key_alone_requires_auth_and_grants_everything() {
    let fx = Fixture::new(Some("s3cret"), false);
    assert!(matches!(
        fx.access
            .authorize(&Method::GET, "/apps", &headers(&[]), false, true),
        Err(Denied::AuthRequired)
    ));
    assert!(matches!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key("s3cre"), false, true),
        Err(Denied::AuthRequired)
    ));
    let bearer = headers(&[("authorization", "BEARER s3cret")]);
    let caller = fx
        .access
        .authorize(&Method::DELETE, "/keys/1", &bearer, false, true)
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
            .authorize(&Method::GET, "/apps", &with_key(&secret), false, true),
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
            .authorize(&Method::GET, "/apps", &with_key(&gone), false, true)
            .is_ok()
    );
    assert!(fx.access.store().revoke(2).unwrap());
    assert!(matches!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key(&gone), false, true),
        Err(Denied::AuthRequired)
    ));
    assert!(fx.access.store().revoke(1).unwrap());
    assert!(
        !fx.access.auth_required().unwrap(),
        "only revoked keys left"
    );
    assert_eq!(
        fx.access
            .authorize(&Method::GET, "/apps", &with_key(&keep), false, true)
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
            from_worker, true
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
                .authorize(&Method::GET, "/apps", &headers(&[]), false, true)
                .is_ok()
        );
        for m in [Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(
                matches!(
                    fx.access.authorize(&m, "/apps/x", &headers(&[]), false, true),
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
                .authorize(&Method::POST, "/plugins/reload", &with_key(&admin), false, true)
                .is_ok()
        );
        assert!(fx.access.store().revoke(1).unwrap());
        // Auth is off again (only a revoked key), so the bad key makes the caller anonymous: CSRF applies.
        let got = fx
            .access
            .authorize(&Method::POST, "/plugins/reload", &with_key(&admin), false, true);
        assert!(matches!(got, Err(Denied::OriginRequired)), "{got:?}");
    }

    #[test]
    fn forwarded_host_counts_only_behind_a_trusted_proxy() {
        let pairs: &[(&str, &str)] = &[
            ("origin", "https://public.example"),
            ("host", "10.0.0.5:8000"),
            ("x-forwarded-host", "public.example"),
            ("x-forwarded-proto", "https"),
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
    fn a_rebound_host_is_refused_whatever_host_it_sends() {
        // DNS rebinding: a page at evil.example:8000 whose name now resolves to 127.0.0.1.
        let fx = Fixture::new(None, false);
        let rebound = &[("origin", "http://evil.example:8000"), ("host", "evil.example:8000")];
        assert!(matches!(anon_post(&fx, rebound, false), Err(Denied::ForeignOrigin)));
        let https = &[("origin", "https://localhost:8000"), ("host", "localhost:8000")];
        assert!(matches!(anon_post(&fx, https, false), Err(Denied::ForeignOrigin)));
    }

    #[test]
    fn configured_public_urls_are_accepted() {
        let fx = Fixture::new(None, false);
        let access = support::dev_gate(
            AccessControl::new(fx.access.store().clone(), None, false)
                .with_public_origins(vec!["https://buntime.example".to_owned()]),
        );
        let ok = access.authorize(&Method::POST, "/plugins/reload", &headers(&[("origin", "https://buntime.example")]), false, true);
        assert!(ok.is_ok(), "{ok:?}");
    }
}

mod no_credentials {
    use super::*;

    #[tokio::test]
    async fn remote_callers_are_told_how_to_set_up_a_key() {
        let fx = Fixture::new(None, false);
        for (m, path) in [(Method::GET, "/apps"), (Method::POST, "/apps/upload"), (Method::POST, "/keys"), (Method::DELETE, "/plugins/x")] {
            let got = fx.access.authorize(&m, path, &headers(SAME_ORIGIN), false, false);
            assert!(matches!(got, Err(Denied::NotConfigured)), "{m} {path}: {got:?}");
        }
        let res = Response::from(Denied::NotConfigured);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body = body_json(res).await;
        assert_eq!(body["code"], "AUTH_NOT_CONFIGURED");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains("RUNTIME_MASTER_KEY") && msg.contains("buntime keys create"), "{msg}");
    }

    #[test]
    fn public_routes_stay_open_to_everyone() {
        let fx = Fixture::new(None, false);
        for path in ["/health", "/health/ready", "/plugins/loaded", "/openapi.json"] {
            assert_eq!(fx.access.authorize(&Method::GET, path, &headers(&[]), false, false).unwrap(), Caller::Anonymous, "{path}");
        }
    }

    #[test]
    fn outside_development_local_callers_are_refused_too() {
        let fx = Fixture::new(None, false);
        let prod = AccessControl::new(fx.access.store().clone(), None, false);
        prod.set_listener("0.0.0.0:8000".parse().unwrap());
        let got = prod.authorize(&Method::POST, "/plugins/reload", &headers(SAME_ORIGIN), false, true);
        assert!(matches!(got, Err(Denied::NotConfigured)), "{got:?}");
    }

    #[test]
    fn a_key_without_the_permission_still_reads_public_routes() {
        let fx = Fixture::new(None, false);
        let viewer = fx.key(Role::Custom, &[buntime_auth::Permission::KeysRead]);
        let got = fx.access.authorize(&Method::GET, "/plugins/loaded", &with_key(&viewer), false, false);
        assert!(got.unwrap().principal().is_some());
    }
}

mod damaged_store {
    use super::*;

    fn gate(dir: &std::path::Path, master: Option<&str>) -> AccessControl {
        support::dev_gate(AccessControl::new(
            Arc::new(KeyStore::new(dir)),
            master.map(str::to_owned),
            false,
        ))
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
            gate.authorize(&Method::GET, "/health", &headers(&[]), false, true)
                .unwrap(),
            Caller::Anonymous
        );
        assert_eq!(
            gate.authorize(
                &Method::GET,
                "/plugins/loaded",
                &with_key("btk_anything"),
                false, true
            )
            .unwrap(),
            Caller::Anonymous
        );
        let denied = gate
            .authorize(&Method::GET, "/apps", &headers(&[]), false, true)
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
            gate.authorize(&Method::GET, "/keys", &with_key("btk_x"), false, true)
                .unwrap_err(),
        );
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_json(res).await;
        assert!(
            body["message"].as_str().unwrap().contains("chmod 600"),
            "{body}"
        );
        assert!(
            gate.authorize(&Method::GET, "/health/live", &headers(&[]), false, true)
                .is_ok()
        );
    }

    #[test]
    fn the_master_key_still_works_and_no_key_is_still_401() {
        let tmp = tempfile::tempdir().unwrap();
        write_store(tmp.path(), b"garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage", 0o600);
        let gate = gate(tmp.path(), Some("m"));
        assert!(
            gate.authorize(&Method::DELETE, "/apps/_/x", &with_key("m"), false, true)
                .unwrap()
                .principal()
                .unwrap()
                .is_master
        );
        assert!(matches!(
            gate.authorize(&Method::GET, "/apps", &headers(&[]), false, true),
            Err(Denied::AuthRequired)
        ));
        assert!(matches!(
            gate.authorize(&Method::GET, "/apps", &with_key("btk_x"), false, true),
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
            .header("host", "a")
            .extension(buntime_core::ClientAddr("127.0.0.1:40000".parse().unwrap()));
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
        let access = support::dev_gate(AccessControl::new(fx.access.store().clone(), None, false))
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
