//! Slows password guessing on the `local` provider the way Authelia's "regulation" does:
//! after [`MAX_FAILURES`] wrong passwords for one account within [`WINDOW`], that account's
//! sign-in is refused for [`BAN`], right password or not, without spending argon2 time.
//!
//! Per account rather than per address: behind the proxy every client shares a few
//! addresses, and guessing one account's password is the attack this stops. The cost, a
//! short lock-out an attacker can cause on purpose, is bounded by [`BAN`]. The state is per
//! instance and in memory; a restart forgets it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jitgate_access::time::Timestamp;
use moka::sync::Cache;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
pub const BAN: Duration = Duration::from_secs(5 * 60);
/// Accounts tracked at most. Names are the attacker's choice, so the map is a bounded cache
/// that evicts one entry at a time (never a scan under a lock on an async worker), and an
/// account untouched for a window and a ban has nothing left worth keeping.
const MAX_TRACKED: u64 = 100_000;
/// Longer account names are cut to this for tracking (an email is at most 254 characters).
const MAX_KEY: usize = 320;

pub struct Throttle {
    accounts: Cache<String, Arc<Mutex<Account>>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::with_capacity(MAX_TRACKED)
    }
}

#[derive(Default)]
struct Account {
    failures: VecDeque<Timestamp>,
    banned_until: Option<Timestamp>,
}

fn key(account: &str) -> &str {
    match account.char_indices().nth(MAX_KEY) {
        Some((cut, _)) => &account[..cut],
        None => account,
    }
}

impl Throttle {
    fn with_capacity(capacity: u64) -> Self {
        let accounts = Cache::builder().max_capacity(capacity).time_to_idle(WINDOW + BAN).build();
        Self { accounts }
    }

    /// `Err(wait)` while `account` is banned.
    pub fn check(&self, account: &str, now: Timestamp) -> Result<(), Duration> {
        let Some(entry) = self.accounts.get(key(account)) else { return Ok(()) };
        let entry = entry.lock().unwrap_or_else(|p| p.into_inner());
        match entry.banned_until {
            Some(until) if now < until => Err(now.until(until)),
            _ => Ok(()),
        }
    }

    /// Records a wrong password; returns the ban it started, if it started one.
    pub fn failed(&self, account: &str, now: Timestamp) -> Option<Duration> {
        let entry = self.accounts.get_with_by_ref(key(account), Arc::default);
        let mut entry = entry.lock().unwrap_or_else(|p| p.into_inner());
        while entry.failures.front().is_some_and(|at| at.plus(WINDOW) <= now) {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        if entry.failures.len() >= MAX_FAILURES {
            entry.failures.clear();
            entry.banned_until = Some(now.plus(BAN));
            return Some(BAN);
        }
        None
    }

    /// A successful sign-in clears the account's record.
    pub fn succeeded(&self, account: &str) {
        self.accounts.invalidate(key(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn five_failures_in_the_window_ban_the_account_for_a_while() {
        let throttle = Throttle::default();
        for i in 0..4 {
            assert_eq!(throttle.failed("a@x", T0.plus(Duration::from_secs(i))), None);
        }
        assert_eq!(throttle.check("a@x", T0.plus(Duration::from_secs(5))), Ok(()));
        assert_eq!(throttle.failed("a@x", T0.plus(Duration::from_secs(5))), Some(BAN));
        let during = T0.plus(Duration::from_secs(65));
        assert_eq!(throttle.check("a@x", during), Err(BAN - Duration::from_secs(60)));
        assert_eq!(throttle.check("b@x", during), Ok(()), "other accounts are untouched");
        assert_eq!(throttle.check("a@x", T0.plus(Duration::from_secs(5)).plus(BAN)), Ok(()));
    }

    #[test]
    fn failures_outside_the_window_and_successes_reset() {
        let throttle = Throttle::default();
        for i in 0..4 {
            throttle.failed("a@x", T0.plus(Duration::from_secs(i)));
        }
        let later = T0.plus(WINDOW).plus(Duration::from_secs(10));
        assert_eq!(throttle.failed("a@x", later), None, "the old failures fell out of the window");
        for _ in 0..3 {
            throttle.failed("a@x", later);
        }
        throttle.succeeded("a@x");
        assert_eq!(throttle.failed("a@x", later), None, "a success starts the count again");
    }

    #[test]
    fn attacker_chosen_names_stay_bounded() {
        let throttle = Throttle::with_capacity(1_000);
        for i in 0..20_000 {
            throttle.failed(&format!("guess-{i}@x"), T0);
        }
        throttle.accounts.run_pending_tasks();
        assert!(throttle.accounts.entry_count() <= 1_000, "{}", throttle.accounts.entry_count());
        let long = "a".repeat(10_000);
        throttle.failed(&long, T0);
        assert_eq!(key(&long).len(), MAX_KEY, "long names are tracked by a bounded key");
    }
}
