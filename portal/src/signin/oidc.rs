//! Sign-in with the company IdP: OpenID Connect discovery, the authorization code flow with
//! PKCE, `state` and `nonce`, and ID-token validation by the `openidconnect` crate.
//!
//! The flow's secrets (state, nonce, PKCE verifier, where to return, and the resource host's
//! sign-in state digest) travel in a short-lived signed cookie, so any portal instance can
//! finish a sign-in another one started. Groups come
//! from the configured claim of the ID token, or from userinfo when the token lacks it.
//! The discovery document and keys come from the process's one [`IdpClient`] (shared with the
//! bearer checks): a token signed with a key we have not seen makes it ask the IdP again once
//! (key rotation), and the client here is rebuilt whenever that client fetched anew.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jitgate_access::config::{Config, IdentityConfig};
use jitgate_access::cookies::CookieName;
use jitgate_access::idp::{IdpClient, Snapshot, claim};
use jitgate_access::ids::{GroupName, UserId};
use jitgate_access::keys::{self, Purpose};
use jitgate_access::policy::Identity;
use jitgate_access::return_to::ReturnTo;
use jitgate_access::routes::CALLBACK_PATH;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use tokio::sync::RwLock;

use crate::error::PortalError;
use crate::signin::sign_in_state;
use crate::state::Portal;

/// How long a user may spend at the IdP's login page.
const FLOW_LIFETIME: Duration = Duration::from_secs(600);
/// Browsers keep cookies up to 4096 bytes, name and attributes included.
const MAX_ID_TOKEN_COOKIE: usize = 3800;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, Error)]
pub enum OidcError {
    #[error("identity.issuer {issuer}: discovery failed: {reason}")]
    Discovery { issuer: String, reason: String },
    #[error("identity: {0}")]
    Config(String),
}

/// The `openidconnect` client built from one [`Snapshot`] of the IdP.
struct Built {
    generation: u64,
    client: Client,
}

pub struct OidcSignIn {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    scopes: Vec<String>,
    groups_claim: String,
    idp: Arc<IdpClient>,
    built: RwLock<Built>,
    flow_key: (EncodingKey, DecodingKey),
}

#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    rd: String,
    /// The resource host's sign-in state digest, for the handoff at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_state: Option<String>,
    exp: u64,
}

impl OidcSignIn {
    /// The sign-in with the IdP behind `idp`, asked once now so that an unreachable or
    /// misconfigured IdP is reported at start.
    pub async fn discover(config: &Config, idp: Arc<IdpClient>) -> Result<Self, OidcError> {
        let IdentityConfig::Oidc { issuer, client_id, client_secret, scopes, groups_claim, .. } =
            &config.identity
        else {
            return Err(OidcError::Config("not an oidc provider".into()));
        };
        let bad = |what: &str, error: String| OidcError::Config(format!("{what}: {error}"));
        let issuer_url =
            IssuerUrl::new(issuer.clone()).map_err(|e| bad("issuer", e.to_string()))?;
        let redirect = RedirectUrl::new(format!("{}{CALLBACK_PATH}", config.server.portal_url))
            .map_err(|e| bad("server.portal_url", e.to_string()))?;
        let flow_secret =
            keys::derive(config.session.secret.expose().as_bytes(), Purpose::OidcFlow);
        let discovery_failed =
            |reason: String| OidcError::Discovery { issuer: issuer.clone(), reason };
        let snapshot = idp.snapshot().await.map_err(|error| discovery_failed(error.to_string()))?;
        let client_id = ClientId::new(client_id.clone());
        let client_secret = ClientSecret::new(client_secret.expose().to_owned());
        let client = client_from(&snapshot, &client_id, &client_secret, &redirect)
            .map_err(discovery_failed)?;
        Ok(Self {
            issuer: issuer_url,
            client_id,
            client_secret,
            redirect,
            scopes: scopes.clone(),
            groups_claim: groups_claim.clone(),
            idp,
            built: RwLock::new(Built { generation: snapshot.generation, client }),
            flow_key: (
                EncodingKey::from_secret(&flow_secret),
                DecodingKey::from_secret(&flow_secret),
            ),
        })
    }

    /// The client for the IdP's current document and keys, rebuilt when they were fetched anew.
    async fn client(&self) -> Result<(Arc<Snapshot>, Client), PortalError> {
        let snapshot = self.idp.snapshot().await.map_err(|error| {
            tracing::warn!(%error, "the IdP's discovery document and keys are not available");
            PortalError::Unavailable
        })?;
        self.client_for(snapshot).await
    }

    async fn client_for(
        &self,
        snapshot: Arc<Snapshot>,
    ) -> Result<(Arc<Snapshot>, Client), PortalError> {
        {
            let built = self.built.read().await;
            if built.generation == snapshot.generation {
                return Ok((snapshot, built.client.clone()));
            }
        }
        let client = client_from(&snapshot, &self.client_id, &self.client_secret, &self.redirect)
            .map_err(|reason| {
            tracing::warn!(%reason, "the IdP's new discovery document is not usable");
            PortalError::Unavailable
        })?;
        *self.built.write().await =
            Built { generation: snapshot.generation, client: client.clone() };
        Ok((snapshot, client))
    }

    /// Sends the browser to the IdP, remembering the flow in a signed cookie.
    pub async fn start(
        &self,
        portal: &Portal,
        rd: &ReturnTo,
        resource_state: Option<&str>,
    ) -> Result<Response, PortalError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (_, client) = self.client().await?;
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let flow = Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            rd: portal.destinations.url(rd),
            resource_state: sign_in_state(resource_state).map(str::to_owned),
            exp: (portal.clock.now().plus(FLOW_LIFETIME).as_millis() / 1000) as u64,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &flow, &self.flow_key.0)
            .map_err(|_| PortalError::Unavailable)?;
        let mut response = Redirect::to(url.as_str()).into_response();
        portal.set_cookie(&mut response, CookieName::SignInFlow, &token, FLOW_LIFETIME)?;
        Ok(response)
    }

    fn flow(&self, token: &str, now_secs: u64) -> Option<Flow> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let flow = jsonwebtoken::decode::<Flow>(token, &self.flow_key.1, &validation).ok()?.claims;
        (now_secs < flow.exp).then_some(flow)
    }

    /// Exchanges the code and validates the ID token; the identity it names, the display name
    /// when it has one, and the token itself (the `id_token_hint` of a later sign-out).
    async fn identity(&self, code: String, flow: &Flow) -> Result<SignedIn, PortalError> {
        let failed = |what: &str, error: String| {
            tracing::warn!(%error, "OIDC sign-in failed: {what}");
            PortalError::SignInFailed(format!(
                "the identity provider's answer was not accepted ({what})"
            ))
        };
        let (snapshot, client) = self.client().await?;
        let http = self.idp.http();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| failed("no token endpoint", e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| failed("code exchange", error_chain(&e)))?;
        let id_token = tokens.id_token().ok_or_else(|| failed("no ID token", String::new()))?;
        let nonce = Nonce::new(flow.nonce.clone());
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            // A key we have not seen: the IdP may have rotated its keys; ask it again once.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => match self.idp.refreshed(&snapshot).await {
                Ok(fresh) if fresh.generation != snapshot.generation => {
                    let (_, client) = self.client_for(fresh).await?;
                    id_token.claims(&client.id_token_verifier(), &nonce).map(|_| ())
                }
                _ => Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )),
            },
            other => other.map(|_| ()),
        };
        verified.map_err(|e| failed("ID token", e.to_string()))?;
        // Verified above; its payload is read again as plain JSON for the configurable claims.
        let mut claims = payload(&id_token.to_string())
            .ok_or_else(|| failed("ID token payload", String::new()))?;
        // The display name (for the people records) is asked for only with the profile scope.
        let wants_name = self.scopes.iter().any(|scope| scope == "profile");
        let incomplete = !claims.contains_key("email")
            || claim(&claims, &self.groups_claim).is_none()
            || (wants_name && !claims.contains_key("name"));
        if incomplete && let Some(url) = client.user_info_url().cloned() {
            let extra = self.userinfo(&http, url.as_str(), tokens.access_token().secret()).await;
            // Userinfo about someone else would be a confused IdP: take nothing from it.
            if extra.get("sub") == claims.get("sub") {
                for (key, value) in extra {
                    claims.entry(key).or_insert(value);
                }
            }
        }
        let name = claims.get("name").and_then(Value::as_str).map(str::to_owned);
        Ok(SignedIn {
            identity: self.identity_from(&claims)?,
            name,
            id_token: id_token.to_string(),
        })
    }

    /// Where to send the browser to end its IdP session too: the provider's
    /// `end_session_endpoint` with the ID token as hint and the portal's signed-out page to
    /// come back to. `None` when the provider has no such endpoint.
    pub async fn end_session_url(
        &self,
        id_token: Option<&str>,
        signed_out: &str,
    ) -> Option<String> {
        let endpoint = self.end_session_endpoint().await?;
        let mut url = reqwest::Url::parse(&endpoint).ok()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(token) = id_token {
                query.append_pair("id_token_hint", token);
            }
            query.append_pair("client_id", self.client_id.as_str());
            query.append_pair("post_logout_redirect_uri", signed_out);
        }
        Some(url.into())
    }

    /// Whether sign-out ends the IdP session too (the provider has an `end_session_endpoint`).
    pub async fn ends_sessions(&self) -> bool {
        self.end_session_endpoint().await.is_some()
    }

    /// The IdP's host, to name it on the signed-out page.
    pub fn issuer_host(&self) -> String {
        self.issuer.url().host_str().unwrap_or("your identity provider").to_owned()
    }

    /// `end_session_endpoint` from the discovery document the shared [`IdpClient`] holds (the
    /// `openidconnect` crate's core metadata does not carry it). A provider without one is
    /// `None`: sign-out then says honestly that the IdP session stays open.
    async fn end_session_endpoint(&self) -> Option<String> {
        let snapshot = self.idp.snapshot().await.ok()?;
        let endpoint = snapshot.discovery.get("end_session_endpoint")?.as_str()?;
        reqwest::Url::parse(endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .map(|_| endpoint.to_owned())
    }

    async fn userinfo(
        &self,
        http: &reqwest::Client,
        url: &str,
        access_token: &str,
    ) -> Map<String, Value> {
        let response = http.get(url).bearer_auth(access_token).send().await;
        match response {
            Ok(response) if response.status().is_success() => {
                response.json().await.unwrap_or_default()
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), "userinfo refused");
                Map::new()
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "userinfo unreachable");
                Map::new()
            }
        }
    }

    fn identity_from(&self, claims: &Map<String, Value>) -> Result<Identity, PortalError> {
        let refuse = |why: &str| PortalError::SignInFailed(why.to_owned());
        let email = claims.get("email").and_then(Value::as_str).ok_or_else(|| {
            refuse("the identity provider did not share your email address (is the email scope allowed?)")
        })?;
        if claims.get("email_verified").and_then(Value::as_bool) == Some(false) {
            return Err(refuse("your email address is not verified at the identity provider"));
        }
        let user = UserId::parse(email).map_err(|e| refuse(&e.to_string()))?;
        let groups: Vec<GroupName> = match claim(claims, &self.groups_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|g| GroupName::parse(g).ok())
                .collect(),
            Some(Value::String(one)) => GroupName::parse(one).ok().into_iter().collect(),
            _ => Vec::new(),
        };
        Ok(Identity::new(user, groups))
    }
}

/// What a completed sign-in at the IdP gives.
struct SignedIn {
    identity: Identity,
    /// The IdP's `name` claim, for the people records.
    name: Option<String>,
    id_token: String,
}

/// An `openidconnect` client from the document and keys the shared [`IdpClient`] fetched (it
/// has checked the issuer); the reason when they do not describe a usable provider.
fn client_from(
    snapshot: &Snapshot,
    client_id: &ClientId,
    client_secret: &ClientSecret,
    redirect: &RedirectUrl,
) -> Result<Client, String> {
    let metadata: CoreProviderMetadata =
        serde_json::from_value(Value::Object(snapshot.discovery.clone()))
            .map_err(|error| format!("the discovery document: {error}"))?;
    let jwks: CoreJsonWebKeySet = serde_json::from_value(snapshot.jwks.clone())
        .map_err(|error| format!("the key set: {error}"))?;
    Ok(CoreClient::from_provider_metadata(
        metadata.set_jwks(jwks),
        client_id.clone(),
        Some(client_secret.clone()),
    )
    .set_redirect_uri(redirect.clone()))
}

fn payload(jwt: &str) -> Option<Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `GET /auth/callback?code=…&state=…`: the IdP sends the browser back here.
pub async fn callback(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PortalError> {
    let crate::signin::SignIn::Oidc(oidc) = &portal.sign_in else {
        return Err(PortalError::NotFound);
    };
    let now_secs = (portal.clock.now().as_millis() / 1000) as u64;
    let flow = portal
        .cookie(&headers, CookieName::SignInFlow)
        .and_then(|token| oidc.flow(token, now_secs))
        .ok_or_else(|| {
            PortalError::SignInFailed(
                "this sign-in took too long or was started elsewhere; please start again".into(),
            )
        })?;
    if let Some(error) = query.get("error") {
        let detail = query.get("error_description").map_or("", String::as_str);
        return Err(PortalError::SignInFailed(format!(
            "the identity provider refused: {error} {detail}"
        )));
    }
    if query.get("state") != Some(&flow.state) {
        return Err(PortalError::SignInFailed(
            "the sign-in's state did not match; please start again".into(),
        ));
    }
    let code =
        query.get("code").cloned().ok_or_else(|| PortalError::BadRequest("no code".into()))?;
    let SignedIn { identity, name, id_token } = oidc.identity(code, &flow).await?;
    let rd = portal.destinations.vet(Some(&flow.rd));
    let state = flow.resource_state.as_deref();
    let mut response = portal.finish_named(identity, name.as_deref(), &rd, state).await?;
    portal.clear_cookie(&mut response, CookieName::SignInFlow)?;
    // Kept for the sign-out's `id_token_hint`; a token too large for a cookie is not kept,
    // and the IdP then asks the user to confirm the sign-out instead.
    if id_token.len() <= MAX_ID_TOKEN_COOKIE {
        portal.set_cookie(
            &mut response,
            CookieName::IdToken,
            &id_token,
            portal.config.session.ttl,
        )?;
    }
    Ok(response)
}

impl std::fmt::Debug for OidcSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OidcSignIn({})", self.issuer.as_str())
    }
}
