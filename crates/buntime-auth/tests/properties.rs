//! Property tests: parsing never panics on hostile input, and permission checks never over-grant.

mod support;

use std::sync::OnceLock;

use buntime_auth::expires::parse_expires_in;
use buntime_auth::extract::bearer_token;
use buntime_auth::input::KeyRequest;
use buntime_auth::routes::required_permission;
use buntime_auth::{Denied, Permission, Principal, Role, check_origin, extract_key};
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use support::{Fixture, with_key};

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..80)
}

fn perm_subset() -> impl Strategy<Value = Vec<Permission>> {
    prop::sample::subsequence(Permission::ALL.to_vec(), 1..=Permission::ALL.len())
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ])
}

fn api_path() -> impl Strategy<Value = String> {
    let base = prop::sample::select(vec![
        "/apps", "/plugins", "/keys", "/workers", "/health", "/docs", "/x", "",
    ]);
    (base, "(/[a-z0-9@._-]{0,8}){0,3}").prop_map(|(b, rest)| format!("{b}{rest}"))
}

fn custom(perms: &[Permission]) -> Principal {
    Principal {
        id: 9,
        name: "c".into(),
        key_prefix: "btk_".into(),
        role: Role::Custom,
        permissions: perms.to_vec(),
        created_at: 0,
        is_master: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_key_headers_never_panic_and_yield_trimmed_keys(api in header_bytes(), auth in header_bytes()) {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&api) { h.insert("x-api-key", v); }
        if let Ok(v) = HeaderValue::from_bytes(&auth) { h.insert("authorization", v); }
        if let Some(k) = extract_key(&h) {
            prop_assert!(!k.is_empty());
            prop_assert_eq!(k, k.trim());
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive(upper in prop::collection::vec(any::<bool>(), 6), token in "[!-~]{1,40}", pad in "[ \t]{1,3}") {
        let scheme: String = "bearer".chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect();
        let value = format!("{scheme}{pad}{token}{pad}");
        prop_assert_eq!(bearer_token(&value), Some(token.as_str()));
    }

    #[test]
    fn arbitrary_strings_never_panic_the_parsers(s in any::<String>()) {
        let _ = bearer_token(&s);
        let _ = parse_expires_in(&s);
        let _ = KeyRequest::from_json(s.as_bytes()).map(|r| r.validate(None));
        let _ = s.parse::<Permission>();
        let _ = required_permission(&Method::GET, &s);
    }

    #[test]
    fn well_formed_expirations_parse_to_their_duration(n in 1u64..100_000, unit in prop::sample::select(vec![('d', 1u64), ('w', 7), ('m', 30), ('y', 365)])) {
        prop_assert_eq!(parse_expires_in(&format!("{n}{}", unit.0)), Ok(Some(n * unit.1 * 86_400)));
    }

    #[test]
    fn arbitrary_origins_and_hosts_never_panic(origin in header_bytes(), host in header_bytes(), fwd in header_bytes(), trust in any::<bool>()) {
        let mut h = HeaderMap::new();
        for (name, v) in [("origin", &origin), ("host", &host), ("x-forwarded-host", &fwd)] {
            if let Ok(v) = HeaderValue::from_bytes(v) { h.insert(name, v); }
        }
        let _ = check_origin(&h, &buntime_auth::csrf::AllowedOrigins::default(), trust);
    }

    #[test]
    fn a_custom_role_passes_exactly_the_permissions_it_holds(perms in perm_subset()) {
        let p = custom(&perms);
        for perm in Permission::ALL {
            prop_assert_eq!(p.has(perm), perms.contains(&perm));
        }
    }

    #[test]
    fn named_roles_never_exceed_their_set_whatever_the_stored_list(role in prop::sample::select(vec![Role::Editor, Role::Viewer]), stored in perm_subset()) {
        let p = Principal { role, ..custom(&stored) };
        let set = role.permissions().unwrap();
        for perm in Permission::ALL {
            prop_assert_eq!(p.has(perm), set.contains(&perm));
        }
    }
}

proptest! {
    // Each case writes a key to SQLite: keep the count modest.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn authorize_never_lets_a_custom_key_use_a_permission_it_lacks(perms in perm_subset(), m in method(), path in api_path()) {
        static FX: OnceLock<Fixture> = OnceLock::new();
        let fx = FX.get_or_init(|| Fixture::new(None, false));
        let secret = fx.key(Role::Custom, &perms);
        let got = fx.access.authorize(&m, &path, &with_key(&secret), false, true);
        match required_permission(&m, &path) {
            Some(need) if !perms.contains(&need) => {
                prop_assert!(matches!(got, Err(Denied::PermissionDenied(p)) if p == need), "{m} {path}: {got:?}");
            }
            _ => prop_assert!(got.is_ok(), "{m} {path}: {got:?}"),
        }
    }
}
