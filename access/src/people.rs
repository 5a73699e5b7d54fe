//! The people jitgate has seen: one record per user, created or refreshed at every sign-in
//! (identity and groups as the sign-in reported them, a display name when the IdP gave one,
//! first and last sign-in). jitgate has no other directory: with an OIDC provider, a reviewer
//! named only by group can be mailed once they have signed in at least once, and the portal's
//! directory lists everyone who has.
//!
//! [`PeopleIndex`] is the in-process copy the notification routing reads (it decides targets
//! inside a commit, synchronously): loaded from the store at start, refreshed periodically and
//! updated at once by sign-ins in the same process.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::policy::{Identity, Principals};
use crate::time::Timestamp;

/// Someone who has signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Email and groups at the latest sign-in.
    pub identity: Identity,
    /// The IdP's `name` claim at the latest sign-in, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

impl Person {
    /// `identity` signing in at `at`, as a record of its own (the store keeps an earlier
    /// `first_seen`).
    pub fn signing_in(identity: &Identity, name: Option<&str>, at: Timestamp) -> Self {
        let name = name.map(str::trim).filter(|name| !name.is_empty()).map(|name| {
            // A display name, not a document: bounded like every other field we keep.
            name.chars().take(200).collect()
        });
        Self { identity: identity.clone(), name, first_seen: at, last_seen: at }
    }
}

/// The people this process knows, for synchronous lookups by group.
#[derive(Debug, Default)]
pub struct PeopleIndex {
    people: RwLock<BTreeMap<UserId, Person>>,
}

impl PeopleIndex {
    /// Takes in `people` (a fresh read of the store). A record this process holds that is
    /// newer than the read's, or that the read lacks (a sign-in recorded here while the read was
    /// under way), is kept: the refresh never forgets what a sign-in just told it.
    pub fn replace_all(&self, people: Vec<Person>) {
        let mut fresh: BTreeMap<UserId, Person> =
            people.into_iter().map(|p| (p.identity.user.clone(), p)).collect();
        let mut known = self.people.write().unwrap_or_else(|p| p.into_inner());
        for (user, person) in std::mem::take(&mut *known) {
            match fresh.get(&user) {
                Some(read) if read.last_seen >= person.last_seen => {}
                _ => {
                    fresh.insert(user, person);
                }
            }
        }
        *known = fresh;
    }

    /// Records one sign-in seen in this process.
    pub fn record(&self, person: Person) {
        let mut people = self.people.write().unwrap_or_else(|p| p.into_inner());
        people.insert(person.identity.user.clone(), person);
    }

    /// Everyone `principals` names: its emails, and the people known to be in its groups who
    /// signed in at or after `seen_since` (a group membership seen long ago may be gone).
    pub fn addresses_of(&self, principals: &Principals, seen_since: Timestamp) -> Vec<UserId> {
        let mut found: Vec<UserId> = principals.emails.iter().cloned().collect();
        if !principals.groups.is_empty() {
            let people = self.people.read().unwrap_or_else(|p| p.into_inner());
            found.extend(
                people
                    .values()
                    .filter(|p| p.last_seen >= seen_since)
                    .filter(|p| p.identity.groups.iter().any(|g| principals.groups.contains(g)))
                    .map(|p| p.identity.user.clone()),
            );
        }
        found
    }

    pub fn len(&self) -> usize {
        self.people.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: &str, groups: &[&str], at: i64) -> Person {
        let identity =
            Identity::new(email.parse().unwrap(), groups.iter().map(|g| g.parse().unwrap()));
        Person::signing_in(&identity, Some("  A Name "), Timestamp::from_millis(at))
    }

    #[test]
    fn groups_resolve_to_the_people_seen_in_them() {
        let index = PeopleIndex::default();
        index.replace_all(vec![
            person("dave@x.io", &["sre"], 1),
            person("erin@x.io", &["dev"], 1),
            person("old@x.io", &["sre"], 0),
        ]);
        index.record(person("fay@x.io", &["sre", "dev"], 2));
        let principals = Principals {
            groups: ["sre".parse().unwrap()].into(),
            emails: ["gus@x.io".parse().unwrap()].into(),
        };
        let mut found: Vec<String> = index
            .addresses_of(&principals, Timestamp::from_millis(1))
            .iter()
            .map(ToString::to_string)
            .collect();
        found.sort();
        assert_eq!(found, ["dave@x.io", "fay@x.io", "gus@x.io"]);
        assert_eq!(person("a@x.io", &[], 0).name.as_deref(), Some("A Name"));
    }

    /// A refresh whose read began before a local sign-in must not drop or roll it back.
    #[test]
    fn a_refresh_keeps_sign_ins_newer_than_its_read() {
        let index = PeopleIndex::default();
        index.record(person("fay@x.io", &["sre"], 5));
        index.record(person("gus@x.io", &["dev"], 1));
        // The read saw fay's older sign-in (other groups) and not gus; it did see hal.
        index.replace_all(vec![person("fay@x.io", &["dev"], 3), person("hal@x.io", &["sre"], 4)]);
        let sre =
            Principals { groups: ["sre".parse().unwrap()].into(), emails: Default::default() };
        let mut found: Vec<String> = index
            .addresses_of(&sre, Timestamp::from_millis(0))
            .iter()
            .map(ToString::to_string)
            .collect();
        found.sort();
        assert_eq!(found, ["fay@x.io", "hal@x.io"], "fay's newer record stands");
        assert_eq!(index.len(), 3, "gus, recorded here, is kept");
        // A newer read replaces an older local record.
        index.replace_all(vec![person("fay@x.io", &["dev"], 9)]);
        assert!(
            index
                .addresses_of(&sre, Timestamp::from_millis(0))
                .iter()
                .all(|u| u.as_str() != "fay@x.io")
        );
    }
}
