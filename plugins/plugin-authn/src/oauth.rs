//! The OIDC sign-in routes: start (`POST /api/auth/sign-in/oauth2`, `/sign-in/social`), which
//! stores a single-use state bound to this browser by a cookie, and the callback, which checks that
//! binding, consumes the state, verifies the provider's answer and starts a session.

use std::sync::Arc;

use axum::extract::{Path, State};
use buntime_core::{Request, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use crate::login::{self, LoginPage};
use crate::oidc::{OidcError, Provider};
use crate::routes::{normalize_email, read_input};
use crate::store::{Linked, OAuthState, StoreError, now_ms};
use crate::token::{random_token, token_hash};
use crate::{Authn, web};

/// The cookie binding a sign-in in flight to the browser that started it (login CSRF).
pub const BINDING_COOKIE: &str = "buntime.oauth_binding";
/// How long a sign-in may stay at the provider.
const FLOW_TTL_SECS: u64 = 600;

fn binding_cookie(state: &Authn, value: &str, max_age: u64, secure: bool) -> http::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    // Scoped to the callback's path prefix and `Lax`, which a top-level redirect back from the
    // provider still carries.
    let v = format!(
        "{BINDING_COOKIE}={value}; Path={}/api/auth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        state.config.base
    );
    http::HeaderValue::from_str(&v)
        .unwrap_or_else(|_| http::HeaderValue::from_static("x=; Max-Age=0"))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// A refused step: logged, then the login page with the message (or JSON for API callers).
fn refuse(
    state: &Authn,
    headers: &HeaderMap,
    redirect: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    state
        .logger
        .warn(format!("OIDC sign-in refused ({code}): {message}"));
    if wants_json(headers) {
        return web::error(status, code, message);
    }
    login::render(
        &state.config,
        &LoginPage {
            redirect,
            error: Some(message),
            email: "",
            status,
        },
    )
}

fn provider<'a>(state: &'a Authn, id: &str) -> Option<&'a Arc<Provider>> {
    state.oidc.iter().find(|p| p.config.provider_id == id)
}

/// `POST /api/auth/sign-in/oauth2` (`{providerId, callbackURL?}`) and `/sign-in/social`
/// (`{provider, callbackURL?}`), JSON or a form: 303 (form) or `{url, redirect:true}` to the
/// provider's authorization endpoint.
pub async fn start(State(state): State<Arc<Authn>>, req: Request) -> Response {
    if let Err(res) = web::check_csrf(req.headers(), &state.allowed_origins(), state.trust_proxy) {
        return *res;
    }
    let (parts, input) = match read_input(req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    // `refuse` answers JSON to JSON callers and the login page to forms, chosen by `Accept`.
    let headers = if input.is_form {
        HeaderMap::new()
    } else {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        h
    };
    let redirect = web::safe_redirect(input.get("callbackURL").or_else(|| input.get("redirect")));
    let id = input
        .get("providerId")
        .or_else(|| input.get("provider"))
        .unwrap_or_default();
    let Some(p) = provider(&state, id) else {
        return refuse(
            &state,
            &headers,
            &redirect,
            StatusCode::NOT_FOUND,
            "PROVIDER_NOT_FOUND",
            &format!("no sign-in provider `{id}` is configured"),
        );
    };
    let begin = match p.begin(&state.http).await {
        Ok(b) => b,
        Err(e) => {
            return refuse(
                &state,
                &headers,
                &redirect,
                StatusCode::BAD_GATEWAY,
                "PROVIDER_UNAVAILABLE",
                &format!(
                    "{} cannot be reached right now; try again later ({e})",
                    p.config.display_name
                ),
            );
        }
    };
    let binding = random_token();
    let row = OAuthState {
        id: token_hash(&begin.state),
        provider_id: p.config.provider_id.clone(),
        binding_hash: token_hash(&binding),
        pkce_verifier: begin.pkce_verifier,
        nonce: begin.nonce,
        redirect,
        expires_at: now_ms()
            .saturating_add(i64::try_from(FLOW_TTL_SECS * 1000).unwrap_or(i64::MAX)),
    };
    if let Err(e) = state.store.create_oauth_state(&row).await {
        state
            .logger
            .error(format!("cannot store an OIDC sign-in: {e}"));
        return web::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "DATABASE_UNAVAILABLE",
            "the user database is unavailable; try again",
        );
    }
    let secure = state.secure_cookie(&parts.uri, &parts.headers);
    let mut res = if input.is_form {
        web::redirect(StatusCode::SEE_OTHER, &begin.url)
    } else {
        web::json(StatusCode::OK, &json!({"url": begin.url, "redirect": true}))
    };
    res.headers_mut().append(
        header::SET_COOKIE,
        binding_cookie(&state, &binding, FLOW_TTL_SECS, secure),
    );
    res
}

/// `GET /api/auth/oauth2/callback/{providerId}` (and `/api/auth/callback/{provider}`).
pub async fn callback(
    State(state): State<Arc<Authn>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    // Only the parts: a borrowed body is not `Sync`, and the callback reads no body.
    let (parts, _) = req.into_parts();
    let secure = state.secure_cookie(&parts.uri, &parts.headers);
    let mut consumed = false;
    let mut res = finish(&state, &id, &parts, &mut consumed).await;
    // Once the flow is used up its binding has done its job. Before that it stays: a forged
    // callback must not break the sign-in this browser has in flight.
    if consumed {
        res.headers_mut()
            .append(header::SET_COOKIE, binding_cookie(&state, "", 0, secure));
    }
    res
}

async fn finish(
    state: &Authn,
    id: &str,
    req: &http::request::Parts,
    consumed: &mut bool,
) -> Response {
    let headers = &req.headers;
    let q: std::collections::HashMap<String, String> = req
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let refuse = |redirect: &str, status, code, message: &str| {
        refuse(state, headers, redirect, status, code, message)
    };
    let Some(p) = provider(state, id) else {
        return refuse(
            "/",
            StatusCode::NOT_FOUND,
            "PROVIDER_NOT_FOUND",
            &format!("no sign-in provider `{id}` is configured"),
        );
    };
    let name = &p.config.display_name;
    let again = "start the sign-in again";
    let Some(raw_state) = q.get("state").filter(|s| !s.is_empty()) else {
        return refuse(
            "/",
            StatusCode::BAD_REQUEST,
            "OAUTH_STATE_MISSING",
            &format!("the answer from {name} has no `state`; {again}"),
        );
    };
    let state_id = token_hash(raw_state);
    let row = match state.store.oauth_state(&state_id).await {
        Ok(Some(r)) if r.provider_id == p.config.provider_id => r,
        Ok(_) => {
            return refuse(
                "/",
                StatusCode::BAD_REQUEST,
                "OAUTH_STATE_INVALID",
                &format!("this sign-in with {name} is unknown, expired or already used; {again}"),
            );
        }
        Err(e) => return db_error(state, &e),
    };
    // The state must come back to the browser that started the flow: an attacker's callback URL
    // opened in a victim's browser (login CSRF) has no matching cookie.
    let bound = web::cookie(headers, BINDING_COOKIE)
        .is_some_and(|b| bool::from(token_hash(b).as_bytes().ct_eq(row.binding_hash.as_bytes())));
    if !bound {
        return refuse(
            &row.redirect,
            StatusCode::FORBIDDEN,
            "OAUTH_STATE_MISMATCH",
            &format!("this sign-in with {name} was not started in this browser; {again}"),
        );
    }
    match state.store.consume_oauth_state(&state_id).await {
        Ok(true) => *consumed = true,
        Ok(false) => {
            return refuse(
                &row.redirect,
                StatusCode::BAD_REQUEST,
                "OAUTH_STATE_INVALID",
                &format!("this sign-in with {name} was already used; {again}"),
            );
        }
        Err(e) => return db_error(state, &e),
    }
    if row.expires_at <= now_ms() {
        return refuse(
            &row.redirect,
            StatusCode::BAD_REQUEST,
            "OAUTH_STATE_EXPIRED",
            &format!(
                "this sign-in with {name} took more than {} minutes; {again}",
                FLOW_TTL_SECS / 60
            ),
        );
    }
    if let Some(err) = q.get("error") {
        let detail = q
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return refuse(
            &row.redirect,
            StatusCode::UNAUTHORIZED,
            "OAUTH_PROVIDER_ERROR",
            &format!("{name} did not sign you in ({err}{detail})"),
        );
    }
    // RFC 9207: a provider that names itself must be the one this flow went to (mix-up attacks).
    if let Some(iss) = q.get("iss")
        && iss.trim_end_matches('/') != p.config.issuer.trim_end_matches('/')
    {
        return refuse(
            &row.redirect,
            StatusCode::BAD_REQUEST,
            "OAUTH_ISSUER_MISMATCH",
            &format!(
                "the answer names issuer `{iss}`, not {name}'s `{}`; {again}",
                p.config.issuer
            ),
        );
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return refuse(
            &row.redirect,
            StatusCode::BAD_REQUEST,
            "OAUTH_CODE_MISSING",
            &format!("the answer from {name} has no `code`; {again}"),
        );
    };
    let verified = match p
        .finish(&state.http, code, &row.pkce_verifier, &row.nonce)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            let (status, code) = match &e {
                OidcError::CodeRejected(_) => (StatusCode::UNAUTHORIZED, "OAUTH_CODE_REJECTED"),
                OidcError::IdToken(_) => (StatusCode::UNAUTHORIZED, "OIDC_ID_TOKEN_INVALID"),
                _ => (StatusCode::BAD_GATEWAY, "PROVIDER_UNAVAILABLE"),
            };
            return refuse(
                &row.redirect,
                status,
                code,
                &format!("sign-in with {name} failed: {e}"),
            );
        }
    };
    let Some(email) = verified
        .email
        .as_deref()
        .and_then(|e| normalize_email(Some(e)).ok())
    else {
        return refuse(
            &row.redirect,
            StatusCode::FORBIDDEN,
            "OIDC_EMAIL_MISSING",
            &format!("{name} did not share a valid email address; allow the `email` scope"),
        );
    };
    let display = verified
        .name
        .clone()
        .filter(|n| !n.trim().is_empty() && n.chars().count() <= 200)
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let mut linked = Err(StoreError::Conflict);
    // A concurrent first sign-in of the same account may win the insert; the retry finds it.
    for _ in 0..2 {
        linked = state
            .store
            .link_oidc_user(
                &p.config.provider_id,
                &verified.subject,
                &email,
                verified.email_verified,
                &display,
                &verified.id_token,
            )
            .await;
        if !matches!(linked, Err(StoreError::Conflict)) {
            break;
        }
    }
    let user = match linked {
        Ok(Linked::User(u)) if u.active => u,
        Ok(Linked::User(_)) => {
            return refuse(
                &row.redirect,
                StatusCode::FORBIDDEN,
                "USER_INACTIVE",
                "this account is deactivated; ask an administrator",
            );
        }
        Ok(Linked::EmailUnverified) => {
            return refuse(
                &row.redirect,
                StatusCode::FORBIDDEN,
                "OIDC_EMAIL_UNVERIFIED",
                &format!(
                    "an account with {email} already exists and {name} has not verified that address, so they are not linked; sign in with your password"
                ),
            );
        }
        Err(StoreError::Conflict) => {
            return refuse(
                &row.redirect,
                StatusCode::CONFLICT,
                "ACCOUNT_CONFLICT",
                "this account was linked concurrently; try again",
            );
        }
        Err(StoreError::Db(e)) => return db_error(state, &e),
    };
    // Keycloak's roles are the provider's to manage: each sign-in brings them up to date.
    if let Some(roles) = &verified.roles
        && *roles != user.roles
        && let Err(e) = state.store.set_roles(&user.id, roles).await
    {
        return db_error(state, &e);
    }
    let ip = web::client_ip(headers, &req.extensions, state.trust_proxy);
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let cookie = match state.sessions.create(&user, Some(&ip), ua).await {
        Ok((c, _)) => c,
        Err(e) => return db_error(state, &e),
    };
    state
        .logger
        .info(format!("signed in {email} with {}", p.config.provider_id));
    let mut res = web::redirect(StatusCode::FOUND, &row.redirect);
    res.headers_mut().append(
        header::SET_COOKIE,
        web::session_cookie(
            &state.config.session.cookie_name,
            &cookie,
            state.sessions.ttl().as_secs(),
            state.secure_cookie(&req.uri, headers),
        ),
    );
    res
}

fn db_error(state: &Authn, e: &dyn std::fmt::Display) -> Response {
    state.logger.error(format!("database error: {e}"));
    web::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "DATABASE_UNAVAILABLE",
        "the user database is unavailable; try again",
    )
}

/// The provider logout URL for the signed-in `user_id` (RP-initiated logout): the provider of
/// their most recent OIDC sign-in, when it offers one; the browser comes back to `redirect`.
pub async fn logout_url(state: &Authn, user_id: &str, redirect: &str) -> Option<String> {
    let (provider_id, id_token) = match state.store.latest_id_token(user_id).await {
        Ok(found) => found?,
        Err(e) => {
            state
                .logger
                .warn(format!("cannot read the ID token for logout: {e}"));
            return None;
        }
    };
    let p = provider(state, &provider_id)?;
    let origin = state.config.trusted_origins.first()?;
    p.logout_url(&state.http, &id_token, &format!("{origin}{redirect}"))
        .await
}
