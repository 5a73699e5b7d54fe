//! Breaking glass, against the backend under test: the self-grant lands atomically with its
//! own audit kind and reaches every instance at once; its flag lives in the stored request
//! until a reviewer other than the holder acknowledges it, or the grant is revoked.

use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::Clock;
use jitgate_access::request::Status;
use jitgate_access::service::ServiceError;
use jitgate_access::store::ChangeEvent;
use jitgate_access::transition::TransitionError;

use crate::fixture::*;

pub async fn a_member_grants_themselves_access_at_once_under_manual_approval(f: Fixture) {
    let db = resource("db");
    let other_instance = f.second_handle().await;
    let mut feed = f.store.subscribe().await.unwrap();
    let granted = f.service.break_glass(&dora(), &db, "prod is down", mins(30)).await.unwrap();
    assert_eq!(granted.status_at(f.clock.now()), Status::Active, "no reviewer involved");
    assert!(granted.approvals.is_empty(), "break glass is not approval");
    assert!(granted.break_glass_unreviewed());
    let changed = ChangeEvent::GrantChanged { user: dora().user, resource: db.clone() };
    let wait = Duration::from_secs(5);
    assert_eq!(tokio::time::timeout(wait, feed.recv()).await.unwrap(), Some(changed));
    for store in [&f.store, &other_instance] {
        let grant = store.active_grant(&dora().user, &db, f.clock.now()).await.unwrap().unwrap();
        assert_eq!(grant.request_id, granted.id);
        assert_eq!(grant.expires_at, f.clock.now().plus(mins(30)));
    }
    assert_eq!(f.store.request(granted.id).await.unwrap().unwrap(), granted);
    assert_eq!(actions_of(&f, granted.id).await, vec![AuditAction::GrantBreakGlass]);

    // The same member asking the ordinary way still waits for a reviewer.
    let asked = f.service.request_access(&dora(), &db, "follow-up", hours(1)).await.unwrap();
    assert_eq!(asked.status_at(f.clock.now()), Status::Pending);
}

pub async fn break_glass_needs_a_reason_an_eligible_group_and_a_short_enough_duration(f: Fixture) {
    let db = resource("db");
    let blank = f.service.break_glass(&dora(), &db, "   ", mins(30)).await.unwrap_err();
    assert_eq!(refusal(blank), TransitionError::ReasonRequired);
    let long = f.service.break_glass(&dora(), &db, "outage", hours(2)).await.unwrap_err();
    assert!(matches!(refusal(long), TransitionError::DurationNotAllowed(m) if m.contains("1h")));
    let seconds = Duration::from_secs(5);
    let short = f.service.break_glass(&dora(), &db, "outage", seconds).await.unwrap_err();
    assert!(matches!(refusal(short), TransitionError::DurationNotAllowed(_)));
    // Alice resolves to the same policy but is not on call; Bob's policy has no break glass.
    for who in [alice(), bob()] {
        let refused = f.service.break_glass(&who, &db, "outage", mins(30)).await.unwrap_err();
        assert_eq!(refusal(refused), TransitionError::BreakGlassNotAllowed, "{}", who.user);
        assert!(!f.service.may_break_glass(&who, &db));
    }
    assert!(f.service.may_break_glass(&dora(), &db));
    let nobody = f.service.break_glass(&mallory(), &db, "outage", mins(30)).await.unwrap_err();
    assert!(matches!(nobody, ServiceError::NoAccess(_)), "{nobody:?}");
    for who in [dora(), alice(), bob()] {
        let none = f.store.active_grant(&who.user, &db, f.clock.now()).await.unwrap();
        assert!(none.is_none(), "a refused break glass wrote nothing");
    }
}

pub async fn the_flag_stays_until_a_reviewer_other_than_the_holder_acknowledges(f: Fixture) {
    let db = resource("db");
    let granted = f.service.break_glass(&victor(), &db, "outage", mins(30)).await.unwrap();
    let own = f.service.acknowledge(&victor(), granted.id, "fine").await.unwrap_err();
    assert_eq!(refusal(own), TransitionError::OwnBreakGlass, "even a reviewer holding it");
    let outsider = f.service.acknowledge(&alice(), granted.id, "").await.unwrap_err();
    assert!(matches!(outsider, ServiceError::Forbidden(_)), "{outsider:?}");
    // After expiry it is still to be reviewed: the review is after the fact.
    f.clock.advance(hours(1));
    assert_eq!(f.service.sweep(10).await.unwrap(), 1);
    let stored = f.store.request(granted.id).await.unwrap().unwrap();
    assert_eq!(stored.recorded_status(), Status::Expired);
    assert!(stored.break_glass_unreviewed());

    let acknowledged = f.service.acknowledge(&reviewer(), granted.id, "checked").await.unwrap();
    assert!(!acknowledged.break_glass_unreviewed());
    let mark = acknowledged.break_glass.as_ref().unwrap().acknowledged.as_ref().unwrap();
    assert_eq!((&mark.by, mark.note.as_str()), (&reviewer().user, "checked"));
    assert_eq!(f.store.request(granted.id).await.unwrap().unwrap(), acknowledged);
    let twice = f.service.acknowledge(&admin(), granted.id, "").await.unwrap_err();
    assert_eq!(refusal(twice), TransitionError::AlreadyAcknowledged);
    assert_eq!(
        actions_of(&f, granted.id).await,
        vec![
            AuditAction::GrantBreakGlass,
            AuditAction::GrantExpired,
            AuditAction::BreakGlassAcknowledged
        ]
    );
    // An ordinary grant has nothing to acknowledge.
    let asked = f.service.request_access(&alice(), &db, "look", hours(1)).await.unwrap();
    f.service.approve(&reviewer(), asked.id, None, "").await.unwrap();
    let nothing = f.service.acknowledge(&reviewer(), asked.id, "").await.unwrap_err();
    assert_eq!(refusal(nothing), TransitionError::NotBreakGlass);
}

pub async fn revoking_a_break_glass_grant_cuts_it_and_lifts_the_flag(f: Fixture) {
    let db = resource("db");
    let other_instance = f.second_handle().await;
    let granted = f.service.break_glass(&dora(), &db, "outage", mins(30)).await.unwrap();
    let mut feed = f.store.subscribe().await.unwrap();
    f.clock.advance(mins(1));
    let revoked = f.service.revoke(&second_reviewer(), granted.id, "not an outage").await.unwrap();
    assert_eq!(revoked.status_at(f.clock.now()), Status::Revoked);
    assert!(!revoked.break_glass_unreviewed(), "a revocation is a review");
    let changed = ChangeEvent::GrantChanged { user: dora().user, resource: db.clone() };
    let wait = Duration::from_secs(5);
    assert_eq!(tokio::time::timeout(wait, feed.recv()).await.unwrap(), Some(changed));
    for store in [&f.store, &other_instance] {
        assert!(store.active_grant(&dora().user, &db, f.clock.now()).await.unwrap().is_none());
    }
    let late = f.service.acknowledge(&reviewer(), granted.id, "").await.unwrap_err();
    assert_eq!(refusal(late), TransitionError::AlreadyAcknowledged);
}
