//! Staff sign-in through OpenID Connect: the authorization code flow with PKCE.
//!
//! The flow, for one configured provider:
//!
//! 1. [`OidcClient::begin`] reads the provider's discovery document
//!    (`{issuer}/.well-known/openid-configuration`) and its JSON Web Key Set, and builds the
//!    authorization URL: `response_type=code`, scopes `openid` plus the configured ones, a random
//!    `state`, a random `nonce` and a PKCE S256 challenge. The caller keeps the [`LoginStart`]
//!    server-side, keyed by `state`, and redirects the browser to `authorize_url`.
//! 2. The provider signs the user in and redirects back to `redirect_url` with `code` and
//!    `state`. The caller looks the stored start up by `state` (an unknown or reused state is
//!    refused there, before anything reaches this module) and calls [`OidcClient::finish`].
//! 3. `finish` exchanges the code at the token endpoint (with the client secret, when there is
//!    one, and the PKCE verifier) and validates the ID token:
//!    - its signature, against the provider's JWKS, with an algorithm the provider advertises
//!      (never `none`); a key id the cached set does not know makes it fetch the set once more,
//!      so a rotated key is picked up;
//!    - `iss` equals the configured issuer, `aud` contains the client id, `azp` (required when
//!      there are several audiences) is the client id, and `exp` is in the future;
//!    - `nonce` equals the one from step 1, so a token minted for another login is refused;
//!    - `at_hash`, when present, matches the access token.
//!
//!    Claims come from the validated ID token. When it lacks the role claim, the email or the
//!    name, they are read from the userinfo endpoint with the access token (its `sub` must be
//!    the ID token's).
//!
//! Discovery is lazy and cached for an hour; a failed discovery is not cached, so the next call
//! tries again, and a failed exchange drops the cache. Every request to the provider has a 10 s
//! timeout, follows no redirects and keeps at most 1 MiB of the response. The issuer must be
//! `https`, except on a loopback host (local development and tests).
//!
//! [`OidcClient::role_for`] maps the groups read from [`OidcProviderConfig::role_claim`] to a
//! Keel role with [`OidcProviderConfig::role_map`], falling back to `default_role`; `None`
//! means the login is refused.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::url::{Host, Url};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpClientError,
    HttpRequest, HttpResponse, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse, TokenResponse as _,
};
use serde::{Deserialize, Serialize};

/// Timeout of each request to the provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a provider response that is read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// How long discovered metadata and keys are used before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

fn default_scopes() -> Vec<String> {
    vec!["email".to_string(), "profile".to_string()]
}

fn default_role_claim() -> String {
    "groups".to_string()
}

/// One configured provider (from Keel's config file).
#[derive(Clone, Serialize, Deserialize)]
pub struct OidcProviderConfig {
    /// URL-safe slug naming the provider in routes, e.g. `corp`.
    pub name: String,
    /// Issuer identifier, e.g. `https://login.example.com`; `http` only on a loopback host.
    pub issuer: String,
    pub client_id: String,
    /// The client secret of a confidential client, sent with HTTP Basic authentication.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Keel's callback, e.g. `https://keel.example.com/v1/admin/auth/oidc/corp/callback`.
    pub redirect_url: String,
    /// Scopes requested beyond `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Claim holding the user's groups: a string or an array of strings.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Group value → Keel role name.
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    /// Role given when no group maps; `None` refuses the login.
    #[serde(default)]
    pub default_role: Option<String>,
}

impl fmt::Debug for OidcProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("role_claim", &self.role_claim)
            .field("role_map", &self.role_map)
            .field("default_role", &self.default_role)
            .finish()
    }
}

/// What Keel must remember between the redirect and the callback (stored server-side, keyed by
/// `state`, for a few minutes at most, and used once).
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginStart {
    /// Where to send the browser.
    pub authorize_url: String,
    /// The `state` parameter; the callback must carry it back.
    pub state: String,
    /// The `nonce` the ID token must contain.
    pub nonce: String,
    /// The PKCE code verifier, sent with the code exchange.
    pub pkce_verifier: String,
}

/// A verified identity from a validated ID token (and userinfo, for claims the token lacks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedIdentity {
    pub issuer: String,
    /// The provider's stable identifier of the user; `(issuer, subject)` identifies a login.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// Values of the configured role claim (a string or an array of strings).
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider's configuration is unusable (a malformed URL, a plain-http issuer).
    #[error("OIDC configuration: {0}")]
    Config(String),
    /// The discovery document or the key set could not be fetched or is invalid.
    #[error("OIDC discovery failed: {0}")]
    Discovery(String),
    /// The token endpoint refused the code or could not be reached.
    #[error("OIDC code exchange failed: {0}")]
    Exchange(String),
    /// The ID token is missing or fails validation.
    #[error("invalid ID token: {0}")]
    InvalidToken(String),
    /// The userinfo endpoint failed or answered for another subject.
    #[error("OIDC userinfo failed: {0}")]
    UserInfo(String),
}

/// Claims beyond the standard ones, kept as JSON so the role claim can be any name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for ExtraClaims {}

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type ProviderTokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
type ProviderClient = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    ProviderTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The HTTP client the OpenID Connect library calls: reqwest with a timeout, no redirects and a
/// bounded body.
#[derive(Clone)]
struct Http(reqwest_client::Client);

type HttpError = HttpClientError<reqwest_client::Error>;

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest_client::Request::try_from(request).map_err(Box::new)?;
            let mut response = self.0.execute(request).await.map_err(Box::new)?;
            let mut builder =
                openidconnect::http::Response::builder().status(response.status()).version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(Box::new)? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(HttpClientError::Other(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            builder.body(body).map_err(HttpClientError::Http)
        })
    }
}

/// Discovered provider metadata (with its key set) and when it was fetched.
struct Discovered {
    metadata: CoreProviderMetadata,
    fetched: Instant,
}

struct Inner {
    config: OidcProviderConfig,
    /// The HTTP client, or why it could not be built.
    http: Result<Http, String>,
    discovered: RwLock<Option<Arc<Discovered>>>,
}

/// A client of one OpenID Provider. Cheap to clone; clones share the discovery cache.
#[derive(Clone)]
pub struct OidcClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl OidcClient {
    /// A client for `config`. Nothing is fetched until the first [`begin`](Self::begin) or
    /// [`finish`](Self::finish).
    pub fn new(config: OidcProviderConfig) -> Self {
        keel_platform::http::install_crypto();
        let http = reqwest_client::Client::builder()
            .redirect(reqwest_client::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            .build()
            .map(Http)
            .map_err(|e| error_chain(&e));
        OidcClient { inner: Arc::new(Inner { config, http, discovered: RwLock::new(None) }) }
    }

    pub fn config(&self) -> &OidcProviderConfig {
        &self.inner.config
    }

    /// Starts a login: a fresh state, nonce and PKCE S256 pair, and the URL to send the browser
    /// to.
    pub async fn begin(&self) -> Result<LoginStart, OidcError> {
        let discovered = self.discovered().await?;
        let client = self.provider_client(&discovered)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = self
            .inner
            .config
            .scopes
            .iter()
            .filter(|s| !s.is_empty() && s.as_str() != "openid")
            .map(|s| Scope::new(s.clone()));
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        Ok(LoginStart {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Completes a login: exchanges `code`, validates the ID token against `nonce` and returns
    /// who signed in. `pkce_verifier` and `nonce` are the ones stored from [`begin`](Self::begin).
    pub async fn finish(&self, code: &str, pkce_verifier: &str, nonce: &str) -> Result<VerifiedIdentity, OidcError> {
        let http = self.http()?;
        let client = self.provider_client(&*self.discovered().await?)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(http)
            .await
            .map_err(|e| {
                if !matches!(e, RequestTokenError::ServerResponse(_)) {
                    self.forget_discovery();
                }
                OidcError::Exchange(describe_token_error(&e))
            })?;
        let id_token =
            token.id_token().ok_or_else(|| OidcError::InvalidToken("the token response has no id_token".into()))?;
        let nonce = Nonce::new(nonce.to_string());

        // A key id the cached key set does not know: the provider may have rotated its keys.
        let mut client = client;
        let first = id_token.claims(&client.id_token_verifier(), &nonce);
        let verified = match first {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                self.forget_discovery();
                client = self.provider_client(&*self.discovered().await?)?;
                id_token.claims(&client.id_token_verifier(), &nonce)
            }
            other => other,
        };
        let claims = verified.map_err(|e| OidcError::InvalidToken(error_chain(&e)))?;
        let verifier = client.id_token_verifier();
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| OidcError::InvalidToken(error_chain(&e)))?;
            let key = id_token.signing_key(&verifier).map_err(|e| OidcError::InvalidToken(error_chain(&e)))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| OidcError::InvalidToken(error_chain(&e)))?;
            if actual != *expected {
                return Err(OidcError::InvalidToken("at_hash does not match the access token".into()));
            }
        }

        let role_claim = self.inner.config.role_claim.as_str();
        let mut identity = VerifiedIdentity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
            groups: groups_from_claim(claims.additional_claims().claims.get(role_claim)),
        };
        let has_groups = claims.additional_claims().claims.contains_key(role_claim);

        if (!has_groups || identity.email.is_none() || identity.name.is_none())
            && let Ok(request) = client.user_info(token.access_token().clone(), Some(claims.subject().clone()))
        {
            let info: Result<openidconnect::UserInfoClaims<ExtraClaims, CoreGenderClaim>, _> =
                request.request_async(http).await;
            match info {
                Ok(info) => {
                    if !has_groups {
                        identity.groups = groups_from_claim(info.additional_claims().claims.get(role_claim));
                    }
                    if identity.email.is_none() {
                        identity.email = info.email().map(|e| e.to_string());
                        identity.email_verified = info.email_verified().unwrap_or(false);
                    }
                    if identity.name.is_none() {
                        identity.name = info.name().and_then(|n| n.get(None)).map(|n| n.to_string());
                    }
                }
                // The groups decide the role: without them the login cannot go on.
                Err(e) if !has_groups => return Err(OidcError::UserInfo(error_chain(&e))),
                Err(e) => {
                    let provider = &self.inner.config.name;
                    let error = error_chain(&e);
                    tracing::warn!(%provider, %error, "OIDC userinfo failed; using the ID token's claims");
                }
            }
        }
        Ok(identity)
    }

    /// The Keel role for `identity`: the first `role_map` entry (in the map's order) whose group
    /// the identity has, else `default_role`. `None` means the login is refused.
    pub fn role_for(&self, identity: &VerifiedIdentity) -> Option<String> {
        role_for(&self.inner.config, &identity.groups)
    }

    fn http(&self) -> Result<&Http, OidcError> {
        self.inner.http.as_ref().map_err(|e| OidcError::Config(format!("cannot build the HTTP client: {e}")))
    }

    /// Cached metadata and keys, fetched when absent or stale.
    async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        if let Some(d) = self.cached()
            && d.fetched.elapsed() < METADATA_TTL
        {
            return Ok(d);
        }
        let issuer = issuer_url(&self.inner.config.issuer)?;
        let metadata = CoreProviderMetadata::discover_async(issuer, self.http()?)
            .await
            .map_err(|e| OidcError::Discovery(error_chain(&e)))?;
        let discovered = Arc::new(Discovered { metadata, fetched: Instant::now() });
        *self.inner.discovered.write().unwrap_or_else(|p| p.into_inner()) = Some(discovered.clone());
        Ok(discovered)
    }

    fn cached(&self) -> Option<Arc<Discovered>> {
        self.inner.discovered.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn forget_discovery(&self) {
        *self.inner.discovered.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn provider_client(&self, discovered: &Discovered) -> Result<ProviderClient, OidcError> {
        let config = &self.inner.config;
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| OidcError::Config(format!("redirect_url: {e}")))?;
        Ok(ProviderClient::from_provider_metadata(
            discovered.metadata.clone(),
            ClientId::new(config.client_id.clone()),
            config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }
}

/// Parses the issuer and refuses plain http except on loopback hosts.
fn issuer_url(raw: &str) -> Result<IssuerUrl, OidcError> {
    let issuer = IssuerUrl::new(raw.to_string()).map_err(|e| OidcError::Config(format!("issuer: {e}")))?;
    let url = issuer.url();
    match url.scheme() {
        "https" => Ok(issuer),
        "http" if is_loopback(url) => Ok(issuer),
        "http" => {
            Err(OidcError::Config(format!("issuer {raw} must use https (http is allowed on loopback hosts only)")))
        }
        other => Err(OidcError::Config(format!("issuer {raw} has unsupported scheme {other}"))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The values of a groups claim: a string is one group, an array holds groups (non-string
/// entries are ignored); anything else, or no claim, is no group.
fn groups_from_claim(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string).collect()
        }
        _ => Vec::new(),
    }
}

fn role_for(config: &OidcProviderConfig, groups: &[String]) -> Option<String> {
    config
        .role_map
        .iter()
        .find(|(group, _)| groups.iter().any(|g| g == *group))
        .map(|(_, role)| role.clone())
        .or_else(|| config.default_role.clone())
}

/// An error and its sources, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn describe_token_error(error: &RequestTokenError<HttpError, StandardErrorResponse<CoreErrorResponseType>>) -> String {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let mut text = response.error().to_string();
            if let Some(description) = response.error_description() {
                text.push_str(": ");
                text.push_str(description);
            }
            text
        }
        RequestTokenError::Parse(e, body) => {
            let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            format!("cannot parse the token response ({e}): {excerpt}")
        }
        other => error_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(role_map: &[(&str, &str)], default_role: Option<&str>) -> OidcProviderConfig {
        OidcProviderConfig {
            name: "corp".into(),
            issuer: "http://127.0.0.1:4100".into(),
            client_id: "keel".into(),
            client_secret: Some("secret".into()),
            redirect_url: "http://127.0.0.1:8080/v1/admin/auth/oidc/corp/callback".into(),
            scopes: default_scopes(),
            role_claim: default_role_claim(),
            role_map: role_map.iter().map(|(g, r)| (g.to_string(), r.to_string())).collect(),
            default_role: default_role.map(str::to_string),
        }
    }

    fn identity(groups: &[&str]) -> VerifiedIdentity {
        VerifiedIdentity {
            issuer: "http://127.0.0.1:4100".into(),
            subject: "alice".into(),
            email: Some("alice@example.test".into()),
            email_verified: true,
            name: Some("Alice".into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn groups_claim_is_a_string_or_an_array_of_strings() {
        assert_eq!(groups_from_claim(Some(&json!("keel-admins"))), vec!["keel-admins"]);
        assert_eq!(groups_from_claim(Some(&json!(["a", "b"]))), vec!["a", "b"]);
        assert_eq!(groups_from_claim(Some(&json!(["a", 7, null, "", "b"]))), vec!["a", "b"]);
        assert!(groups_from_claim(Some(&json!(""))).is_empty());
        assert!(groups_from_claim(Some(&json!([]))).is_empty());
        assert!(groups_from_claim(Some(&json!({"a": true}))).is_empty());
        assert!(groups_from_claim(Some(&json!(3))).is_empty());
        assert!(groups_from_claim(None).is_empty());
    }

    #[test]
    fn extra_claims_keep_the_role_claim_from_a_token_payload() {
        let payload = json!({
            "sub": "alice", "email": "alice@example.test", "groups": ["keel-admins"], "roles": "ops"
        });
        let extra: ExtraClaims = serde_json::from_value(payload).unwrap();
        assert_eq!(groups_from_claim(extra.claims.get("groups")), vec!["keel-admins"]);
        assert_eq!(groups_from_claim(extra.claims.get("roles")), vec!["ops"]);
    }

    #[test]
    fn first_mapped_group_in_map_order_wins() {
        let client = OidcClient::new(config(&[("keel-admins", "admin"), ("keel-support", "support")], None));
        assert_eq!(client.role_for(&identity(&["keel-support", "keel-admins"])), Some("admin".into()));
        assert_eq!(client.role_for(&identity(&["other", "keel-support"])), Some("support".into()));
    }

    #[test]
    fn unmapped_groups_fall_back_to_the_default_role_or_refuse() {
        let refusing = OidcClient::new(config(&[("keel-admins", "admin")], None));
        assert_eq!(refusing.role_for(&identity(&["other"])), None);
        assert_eq!(refusing.role_for(&identity(&[])), None);
        let defaulting = OidcClient::new(config(&[("keel-admins", "admin")], Some("viewer")));
        assert_eq!(defaulting.role_for(&identity(&["other"])), Some("viewer".into()));
        assert_eq!(defaulting.role_for(&identity(&["keel-admins"])), Some("admin".into()));
    }

    #[test]
    fn config_defaults_and_redacted_debug() {
        let config: OidcProviderConfig = serde_json::from_value(json!({
            "name": "corp",
            "issuer": "https://login.example.com",
            "client_id": "keel",
            "client_secret": "hunter2",
            "redirect_url": "https://keel.example.com/v1/admin/auth/oidc/corp/callback"
        }))
        .unwrap();
        assert_eq!(config.scopes, vec!["email", "profile"]);
        assert_eq!(config.role_claim, "groups");
        assert!(config.role_map.is_empty());
        assert_eq!(config.default_role, None);
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn plain_http_issuers_only_on_loopback() {
        assert!(issuer_url("https://login.example.com").is_ok());
        assert!(issuer_url("http://127.0.0.1:4100").is_ok());
        assert!(issuer_url("http://localhost:4100/realms/keel").is_ok());
        assert!(issuer_url("http://[::1]:4100").is_ok());
        assert!(matches!(issuer_url("http://login.example.com"), Err(OidcError::Config(_))));
        assert!(matches!(issuer_url("ftp://127.0.0.1"), Err(OidcError::Config(_))));
    }

    #[test]
    fn client_and_its_futures_can_cross_threads() {
        fn is_send_sync<T: Send + Sync + Clone>(_: &T) {}
        fn is_send<T: Send>(_: &T) {}
        let client = OidcClient::new(config(&[], None));
        is_send_sync(&client);
        is_send(&client.begin());
        is_send(&client.finish("code", "verifier", "nonce"));
    }
}
