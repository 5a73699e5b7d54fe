//! Pausing and resuming a grant, against the backend under test: the pointer every proxy
//! reads changes atomically with the request and its audit event, and the change is
//! published like a revocation.

use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::Clock;
use jitgate_access::ids::IdGenerator;
use jitgate_access::request::Status;
use jitgate_access::service::ServiceError;
use jitgate_access::store::{ChangeEvent, StoreError};
use jitgate_access::transition::{self, Context, TransitionError};

use crate::fixture::*;

pub async fn a_pause_locks_everywhere_until_resumed_and_the_window_runs_on(f: Fixture) {
    let db = resource("db");
    let other_instance = f.second_handle().await;
    let mut feed = f.store.subscribe().await.unwrap();
    let granted = f.service.request_access(&bob(), &db, "deploy", hours(1)).await.unwrap();
    let ends = granted.grant().unwrap().expires_at;
    let changed = ChangeEvent::GrantChanged { user: bob().user, resource: db.clone() };
    let wait = Duration::from_secs(5);
    assert_eq!(tokio::time::timeout(wait, feed.recv()).await.unwrap(), Some(changed.clone()));

    f.clock.advance(mins(10));
    let paused = f.service.pause(&bob(), granted.id, "lunch").await.unwrap();
    assert_eq!(paused.status_at(f.clock.now()), Status::Active, "paused is not ended");
    assert_eq!(tokio::time::timeout(wait, feed.recv()).await.unwrap(), Some(changed.clone()));
    for store in [&f.store, &other_instance] {
        let grant = store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().unwrap();
        assert!(!grant.allows_at(f.clock.now()), "every instance reads it paused");
        assert_eq!(grant.expires_at, ends, "pausing never lengthens access");
        assert_eq!(grant.paused.as_ref().map(|p| p.by.clone()), Some(bob().user));
    }
    assert_eq!(f.store.request(granted.id).await.unwrap().unwrap(), paused);

    f.clock.advance(mins(20));
    let resumed = f.service.resume(&bob(), granted.id, "").await.unwrap();
    assert_eq!(tokio::time::timeout(wait, feed.recv()).await.unwrap(), Some(changed));
    let grant = other_instance.active_grant(&bob().user, &db, f.clock.now()).await.unwrap();
    let grant = grant.expect("resumed inside its window");
    assert!(grant.allows_at(f.clock.now()));
    assert_eq!(grant.expires_at, ends, "the paused half hour is gone, not added on");
    assert_eq!(resumed.grant(), Some(&grant));
    assert_eq!(
        actions_of(&f, granted.id).await,
        vec![
            AuditAction::RequestCreated,
            AuditAction::RequestApproved,
            AuditAction::GrantPaused,
            AuditAction::GrantResumed
        ]
    );
}

pub async fn who_may_pause_and_resume(f: Fixture) {
    let db = resource("db");
    let granted = f.service.request_access(&bob(), &db, "deploy", hours(1)).await.unwrap();
    let refused = f.service.pause(&mallory(), granted.id, "").await.unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)), "{refused:?}");
    let refused = f.service.pause(&alice(), granted.id, "").await.unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)), "another user: {refused:?}");

    f.service.pause(&reviewer(), granted.id, "suspicious").await.unwrap();
    let again = f.service.pause(&bob(), granted.id, "").await.unwrap_err();
    assert_eq!(refusal(again), TransitionError::AlreadyPaused);
    let by_holder = f.service.resume(&bob(), granted.id, "").await.unwrap_err();
    assert_eq!(refusal(by_holder), TransitionError::PausedByReviewer);
    f.service.resume(&admin(), granted.id, "cleared").await.unwrap();
    let twice = f.service.resume(&bob(), granted.id, "").await.unwrap_err();
    assert_eq!(refusal(twice), TransitionError::NotPaused);

    // Alice's policy does not allow pausing: neither she nor a reviewer can.
    let asked = f.service.request_access(&alice(), &db, "look", hours(1)).await.unwrap();
    f.service.approve(&reviewer(), asked.id, None, "").await.unwrap();
    for who in [alice(), reviewer()] {
        let refused = f.service.pause(&who, asked.id, "").await.unwrap_err();
        assert_eq!(refusal(refused), TransitionError::PauseNotAllowed);
    }
    let grant = f.store.active_grant(&alice().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert!(grant.allows_at(f.clock.now()), "a refused pause wrote nothing");
}

pub async fn a_stale_pause_writes_nothing(f: Fixture) {
    let db = resource("db");
    let granted = f.service.request_access(&bob(), &db, "deploy", hours(1)).await.unwrap();
    let policies = policies();
    let jitgate_access::policy::Access::Jit { policy, .. } =
        policies.resources[&db].resolve(&policies.roles, &bob())
    else {
        panic!("bob asks db just in time");
    };
    let ids = IdGenerator::new();
    let ctx = Context { now: f.clock.now(), ids: &ids };
    let stale = transition::pause(&ctx, &granted, &bob().user, "", policy).unwrap();
    f.service.revoke(&admin(), granted.id, "done").await.unwrap();
    let refused = f.store.commit(&stale).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict), "{refused:?}");
    assert!(f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().is_none());
    let recorded = f.store.request(granted.id).await.unwrap().unwrap();
    assert_eq!(recorded.recorded_status(), Status::Revoked);
    assert!(recorded.grant().unwrap().paused.is_none());
    assert!(!actions_of(&f, granted.id).await.contains(&AuditAction::GrantPaused));
}

pub async fn a_paused_grant_expires_and_can_be_superseded(f: Fixture) {
    let db = resource("db");
    let first = f.service.request_access(&bob(), &db, "deploy", hours(1)).await.unwrap();
    f.service.pause(&bob(), first.id, "").await.unwrap();
    // A new approval takes over from the paused grant, as from any active one.
    f.clock.advance(mins(5));
    let second = f.service.request_access(&bob(), &db, "again", hours(1)).await.unwrap();
    let grant = f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(grant.request_id, second.id);
    assert!(grant.allows_at(f.clock.now()));
    let first = f.store.request(first.id).await.unwrap().unwrap();
    assert_eq!(first.recorded_status(), Status::Superseded);

    f.service.pause(&bob(), second.id, "").await.unwrap();
    let ends = grant.expires_at;
    f.clock.set(ends);
    assert!(f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().is_none());
    let late = f.service.resume(&bob(), second.id, "").await.unwrap_err();
    assert_eq!(refusal(late), TransitionError::NotActive(Status::Expired));
    assert_eq!(f.service.sweep(10).await.unwrap(), 1);
    let recorded = f.store.request(second.id).await.unwrap().unwrap();
    assert_eq!(recorded.recorded_status(), Status::Expired);
}
