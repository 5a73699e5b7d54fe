//! The per-request access decision: session cookie → identity → policy → grant. The proxy
//! runs it on every request; the benchmark runs exactly the same code.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jitgate_access::config::Resource;
use jitgate_access::policy::{Access, Roles};
use jitgate_access::session::{Session, SessionId};
use jitgate_access::time::Timestamp;
use jitgate_access::token::TokenKeys;

use crate::cache::AccessCache;

/// Why a request was let through or not; logged per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decision {
    #[default]
    Undecided,
    UnknownHost,
    Handoff,
    SignIn,
    NoAccess,
    Locked,
    Unavailable,
    AllowStanding,
    AllowGrant,
}

impl Decision {
    pub fn allows(self) -> bool {
        matches!(self, Decision::AllowStanding | Decision::AllowGrant)
    }
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub decision: Decision,
    /// The signed-in session, shared with the cache rather than copied.
    pub session: Option<Arc<Session>>,
    /// When the grant that allowed the request ends (`None` for standing access).
    pub deadline: Option<Timestamp>,
}

impl Verdict {
    fn only(decision: Decision) -> Self {
        Self { decision, session: None, deadline: None }
    }
}

pub struct Gate {
    keys: TokenKeys,
    roles: Roles,
    cache: Arc<AccessCache>,
    /// Cookies already verified, with the session they name and when they expire. Only
    /// genuinely signed cookies get in, so the map is bounded by real sessions × hosts; it
    /// saves the signature check (half the decision's cost) on every later request.
    verified: RwLock<HashMap<(String, String), (SessionId, Timestamp)>>,
}

/// Verified cookies kept at most; past this the memo starts over (a rare, cheap reset).
const VERIFIED_COOKIES_MAX: usize = 100_000;

impl Gate {
    pub fn new(keys: TokenKeys, roles: Roles, cache: Arc<AccessCache>) -> Self {
        Self { keys, roles, cache, verified: RwLock::default() }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub fn cache(&self) -> &Arc<AccessCache> {
        &self.cache
    }

    fn verified_cookie(&self, cookie: &str, host: &str, now: Timestamp) -> Option<SessionId> {
        let key = (host.to_owned(), cookie.to_owned());
        let remembered = self.verified.read().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        if let Some((sid, expires_at)) = remembered {
            return (now < expires_at).then_some(sid);
        }
        let (sid, expires_at) = self.keys.verify_session_cookie_until(cookie, host, now).ok()?;
        let mut verified = self.verified.write().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_COOKIES_MAX {
            verified.clear();
        }
        verified.insert(key, (sid.clone(), expires_at));
        Some(sid)
    }

    /// Decides on a request for `resource` on `host` carrying `session_cookie`. A forged,
    /// expired, tampered or foreign cookie counts as no session; a store that cannot be reached
    /// fails closed for anything that needs a grant.
    pub async fn check(
        &self,
        session_cookie: Option<&str>,
        host: &str,
        resource: &Resource,
        now: Timestamp,
    ) -> Verdict {
        let Some(sid) = session_cookie.and_then(|cookie| self.verified_cookie(cookie, host, now))
        else {
            return Verdict::only(Decision::SignIn);
        };
        let session = match self.cache.session(&sid, now).await {
            Ok(Some(session)) => session,
            Ok(None) => return Verdict::only(Decision::SignIn),
            Err(error) => {
                tracing::warn!(%error, "cannot look up a session");
                return Verdict::only(Decision::Unavailable);
            }
        };
        let identity = &session.identity;
        let (decision, deadline) = match resource.policy.resolve(&self.roles, identity) {
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
        Verdict { decision, session: Some(session), deadline }
    }
}
