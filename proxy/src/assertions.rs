//! Assertions for upstreams, reused while fresh: signing costs far more than the rest of a
//! request's decision, and one token per session (or bearer token) and host serves a burst of requests.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use jitgate_access::assertion::AssertionSigner;
use jitgate_access::time::Timestamp;

use crate::gate::Principal;

/// A cached assertion is replaced once less than this is left of its lifetime.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(30);
/// Tokens kept at most; past this the cache starts over.
const MAX_CACHED: usize = 100_000;

pub struct Assertions {
    signer: AssertionSigner,
    tokens: RwLock<HashMap<(String, String), (String, Timestamp)>>,
}

impl Assertions {
    pub fn new(signer: AssertionSigner) -> Self {
        Self { signer, tokens: RwLock::default() }
    }

    pub fn signer(&self) -> &AssertionSigner {
        &self.signer
    }

    /// The assertion for `principal` on `host`, signed anew only when the cached one is stale.
    pub fn for_request(&self, principal: &Principal, host: &str, now: Timestamp) -> String {
        let key = (principal.cache_key().to_owned(), host.to_owned());
        if let Some((token, expires_at)) =
            self.tokens.read().unwrap_or_else(|p| p.into_inner()).get(&key)
            && now.until(*expires_at) > REFRESH_BEFORE_EXPIRY
        {
            return token.clone();
        }
        let (token, expires_at) = self.signer.sign(principal.identity(), host, now);
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        if tokens.len() >= MAX_CACHED {
            tokens.clear();
        }
        tokens.insert(key, (token.clone(), expires_at));
        token
    }
}
