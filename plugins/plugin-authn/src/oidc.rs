//! The OIDC relying party (the `openidconnect` crate): discovery cached per provider, the
//! authorization URL with PKCE, state and nonce, and the code exchange with ID-token verification
//! (signature against the provider's JWKS, issuer, audience, expiry, nonce, `at_hash`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreGenderClaim, CoreJsonWebKey, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EmptyAdditionalClaims, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims,
};

use crate::providers::OidcProvider;

/// How long a discovery document (and its JWKS) is trusted before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Timeout of each call to a provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

type Client = openidconnect::core::CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a step of the flow failed; each maps to a clear message and error code.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery or JWKS could not be fetched or parsed.
    #[error("cannot read the discovery document of {issuer}: {detail}")]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// What failed.
        detail: String,
    },
    /// The token endpoint refused the code (used, expired, wrong PKCE verifier, …).
    #[error("the provider refused the authorization code: {0}")]
    CodeRejected(String),
    /// The token endpoint could not be reached or answered garbage.
    #[error("the provider's token endpoint failed: {0}")]
    TokenEndpoint(String),
    /// The ID token failed verification.
    #[error("the ID token was refused: {0}")]
    IdToken(String),
    /// The userinfo endpoint failed or named another subject.
    #[error("the userinfo endpoint failed: {0}")]
    UserInfo(String),
}

/// What a sign-in needs to remember between the redirect and the callback.
#[derive(Debug)]
pub struct Begin {
    /// Where to send the browser.
    pub url: String,
    /// The `state` parameter (CSRF token of the flow).
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier for the code exchange.
    pub pkce_verifier: String,
}

/// The verified identity a callback produced.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The provider's subject (`sub`), stable per user.
    pub subject: String,
    /// The email, lower-cased, when the provider shared one.
    pub email: Option<String>,
    /// Whether the provider vouches for the email.
    pub email_verified: bool,
    /// The display name, when shared.
    pub name: Option<String>,
    /// The raw ID token (kept for RP-initiated logout's `id_token_hint`).
    pub id_token: String,
    /// Keycloak only: the realm roles plus this client's roles, when the ID token carries them.
    pub roles: Option<Vec<String>>,
}

#[derive(Debug)]
struct Discovered {
    client: Client,
    end_session: Option<EndSessionUrl>,
    fetched: Instant,
}

/// One configured provider with its discovery cache.
#[derive(Debug)]
pub struct Provider {
    /// The manifest entry.
    pub config: OidcProvider,
    /// The callback URL registered at the provider.
    pub redirect_uri: String,
    cache: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

/// The HTTP client for provider calls: rustls, a timeout, and no redirects (a token or JWKS URL
/// that redirects elsewhere is refused rather than followed, against SSRF).
///
/// # Errors
/// The TLS backend failed to initialise.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .user_agent(concat!("buntime-authn/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the OIDC HTTP client: {e}"))
}

/// Describes an ID-token failure in words a user and an operator understand.
fn describe(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::InvalidAudience(d) => {
            format!("it was issued for another client (audience: {d})")
        }
        ClaimsVerificationError::InvalidIssuer(d) => {
            format!("it was issued by another provider (issuer: {d})")
        }
        ClaimsVerificationError::Expired(d) => format!("it has expired ({d})"),
        ClaimsVerificationError::InvalidNonce(d) => {
            format!("its nonce does not match this sign-in ({d})")
        }
        ClaimsVerificationError::SignatureVerification(d) => {
            format!("its signature does not verify against the provider's keys ({d})")
        }
        other => other.to_string(),
    }
}

/// Whether a verification failure may come from keys rotated since discovery was cached.
fn maybe_stale_keys(e: &ClaimsVerificationError) -> bool {
    matches!(e, ClaimsVerificationError::SignatureVerification(_))
}

impl Provider {
    /// Builds the provider; `public_origin` is the site's first trusted origin and `base` the
    /// plugin's base path.
    pub fn new(config: OidcProvider, public_origin: &str, base: &str) -> Self {
        let redirect_uri = format!(
            "{public_origin}{base}/api/auth/oauth2/callback/{}",
            config.provider_id
        );
        Self {
            config,
            redirect_uri,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// Returns the discovery result, fetching it when missing, older than the TTL, or `refresh`.
    async fn discovered(
        &self,
        http: &reqwest::Client,
        refresh: bool,
    ) -> Result<Arc<Discovered>, OidcError> {
        // One fetch at a time per provider: concurrent first sign-ins wait for the same answer.
        let mut cache = self.cache.lock().await;
        if let Some(d) = cache.as_ref()
            && !refresh
            && d.fetched.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let issuer = self.config.issuer.clone();
        let fail = |detail: String| OidcError::Discovery {
            issuer: issuer.clone(),
            detail,
        };
        let issuer_url = IssuerUrl::new(issuer.clone()).map_err(|e| fail(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer_url, http)
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let redirect =
            RedirectUrl::new(self.redirect_uri.clone()).map_err(|e| fail(e.to_string()))?;
        let client = Client::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect);
        let d = Arc::new(Discovered {
            client,
            end_session,
            fetched: Instant::now(),
        });
        *cache = Some(d.clone());
        Ok(d)
    }

    /// Starts a sign-in: the authorization URL with fresh state, nonce and PKCE (S256) challenge.
    ///
    /// # Errors
    /// Discovery failed.
    pub async fn begin(&self, http: &reqwest::Client) -> Result<Begin, OidcError> {
        let d = self.discovered(http, false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = d
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in self.config.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        for (k, v) in &self.config.auth_params {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        let (url, state, nonce) = req.url();
        Ok(Begin {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` (with the flow's PKCE verifier) and verifies the ID token against
    /// `nonce`; reads the userinfo endpoint when the ID token carries no email.
    ///
    /// # Errors
    /// The provider refused the code, the ID token failed a check, or a provider call failed.
    pub async fn finish(
        &self,
        http: &reqwest::Client,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Verified, OidcError> {
        let d = self.discovered(http, false).await?;
        let token = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::TokenEndpoint(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    OidcError::CodeRejected(match r.error_description() {
                        Some(d) => format!("{} ({d})", r.error()),
                        None => r.error().to_string(),
                    })
                }
                other => OidcError::TokenEndpoint(error_chain(&other)),
            })?;
        let id_token = token.id_token().ok_or_else(|| {
            OidcError::IdToken("the token response has no ID token (is `openid` granted?)".into())
        })?;
        let nonce = Nonce::new(nonce.to_owned());
        // A signature that fails may mean rotated keys: re-read discovery (and the JWKS) once.
        let stale = matches!(
            id_token.claims(&d.client.id_token_verifier(), &nonce),
            Err(e) if maybe_stale_keys(&e)
        );
        let d = if stale {
            self.discovered(http, true).await?
        } else {
            d
        };
        let verifier = d.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &nonce)
            .map_err(|e| OidcError::IdToken(describe(&e)))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg: &CoreJwsSigningAlgorithm = id_token
                .signing_alg()
                .map_err(|e| OidcError::IdToken(e.to_string()))?;
            let key: &CoreJsonWebKey = id_token
                .signing_key(&verifier)
                .map_err(|e| OidcError::IdToken(e.to_string()))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| OidcError::IdToken(e.to_string()))?;
            if actual != *expected {
                return Err(OidcError::IdToken(
                    "its at_hash does not match the access token".into(),
                ));
            }
        }
        let subject = claims.subject().clone();
        let mut verified = Verified {
            subject: subject.as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_lowercase()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            id_token: id_token.to_string(),
            roles: None,
        };
        if self.config.kind == "keycloak" {
            verified.roles = keycloak_roles(&verified.id_token, &self.config.client_id);
        }
        if verified.email.is_none()
            && let Ok(req) = d
                .client
                .user_info(token.access_token().clone(), Some(subject))
        {
            // The subject check ties the userinfo answer to the verified ID token.
            let info: UserInfoClaims<EmptyAdditionalClaims, CoreGenderClaim> = req
                .request_async(http)
                .await
                .map_err(|e| OidcError::UserInfo(error_chain(&e)))?;
            verified.email = info.email().map(|e| e.as_str().to_lowercase());
            verified.email_verified = info.email_verified().unwrap_or(false);
            if verified.name.is_none() {
                verified.name = info
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_owned());
            }
        }
        Ok(verified)
    }

    /// Returns the provider's RP-initiated logout URL for `id_token`, sending the browser back to
    /// `post_logout` afterwards; `None` when the provider offers no logout endpoint.
    pub async fn logout_url(
        &self,
        http: &reqwest::Client,
        id_token: &str,
        post_logout: &str,
    ) -> Option<String> {
        let d = self.discovered(http, false).await.ok()?;
        let post = PostLogoutRedirectUrl::new(post_logout.to_owned()).ok()?;
        let client_id = ClientId::new(self.config.client_id.clone());
        match &d.end_session {
            Some(end) => {
                let mut url = LogoutRequest::from(end.clone())
                    .set_client_id(client_id)
                    .set_post_logout_redirect_uri(post)
                    .http_get_url();
                // `id_token_hint` as the stored string: the typed setter would need it re-parsed.
                url.query_pairs_mut().append_pair("id_token_hint", id_token);
                Some(url.to_string())
            }
            // Auth0 without OIDC logout enabled has its own endpoint (spec §3).
            None if self.config.kind == "auth0" => {
                let mut url = url::Url::parse(&format!("{}v2/logout", self.config.issuer)).ok()?;
                url.query_pairs_mut()
                    .append_pair("client_id", client_id.as_str())
                    .append_pair("returnTo", post.as_str());
                Some(url.to_string())
            }
            None => None,
        }
    }
}

/// Reads Keycloak's `realm_access.roles` and `resource_access.<client_id>.roles` from an ID token
/// that has **already been verified** (the payload is the one whose signature was checked).
/// `None` when neither claim is there, so roles managed elsewhere are left alone.
pub fn keycloak_roles(id_token: &str, client_id: &str) -> Option<Vec<String>> {
    use base64::Engine as _;
    let payload = id_token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?,
    )
    .ok()?;
    let realm = claims.pointer("/realm_access/roles");
    let client = claims
        .get("resource_access")
        .and_then(|r| r.get(client_id))
        .and_then(|c| c.get("roles"));
    if realm.is_none() && client.is_none() {
        return None;
    }
    let mut roles: Vec<String> = Vec::new();
    for list in [realm, client].into_iter().flatten() {
        for r in list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
        {
            if !roles.iter().any(|x| x == r) {
                roles.push(r.to_owned());
            }
        }
    }
    Some(roles)
}

/// An error with its sources, for messages that say what actually failed.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn token(claims: &serde_json::Value) -> String {
        let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b(br#"{"alg":"RS256"}"#),
            b(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn keycloak_realm_and_client_roles_are_merged_and_absent_ones_leave_roles_alone() {
        let t = token(&serde_json::json!({
            "realm_access": {"roles": ["user", "admin"]},
            "resource_access": {"buntime": {"roles": ["deployer", "user"]}, "other": {"roles": ["x"]}}
        }));
        assert_eq!(
            keycloak_roles(&t, "buntime").unwrap(),
            ["user", "admin", "deployer"]
        );
        assert_eq!(keycloak_roles(&t, "nobody").unwrap(), ["user", "admin"]);
        assert_eq!(
            keycloak_roles(&token(&serde_json::json!({"sub": "a"})), "buntime"),
            None
        );
        assert_eq!(keycloak_roles("garbage", "buntime"), None);
    }
}
