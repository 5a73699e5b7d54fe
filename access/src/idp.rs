//! What jitgate learns from the OpenID provider while running: its discovery document and the
//! keys it signs tokens with. [`IdpClient`] is the one owner of both in a process: the portal's
//! sign-in (which builds its `openidconnect` client from the same document and keys) and the
//! bearer checks of the proxy and the API read them from here, so they share one HTTP client
//! (one timeout, redirects off), one cache and one refresh rule.
//!
//! Nothing here runs at start-up by itself: an IdP that is down when jitgate starts must not
//! stop the proxy, it only makes IdP-issued tokens unverifiable (and those requests fail closed)
//! until it is back. (The portal asks once at start, so a misconfigured issuer is reported
//! then.) The document and keys are fetched on first use, again when a token names a key id we
//! do not know (the IdP rotated its keys), and when they are older than [`KEYS_MAX_AGE`] (the
//! IdP withdrew a key). Unknown key ids cannot make us hammer the IdP: fetches are at least
//! [`MIN_REFETCH_INTERVAL`] apart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;
use tokio::sync::{Mutex, RwLock};

/// Every call to the IdP (discovery, keys, the sign-in's token exchange and userinfo) gives up
/// after this long.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// A document and keys older than this are refetched before use, so a key the IdP withdrew
/// stops working.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// At most one fetch per this interval, whatever tokens arrive.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(2);

/// The one HTTP client jitgate talks to the IdP with: [`HTTP_TIMEOUT`] on every call, and
/// redirects off, so the IdP cannot bounce jitgate to another address (SSRF) and discovery is
/// fetched exactly where configured.
fn http_client() -> reqwest::Client {
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

/// The fields of the discovery document this module needs itself; the rest is kept as
/// received for the sign-in.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// One fetch of the IdP: its discovery document and key set, as it served them.
#[derive(Debug)]
pub struct Snapshot {
    /// The discovery document (`/.well-known/openid-configuration`), its issuer checked.
    pub discovery: Map<String, Value>,
    /// The key set at the document's `jwks_uri`, as JSON (for `openidconnect`).
    pub jwks: Value,
    /// The same keys, parsed (for bearer checks).
    keys: JwkSet,
    /// Counts fetches: a reader that built something from a snapshot rebuilds when it changes.
    pub generation: u64,
    at: Instant,
}

impl Snapshot {
    /// The key a token names (`kid`; a set of one key also serves a token without one).
    fn key(&self, kid: Option<&str>) -> Option<Jwk> {
        match kid {
            Some(kid) => self.keys.find(kid).cloned(),
            None if self.keys.keys.len() == 1 => self.keys.keys.first().cloned(),
            None => None,
        }
    }
}

/// The IdP's discovery document and signing keys, fetched lazily and refreshed as described in
/// the module docs. One per process, shared behind an `Arc`.
pub struct IdpClient {
    issuer: String,
    /// `None` for a fixed key set that is never fetched.
    http: Option<reqwest::Client>,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// When the IdP was last asked (or tried): serialises fetches and spaces them out.
    last_fetch: Mutex<Option<Instant>>,
}

impl IdpClient {
    /// The IdP at `issuer`, exactly as configured (OIDC compares issuers byte for byte:
    /// Authentik's end in `/`), asked when first needed.
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            http: Some(http_client()),
            current: RwLock::new(None),
            last_fetch: Mutex::new(None),
        }
    }

    /// Keys that never change and are never fetched: for tests and benchmarks of token checks.
    pub fn fixed(issuer: &str, keys: JwkSet) -> Self {
        let mut discovery = Map::new();
        discovery.insert("issuer".into(), Value::String(issuer.to_owned()));
        let snapshot = Snapshot {
            discovery,
            jwks: serde_json::to_value(&keys).unwrap_or(Value::Null),
            keys,
            generation: 1,
            at: Instant::now(),
        };
        Self {
            issuer: issuer.to_owned(),
            http: None,
            current: RwLock::new(Some(Arc::new(snapshot))),
            last_fetch: Mutex::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The HTTP client every call to this IdP goes through (the sign-in's token exchange and
    /// userinfo too), so they all have the same timeout and redirect rule.
    pub fn http(&self) -> reqwest::Client {
        self.http.clone().unwrap_or_else(http_client)
    }

    /// The document and keys, fetched first when there are none yet or they are older than
    /// [`KEYS_MAX_AGE`] (an IdP that fails then leaves the old ones in use).
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, IdpError> {
        if let Some(snapshot) = self.current.read().await.clone()
            && (self.http.is_none() || snapshot.at.elapsed() <= KEYS_MAX_AGE)
        {
            return Ok(snapshot);
        }
        self.refetch().await
    }

    /// Asks the IdP again (a token named a key `seen` did not have), unless a fetch happened
    /// moments ago: then that fetch's result stands.
    pub async fn refreshed(&self, seen: &Snapshot) -> Result<Arc<Snapshot>, IdpError> {
        if let Some(snapshot) = self.current.read().await.clone()
            && snapshot.generation != seen.generation
        {
            return Ok(snapshot);
        }
        self.refetch().await
    }

    /// The key a token names (`kid`; a set of one key also serves a token without one).
    /// `Ok(None)`: the IdP does not have such a key, even after looking again.
    pub async fn key(&self, kid: Option<&str>) -> Result<Option<Jwk>, IdpError> {
        let snapshot = self.snapshot().await?;
        if let Some(key) = snapshot.key(kid) {
            return Ok(Some(key));
        }
        Ok(self.refreshed(&snapshot).await?.key(kid))
    }

    /// Fetches unless another fetch just happened; what is current afterwards.
    async fn refetch(&self) -> Result<Arc<Snapshot>, IdpError> {
        let mut last = self.last_fetch.lock().await;
        let have = self.current.read().await.clone();
        let recent = last.is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL);
        let Some(http) = self.http.as_ref().filter(|_| !recent) else {
            return have.ok_or(IdpError::Backoff);
        };
        *last = Some(Instant::now());
        match self.fetch(http).await {
            Ok((discovery, jwks, keys)) => {
                tracing::info!(issuer = %self.issuer, keys = keys.keys.len(), "fetched the IdP's discovery document and signing keys");
                let generation = have.as_ref().map_or(1, |old| old.generation + 1);
                let snapshot =
                    Arc::new(Snapshot { discovery, jwks, keys, generation, at: Instant::now() });
                *self.current.write().await = Some(snapshot.clone());
                Ok(snapshot)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot refresh the IdP's discovery document and keys");
                // What we already have stays usable: an IdP blip must not lock everyone out.
                have.ok_or(error)
            }
        }
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
    ) -> Result<(Map<String, Value>, Value, JwkSet), IdpError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let document: Map<String, Value> = get_json(http, &url).await?;
        let discovery: Discovery = serde_json::from_value(Value::Object(document.clone()))
            .map_err(|error| IdpError::BadAnswer { url: url.clone(), reason: error.to_string() })?;
        if discovery.issuer != self.issuer {
            return Err(IdpError::IssuerMismatch {
                url,
                expected: self.issuer.clone(),
                found: discovery.issuer,
            });
        }
        let jwks: Value = get_json(http, &discovery.jwks_uri).await?;
        let keys = serde_json::from_value(jwks.clone()).map_err(|error| IdpError::BadAnswer {
            url: discovery.jwks_uri.clone(),
            reason: error.to_string(),
        })?;
        Ok((document, jwks, keys))
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
