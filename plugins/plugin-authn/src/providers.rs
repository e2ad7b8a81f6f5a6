//! The OAuth2/OIDC entries of `providers[]` (google, keycloak, auth0, okta, generic-oidc), each
//! validated and normalised to an issuer URL plus client credentials.

use serde_json::Value;

/// One OIDC provider from the manifest.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// The manifest `type`: `google`, `keycloak`, `auth0`, `okta` or `generic-oidc`.
    pub kind: String,
    /// The id in URLs (`/auth/api/auth/oauth2/callback/<providerId>`) and `/api/providers`.
    pub provider_id: String,
    /// The button label.
    pub display_name: String,
    /// The icon name shown by `/api/providers`.
    pub icon: String,
    /// The issuer; `<issuer>/.well-known/openid-configuration` is its discovery document.
    pub issuer: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret (`None`: a public client, PKCE only).
    pub client_secret: Option<String>,
    /// Scopes asked for, `openid` first.
    pub scopes: Vec<String>,
    /// Extra authorization-request parameters (Google's `prompt`, `hd`, `access_type`).
    pub auth_params: Vec<(String, String)>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("kind", &self.kind)
            .field("provider_id", &self.provider_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn str_of<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Checks that `raw` is an issuer URL: https, or http on a loopback host (local test providers).
fn issuer_url(raw: &str, at: &str, errors: &mut Vec<String>) -> Option<String> {
    let u = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => {
            errors.push(format!("`{at}`: `{raw}` is not a URL ({e})"));
            return None;
        }
    };
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let ok = match u.scheme() {
        "https" => true,
        "http" => loopback,
        _ => false,
    };
    if !ok || u.query().is_some() || u.fragment().is_some() {
        errors.push(format!(
            "`{at}`: `{raw}` must be an https URL without query or fragment (plain http only on localhost)"
        ));
        return None;
    }
    Some(raw.trim_end_matches('/').to_owned())
}

/// The default provider id of a generic OIDC issuer: its host with dots as dashes (the original's).
fn id_from_issuer(issuer: &str) -> String {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.replace('.', "-")))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "oidc".to_owned())
}

/// Validates one OAuth/OIDC `providers[i]` entry of type `kind`; every problem goes to `errors`,
/// each naming its key.
pub fn parse(kind: &str, item: &Value, i: usize, errors: &mut Vec<String>) -> Option<OidcProvider> {
    let at = |k: &str| format!("providers[{i}].{k}");
    let before = errors.len();
    let client_id = str_of(item, "clientId").map(str::to_owned);
    if client_id.is_none() {
        errors.push(format!(
            "`{}` is required for a `{kind}` provider (e.g. `clientId: \"${{OIDC_CLIENT_ID}}\"`)",
            at("clientId")
        ));
    }
    let client_secret = match item.get("clientSecret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => {
            errors.push(format!(
                "`{}` must be a non-empty string (e.g. `\"${{OIDC_CLIENT_SECRET}}\"`), or left out for a public client",
                at("clientSecret")
            ));
            None
        }
    };
    for key in ["authorizationEndpoint", "tokenEndpoint", "userinfoEndpoint"] {
        if item.get(key).is_some() {
            errors.push(format!(
                "`{}` is not supported: endpoints come from the issuer's discovery document; set `issuer` only",
                at(key)
            ));
        }
    }
    let domain = |errors: &mut Vec<String>| {
        let d = str_of(item, "domain");
        if d.is_none() {
            errors.push(format!(
                "`{}` is required for a `{kind}` provider (e.g. `dev-123.{kind}.com`)",
                at("domain")
            ));
        }
        d.map(|d| {
            let d = d.trim_start_matches("https://").trim_end_matches('/');
            format!("https://{d}")
        })
    };
    let (issuer, display, icon) = match kind {
        "google" => (
            Some("https://accounts.google.com".to_owned()),
            "Google",
            "simple-icons:google",
        ),
        "keycloak" => {
            let issuer = str_of(item, "issuer");
            let realm = str_of(item, "realm");
            let issuer = match (issuer, realm) {
                (Some(base), Some(realm)) if !base.contains("/realms/") => {
                    Some(format!("{}/realms/{realm}", base.trim_end_matches('/')))
                }
                (Some(iss), _) => Some(iss.to_owned()),
                (None, _) => {
                    errors.push(format!(
                        "`{}` is required for a `keycloak` provider (e.g. `https://sso.example.com` with `realm`, or the realm's full URL)",
                        at("issuer")
                    ));
                    None
                }
            };
            (issuer, "Keycloak", "simple-icons:keycloak")
        }
        "auth0" => (
            // Auth0's issuer carries a trailing slash; the discovery URL is the same either way.
            domain(errors).map(|d| format!("{d}/")),
            "Auth0",
            "simple-icons:auth0",
        ),
        "okta" => (domain(errors), "Okta", "simple-icons:okta"),
        _ => {
            let issuer = str_of(item, "issuer").map(str::to_owned);
            if issuer.is_none() {
                errors.push(format!(
                    "`{}` is required for a `generic-oidc` provider (the URL whose `/.well-known/openid-configuration` is served)",
                    at("issuer")
                ));
            }
            (issuer, "SSO", "lucide:key-round")
        }
    };
    let issuer_raw = issuer?;
    let issuer = issuer_url(&issuer_raw, &at("issuer"), errors)?;
    // Auth0 issuers end with `/`, and ID tokens carry it: keep it as configured.
    let issuer = if issuer_raw.ends_with('/') && kind == "auth0" {
        format!("{issuer}/")
    } else {
        issuer
    };
    let provider_id = match str_of(item, "providerId") {
        Some(id)
            if id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            id.to_owned()
        }
        Some(_) => {
            errors.push(format!(
                "`{}` must be at most 64 letters, digits, `-` or `_`",
                at("providerId")
            ));
            return None;
        }
        None if kind == "generic-oidc" => id_from_issuer(&issuer),
        None => kind.to_owned(),
    };
    if provider_id == "email-password" || provider_id == crate::store::CREDENTIAL {
        errors.push(format!(
            "`{}`: `{provider_id}` is reserved; pick another",
            at("providerId")
        ));
    }
    let mut scopes = vec!["openid".to_owned()];
    match item.get("scopes") {
        None | Some(Value::Null) => scopes.extend(["email".to_owned(), "profile".to_owned()]),
        Some(Value::Array(list)) => {
            for s in list {
                match s.as_str() {
                    Some(s) if !s.is_empty() && !s.contains(' ') => {
                        if !scopes.iter().any(|x| x == s) {
                            scopes.push(s.to_owned());
                        }
                    }
                    _ => errors.push(format!(
                        "`{}` must be a list of scope names without spaces",
                        at("scopes")
                    )),
                }
            }
        }
        Some(_) => errors.push(format!(
            "`{}` must be a list such as `[openid, email, profile]`",
            at("scopes")
        )),
    }
    let mut auth_params = Vec::new();
    if kind == "google" {
        auth_params.push((
            "prompt".to_owned(),
            str_of(item, "prompt")
                .unwrap_or("select_account")
                .to_owned(),
        ));
        for (key, param) in [("hd", "hd"), ("accessType", "access_type")] {
            if let Some(v) = str_of(item, key) {
                auth_params.push((param.to_owned(), v.to_owned()));
            }
        }
    } else if let Some(p) = str_of(item, "prompt") {
        auth_params.push(("prompt".to_owned(), p.to_owned()));
    }
    if errors.len() > before {
        return None;
    }
    Some(OidcProvider {
        kind: kind.to_owned(),
        provider_id,
        display_name: str_of(item, "displayName").unwrap_or(display).to_owned(),
        icon: str_of(item, "icon").unwrap_or(icon).to_owned(),
        issuer,
        client_id: client_id?,
        client_secret,
        scopes,
        auth_params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(v: Value) -> Result<OidcProvider, Vec<String>> {
        let mut errors = Vec::new();
        let kind = v["type"].as_str().unwrap().to_owned();
        parse(&kind, &v, 0, &mut errors).ok_or(errors)
    }

    #[test]
    fn presets_derive_issuers_ids_names_and_icons() {
        let g = one(
            json!({"type": "google", "clientId": "c", "clientSecret": "s", "hd": "example.com"}),
        )
        .unwrap();
        assert_eq!(
            (
                g.issuer.as_str(),
                g.provider_id.as_str(),
                g.display_name.as_str()
            ),
            ("https://accounts.google.com", "google", "Google")
        );
        assert!(
            g.auth_params
                .contains(&("prompt".into(), "select_account".into()))
        );
        assert!(g.auth_params.contains(&("hd".into(), "example.com".into())));
        let k = one(json!({"type": "keycloak", "clientId": "c", "issuer": "https://sso.example.com/", "realm": "corp"})).unwrap();
        assert_eq!(k.issuer, "https://sso.example.com/realms/corp");
        let a =
            one(json!({"type": "auth0", "clientId": "c", "domain": "dev-1.eu.auth0.com"})).unwrap();
        assert_eq!(a.issuer, "https://dev-1.eu.auth0.com/");
        let o = one(json!({"type": "okta", "clientId": "c", "domain": "https://acme.okta.com/"}))
            .unwrap();
        assert_eq!(o.issuer, "https://acme.okta.com");
        let generic = one(json!({"type": "generic-oidc", "clientId": "c", "issuer": "https://login.corp.example"})).unwrap();
        assert_eq!(
            (
                generic.provider_id.as_str(),
                generic.icon.as_str(),
                generic.display_name.as_str()
            ),
            ("login-corp-example", "lucide:key-round", "SSO")
        );
        assert_eq!(generic.scopes, ["openid", "email", "profile"]);
    }

    #[test]
    fn bad_entries_name_their_keys_and_secrets_stay_out_of_debug() {
        let errors = one(json!({"type": "generic-oidc", "issuer": "http://idp.example.com", "providerId": "a b"})).unwrap_err();
        for key in ["providers[0].clientId", "providers[0].issuer"] {
            assert!(errors.iter().any(|e| e.contains(key)), "{key}: {errors:?}");
        }
        let errors = one(json!({"type": "okta", "clientId": "c"})).unwrap_err();
        assert!(errors[0].contains("providers[0].domain"), "{errors:?}");
        let errors = one(json!({"type": "generic-oidc", "clientId": "c", "issuer": "https://x.example", "tokenEndpoint": "https://x.example/t"})).unwrap_err();
        assert!(
            errors[0].contains("providers[0].tokenEndpoint"),
            "{errors:?}"
        );
        let local = one(json!({"type": "generic-oidc", "clientId": "c", "clientSecret": "hunter2-hunter2", "issuer": "http://127.0.0.1:9000"})).unwrap();
        assert!(!format!("{local:?}").contains("hunter2"));
    }
}
