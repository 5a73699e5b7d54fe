//! Names and identifiers. Each is its own type so a user cannot be passed where a resource is
//! expected, and each is validated once, at the edge where it enters.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use ulid::{Generator, Ulid};

use crate::time::Timestamp;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} {value:?} is too long (at most {max} characters)")]
    TooLong { kind: &'static str, value: String, max: usize },
    #[error("{kind} {value:?} {problem}")]
    Invalid { kind: &'static str, value: String, problem: &'static str },
}

/// A user, identified by their email address, lower-cased: identity providers disagree on case
/// and an access decision must not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let kind = "user email";
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err(IdError::Empty { kind });
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong { kind, value, max: Self::MAX_LEN });
        }
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            }
            None => false,
        };
        if !valid || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(IdError::Invalid { kind, value, problem: "is not an email address" });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a configured resource: lower-case letters, digits, `-` and `_`, so it is safe in
/// URLs, store keys and file names alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceName(String);

impl ResourceName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let kind = "resource name";
        if raw.is_empty() {
            return Err(IdError::Empty { kind });
        }
        if raw.len() > Self::MAX_LEN {
            return Err(IdError::TooLong { kind, value: raw.to_owned(), max: Self::MAX_LEN });
        }
        let ok = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(IdError::Invalid {
                kind,
                value: raw.to_owned(),
                problem: "may only contain a-z, 0-9, '-' and '_'",
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group name as the identity provider reports it. Case is kept: IdPs treat groups as opaque.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupName(String);

impl GroupName {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let kind = "group name";
        if raw.is_empty() {
            return Err(IdError::Empty { kind });
        }
        if raw.len() > Self::MAX_LEN {
            return Err(IdError::TooLong { kind, value: raw.to_owned(), max: Self::MAX_LEN });
        }
        if raw.chars().any(char::is_control) {
            return Err(IdError::Invalid {
                kind,
                value: raw.to_owned(),
                problem: "contains control characters",
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id_impls {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(&raw)
            }
        }
        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }
        impl FromStr for $ty {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<Self, IdError> {
                Self::parse(raw)
            }
        }
    )*};
}
string_id_impls!(UserId, ResourceName, GroupName);

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Ulid);

        impl $name {
            /// The instant the id was generated at, to the millisecond.
            pub fn timestamp(self) -> Timestamp {
                Timestamp::from_millis(i64::try_from(self.0.timestamp_ms()).unwrap_or(i64::MAX))
            }

            /// The smallest id generated at `at`: a lower bound for time-range queries.
            pub fn min_at(at: Timestamp) -> Self {
                Self(Ulid::from_parts(u64::try_from(at.as_millis()).unwrap_or(0), 0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<Self, IdError> {
                Ulid::from_string(raw).map(Self).map_err(|_| IdError::Invalid {
                    kind: stringify!($name),
                    value: raw.chars().take(40).collect(),
                    problem: "is not a valid id",
                })
            }
        }

        impl From<Ulid> for $name {
            fn from(ulid: Ulid) -> Self {
                Self(ulid)
            }
        }
    };
}

ulid_id!(
    /// An access request. ULIDs sort by creation time, which both stores use for cursor pagination.
    RequestId
);
ulid_id!(
    /// One audit event; sorts by the time it was recorded.
    AuditId
);
ulid_id!(
    /// A personal API token (its public half: the secret is never stored).
    TokenId
);

/// Hands out ids that sort in the order they were generated, even within one millisecond, using
/// the injected clock for their time part.
#[derive(Debug, Default)]
pub struct IdGenerator {
    inner: Mutex<Generator>,
}

impl IdGenerator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next(&self, now: Timestamp) -> Ulid {
        let mut generator = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Overflow of the 80 random bits within one millisecond is practically impossible;
        // should it happen, a fresh random id at the same instant is still unique.
        generator
            .generate_from_datetime(now.to_system_time())
            .unwrap_or_else(|_| Ulid::from_datetime(now.to_system_time()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_lower_cased_emails() {
        assert_eq!(UserId::parse(" Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        assert!(UserId::parse("not-an-email").is_err());
        assert!(UserId::parse("a@b@c").is_err());
        assert!(UserId::parse("").is_err());
    }

    #[test]
    fn resource_names_are_url_and_key_safe() {
        assert!(ResourceName::parse("grafana-prod_2").is_ok());
        assert!(ResourceName::parse("Grafana").is_err());
        assert!(ResourceName::parse("a:b").is_err());
    }

    #[test]
    fn generated_ids_sort_in_generation_order_within_a_millisecond() {
        let ids = IdGenerator::new();
        let now = Timestamp::from_millis(1_700_000_000_000);
        let a = RequestId::from(ids.next(now));
        let b = RequestId::from(ids.next(now));
        assert!(a < b);
        assert_eq!(a.timestamp(), now);
        assert!(RequestId::min_at(now) <= a);
    }

    #[test]
    fn request_ids_round_trip_through_strings() {
        let id = RequestId::from(IdGenerator::new().next(Timestamp::from_millis(5)));
        assert_eq!(id.to_string().parse::<RequestId>().unwrap(), id);
        assert!("nope".parse::<RequestId>().is_err());
    }
}
ulid_id!(
    /// One notification in the outbox; doubles as its idempotency key (the webhook's
    /// delivery header, the email's Message-ID), so a receiver can drop a repeat.
    NotificationId
);
