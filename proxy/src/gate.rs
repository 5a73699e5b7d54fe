//! The per-request access decision: credential (session cookie, IdP or API bearer token) →
//! identity → policy → grant. The proxy runs it on every request; the benchmark runs exactly
//! the same code.

use std::sync::Arc;
use std::time::Duration;

use jitgate_access::api_token::{self, ApiToken};
use jitgate_access::bearer::{BearerError, BearerVerifier};
use jitgate_access::config::Resource;
use jitgate_access::policy::{Access, Identity, Roles};
use jitgate_access::session::{Session, SessionId};
use jitgate_access::time::Timestamp;
use jitgate_access::token::TokenKeys;
use moka::sync::Cache;

use crate::cache::AccessCache;

/// Why a request was let through or not; logged per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decision {
    #[default]
    Undecided,
    UnknownHost,
    /// A request-target or Host with no canonical form (see [`crate::request_path`]).
    BadRequest,
    /// A WebSocket handshake from a page of a foreign origin.
    CrossOrigin,
    Handoff,
    /// For the portal in this process, which checks for itself.
    Portal,
    SignIn,
    /// A bearer token that is not acceptable (the reason is in the verdict).
    BadToken,
    NoAccess,
    Locked,
    Unavailable,
    /// A bearer token's signing keys could not be fetched from the IdP: fails closed.
    IdpUnavailable,
    AllowStanding,
    AllowGrant,
}

impl Decision {
    /// Every decision, in declaration order (`decision as usize` indexes it).
    pub const ALL: [Decision; 14] = [
        Decision::Undecided,
        Decision::UnknownHost,
        Decision::BadRequest,
        Decision::CrossOrigin,
        Decision::Handoff,
        Decision::Portal,
        Decision::SignIn,
        Decision::BadToken,
        Decision::NoAccess,
        Decision::Locked,
        Decision::Unavailable,
        Decision::IdpUnavailable,
        Decision::AllowStanding,
        Decision::AllowGrant,
    ];

    /// The name metrics and logs use (the variant's name), without formatting per request.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Undecided => "Undecided",
            Decision::UnknownHost => "UnknownHost",
            Decision::BadRequest => "BadRequest",
            Decision::CrossOrigin => "CrossOrigin",
            Decision::Handoff => "Handoff",
            Decision::Portal => "Portal",
            Decision::SignIn => "SignIn",
            Decision::BadToken => "BadToken",
            Decision::NoAccess => "NoAccess",
            Decision::Locked => "Locked",
            Decision::Unavailable => "Unavailable",
            Decision::IdpUnavailable => "IdpUnavailable",
            Decision::AllowStanding => "AllowStanding",
            Decision::AllowGrant => "AllowGrant",
        }
    }

    pub fn allows(self) -> bool {
        matches!(self, Decision::AllowStanding | Decision::AllowGrant)
    }
}

/// What a request presents to say who it is.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    None,
    /// The value of jitgate's session cookie.
    Cookie(&'a str),
    /// An `Authorization: Bearer` token: issued by the IdP, or a personal API token (`jgt_…`).
    Bearer(&'a str),
}

/// Who a request comes from, once its credential is verified.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A browser session, shared with the cache rather than copied.
    Session(Arc<Session>),
    /// A script with an IdP token; `token` keys per-token caches such as assertions.
    Bearer { identity: Arc<Identity>, token: Arc<str> },
    /// A script with one of jitgate's personal API tokens (`jgt_…`), acting as its owner with
    /// the groups it was created with; `presented` keys per-token caches.
    ApiToken { token: Arc<ApiToken>, presented: Arc<str> },
}

impl Principal {
    pub fn identity(&self) -> &Identity {
        match self {
            Principal::Session(session) => &session.identity,
            Principal::Bearer { identity, .. } => identity,
            Principal::ApiToken { token, .. } => &token.identity,
        }
    }

    /// Distinguishes principals in caches: the session id, or the token itself.
    pub fn cache_key(&self) -> &str {
        match self {
            Principal::Session(session) => session.id.as_str(),
            Principal::Bearer { token, .. } => token,
            Principal::ApiToken { presented, .. } => presented,
        }
    }

    /// Whether the request authenticated with an `Authorization` header (a token of either
    /// kind), which the upstream must not see.
    pub fn is_token(&self) -> bool {
        !matches!(self, Principal::Session(_))
    }
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub decision: Decision,
    pub principal: Option<Principal>,
    /// When the grant that allowed the request ends (`None` for standing access).
    pub deadline: Option<Timestamp>,
    /// Why a bearer token was refused, for the client.
    pub token_problem: Option<BearerError>,
}

impl Verdict {
    fn only(decision: Decision) -> Self {
        Self { decision, principal: None, deadline: None, token_problem: None }
    }

    fn bad_token(problem: BearerError) -> Self {
        let decision =
            if problem.is_unavailable() { Decision::IdpUnavailable } else { Decision::BadToken };
        Self { token_problem: Some(problem), ..Self::only(decision) }
    }
}

/// Who a verified bearer token names, and until when it may be used.
type VerifiedToken = (Arc<Identity>, Timestamp);

/// Verifies credentials and decides access. The policies and roles it decides by are the
/// request's config snapshot's (see [`crate::live`]), passed to [`Gate::check`]; what it keeps
/// itself (keys, memos of verified credentials) outlives a reload.
pub struct Gate {
    keys: TokenKeys,
    cache: Arc<AccessCache>,
    /// `None` when the identity provider is `local`: there is no IdP to issue tokens.
    bearer: Option<BearerVerifier>,
    /// Cookies already verified (keyed by the cookie, which names its host), with the host,
    /// the session and when they expire. Only genuinely signed cookies get in; it saves the
    /// signature check (half the decision's cost) on every later request.
    verified: Cache<String, (Arc<str>, SessionId, Timestamp)>,
    /// Bearer tokens already verified, likewise: an RSA check costs far more than a lookup.
    verified_tokens: Cache<Arc<str>, VerifiedToken>,
}

/// Verified cookies (and tokens) kept at most: the least useful go first, one at a time.
pub const VERIFIED_MAX: u64 = 100_000;
/// A memo unused this long is dropped (expiry itself is checked on every use).
const VERIFIED_IDLE: Duration = Duration::from_secs(30 * 60);

/// A bounded memo for the hot path.
pub(crate) fn memo<K, V>(capacity: u64) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder().max_capacity(capacity).time_to_idle(VERIFIED_IDLE).build()
}

impl Gate {
    pub fn new(keys: TokenKeys, cache: Arc<AccessCache>, bearer: Option<BearerVerifier>) -> Self {
        Self {
            keys,
            cache,
            bearer,
            verified: memo(VERIFIED_MAX),
            verified_tokens: memo(VERIFIED_MAX),
        }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub fn cache(&self) -> &Arc<AccessCache> {
        &self.cache
    }

    fn verified_cookie(&self, cookie: &str, host: &str, now: Timestamp) -> Option<SessionId> {
        if let Some((for_host, sid, expires_at)) = self.verified.get(cookie)
            && *for_host == *host
        {
            return (now < expires_at).then_some(sid);
        }
        let (sid, expires_at) = self.keys.verify_session_cookie_until(cookie, host, now).ok()?;
        self.verified.insert(cookie.to_owned(), (Arc::from(host), sid.clone(), expires_at));
        Some(sid)
    }

    /// A personal API token: its id looked up (cache, else store), its secret checked against
    /// the stored digest. Unknown, revoked, expired and wrong are one answer to the client.
    async fn api_token(&self, presented: &str, now: Timestamp) -> Result<Principal, Verdict> {
        let rejected = || Verdict::bad_token(BearerError::ApiTokenRejected);
        let (id, secret) = api_token::parse(presented).ok_or_else(rejected)?;
        match self.cache.api_token(id, now).await {
            Ok(Some(token)) if token.accepts(secret, now) => {
                Ok(Principal::ApiToken { token, presented: Arc::from(presented) })
            }
            Ok(_) => Err(rejected()),
            Err(error) => {
                tracing::warn!(%error, "cannot look up an API token");
                Err(Verdict::only(Decision::Unavailable))
            }
        }
    }

    async fn verified_token(&self, token: &str, now: Timestamp) -> Result<Principal, BearerError> {
        if let Some((identity, expires_at)) = self.verified_tokens.get(token)
            && now < expires_at
        {
            return Ok(Principal::Bearer { identity, token: Arc::from(token) });
        }
        let Some(verifier) = &self.bearer else {
            return Err(BearerError::NotAccepted);
        };
        let verified = verifier.verify(token, now).await?;
        let identity = Arc::new(verified.identity);
        let token: Arc<str> = Arc::from(token);
        self.verified_tokens.insert(token.clone(), (identity.clone(), verified.expires_at));
        Ok(Principal::Bearer { identity, token })
    }

    async fn principal(
        &self,
        credential: Credential<'_>,
        host: &str,
        now: Timestamp,
    ) -> Result<Principal, Verdict> {
        let cookie = match credential {
            Credential::None => return Err(Verdict::only(Decision::SignIn)),
            Credential::Bearer(token) if token.starts_with(api_token::PREFIX) => {
                return self.api_token(token, now).await;
            }
            Credential::Bearer(token) => {
                return self.verified_token(token, now).await.map_err(Verdict::bad_token);
            }
            Credential::Cookie(cookie) => cookie,
        };
        let Some(sid) = self.verified_cookie(cookie, host, now) else {
            return Err(Verdict::only(Decision::SignIn));
        };
        match self.cache.session(&sid, now).await {
            Ok(Some(session)) => Ok(Principal::Session(session)),
            Ok(None) => Err(Verdict::only(Decision::SignIn)),
            Err(error) => {
                tracing::warn!(%error, "cannot look up a session");
                Err(Verdict::only(Decision::Unavailable))
            }
        }
    }

    /// Decides on a request for `resource` on `host` presenting `credential`, with the global
    /// `roles` of the same config as `resource`. A forged,
    /// expired, tampered or foreign cookie counts as no session; a bad bearer token is refused
    /// with its reason; a store or IdP that cannot be reached fails closed for anything that
    /// needs a grant or a token.
    pub async fn check(
        &self,
        credential: Credential<'_>,
        host: &str,
        resource: &Resource,
        roles: &Roles,
        now: Timestamp,
    ) -> Verdict {
        let principal = match self.principal(credential, host, now).await {
            Ok(principal) => principal,
            Err(verdict) => return verdict,
        };
        let identity = principal.identity();
        let (decision, deadline) = match resource.policy.resolve(roles, identity) {
            Access::NoAccess => (Decision::NoAccess, None),
            Access::Standing { .. } => (Decision::AllowStanding, None),
            Access::Jit { .. } => {
                match self.cache.grant_expiry(&identity.user, &resource.name, now).await {
                    Ok(Some(expires_at)) => (Decision::AllowGrant, Some(expires_at)),
                    Ok(None) => (Decision::Locked, None),
                    Err(error) => {
                        tracing::warn!(%error, "cannot check a grant; failing closed");
                        (Decision::Unavailable, None)
                    }
                }
            }
        };
        Verdict { decision, principal: Some(principal), deadline, token_problem: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_variant_names_metrics_always_used() {
        for (index, decision) in Decision::ALL.into_iter().enumerate() {
            assert_eq!(decision.label(), format!("{decision:?}"));
            assert_eq!(decision as usize, index, "ALL is in declaration order");
        }
    }

    /// The memos stay within their capacity by evicting entries one by one, never by
    /// clearing everything (which made every session re-verify at once when full).
    #[test]
    fn memos_are_bounded_without_starting_over() {
        let memo: Cache<u64, u64> = memo(1_000);
        for key in 0..10_000 {
            memo.insert(key, key);
            if key % 1_000 == 0 {
                memo.run_pending_tasks();
            }
        }
        memo.run_pending_tasks();
        let held = memo.entry_count();
        assert!(held <= 1_000, "{held} entries held");
        assert!(held >= 500, "eviction is gradual, not a reset: {held} left");
    }
}
