//! People records (a row per user, refreshed at each sign-in), against the backend under test.

use jitgate_access::clock::Clock;

use crate::fixture::*;

pub async fn a_sign_in_records_the_person_and_later_ones_refresh_it(f: Fixture) {
    assert!(f.store.people(10).await.unwrap().is_empty());
    let first_at = f.clock.now();
    let first = f.service.record_sign_in(&alice(), Some("Alice Liddell")).await.unwrap();
    assert_eq!((first.first_seen, first.last_seen), (first_at, first_at));
    f.service.record_sign_in(&bob(), None).await.unwrap();

    f.clock.advance(hours(2));
    let moved = person(&alice().user.to_string(), &["sre", "on-call"]);
    let again = f.service.record_sign_in(&moved, None).await.unwrap();
    assert_eq!(again.first_seen, first_at, "the first sign-in is kept");
    assert_eq!(again.last_seen, f.clock.now());

    let people = f.store.people(10).await.unwrap();
    let emails: Vec<String> = people.iter().map(|p| p.identity.user.to_string()).collect();
    let mut sorted = emails.clone();
    sorted.sort();
    assert_eq!(emails, sorted, "by email");
    assert_eq!(people.len(), 2);
    let alice_now = people.iter().find(|p| p.identity.user == alice().user).unwrap();
    assert_eq!(alice_now, &again, "groups and times as of the latest sign-in");
    assert_eq!(alice_now.name, None, "the latest sign-in gave no name");
    assert_eq!(f.store.people(1).await.unwrap().len(), 1, "the limit holds");
    assert!(f.store.people(0).await.unwrap().is_empty());

    let f = f.reopen().await;
    assert_eq!(f.store.people(10).await.unwrap().len(), 2, "kept across a restart");
}
