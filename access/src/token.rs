//! The two signed tokens between portal, proxy and browser:
//!
//! - the **session cookie**: names a server-side [`Session`](crate::session::Session) and the
//!   host it was issued for, nothing else, so it stays small whatever the user's groups;
//! - the **handoff token**: how a resource host, possibly on an unrelated domain, learns that
//!   the portal signed someone in. It is short-lived (60 s), bound to one host, single-use
//!   (its `jti` is claimed in the store by the proxy that redeems it), and bound to the browser
//!   that started the sign-in: it carries the digest of the sign-in state cookie the proxy set
//!   on the resource host ([`state_digest`]), and the proxy redeems it only for a browser that
//!   presents that cookie. Without that binding, a signed-in attacker could mint a handoff link
//!   for themselves and make any browser that opens it act as them (login CSRF).
//!
//! Both are HS256 JWTs under different keys derived from the session secret ([`crate::keys`]), so one can never
//! be passed off as the other. Expiry is checked against the injected clock, not the system's.

use std::collections::HashSet;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::keys::{self, Purpose};
use crate::session::SessionId;
use crate::time::Timestamp;

/// How long a handoff token may travel from the portal to the resource host.
pub const HANDOFF_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token was issued for another host")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
}

struct KeyPair {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl KeyPair {
    fn derive(secret: &[u8], purpose: Purpose) -> Self {
        let key = keys::derive(secret, purpose);
        Self { encoding: EncodingKey::from_secret(&key), decoding: DecodingKey::from_secret(&key) }
    }
}

pub struct TokenKeys {
    session: KeyPair,
    handoff: KeyPair,
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionClaims {
    sid: SessionId,
    aud: String,
    exp: i64,
}

/// What a handoff token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffClaims {
    pub sid: SessionId,
    /// The resource host that may redeem it.
    pub aud: String,
    pub exp: i64,
    /// Unique id, claimed once in the store on redemption.
    pub jti: String,
    /// Where to send the browser after the cookie is set (a path on `aud`).
    pub rd: String,
    /// [`state_digest`] of the sign-in state cookie of the browser this token is for.
    pub state: String,
}

/// The digest of a sign-in state (the cookie's value), as it travels through the portal and
/// the handoff token: URL-safe, and useless for forging the cookie it stands for.
pub fn state_digest(state: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(state.as_bytes()))
}

/// A fresh sign-in state for a browser's state cookie: 256 random bits, URL-safe.
pub fn new_sign_in_state() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    // The OS random source failing leaves no safe way on; an all-zero state would be shared.
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a state cookie's value looks like one [`new_sign_in_state`] made, so it can be
/// reused across tabs rather than replaced (which would break the other tab's sign-in).
pub fn is_sign_in_state(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `state` (a cookie's value) is the one `digest` stands for, in constant time.
pub fn state_matches(state: &str, digest: &str) -> bool {
    let expected = state_digest(state);
    expected.len() == digest.len()
        && expected.bytes().zip(digest.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

impl HandoffClaims {
    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_millis(self.exp.saturating_mul(1000))
    }
}

fn seconds(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(1000)
}

fn check_expiry(exp: i64, now: Timestamp) -> Result<(), TokenError> {
    if now.as_millis() >= exp.saturating_mul(1000) { Err(TokenError::Expired) } else { Ok(()) }
}

fn validation(audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims = HashSet::from(["exp".to_owned(), "aud".to_owned()]);
    validation.set_audience(&[audience]);
    validation
}

fn classify(error: jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        _ => TokenError::Malformed,
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            session: KeyPair::derive(secret, Purpose::SessionCookie),
            handoff: KeyPair::derive(secret, Purpose::Handoff),
        }
    }

    /// The cookie value for `sid` on `host`, valid until `expires_at` (rounded down to the second).
    pub fn session_cookie(&self, sid: &SessionId, host: &str, expires_at: Timestamp) -> String {
        let claims =
            SessionClaims { sid: sid.clone(), aud: host.to_owned(), exp: seconds(expires_at) };
        // Signing HS256 with an in-memory key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.session.encoding)
            .unwrap_or_default()
    }

    /// The session a cookie presented on `host` names, if the cookie is genuine, meant for this
    /// host and not expired.
    pub fn verify_session_cookie(
        &self,
        cookie: &str,
        host: &str,
        now: Timestamp,
    ) -> Result<SessionId, TokenError> {
        self.verify_session_cookie_until(cookie, host, now).map(|(sid, _)| sid)
    }

    /// Like [`TokenKeys::verify_session_cookie`], also returning when the cookie expires, for
    /// callers that remember verified cookies.
    pub fn verify_session_cookie_until(
        &self,
        cookie: &str,
        host: &str,
        now: Timestamp,
    ) -> Result<(SessionId, Timestamp), TokenError> {
        let data = jsonwebtoken::decode::<SessionClaims>(
            cookie,
            &self.session.decoding,
            &validation(host),
        )
        .map_err(classify)?;
        check_expiry(data.claims.exp, now)?;
        Ok((data.claims.sid, Timestamp::from_millis(data.claims.exp.saturating_mul(1000))))
    }

    /// A handoff token for `host` that returns the browser to `return_to`, redeemable only by
    /// the browser whose sign-in state has the digest `state`.
    pub fn handoff(
        &self,
        sid: &SessionId,
        host: &str,
        return_to: &str,
        state: &str,
        now: Timestamp,
    ) -> String {
        let claims = HandoffClaims {
            sid: sid.clone(),
            aud: host.to_owned(),
            exp: seconds(now.plus(HANDOFF_LIFETIME)),
            jti: SessionId::random().as_str().to_owned(),
            rd: return_to.to_owned(),
            state: state.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.handoff.encoding)
            .unwrap_or_default()
    }

    /// Checks a handoff token presented on `host`. Single use is the caller's job: claim
    /// `jti` in the store until [`HandoffClaims::expires_at`].
    pub fn verify_handoff(
        &self,
        token: &str,
        host: &str,
        now: Timestamp,
    ) -> Result<HandoffClaims, TokenError> {
        let data =
            jsonwebtoken::decode::<HandoffClaims>(token, &self.handoff.decoding, &validation(host))
                .map_err(classify)?;
        check_expiry(data.claims.exp, now)?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn keys() -> TokenKeys {
        TokenKeys::new(b"a-test-secret-that-is-long-enough-0123456789")
    }

    #[test]
    fn session_cookies_verify_only_on_their_host_until_expiry() {
        let keys = keys();
        let sid = SessionId::random();
        let cookie =
            keys.session_cookie(&sid, "app.localhost", NOW.plus(Duration::from_secs(3600)));
        assert!(cookie.len() < 300, "a cookie stays small: {} bytes", cookie.len());
        assert_eq!(keys.verify_session_cookie(&cookie, "app.localhost", NOW), Ok(sid));
        assert_eq!(
            keys.verify_session_cookie(&cookie, "other.localhost", NOW),
            Err(TokenError::WrongAudience)
        );
        let later = NOW.plus(Duration::from_secs(3600));
        assert_eq!(
            keys.verify_session_cookie(&cookie, "app.localhost", later),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn forged_and_tampered_cookies_are_refused() {
        let keys = keys();
        let sid = SessionId::random();
        let cookie = keys.session_cookie(&sid, "app.localhost", NOW.plus(Duration::from_secs(60)));
        let forged = TokenKeys::new(b"another-secret-another-secret-another").session_cookie(
            &sid,
            "app.localhost",
            NOW.plus(Duration::from_secs(60)),
        );
        assert_eq!(
            keys.verify_session_cookie(&forged, "app.localhost", NOW),
            Err(TokenError::BadSignature)
        );
        let mut tampered = cookie.clone();
        tampered.insert(cookie.find('.').unwrap() + 5, 'x');
        assert!(keys.verify_session_cookie(&tampered, "app.localhost", NOW).is_err());
        assert_eq!(
            keys.verify_session_cookie("garbage", "app.localhost", NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn a_handoff_token_is_not_a_session_cookie() {
        let keys = keys();
        let sid = SessionId::random();
        let digest = state_digest("browser-secret");
        let handoff = keys.handoff(&sid, "app.localhost", "/dashboard?x=1", &digest, NOW);
        let claims = keys.verify_handoff(&handoff, "app.localhost", NOW).unwrap();
        assert_eq!((claims.sid, claims.rd.as_str()), (sid, "/dashboard?x=1"));
        assert!(state_matches("browser-secret", &claims.state));
        assert!(!state_matches("another-browser", &claims.state));
        assert!(!state_matches("", &claims.state));
        assert_eq!(
            keys.verify_session_cookie(&handoff, "app.localhost", NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            keys.verify_handoff(&handoff, "evil.localhost", NOW),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            keys.verify_handoff(&handoff, "app.localhost", NOW.plus(HANDOFF_LIFETIME)),
            Err(TokenError::Expired)
        );
    }
}
