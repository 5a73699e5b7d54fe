//! Personal API tokens: how scripts and the `jitgate` CLI reach the JSON API without an IdP
//! token (the quickstart's local users have none). A token is created in the portal by a
//! signed-in user, shown once, and presented as `Authorization: Bearer jgt_<id>_<secret>`.
//!
//! The store keeps only a SHA-256 digest of the secret (32 random bytes: a fast hash is enough,
//! nothing to brute-force), the owner's identity and groups at creation, a name and an expiry.
//! A token acts as that identity until it expires or is revoked (by its owner or an admin);
//! group changes at the IdP after its creation do not reach it, which is why its lifetime is
//! bounded by [`MAX_LIFETIME`].

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::TokenId;
use crate::policy::Identity;
use crate::time::Timestamp;

/// What every token starts with, so a leaked one is recognisable (secret scanners) and the API
/// can tell it from an IdP token without trying both.
pub const PREFIX: &str = "jgt_";
/// The longest a token may live.
pub const MAX_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// The longest name kept.
pub const MAX_NAME: usize = 80;
const SECRET_BYTES: usize = 32;

/// A token as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    /// What the owner called it ("laptop CLI").
    pub name: String,
    /// Who it acts as: the owner and their groups when it was created.
    pub identity: Identity,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Hex SHA-256 of the secret.
    digest: String,
}

impl ApiToken {
    /// A new token for `identity`; the token as stored and the string to show the owner once.
    pub fn issue(
        id: TokenId,
        name: &str,
        identity: &Identity,
        now: Timestamp,
        lifetime: Duration,
    ) -> (Self, String) {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let token = Self {
            id,
            name: name.trim().chars().take(MAX_NAME).collect(),
            identity: identity.clone(),
            created_at: now,
            expires_at: now.plus(lifetime.min(MAX_LIFETIME)),
            digest: digest(&secret),
        };
        (token, format!("{PREFIX}{id}_{secret}"))
    }

    /// Whether `secret` is this token's and it is still valid at `now`.
    pub fn accepts(&self, secret: &str, now: Timestamp) -> bool {
        now < self.expires_at && constant_time_eq(digest(secret).as_bytes(), self.digest.as_bytes())
    }
}

/// `jgt_<id>_<secret>` → its id and secret; `None` when it is not shaped like one of ours.
pub fn parse(presented: &str) -> Option<(TokenId, &str)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let valid = URL_SAFE_NO_PAD.decode(secret).is_ok_and(|bytes| bytes.len() == SECRET_BYTES);
    valid.then_some(())?;
    Some((id.parse().ok()?, secret))
}

fn digest(secret: &str) -> String {
    use std::fmt::Write;
    // Checked on every request a token makes through the proxy: one allocation, not one per byte.
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(secret.as_bytes()) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Equal bytes, compared without stopping at the first difference (secrets, states).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    #[test]
    fn a_token_is_shown_once_and_checked_by_its_digest() {
        let now = Timestamp::from_millis(1_000);
        let who = Identity::new("a@x.io".parse().unwrap(), ["sre".parse().unwrap()]);
        let id = TokenId::from(IdGenerator::new().next(now));
        let (token, shown) = ApiToken::issue(id, "  laptop  ", &who, now, Duration::from_secs(60));
        assert_eq!(token.name, "laptop");
        assert!(
            !serde_json::to_string(&token).unwrap().contains(shown.rsplit('_').next().unwrap())
        );
        let (parsed, secret) = parse(&shown).unwrap();
        assert_eq!(parsed, id);
        assert!(token.accepts(secret, now));
        assert!(!token.accepts(secret, token.expires_at), "expired");
        let mut wrong = secret.to_owned();
        wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
        assert!(!token.accepts(&wrong, now));
        for bad in ["", "jgt_", "jgt_x_y", &shown[..shown.len() - 1], "Bearer x", &shown[4..]] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let (long, _) = ApiToken::issue(id, "x", &who, now, Duration::from_secs(1 << 40));
        assert_eq!(long.expires_at, now.plus(MAX_LIFETIME));
    }
}
