//! Signed-in sessions, kept server-side.
//!
//! The cookie a browser holds names a session and nothing more ([`crate::token`]), so it stays
//! small whatever the user's group count (a user in 200 groups must not hit header limits),
//! and signing out deletes the session here, which ends it on every host at once.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ids::IdError;
use crate::policy::Identity;
use crate::time::Timestamp;

/// 256 random bits, URL-safe: unguessable, and safe in cookies and store keys.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    const BYTES: usize = 32;

    pub fn random() -> Self {
        let mut bytes = [0u8; Self::BYTES];
        // The OS random source failing is not something a sign-in can recover from.
        getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let valid = URL_SAFE_NO_PAD.decode(raw).is_ok_and(|bytes| bytes.len() == Self::BYTES);
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::Invalid {
                kind: "session id",
                value: raw.chars().take(16).collect(),
                problem: "is malformed",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Only a prefix: session ids are bearer secrets and must not end up in logs whole.
impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", &self.0[..8.min(self.0.len())])
    }
}

impl TryFrom<String> for SessionId {
    type Error = IdError;
    fn try_from(raw: String) -> Result<Self, IdError> {
        Self::parse(&raw)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub identity: Identity,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Session {
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_random_and_round_trip() {
        let a = SessionId::random();
        assert_ne!(a, SessionId::random());
        assert_eq!(SessionId::parse(a.as_str()).unwrap(), a);
        assert!(SessionId::parse("short").is_err());
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
