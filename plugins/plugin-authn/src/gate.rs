//! The `on_request` gate: strip any inbound `X-Identity`, then admit public routes, API keys and
//! session cookies, setting our own `X-Identity`; answer 401 JSON or 302 to the login page.

use buntime_core::public_routes::PublicRouteService;
use buntime_core::{Flow, Request, RequestContext};
use http::{HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Authn;
use crate::config::ApiKey;
use crate::web;

/// The identity header authn sets and every plugin behind it trusts.
pub const X_IDENTITY: &str = "x-identity";
/// The header machines send their key in.
pub const X_API_KEY: &str = "x-api-key";
/// The plugin whose typed [`PublicRouteService`] says which proxied paths are public.
pub const PROXY: &str = "@buntime/plugin-proxy";

/// An API key as the gate keeps it: its digest (compared in constant time, so neither the key
/// nor its length leaks through timing) and the identity it grants.
#[derive(Debug, Clone)]
pub struct KeyIdentity {
    digest: [u8; 32],
    identity: HeaderValue,
}

/// Prepares the configured API keys.
pub fn key_identities(keys: &[ApiKey]) -> Vec<KeyIdentity> {
    keys.iter()
        .map(|k| {
            let v = serde_json::json!({"id": format!("apikey:{}", k.name), "name": k.name, "roles": k.roles});
            KeyIdentity {
                digest: Sha256::digest(k.key.as_bytes()).into(),
                identity: HeaderValue::from_bytes(v.to_string().as_bytes()).unwrap_or_else(|_| HeaderValue::from_static("{}")),
            }
        })
        .collect()
}

/// Returns the identity of the key `presented`, checking every key so timing says nothing.
fn match_key(keys: &[KeyIdentity], presented: &[u8]) -> Option<HeaderValue> {
    let digest: [u8; 32] = Sha256::digest(presented).into();
    let mut found = None;
    for k in keys {
        if bool::from(k.digest.ct_eq(&digest)) {
            found = Some(k.identity.clone());
        }
    }
    found
}

/// Whether the plugin's own routes cover `path` (`{base}` and `{base}/…`): they authenticate
/// themselves (sign-in must be reachable signed out; session routes read the cookie).
fn is_own(base: &str, path: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Returns who the credentials in `headers` belong to, checked exactly as the gate checks them
/// and without touching the request: an API key's `apikey:<name>`, a session's user id, `None`
/// for anonymous callers (a client-sent `X-Identity` never counts). For plugins that run before
/// the gate, such as the gateway's per-user rate limiting.
pub async fn caller_id(state: &Authn, headers: &http::HeaderMap) -> Option<String> {
    if !state.api_keys.is_empty()
        && let Some(presented) = headers.get(X_API_KEY)
    {
        let identity = match_key(&state.api_keys, presented.as_bytes())?;
        let v: serde_json::Value = serde_json::from_slice(identity.as_bytes()).ok()?;
        return v["id"].as_str().map(str::to_owned);
    }
    let value = web::cookie(headers, &state.config.session.cookie_name)?;
    match state.sessions.resolve(value).await {
        Ok(Some(resolved)) => Some(resolved.user.id.clone()),
        _ => None,
    }
}

/// Runs the gate for one request.
pub async fn check(state: &Authn, req: &mut Request, cx: &RequestContext) -> Flow {
    // S-9: whatever the client sent, only authn speaks for identity from here on.
    req.headers_mut().remove(X_IDENTITY);
    let path = req.uri().path();
    if is_own(&state.config.base, path) {
        return Flow::Continue;
    }
    let public = cx.is_public
        || cx
            .get_plugin::<PublicRouteService>(PROXY)
            .is_some_and(|svc| svc.0.is_public(req.method(), path));

    if !state.api_keys.is_empty()
        && let Some(presented) = req.headers().get(X_API_KEY)
    {
        if let Some(identity) = match_key(&state.api_keys, presented.as_bytes()) {
            req.headers_mut().insert(X_IDENTITY, identity);
            return Flow::Continue;
        }
        if !public {
            return Flow::Respond(web::json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({"error": "Invalid API key"}),
            ));
        }
    }

    if let Some(value) = web::cookie(req.headers(), &state.config.session.cookie_name) {
        match state.sessions.resolve(value).await {
            Ok(Some(resolved)) => {
                req.headers_mut()
                    .insert(X_IDENTITY, resolved.identity.clone());
                return Flow::Continue;
            }
            Ok(None) => {}
            Err(e) => {
                state.logger.error(format!("session lookup failed: {e}"));
                if !public {
                    return Flow::Respond(web::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "SESSION_STORE_UNAVAILABLE",
                        "sessions cannot be checked right now; try again",
                    ));
                }
            }
        }
    }

    if public {
        return Flow::Continue;
    }
    if web::is_navigation(req.method(), req.headers()) {
        let here = req
            .uri()
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let location = format!(
            "{}?redirect={}",
            state.config.login_path,
            web::query_escape(here)
        );
        return Flow::Respond(web::redirect(StatusCode::FOUND, &location));
    }
    Flow::Respond(web::json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "Unauthorized"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths_are_the_base_and_below_only() {
        assert!(is_own("/auth", "/auth"));
        assert!(is_own("/auth", "/auth/login"));
        assert!(!is_own("/auth", "/authors"));
        assert!(!is_own("/auth", "/"));
    }

    #[test]
    fn keys_match_whole() {
        let keys = key_identities(&[ApiKey {
            key: "k".repeat(20),
            name: "ci".into(),
            roles: vec!["deployer".into()],
        }]);
        let id = match_key(&keys, "k".repeat(20).as_bytes()).unwrap();
        assert_eq!(
            id.to_str().unwrap(),
            r#"{"id":"apikey:ci","name":"ci","roles":["deployer"]}"#
        );
        assert!(match_key(&keys, "k".repeat(19).as_bytes()).is_none());
        assert!(match_key(&keys, b"").is_none());
    }
}
