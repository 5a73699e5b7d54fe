//! Assertions for upstreams, reused while fresh: signing costs far more than the rest of a
//! request's decision, and one token per session (or bearer token) and host serves a burst of
//! requests. What is kept is the upstream's view of the user as ready header values (the
//! assertion, the user, the groups), shared by every request rather than copied into each.

use std::time::Duration;

use jitgate_access::assertion::AssertionSigner;
use jitgate_access::time::Timestamp;

use moka::sync::Cache;

use crate::gate::{Principal, memo};
use crate::upstream_headers::IdentityValues;

/// A cached assertion is replaced once less than this is left of its lifetime.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(30);
/// Tokens kept at most: the least useful go first, one at a time.
const MAX_CACHED: u64 = 100_000;
/// Keys up to this long are looked up from the stack; longer ones (bearer tokens) allocate.
const STACK_KEY: usize = 320;

pub struct Assertions {
    signer: AssertionSigner,
    /// Keyed by `principal key \n host` in one allocation: neither a session id, a bearer
    /// token nor a host can hold a line break, so no two pairs share a key.
    tokens: Cache<Box<str>, (IdentityValues, Timestamp)>,
}

impl Assertions {
    pub fn new(signer: AssertionSigner) -> Self {
        Self { signer, tokens: memo(MAX_CACHED) }
    }

    pub fn signer(&self) -> &AssertionSigner {
        &self.signer
    }

    /// The identity values for `principal` on `host`, signed anew only when the cached
    /// assertion is stale. `None` only if they cannot be header values (see
    /// [`IdentityValues::new`]).
    pub fn for_request(
        &self,
        principal: &Principal,
        host: &str,
        now: Timestamp,
    ) -> Option<IdentityValues> {
        let principal_key = principal.cache_key();
        let length = principal_key.len() + 1 + host.len();
        let mut stack = [0u8; STACK_KEY];
        let cached = match stack.get_mut(..length) {
            Some(key) => {
                key[..principal_key.len()].copy_from_slice(principal_key.as_bytes());
                key[principal_key.len()] = b'\n';
                key[principal_key.len() + 1..].copy_from_slice(host.as_bytes());
                std::str::from_utf8(key).ok().and_then(|key| self.tokens.get(key))
            }
            None => self.tokens.get(format!("{principal_key}\n{host}").as_str()),
        };
        if let Some((values, expires_at)) = cached
            && now.until(expires_at) > REFRESH_BEFORE_EXPIRY
        {
            return Some(values);
        }
        let (token, expires_at) = self.signer.sign(principal.identity(), host, now);
        let values = IdentityValues::new(principal.identity(), token)?;
        let key = format!("{principal_key}\n{host}").into_boxed_str();
        self.tokens.insert(key, (values.clone(), expires_at));
        Some(values)
    }
}
