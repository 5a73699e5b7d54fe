//! Instants as milliseconds since the Unix epoch.
//!
//! Grants are compared with the clock on every proxied request and are stored in two very
//! different backends (SQLite columns, Redis `PEXPIREAT`), so one plain integer representation
//! with millisecond resolution serves all of them without conversion losses.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The instant `duration` later; saturates instead of overflowing so a hostile duration
    /// cannot wrap an expiry into the past.
    pub fn plus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// Time from `self` until `later`, zero when `later` is not after `self`.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    pub fn to_system_time(self) -> SystemTime {
        match u64::try_from(self.0) {
            Ok(ms) => UNIX_EPOCH + Duration::from_millis(ms),
            Err(_) => UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs()),
        }
    }

    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)),
            Err(before) => Self(-i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// RFC 3339 in UTC with milliseconds, the form audit exports and logs use.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            return write!(f, "{}ms", self.0);
        }
        write!(f, "{}", humantime::format_rfc3339_millis(self.to_system_time()))
    }
}

/// Formats a duration the way operators write them in the config (`1h 30m`, `7d`).
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let mut parts = Vec::new();
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut rest = secs;
    for (size, unit) in units {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    parts.join(" ")
}

/// Serde helper: durations stored as whole milliseconds.
pub mod duration_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_saturates_instead_of_wrapping() {
        let t = Timestamp::from_millis(i64::MAX - 5);
        assert_eq!(t.plus(Duration::from_secs(10)), Timestamp::from_millis(i64::MAX));
    }

    #[test]
    fn until_is_zero_for_the_past() {
        let t = Timestamp::from_millis(10_000);
        assert_eq!(t.until(Timestamp::from_millis(9_000)), Duration::ZERO);
        assert_eq!(t.until(Timestamp::from_millis(12_500)), Duration::from_millis(2_500));
    }

    #[test]
    fn displays_rfc3339() {
        assert_eq!(
            Timestamp::from_millis(1_700_000_000_123).to_string(),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn formats_durations_like_the_config() {
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h 30m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}
