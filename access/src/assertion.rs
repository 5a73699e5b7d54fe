//! The signed assertion every proxied request carries, so an upstream can verify who the user
//! is without trusting the network (like Cloudflare Access's `Cf-Access-Jwt-Assertion` or
//! Pomerium's `X-Pomerium-Jwt-Assertion`).
//!
//! ES256 under a P-256 key derived from the session secret: every instance of a deployment
//! signs with the same key without more configuration, and rotating the secret rotates it.
//! The public half is published as a JWKS by the portal.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::keys::{self, Purpose};
use crate::policy::Identity;
use crate::time::Timestamp;

/// How long an assertion is valid: long enough to reuse across a burst of requests, short
/// enough that a leaked one is soon worthless.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

pub struct AssertionSigner {
    key: Es256Key,
    issuer: String,
}

/// A P-256 signing key derived from a secret, with its public half as a JWK.
///
/// Signs JWS compact tokens itself, with the key ready: `jsonwebtoken::encode` rebuilds the
/// key from PKCS#8 on every call, which was 38% of a proxy's CPU when every request needed a
/// fresh assertion (100 000 users, `benches/load/figures`).
pub(crate) struct Es256Key {
    signing: SigningKey,
    /// `{"typ":"JWT","alg":"ES256","kid":…}`, base64url-encoded once.
    header: String,
    #[cfg_attr(not(test), allow(dead_code))]
    pub kid: String,
    pub jwk: serde_json::Value,
}

impl Es256Key {
    pub fn derive(secret: &[u8], purpose: Purpose) -> Self {
        let mut n = 0u32;
        // A derived key is a valid P-256 scalar with overwhelming probability; try the next
        // on the one-in-2^32 chance it is not.
        let secret_key = loop {
            if let Ok(key) = p256::SecretKey::from_slice(&keys::derive_nth(secret, purpose, n)) {
                break key;
            }
            n += 1;
        };
        let point = secret_key.public_key().to_encoded_point(false);
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(point.x().map_or(&[][..], |x| x.as_slice())),
            URL_SAFE_NO_PAD.encode(point.y().map_or(&[][..], |y| y.as_slice())),
        );
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(format!("{x}.{y}"))[..12]);
        let jwk = serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": kid });
        let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "kid": kid });
        Self {
            signing: SigningKey::from(&secret_key),
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            kid,
            jwk,
        }
    }

    /// `claims` signed with this key, its `kid` in the header (RFC 7515 compact form; the
    /// ES256 signature is r ‖ s, RFC 7518 §3.4).
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        // Claims made of strings and numbers always serialise.
        let claims = serde_json::to_vec(claims).unwrap_or_default();
        let mut token = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(claims));
        let signature: Signature = self.signing.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        token
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    email: &'a str,
    groups: Vec<&'a str>,
    iat: i64,
    exp: i64,
}

impl AssertionSigner {
    /// The signer for a deployment with this session secret, issuing as `issuer` (the portal).
    pub fn from_secret(secret: &[u8], issuer: &str) -> Self {
        Self { key: Es256Key::derive(secret, Purpose::AssertionSigning), issuer: issuer.to_owned() }
    }

    /// A signed statement that `identity` is making a request to `audience` (the resource host).
    pub fn sign(&self, identity: &Identity, audience: &str, now: Timestamp) -> (String, Timestamp) {
        let expires_at = now.plus(ASSERTION_LIFETIME);
        let claims = Claims {
            iss: &self.issuer,
            aud: audience,
            sub: identity.user.as_str(),
            email: identity.user.as_str(),
            groups: identity.groups.iter().map(|g| g.as_str()).collect(),
            iat: now.as_millis() / 1000,
            exp: expires_at.as_millis() / 1000,
        };
        (self.key.sign(&claims), expires_at)
    }

    /// The JWKS document upstreams verify assertions with.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.key.jwk] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};

    #[test]
    fn an_assertion_verifies_against_the_published_key_and_nothing_else() {
        let signer = AssertionSigner::from_secret(
            b"a-deployment-secret-a-deployment-secret",
            "https://access.example.com",
        );
        let same = AssertionSigner::from_secret(
            b"a-deployment-secret-a-deployment-secret",
            "https://access.example.com",
        );
        assert_eq!(signer.jwks(), same.jwks(), "every instance derives the same key");
        let identity = Identity::new("ada@example.com".parse().unwrap(), ["ops".parse().unwrap()]);
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let (token, _) = signer.sign(&identity, "grafana.example.com", now);

        let jwks: JwkSet = serde_json::from_value(signer.jwks()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.kid),
            (Algorithm::ES256, jwks.keys[0].common.key_id.clone())
        );
        let key = DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["grafana.example.com"]);
        validation.set_issuer(&["https://access.example.com"]);
        let claims =
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap().claims;
        assert_eq!(claims["email"], "ada@example.com");
        assert_eq!(claims["groups"], serde_json::json!(["ops"]));

        let other = AssertionSigner::from_secret(
            b"another-secret-another-secret-another",
            "https://access.example.com",
        );
        let other_jwks: JwkSet = serde_json::from_value(other.jwks()).unwrap();
        let other_key = DecodingKey::from_jwk(&other_jwks.keys[0]).unwrap();
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&token, &other_key, &validation).is_err()
        );
        validation.set_audience(&["other.example.com"]);
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).is_err(),
            "bound to its host"
        );
    }
}
