//! Slows password guessing on the `local` provider the way Authelia's "regulation" does:
//! after [`MAX_FAILURES`] wrong passwords for one account within [`WINDOW`], that account's
//! sign-in is refused for [`BAN`], right password or not, without spending argon2 time.
//!
//! Per account rather than per address: behind the proxy every client shares a few
//! addresses, and guessing one account's password is the attack this stops. The cost, a
//! short lock-out an attacker can cause on purpose, is bounded by [`BAN`]. The state is per
//! instance and in memory; a restart forgets it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use jitgate_access::time::Timestamp;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
pub const BAN: Duration = Duration::from_secs(5 * 60);
/// Accounts tracked at most; beyond it, the stalest are forgotten first.
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    accounts: Mutex<HashMap<String, Account>>,
}

#[derive(Default)]
struct Account {
    failures: VecDeque<Timestamp>,
    banned_until: Option<Timestamp>,
}

impl Account {
    fn last_seen(&self) -> Timestamp {
        self.failures.back().copied().unwrap_or(Timestamp::from_millis(0))
    }
}

impl Throttle {
    /// `Err(wait)` while `account` is banned.
    pub fn check(&self, account: &str, now: Timestamp) -> Result<(), Duration> {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        match accounts.get(account).and_then(|a| a.banned_until) {
            Some(until) if now < until => Err(now.until(until)),
            _ => Ok(()),
        }
    }

    /// Records a wrong password; returns the ban it started, if it started one.
    pub fn failed(&self, account: &str, now: Timestamp) -> Option<Duration> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if accounts.len() >= MAX_TRACKED && !accounts.contains_key(account) {
            let stalest =
                accounts.iter().min_by_key(|(_, a)| a.last_seen()).map(|(k, _)| k.clone());
            if let Some(key) = stalest {
                accounts.remove(&key);
            }
        }
        let entry = accounts.entry(account.to_owned()).or_default();
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
        self.accounts.lock().unwrap_or_else(|p| p.into_inner()).remove(account);
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
}
