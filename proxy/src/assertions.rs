//! Assertions for upstreams, reused while fresh: signing costs far more than the rest of a
//! request's decision, and one token per session (or bearer token) and host serves a burst of requests.

use std::time::Duration;

use jitgate_access::assertion::AssertionSigner;
use jitgate_access::time::Timestamp;

use moka::sync::Cache;

use crate::gate::{Principal, memo};

/// A cached assertion is replaced once less than this is left of its lifetime.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(30);
/// Tokens kept at most: the least useful go first, one at a time.
const MAX_CACHED: u64 = 100_000;

pub struct Assertions {
    signer: AssertionSigner,
    tokens: Cache<(String, String), (String, Timestamp)>,
}

impl Assertions {
    pub fn new(signer: AssertionSigner) -> Self {
        Self { signer, tokens: memo(MAX_CACHED) }
    }

    pub fn signer(&self) -> &AssertionSigner {
        &self.signer
    }

    /// The assertion for `principal` on `host`, signed anew only when the cached one is stale.
    pub fn for_request(&self, principal: &Principal, host: &str, now: Timestamp) -> String {
        let key = (principal.cache_key().to_owned(), host.to_owned());
        if let Some((token, expires_at)) = self.tokens.get(&key)
            && now.until(expires_at) > REFRESH_BEFORE_EXPIRY
        {
            return token;
        }
        let (token, expires_at) = self.signer.sign(principal.identity(), host, now);
        self.tokens.insert(key, (token.clone(), expires_at));
        token
    }
}
