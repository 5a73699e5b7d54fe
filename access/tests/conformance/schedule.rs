//! Scheduled access, against the backend under test: a grant approved ahead of its start holds
//! the user's grant pointer on every instance but lets nobody in until the clock reaches the
//! start (no sweep needed), runs for its duration from there, and can be cancelled or revoked
//! before it starts; the sweeper records the start once, with its own audit kind.

use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::Clock;
use jitgate_access::request::Status;
use jitgate_access::store::ChangeEvent;
use jitgate_access::transition::TransitionError;

use crate::fixture::*;

pub async fn a_grant_approved_ahead_opens_at_its_start_everywhere_and_ends_on_time(f: Fixture) {
    let db = resource("db");
    let other_instance = f.second_handle().await;
    let start = f.clock.now().plus(hours(3));
    let asked = f
        .service
        .request_scheduled_access(&alice(), &db, "migration", hours(1), start)
        .await
        .unwrap();
    assert_eq!(asked.status_at(f.clock.now()), Status::Pending);
    assert_eq!(asked.starts_at, Some(start));
    let mut feed = f.store.subscribe().await.unwrap();
    let approved = f.service.approve(&reviewer(), asked.id, None, "ok").await.unwrap();
    assert_eq!(approved.status_at(f.clock.now()), Status::Scheduled);
    let changed = ChangeEvent::GrantChanged { user: alice().user, resource: db.clone() };
    let wait = Duration::from_secs(5);
    assert_eq!(tokio::time::timeout(wait, feed.recv()).await.unwrap(), Some(changed));
    for store in [&f.store, &other_instance] {
        let grant = store.active_grant(&alice().user, &db, f.clock.now()).await.unwrap().unwrap();
        assert_eq!((grant.starts_at, grant.expires_at), (Some(start), start.plus(hours(1))));
        assert!(!grant.allows_at(f.clock.now()), "locked before its start");
    }
    let listed = f.store.active_grants_for_user(&alice().user, f.clock.now()).await.unwrap();
    assert_eq!(listed.len(), 1, "My access lists it");
    assert_eq!(f.service.sweep(10).await.unwrap(), 0, "nothing due before the start");

    f.clock.advance(hours(3));
    for store in [&f.store, &other_instance] {
        let grant = store.active_grant(&alice().user, &db, f.clock.now()).await.unwrap().unwrap();
        assert!(grant.allows_at(f.clock.now()), "the clock opens it, before any sweep");
    }
    assert_eq!(f.service.sweep(10).await.unwrap(), 1, "the start is recorded");
    assert_eq!(f.service.sweep(10).await.unwrap(), 0, "once");
    let started = f.store.request(asked.id).await.unwrap().unwrap();
    assert_eq!(started.recorded_status(), Status::Active);
    let grant = f.store.active_grant(&alice().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!((grant.starts_at, grant.expires_at), (None, start.plus(hours(1))));

    f.clock.advance(hours(1));
    assert!(f.store.active_grant(&alice().user, &db, f.clock.now()).await.unwrap().is_none());
    assert_eq!(f.service.sweep(10).await.unwrap(), 1);
    assert_eq!(
        actions_of(&f, asked.id).await,
        vec![
            AuditAction::RequestCreated,
            AuditAction::RequestApproved,
            AuditAction::GrantStarted,
            AuditAction::GrantExpired
        ]
    );
}

pub async fn cancelling_or_revoking_before_the_start_ends_it_everywhere(f: Fixture) {
    let db = resource("db");
    let other_instance = f.second_handle().await;
    let start = f.clock.now().plus(hours(2));
    let (service, bob) = (&f.service, bob());
    let scheduled =
        service.request_scheduled_access(&bob, &db, "deploy", hours(1), start).await.unwrap();
    assert_eq!(scheduled.status_at(f.clock.now()), Status::Scheduled, "auto: approved ahead");
    let cancelled = f.service.cancel(&bob, scheduled.id).await.unwrap();
    assert_eq!(cancelled.recorded_status(), Status::Cancelled);
    for store in [&f.store, &other_instance] {
        assert!(store.active_grant(&bob.user, &db, f.clock.now()).await.unwrap().is_none());
    }

    let again =
        service.request_scheduled_access(&bob, &db, "deploy", hours(1), start).await.unwrap();
    let stranger = f.service.cancel(&alice(), again.id).await.unwrap_err();
    assert_eq!(refusal(stranger), TransitionError::NotRequester);
    let revoked = f.service.revoke(&admin(), again.id, "not this week").await.unwrap();
    assert_eq!(revoked.recorded_status(), Status::Revoked);
    for store in [&f.store, &other_instance] {
        assert!(store.active_grant(&bob.user, &db, f.clock.now()).await.unwrap().is_none());
    }
    f.clock.advance(hours(2));
    assert_eq!(f.service.sweep(10).await.unwrap(), 0, "neither ever starts");
    let actions = actions_of(&f, again.id).await;
    assert_eq!(actions.last(), Some(&AuditAction::GrantRevoked));
    assert!(!actions.contains(&AuditAction::GrantStarted));
}

pub async fn a_schedule_never_cuts_present_access_nor_is_replaced_before_its_start(f: Fixture) {
    let db = resource("db");
    let (bob, alice) = (bob(), alice());
    let now = f.service.request_access(&bob, &db, "hotfix", hours(1)).await.unwrap();
    let start = f.clock.now().plus(hours(4));
    let refused = f.service.request_scheduled_access(&bob, &db, "deploy", hours(1), start).await;
    let refused = refusal(refused.unwrap_err());
    assert!(matches!(refused, TransitionError::HoldsAccess(_)), "{refused:?}");
    let grant = f.store.active_grant(&bob.user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(grant.request_id, now.id, "present access untouched");

    f.service.revoke(&bob, now.id, "done").await.unwrap();
    let ahead = f.service.request_scheduled_access(&bob, &db, "deploy", hours(1), start).await;
    let ahead = ahead.unwrap();
    let replace = f.service.request_access(&bob, &db, "hotfix 2", hours(1)).await.unwrap_err();
    assert_eq!(refusal(replace), TransitionError::AccessScheduled(start));
    let grant = f.store.active_grant(&bob.user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(grant.request_id, ahead.id, "the schedule stands");

    let past = f.clock.now();
    f.clock.advance(mins(5));
    let late = f.service.request_scheduled_access(&alice, &db, "x", hours(1), past).await;
    assert!(matches!(refusal(late.unwrap_err()), TransitionError::StartInPast(_)));
    // A reviewer asking ahead still never approves their own request.
    let start = f.clock.now().plus(hours(1));
    let own = f.service.request_scheduled_access(&victor(), &db, "x", hours(1), start).await;
    let own = f.service.approve(&victor(), own.unwrap().id, None, "").await.unwrap_err();
    assert_eq!(refusal(own), TransitionError::SelfReview);
    let far = f.clock.now().plus(hours(15 * 24));
    let far = f.service.request_scheduled_access(&alice, &db, "x", hours(1), far).await;
    assert!(matches!(refusal(far.unwrap_err()), TransitionError::StartTooFar(_)));
}
