//! Every key jitgate derives from the session secret, through one function: HKDF-SHA256
//! (RFC 5869) with the secret as input keying material and a named [`Purpose`] as `info`, so
//! no two uses ever share a key and a new use cannot invent its own scheme.
//!
//! Changing a purpose's label changes that key: every token signed under the old one stops
//! verifying. The labels end in a version for that reason.

use hkdf::Hkdf;
use sha2::Sha256;

/// What a derived key is for; each purpose has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// HS256 key of the session cookie ([`crate::token`]).
    SessionCookie,
    /// HS256 key of the handoff token ([`crate::token`]).
    Handoff,
    /// HMAC key of the portal's CSRF tokens.
    Csrf,
    /// HS256 key of the OIDC sign-in flow cookie (state, nonce, PKCE verifier).
    OidcFlow,
    /// Seed of the P-256 key that signs upstream assertions ([`crate::assertion`]).
    AssertionSigning,
    /// HS256 key of the portal's form-draft cookie (a refused form's values and errors).
    FormDraft,
    /// HS256 key of the portal's flash-message cookie.
    Flash,
}

impl Purpose {
    pub const ALL: [Purpose; 7] = [
        Purpose::SessionCookie,
        Purpose::Handoff,
        Purpose::Csrf,
        Purpose::OidcFlow,
        Purpose::AssertionSigning,
        Purpose::FormDraft,
        Purpose::Flash,
    ];

    /// The HKDF `info` label.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::SessionCookie => "jitgate session cookie v2",
            Purpose::Handoff => "jitgate handoff v2",
            Purpose::Csrf => "jitgate csrf v2",
            Purpose::OidcFlow => "jitgate oidc flow v2",
            Purpose::AssertionSigning => "jitgate assertion key v2",
            Purpose::FormDraft => "jitgate form draft v1",
            Purpose::Flash => "jitgate flash v1",
        }
    }
}

/// The key for `purpose` under `secret`.
pub fn derive(secret: &[u8], purpose: Purpose) -> [u8; 32] {
    derive_nth(secret, purpose, 0)
}

/// The `n`th candidate key for `purpose`, for keys that must meet a condition the first may
/// miss (a P-256 scalar must be below the group order); `n = 0` is [`derive`]'s key.
pub fn derive_nth(secret: &[u8], purpose: Purpose, n: u32) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(None, secret);
    let mut key = [0u8; 32];
    let label = purpose.label().as_bytes();
    let result = if n == 0 {
        hkdf.expand(label, &mut key)
    } else {
        hkdf.expand_multi_info(&[label, b"\0", &n.to_be_bytes()], &mut key)
    };
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
    result.expect("HKDF expands to 32 bytes");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purpose_has_its_own_key() {
        let secret = b"a-test-secret-that-is-long-enough-0123456789";
        let keys: std::collections::HashSet<_> =
            Purpose::ALL.iter().map(|p| derive(secret, *p)).collect();
        assert_eq!(keys.len(), Purpose::ALL.len());
        assert_ne!(derive(secret, Purpose::Csrf), derive(b"another secret", Purpose::Csrf));
        assert_ne!(derive(secret, Purpose::Csrf), derive_nth(secret, Purpose::Csrf, 1));
    }

    #[test]
    fn matches_rfc_5869_hkdf_sha256() {
        // RFC 5869 A.3 (no salt, no info), first 32 bytes; with our info the same construction.
        let ikm = [0x0bu8; 22];
        let hkdf = Hkdf::<Sha256>::new(None, &ikm);
        let mut okm = [0u8; 32];
        hkdf.expand(&[], &mut okm).unwrap();
        assert_eq!(okm[..8], [0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f]);
    }
}
