//! Grants that start on first use, against the backend under test: the claim rewrites the
//! request and the pointer every proxy reads in one versioned commit, is published like a
//! revocation, and happens once however many instances race for it; an unclaimed grant
//! lapses at its claim deadline as its own outcome.

use std::sync::Arc;
use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::{Clock, ManualClock};
use jitgate_access::request::{AccessRequest, Status};
use jitgate_access::service::AccessService;
use jitgate_access::store::ChangeEvent;
use jitgate_access::transition::TransitionError;

use crate::fixture::*;

const FEED_WAIT: Duration = Duration::from_secs(5);

/// Fern's request for `db`, approved by a reviewer: a grant waiting for its first use.
async fn approved(f: &Fixture) -> AccessRequest {
    let db = resource("db");
    let asked = f.service.request_access(&fern(), &db, "migration", hours(1)).await.unwrap();
    assert_eq!(asked.status_at(f.clock.now()), Status::Pending);
    f.service.approve(&reviewer(), asked.id, None, "").await.unwrap()
}

pub async fn an_approved_grant_waits_for_first_use_then_runs_from_it(f: Fixture) {
    let db = resource("db");
    let other_instance = f.second_handle().await;
    let approved = approved(&f).await;
    let grant = approved.grant().unwrap();
    assert!(grant.awaits_claim());
    assert_eq!(grant.claim_by(), Some(f.clock.now().plus(hours(2))), "claim_within from approval");
    assert_eq!(approved.status_at(f.clock.now()), Status::Active);
    let extend = f.service.extend(&fern(), approved.id, hours(1), "more").await.unwrap_err();
    assert_eq!(refusal(extend), TransitionError::Unclaimed, "its time has not started");

    let mut feed = f.store.subscribe().await.unwrap();
    f.clock.advance(mins(90));
    let first_use = f.clock.now();
    let claimed = f.service.claim_first_use(approved.id).await.unwrap().expect("in force");
    assert!(!claimed.awaits_claim());
    assert_eq!(claimed.expires_at, first_use.plus(hours(1)), "the hour runs from first use");
    let changed = ChangeEvent::GrantChanged { user: fern().user, resource: db.clone() };
    let heard = tokio::time::timeout(FEED_WAIT, feed.recv()).await.unwrap();
    assert_eq!(heard, Some(changed), "announced like a revocation");
    for store in [&f.store, &other_instance] {
        let seen = store.active_grant(&fern().user, &db, f.clock.now()).await.unwrap();
        assert_eq!(seen.as_ref(), Some(&claimed), "every instance reads the new end");
    }
    let stored = f.store.request(approved.id).await.unwrap().unwrap();
    assert_eq!(stored.grant(), Some(&claimed));
    assert_eq!(stored.version, approved.version + 1);

    // Past the old claim deadline it runs on; at its real end it expires (not lapses).
    f.clock.advance(mins(59));
    assert!(f.store.active_grant(&fern().user, &db, f.clock.now()).await.unwrap().is_some());
    f.clock.advance(mins(1));
    assert_eq!(stored.status_at(f.clock.now()), Status::Expired);
    assert_eq!(f.service.sweep(10).await.unwrap(), 1);
    assert_eq!(
        actions_of(&f, approved.id).await,
        vec![
            AuditAction::RequestCreated,
            AuditAction::RequestApproved,
            AuditAction::GrantClaimed,
            AuditAction::GrantExpired
        ]
    );
}

pub async fn two_instances_racing_to_claim_start_the_duration_once(f: Fixture) {
    let approved = approved(&f).await;
    f.clock.advance(mins(10));
    // Another proxy instance, on its own store handle, whose clock reads a second later: had
    // both claims landed, the grant would end at two different times.
    let later = Arc::new(ManualClock::new(f.clock.now().plus(Duration::from_secs(1))));
    let other = AccessService::new(f.second_handle().await, later.clone(), Arc::new(policies()));
    let (here, there) =
        tokio::join!(f.service.claim_first_use(approved.id), other.claim_first_use(approved.id));
    let (here, there) = (here.unwrap().unwrap(), there.unwrap().unwrap());
    assert_eq!(here, there, "both instances get the one claimed grant");
    let claims = actions_of(&f, approved.id).await;
    let claims = claims.iter().filter(|a| **a == AuditAction::GrantClaimed).count();
    assert_eq!(claims, 1, "the duration started once");
    let stored = f.store.request(approved.id).await.unwrap().unwrap();
    assert_eq!(stored.grant(), Some(&here));
    assert_eq!(stored.version, approved.version + 1, "one write won");

    // A claim after the fact changes nothing.
    f.clock.advance(mins(5));
    let again = f.service.claim_first_use(approved.id).await.unwrap().unwrap();
    assert_eq!(again, here);
    assert_eq!(f.store.request(approved.id).await.unwrap().unwrap(), stored);
}

pub async fn an_unclaimed_grant_lapses_at_claim_within_and_says_so(f: Fixture) {
    let db = resource("db");
    let approved = approved(&f).await;
    let deadline = approved.grant().unwrap().expires_at;
    f.clock.set(deadline);
    assert_eq!(approved.status_at(f.clock.now()), Status::Lapsed, "the clock decides");
    assert_eq!(f.store.active_grant(&fern().user, &db, f.clock.now()).await.unwrap(), None);
    assert_eq!(f.service.claim_first_use(approved.id).await.unwrap(), None, "too late to claim");

    let mut feed = f.store.subscribe().await.unwrap();
    assert_eq!(f.service.sweep(10).await.unwrap(), 1);
    let lapsed = f.store.request(approved.id).await.unwrap().unwrap();
    assert_eq!(lapsed.recorded_status(), Status::Lapsed);
    let changed = ChangeEvent::GrantChanged { user: fern().user, resource: db.clone() };
    assert_eq!(tokio::time::timeout(FEED_WAIT, feed.recv()).await.unwrap(), Some(changed));
    assert_eq!(
        actions_of(&f, approved.id).await,
        vec![AuditAction::RequestCreated, AuditAction::RequestApproved, AuditAction::GrantLapsed]
    );
    let query = jitgate_access::store::RequestQuery {
        statuses: vec![Status::Lapsed],
        limit: 10,
        ..Default::default()
    };
    let listed = f.store.list_requests(&query).await.unwrap();
    assert_eq!(listed.items.iter().map(|r| r.id).collect::<Vec<_>>(), vec![approved.id]);
}

pub async fn approval_continuing_a_grant_in_force_starts_at_once(f: Fixture) {
    let db = resource("db");
    let first = approved(&f).await;
    f.clock.advance(mins(1));
    let claimed = f.service.claim_first_use(first.id).await.unwrap().unwrap();
    f.clock.advance(mins(30));
    let again = f.service.request_access(&fern(), &db, "still migrating", hours(1)).await.unwrap();
    let continued = f.service.approve(&reviewer(), again.id, None, "").await.unwrap();
    let grant = continued.grant().unwrap();
    assert!(!grant.awaits_claim(), "its holder is already using it");
    assert_eq!(grant.expires_at, f.clock.now().plus(hours(1)));
    assert!(grant.expires_at > claimed.expires_at);
    let held = f.store.active_grant(&fern().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(held.request_id, again.id);
}
