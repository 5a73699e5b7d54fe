//! What jitgate learns from the OpenID provider while running: its discovery document and the
//! keys it signs tokens with.
//!
//! Nothing here runs at start-up: an IdP that is down when jitgate starts must not stop the
//! proxy, it only makes IdP-issued tokens unverifiable (and those requests fail closed) until
//! it is back. Keys are fetched on first use, again when a token names a key id we do not know
//! (the IdP rotated its keys), and when the set is older than [`KEYS_MAX_AGE`] (the IdP
//! withdrew a key). Unknown key ids cannot make us hammer the IdP: refetches are at least
//! [`MIN_REFETCH_INTERVAL`] apart.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;
use tokio::sync::{Mutex, RwLock};

/// Every call to the IdP (discovery, keys, the sign-in's token exchange) gives up after this
/// long.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys older than this are refetched before use, so a key the IdP withdrew stops working.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// At most one fetch per this interval, whatever tokens arrive.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(2);

/// The one HTTP client jitgate talks to the IdP with, for sign-in (portal) and bearer checks
/// (here) alike: [`HTTP_TIMEOUT`] on every call, and redirects off, so the IdP cannot bounce
/// jitgate to another address (SSRF) and discovery is fetched exactly where configured.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        // Building a client with a timeout and rustls cannot fail at run time.
        .expect("an HTTP client with default TLS settings")
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdpError {
    #[error("cannot reach the identity provider at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the identity provider's answer at {url} is not usable: {reason}")]
    BadAnswer { url: String, reason: String },
    #[error("the identity provider at {url} says its issuer is {found:?}, not {expected:?}")]
    IssuerMismatch { url: String, expected: String, found: String },
    #[error("the identity provider could not be asked again yet (last attempt failed)")]
    Backoff,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

struct Fetched {
    keys: JwkSet,
    at: Instant,
}

/// The IdP's signing keys, fetched lazily and refreshed as described in the module docs.
pub struct IdpKeys {
    issuer: String,
    /// `None` for a fixed key set that is never fetched.
    http: Option<reqwest::Client>,
    keys: RwLock<Option<Fetched>>,
    /// When keys were last fetched (or tried): serialises fetches and spaces them out.
    last_fetch: Mutex<Option<Instant>>,
}

impl IdpKeys {
    /// Keys of the IdP at `issuer`, exactly as configured (OIDC compares issuers byte for byte:
    /// Authentik's end in `/`), fetched when first needed.
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            http: Some(http_client()),
            keys: RwLock::new(None),
            last_fetch: Mutex::new(None),
        }
    }

    /// Keys that never change and are never fetched: for tests and benchmarks of token checks.
    pub fn fixed(issuer: &str, keys: JwkSet) -> Self {
        Self {
            issuer: issuer.to_owned(),
            http: None,
            keys: RwLock::new(Some(Fetched { keys, at: Instant::now() })),
            last_fetch: Mutex::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key a token names (`kid`; a set of one key also serves a token without one).
    /// `Ok(None)`: the IdP does not have such a key, even after looking again.
    pub async fn key(&self, kid: Option<&str>) -> Result<Option<Jwk>, IdpError> {
        if let Some(found) = self.lookup(kid, false).await {
            return Ok(found);
        }
        self.refetch().await?;
        Ok(self.lookup(kid, true).await.flatten())
    }

    /// `None` when the keys should be fetched before answering.
    async fn lookup(&self, kid: Option<&str>, after_fetch: bool) -> Option<Option<Jwk>> {
        let guard = self.keys.read().await;
        let fetched = guard.as_ref()?;
        let stale = self.http.is_some() && fetched.at.elapsed() > KEYS_MAX_AGE;
        let found = match kid {
            Some(kid) => fetched.keys.find(kid).cloned(),
            None if fetched.keys.keys.len() == 1 => fetched.keys.keys.first().cloned(),
            None => None,
        };
        match found {
            Some(key) if after_fetch || !stale => Some(Some(key)),
            _ if after_fetch => Some(None),
            _ => None,
        }
    }

    /// Fetches the keys unless another fetch just happened (then its result stands).
    async fn refetch(&self) -> Result<(), IdpError> {
        let mut last = self.last_fetch.lock().await;
        if let Some(at) = *last
            && at.elapsed() < MIN_REFETCH_INTERVAL
        {
            return if self.keys.read().await.is_some() { Ok(()) } else { Err(IdpError::Backoff) };
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer, keys = keys.keys.len(), "fetched the IdP's signing keys");
                *self.keys.write().await = Some(Fetched { keys, at: Instant::now() });
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "cannot refresh the IdP's signing keys");
                // Keys we already have stay usable: an IdP blip must not lock everyone out.
                if self.keys.read().await.is_some() { Ok(()) } else { Err(error) }
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, IdpError> {
        let Some(http) = &self.http else {
            let keys = self.keys.read().await;
            return Ok(keys
                .as_ref()
                .map(|fetched| fetched.keys.clone())
                .unwrap_or(JwkSet { keys: Vec::new() }));
        };
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let discovery: Discovery = get_json(http, &url).await?;
        if discovery.issuer != self.issuer {
            return Err(IdpError::IssuerMismatch {
                url,
                expected: self.issuer.clone(),
                found: discovery.issuer,
            });
        }
        get_json(http, &discovery.jwks_uri).await
    }
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, IdpError> {
    let unreachable = |error: reqwest::Error| IdpError::Unreachable {
        url: url.to_owned(),
        reason: error.to_string(),
    };
    let response = http.get(url).send().await.map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(IdpError::Unreachable {
            url: url.to_owned(),
            reason: format!("HTTP {status}"),
        });
    }
    let body = response.bytes().await.map_err(unreachable)?;
    serde_json::from_slice(&body)
        .map_err(|error| IdpError::BadAnswer { url: url.to_owned(), reason: error.to_string() })
}

/// A claim by its exact name (Auth0's namespaced claims are URLs full of dots), or else by a
/// dotted path into nested objects (Keycloak's `realm_access.roles`).
pub fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.get(part))
    })
}
