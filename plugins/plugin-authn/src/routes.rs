//! The HTTP API under `/auth`: sign-up, sign-in (OIDC's handlers are in `oauth`), sign-out, the
//! session, session listing and revocation, providers, logout and the login page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use buntime_core::{Request, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use crate::login::{self, LoginPage};
use crate::sessions::Resolved;
use crate::store::StoreError;
use crate::{Authn, oauth, web};

/// Largest sign-in/sign-up body read.
const MAX_BODY: usize = 64 * 1024;
/// Longest password accepted (argon2 cost grows with it; nobody types more).
const MAX_PASSWORD: usize = 256;

/// Builds the router mounted at the plugin's base.
pub fn router(state: Arc<Authn>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page))
        .route("/api/providers", get(providers))
        .route("/api/session", get(session))
        .route("/api/auth/get-session", get(session))
        .route("/api/auth/sign-up/email", post(sign_up))
        .route("/api/auth/sign-in/email", post(sign_in))
        .route("/api/auth/sign-out", post(sign_out))
        .route("/api/auth/sign-in/oauth2", post(oauth::start))
        .route("/api/auth/sign-in/social", post(oauth::start))
        .route(
            "/api/auth/oauth2/callback/{provider_id}",
            get(oauth::callback),
        )
        .route("/api/auth/callback/{provider_id}", get(oauth::callback))
        .route("/api/logout", get(logout_get).post(logout_post))
        .route("/api/sessions", get(list_sessions))
        .route("/api/sessions/{id}", delete(revoke_session))
        .with_state(state)
}

/// What a sign-in/up form sent: JSON (API clients) or a urlencoded form (the login page, no JS).
pub(crate) struct Input {
    fields: HashMap<String, String>,
    pub(crate) is_form: bool,
}

impl Input {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

pub(crate) async fn read_input(req: Request) -> Result<(http::request::Parts, Input), Response> {
    let (parts, body) = req.into_parts();
    let ctype = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        web::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            "the request body is larger than 64 KiB",
        )
    })?;
    if ctype.starts_with("application/x-www-form-urlencoded") {
        let fields = url::form_urlencoded::parse(&bytes).into_owned().collect();
        return Ok((
            parts,
            Input {
                fields,
                is_form: true,
            },
        ));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        web::error(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            &format!("the body must be a JSON object: {e}"),
        )
    })?;
    let Value::Object(map) = v else {
        return Err(web::error(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            "the body must be a JSON object",
        ));
    };
    let mut fields = HashMap::new();
    for (k, v) in map {
        match v {
            Value::String(s) => {
                fields.insert(k, s);
            }
            Value::Bool(b) => {
                fields.insert(k, b.to_string());
            }
            Value::Null => {}
            _ => {
                return Err(web::error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_FIELD",
                    &format!("`{k}` must be a string"),
                ));
            }
        }
    }
    Ok((
        parts,
        Input {
            fields,
            is_form: false,
        },
    ))
}

/// Lower-cases and checks an email address; the error names the field.
pub(crate) fn normalize_email(raw: Option<&str>) -> Result<String, &'static str> {
    let e = raw.map(str::trim).unwrap_or_default().to_lowercase();
    let ok = e.len() <= 320
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(e)
    } else {
        Err("`email` must be an email address")
    }
}

async fn current(state: &Authn, headers: &HeaderMap) -> Result<Option<Arc<Resolved>>, Response> {
    let Some(v) = web::cookie(headers, &state.config.session.cookie_name) else {
        return Ok(None);
    };
    state.sessions.resolve(v).await.map_err(|e| {
        state.logger.error(format!("session lookup failed: {e}"));
        web::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SESSION_STORE_UNAVAILABLE",
            "sessions cannot be checked right now; try again",
        )
    })
}

fn db_error(state: &Authn, e: &dyn std::fmt::Display) -> Response {
    state.logger.error(format!("database error: {e}"));
    web::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "DATABASE_UNAVAILABLE",
        "the user database is unavailable; try again",
    )
}

async fn root(State(state): State<Arc<Authn>>, req: Request) -> Response {
    match current(&state, req.headers()).await {
        Ok(Some(_)) => web::redirect(StatusCode::FOUND, "/"),
        Ok(None) => web::redirect(StatusCode::FOUND, &state.config.login_path),
        Err(res) => res,
    }
}

pub(crate) fn query(req: &Request) -> HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

async fn login_page(State(state): State<Arc<Authn>>, req: Request) -> Response {
    let q = query(&req);
    let redirect = web::safe_redirect(q.get("redirect").map(String::as_str));
    match current(&state, req.headers()).await {
        Ok(Some(_)) => return web::redirect(StatusCode::FOUND, &redirect),
        Ok(None) => {}
        Err(res) => return res,
    }
    let error = q.get("error").and_then(|e| login::message_for(e));
    login::render(
        &state.config,
        &LoginPage {
            redirect: &redirect,
            error,
            email: "",
            status: StatusCode::OK,
        },
    )
}

async fn providers(State(state): State<Arc<Authn>>) -> Response {
    let mut list: Vec<Value> = state
        .config
        .email_password
        .iter()
        .map(|p| json!({"displayName": p.display_name, "icon": "lucide:mail", "providerId": "email-password", "type": "email-password"}))
        .collect();
    list.extend(state.config.oidc.iter().map(|p| {
        json!({"displayName": p.display_name, "icon": p.icon, "providerId": p.provider_id, "type": p.kind})
    }));
    web::json(StatusCode::OK, &Value::Array(list))
}

fn session_body(r: &Resolved) -> Value {
    json!({"user": r.user.to_json(), "session": r.session.to_json()})
}

async fn session(State(state): State<Arc<Authn>>, req: Request) -> Response {
    match current(&state, req.headers()).await {
        Ok(Some(r)) => web::json(StatusCode::OK, &session_body(&r)),
        Ok(None) => web::json(StatusCode::OK, &Value::Null),
        Err(res) => res,
    }
}

/// Answers a failed form or JSON call: the login page again (forms) or the JSON error.
fn fail(state: &Authn, input: &Input, status: StatusCode, code: &str, message: &str) -> Response {
    if input.is_form {
        let redirect = web::safe_redirect(input.get("redirect"));
        let email = input.get("email").unwrap_or_default();
        return login::render(
            &state.config,
            &LoginPage {
                redirect: &redirect,
                error: Some(message),
                email,
                status,
            },
        );
    }
    web::error(status, code, message)
}

/// Starts a session for `user` and answers the sign-in/up call with its cookie.
async fn signed_in(
    state: &Authn,
    parts: &http::request::Parts,
    input: &Input,
    user: &crate::store::User,
) -> Response {
    let ip = web::client_ip(&parts.headers, &parts.extensions, state.trust_proxy);
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let (cookie, session) = match state.sessions.create(user, Some(&ip), ua).await {
        Ok(s) => s,
        Err(e) => return db_error(state, &e),
    };
    let secure = state.secure_cookie(&parts.uri, &parts.headers);
    let mut res = if input.is_form {
        web::redirect(
            StatusCode::SEE_OTHER,
            &web::safe_redirect(input.get("redirect")),
        )
    } else {
        web::json(
            StatusCode::OK,
            &json!({"redirect": false, "user": user.to_json(), "session": session.to_json()}),
        )
    };
    res.headers_mut().append(
        header::SET_COOKIE,
        web::session_cookie(
            &state.config.session.cookie_name,
            &cookie,
            state.sessions.ttl().as_secs(),
            secure,
        ),
    );
    res
}

async fn sign_up(State(state): State<Arc<Authn>>, req: Request) -> Response {
    let Some(provider) = &state.config.email_password else {
        return web::error(
            StatusCode::NOT_FOUND,
            "PROVIDER_DISABLED",
            "email/password sign-in is not enabled",
        );
    };
    if let Err(res) = web::check_csrf(req.headers(), &state.allowed_origins(), state.trust_proxy) {
        return *res;
    }
    let (parts, input) = match read_input(req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !provider.allow_sign_up {
        return fail(
            &state,
            &input,
            StatusCode::FORBIDDEN,
            "SIGN_UP_DISABLED",
            "sign-up is disabled; ask an administrator for an account",
        );
    }
    let email = match normalize_email(input.get("email")) {
        Ok(e) => e,
        Err(m) => return fail(&state, &input, StatusCode::BAD_REQUEST, "INVALID_EMAIL", m),
    };
    let password = input.get("password").unwrap_or_default().to_owned();
    let len = password.chars().count();
    let min = state.config.password.min_length;
    if len < min || len > MAX_PASSWORD {
        return fail(
            &state,
            &input,
            StatusCode::BAD_REQUEST,
            "INVALID_PASSWORD",
            &format!("`password` must be {min} to {MAX_PASSWORD} characters"),
        );
    }
    let name = input
        .get("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map_or_else(
            || email.split('@').next().unwrap_or_default().to_owned(),
            str::to_owned,
        );
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return fail(
            &state,
            &input,
            StatusCode::BAD_REQUEST,
            "INVALID_NAME",
            "`name` must be at most 200 printable characters",
        );
    }
    let hasher = state.hasher.clone();
    let hash = match tokio::task::spawn_blocking(move || hasher.hash(&password)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return db_error(&state, &e),
        Err(e) => return db_error(&state, &e),
    };
    match state.store.create_password_user(&email, &name, &hash).await {
        Ok(user) => signed_in(&state, &parts, &input, &user).await,
        Err(StoreError::Conflict) => fail(
            &state,
            &input,
            StatusCode::UNPROCESSABLE_ENTITY,
            "USER_ALREADY_EXISTS",
            "an account with this email already exists",
        ),
        Err(StoreError::Db(e)) => db_error(&state, &e),
    }
}

async fn sign_in(State(state): State<Arc<Authn>>, req: Request) -> Response {
    if state.config.email_password.is_none() {
        return web::error(
            StatusCode::NOT_FOUND,
            "PROVIDER_DISABLED",
            "email/password sign-in is not enabled",
        );
    }
    if let Err(res) = web::check_csrf(req.headers(), &state.allowed_origins(), state.trust_proxy) {
        return *res;
    }
    let (parts, input) = match read_input(req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let email = match normalize_email(input.get("email")) {
        Ok(e) => e,
        Err(m) => return fail(&state, &input, StatusCode::BAD_REQUEST, "INVALID_EMAIL", m),
    };
    let password = input.get("password").unwrap_or_default().to_owned();
    if password.is_empty() || password.chars().count() > MAX_PASSWORD {
        return fail(
            &state,
            &input,
            StatusCode::BAD_REQUEST,
            "INVALID_PASSWORD",
            &format!("`password` must be 1 to {MAX_PASSWORD} characters"),
        );
    }
    let ip = web::client_ip(&parts.headers, &parts.extensions, state.trust_proxy);
    if let Some(wait) = state.limiter.blocked(&email, &ip) {
        let secs = wait.as_secs().max(1);
        let message = format!("too many failed sign-ins; try again in {secs} s");
        let mut res = fail(
            &state,
            &input,
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_ATTEMPTS",
            &message,
        );
        res.headers_mut().insert(header::RETRY_AFTER, secs.into());
        return res;
    }
    let found = match state.store.credential(&email).await {
        Ok(f) => f,
        Err(e) => return db_error(&state, &e),
    };
    let stored = found.as_ref().and_then(|(_, h)| h.clone());
    let hasher = state.hasher.clone();
    // Unknown users verify against the dummy hash: the same work, so timing tells nothing.
    let ok = tokio::task::spawn_blocking(move || hasher.verify(&password, stored.as_deref()))
        .await
        .unwrap_or(false);
    match found {
        Some((user, _)) if ok && user.active => {
            state.limiter.succeeded(&email);
            signed_in(&state, &parts, &input, &user).await
        }
        _ => {
            state.limiter.failed(&email, &ip);
            fail(
                &state,
                &input,
                StatusCode::UNAUTHORIZED,
                "INVALID_EMAIL_OR_PASSWORD",
                "invalid email or password",
            )
        }
    }
}

/// Ends the caller's session (if any) and returns the cookie that clears it, with the provider's
/// logout URL (RP-initiated logout back to `redirect`) when `redirect` is given and the user last
/// signed in with an OIDC provider that has one.
async fn end_session(
    state: &Authn,
    headers: &HeaderMap,
    uri: &http::Uri,
    redirect: Option<&str>,
) -> Result<(http::HeaderValue, Option<String>), Response> {
    let mut provider_logout = None;
    if let Some(r) = current(state, headers).await? {
        if let Some(to) = redirect {
            provider_logout = oauth::logout_url(state, &r.user.id, to).await;
        }
        if let Err(e) = state
            .sessions
            .revoke(&r.session.user_id, &r.session.id)
            .await
        {
            return Err(db_error(state, &e));
        }
    }
    let clear = web::session_cookie(
        &state.config.session.cookie_name,
        "",
        0,
        state.secure_cookie(uri, headers),
    );
    Ok((clear, provider_logout))
}

async fn sign_out(State(state): State<Arc<Authn>>, req: Request) -> Response {
    if let Err(res) = web::check_csrf(req.headers(), &state.allowed_origins(), state.trust_proxy) {
        return *res;
    }
    match end_session(&state, req.headers(), req.uri(), None).await {
        Ok((clear, _)) => {
            let mut res = web::json(StatusCode::OK, &json!({"success": true}));
            res.headers_mut().append(header::SET_COOKIE, clear);
            res
        }
        Err(res) => res,
    }
}

/// Whether a GET came from one of our own pages (or the address bar): `Sec-Fetch-Site`, else a
/// `Referer` on an allowed origin.
fn same_site_navigation(state: &Authn, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .is_some_and(|u| {
            state
                .allowed_origins()
                .as_slice()
                .contains(&u.origin().ascii_serialization())
        })
}

async fn logout_get(State(state): State<Arc<Authn>>, req: Request) -> Response {
    let redirect = web::safe_redirect(query(&req).get("redirect").map(String::as_str));
    if !same_site_navigation(&state, req.headers()) {
        // A link on another site must not sign the user out: ask with a same-site form instead.
        return login::confirm_logout(&state.config, &redirect);
    }
    match end_session(&state, req.headers(), req.uri(), Some(&redirect)).await {
        Ok((clear, provider_logout)) => {
            let to = provider_logout.as_deref().unwrap_or(&redirect);
            let mut res = web::redirect(StatusCode::FOUND, to);
            res.headers_mut().append(header::SET_COOKIE, clear);
            res
        }
        Err(res) => res,
    }
}

async fn logout_post(State(state): State<Arc<Authn>>, req: Request) -> Response {
    if let Err(res) = web::check_csrf(req.headers(), &state.allowed_origins(), state.trust_proxy) {
        return *res;
    }
    let headers = req.headers().clone();
    let uri = req.uri().clone();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let redirect = if is_form {
        match read_input(req).await {
            Ok((_, input)) => Some(web::safe_redirect(input.get("redirect"))),
            Err(res) => return res,
        }
    } else {
        None
    };
    // The provider's session ends too, returning to `redirect` (a form's) or the site's root.
    let back = redirect.clone().unwrap_or_else(|| "/".to_owned());
    match end_session(&state, &headers, &uri, Some(&back)).await {
        Ok((clear, provider_logout)) => {
            let mut res = match redirect {
                Some(to) => web::redirect(
                    StatusCode::SEE_OTHER,
                    provider_logout.as_deref().unwrap_or(&to),
                ),
                None => web::json(
                    StatusCode::OK,
                    &json!({"success": true, "oidcLogoutUrl": provider_logout}),
                ),
            };
            res.headers_mut().append(header::SET_COOKIE, clear);
            res
        }
        Err(res) => res,
    }
}

fn unauthorized() -> Response {
    web::error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "sign in first")
}

async fn list_sessions(State(state): State<Arc<Authn>>, req: Request) -> Response {
    let me = match current(&state, req.headers()).await {
        Ok(Some(r)) => r,
        Ok(None) => return unauthorized(),
        Err(res) => return res,
    };
    match state.sessions.list(&me.user.id).await {
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .map(|s| {
                    let mut v = s.to_json();
                    v["current"] = json!(s.id == me.session.id);
                    v
                })
                .collect();
            web::json(StatusCode::OK, &json!({"sessions": items}))
        }
        Err(e) => db_error(&state, &e),
    }
}

async fn revoke_session(
    State(state): State<Arc<Authn>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    if let Err(res) = web::check_csrf(req.headers(), &state.allowed_origins(), state.trust_proxy) {
        return *res;
    }
    let me = match current(&state, req.headers()).await {
        Ok(Some(r)) => r,
        Ok(None) => return unauthorized(),
        Err(res) => return res,
    };
    match state.sessions.revoke(&me.user.id, &id).await {
        Ok(true) => {
            let mut res = web::json(StatusCode::OK, &json!({"success": true}));
            if id == me.session.id {
                let clear = web::session_cookie(
                    &state.config.session.cookie_name,
                    "",
                    0,
                    state.secure_cookie(req.uri(), req.headers()),
                );
                res.headers_mut().append(header::SET_COOKIE, clear);
            }
            res
        }
        Ok(false) => web::error(
            StatusCode::NOT_FOUND,
            "SESSION_NOT_FOUND",
            &format!("no session `{id}` of yours"),
        ),
        Err(e) => db_error(&state, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(Some(" Ann@Example.COM ")).unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@@example.com",
            "ann@.example.com",
        ] {
            assert!(normalize_email(Some(bad)).is_err(), "{bad}");
        }
    }
}
