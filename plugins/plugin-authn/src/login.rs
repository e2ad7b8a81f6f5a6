//! The server-rendered login page (works without JavaScript) and the sign-out confirmation.

use buntime_core::Response;
use http::StatusCode;

use crate::config::Config;
use crate::web::{html, html_escape};

/// What one rendering of the login page shows.
#[derive(Debug)]
pub struct LoginPage<'a> {
    /// Where to go after signing in (already checked to be a same-site path).
    pub redirect: &'a str,
    /// An error to show above the form.
    pub error: Option<&'a str>,
    /// The email to prefill after a failed attempt.
    pub email: &'a str,
    /// The response status (401 after a failed sign-in, 429 when rate limited, …).
    pub status: StatusCode,
}

/// Maps the `?error=` codes other pages redirect with to a message.
pub fn message_for(code: &str) -> Option<&'static str> {
    match code {
        "invalid_credentials" => Some("Invalid email or password."),
        "session_expired" => Some("Your session has expired; sign in again."),
        "oauth" => Some("Sign-in with the provider failed; try again."),
        _ => None,
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f5f5f5;display:flex;justify-content:center;padding-top:10vh}\
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:20rem}\
label{display:block;margin:.8rem 0 .3rem}input{width:100%;box-sizing:border-box;padding:.5rem}\
button{margin-top:1rem;width:100%;padding:.6rem;cursor:pointer}.error{color:#b00020}details{margin-top:1.5rem}.or{text-align:center;color:#666;margin:1rem 0 0}";

/// Renders the login page.
pub fn render(config: &Config, page: &LoginPage<'_>) -> Response {
    let base = html_escape(&config.base);
    let redirect = html_escape(page.redirect);
    let error = page
        .error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, html_escape(e)))
        .unwrap_or_default();
    let mut forms = String::new();
    // One button per OIDC provider: a form, so it works without JavaScript.
    for p in &config.oidc {
        forms.push_str(&format!(
            r#"<form method="post" action="{base}/api/auth/sign-in/oauth2" class="provider">
<input type="hidden" name="providerId" value="{id}">
<input type="hidden" name="redirect" value="{redirect}">
<button type="submit">Sign in with {name}</button>
</form>"#,
            id = html_escape(&p.provider_id),
            name = html_escape(&p.display_name),
        ));
    }
    if !config.oidc.is_empty() && config.email_password.is_some() {
        forms.push_str(r#"<p class="or">or</p>"#);
    }
    if let Some(p) = &config.email_password {
        let email = html_escape(page.email);
        forms.push_str(&format!(
            r#"<form method="post" action="{base}/api/auth/sign-in/email">
<input type="hidden" name="redirect" value="{redirect}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="{email}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in with {name}</button>
</form>"#,
            name = html_escape(&p.display_name),
        ));
        if p.allow_sign_up {
            forms.push_str(&format!(
                r#"<details><summary>Create an account</summary>
<form method="post" action="{base}/api/auth/sign-up/email">
<input type="hidden" name="redirect" value="{redirect}">
<label for="su-name">Name</label><input id="su-name" name="name" autocomplete="name">
<label for="su-email">Email</label><input id="su-email" name="email" type="email" autocomplete="username" required>
<label for="su-password">Password</label><input id="su-password" name="password" type="password" autocomplete="new-password" minlength="{min}" required>
<button type="submit">Create account</button>
</form></details>"#,
                min = config.password.min_length,
            ));
        }
    }
    if forms.is_empty() {
        forms.push_str("<p>No sign-in method is configured.</p>");
    }
    html(
        page.status,
        format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Sign in</title><style>{STYLE}</style></head>
<body><main><h1>Sign in</h1>{error}{forms}</main></body></html>"#
        ),
    )
}

/// Renders the page that asks before signing out, for sign-out links followed from other sites.
pub fn confirm_logout(config: &Config, redirect: &str) -> Response {
    let base = html_escape(&config.base);
    let redirect = html_escape(redirect);
    html(
        StatusCode::OK,
        format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title><style>{STYLE}</style></head>
<body><main><h1>Sign out?</h1><form method="post" action="{base}/api/logout"><input type="hidden" name="redirect" value="{redirect}"><button type="submit">Sign out</button></form></main></body></html>"#
        ),
    )
}
