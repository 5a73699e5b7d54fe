//! Extending an active grant, against the backend under test: the extension request takes
//! over the grant pointer atomically with both requests and the audit trail, and a waiting
//! extension leaves the grant running.

use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::Clock;
use jitgate_access::request::Status;
use jitgate_access::service::ServiceError;
use jitgate_access::store::ChangeEvent;
use jitgate_access::transition::TransitionError;

use crate::fixture::*;

pub async fn an_automatic_extension_takes_over_at_once_within_both_bounds(f: Fixture) {
    let db = resource("db");
    let start = f.clock.now();
    let first = f.service.request_access(&bob(), &db, "deploy", hours(1)).await.unwrap();
    let mut feed = f.store.subscribe().await.unwrap();
    f.clock.advance(mins(30));

    let extended = f.service.extend(&bob(), first.id, hours(2), "still rolling out").await.unwrap();
    assert_eq!(extended.status_at(f.clock.now()), Status::Active);
    let changed = ChangeEvent::GrantChanged { user: bob().user, resource: db.clone() };
    let wait = Duration::from_secs(5);
    assert_eq!(tokio::time::timeout(wait, feed.recv()).await.unwrap(), Some(changed));
    let grant = f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(grant.request_id, extended.id);
    assert_eq!(grant.expires_at, start.plus(hours(3)), "two hours on top of the old end");
    let extends = extended.extends.as_ref().unwrap();
    assert_eq!((extends.request, extends.original_reason.as_str()), (first.id, "deploy"));
    assert_eq!(extends.since, start);
    let first = f.store.request(first.id).await.unwrap().unwrap();
    assert_eq!(first.recorded_status(), Status::Superseded);
    assert_eq!(
        actions_of(&f, extended.id).await,
        vec![AuditAction::ExtensionRequested, AuditAction::GrantExtended]
    );

    // At most max_duration (8h) from now, 30m in: the cap is 8h30m, and 6h more would end at
    // 9h.
    let too_far = f.service.extend(&bob(), extended.id, hours(6), "more").await.unwrap_err();
    assert!(matches!(refusal(too_far), TransitionError::DurationNotAllowed(_)));
    // And never past max_total (10h from the first grant), however late it is asked.
    f.clock.advance(hours(2));
    let second = f.service.extend(&bob(), extended.id, hours(5), "more").await.unwrap();
    let end = second.grant().unwrap().expires_at;
    assert_eq!(end, start.plus(hours(8)));
    assert_eq!(second.extends.as_ref().unwrap().since, start, "the chain keeps its start");
    assert_eq!(second.extends.as_ref().unwrap().original_reason, "deploy");
    let past_total = f.service.extend(&bob(), second.id, mins(150), "more").await.unwrap_err();
    match refusal(past_total) {
        TransitionError::DurationNotAllowed(message) => {
            assert!(message.contains("at most 2h"), "{message}")
        }
        other => panic!("expected the total to bound it, got {other:?}"),
    }
    let last = f.service.extend(&bob(), second.id, hours(2), "last").await.unwrap();
    assert_eq!(last.grant().unwrap().expires_at, start.plus(hours(10)));
    let none_left = f.service.extend(&bob(), last.id, mins(1), "more").await.unwrap_err();
    assert!(matches!(refusal(none_left), TransitionError::DurationNotAllowed(_)));
}

pub async fn a_manual_extension_waits_for_the_threshold_without_interrupting_access(f: Fixture) {
    let db = resource("db");
    let asked = f.service.request_access(&carol(), &db, "migrate", hours(1)).await.unwrap();
    f.service.approve(&reviewer(), asked.id, None, "").await.unwrap();
    let granted = f.service.approve(&second_reviewer(), asked.id, None, "").await.unwrap();
    let end = granted.grant().unwrap().expires_at;

    f.clock.advance(mins(40));
    let extension = f.service.extend(&carol(), asked.id, hours(1), "slow table").await.unwrap();
    assert_eq!(extension.status_at(f.clock.now()), Status::Pending);
    let grant = f.store.active_grant(&carol().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(grant.request_id, asked.id, "the grant runs on while the extension waits");
    assert!(grant.allows_at(f.clock.now()));
    let again = f.service.request_access(&carol(), &db, "other", hours(1)).await.unwrap_err();
    assert!(matches!(again, ServiceError::AlreadyPending { id, .. } if id == extension.id));

    let half = f.service.approve(&reviewer(), extension.id, None, "").await.unwrap();
    assert_eq!(half.status_at(f.clock.now()), Status::Pending, "the same threshold: two");
    let done = f.service.approve(&second_reviewer(), extension.id, None, "ok").await.unwrap();
    let grant = f.store.active_grant(&carol().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!((grant.request_id, grant.expires_at), (extension.id, end.plus(hours(1))));
    assert_eq!(done.grant(), Some(&grant));
    assert_eq!(
        actions_of(&f, extension.id).await,
        vec![
            AuditAction::ExtensionRequested,
            AuditAction::ApprovalRecorded,
            AuditAction::GrantExtended
        ]
    );
}

pub async fn extensions_of_others_ended_or_unextendable_grants_are_refused(f: Fixture) {
    let db = resource("db");
    let bobs = f.service.request_access(&bob(), &db, "deploy", hours(1)).await.unwrap();
    let refused = f.service.extend(&carol(), bobs.id, hours(1), "mine now").await.unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)), "{refused:?}");

    // Alice's policy does not allow extensions.
    let alices = f.service.request_access(&alice(), &db, "look", hours(1)).await.unwrap();
    f.service.approve(&reviewer(), alices.id, None, "").await.unwrap();
    let refused = f.service.extend(&alice(), alices.id, hours(1), "more").await.unwrap_err();
    assert_eq!(refusal(refused), TransitionError::ExtensionNotAllowed);

    // An extension still waiting when its grant is revoked can no longer be approved.
    let asked = f.service.request_access(&carol(), &db, "migrate", hours(1)).await.unwrap();
    f.service.approve(&reviewer(), asked.id, None, "").await.unwrap();
    f.service.approve(&second_reviewer(), asked.id, None, "").await.unwrap();
    let extension = f.service.extend(&carol(), asked.id, hours(1), "more").await.unwrap();
    f.service.revoke(&admin(), asked.id, "enough").await.unwrap();
    f.service.approve(&reviewer(), extension.id, None, "").await.unwrap();
    let late = f.service.approve(&second_reviewer(), extension.id, None, "").await.unwrap_err();
    assert!(matches!(refusal(late), TransitionError::NotActive(_)));
    assert!(f.store.active_grant(&carol().user, &db, f.clock.now()).await.unwrap().is_none());
    let ended = f.service.extend(&carol(), asked.id, hours(1), "more").await.unwrap_err();
    assert_eq!(refusal(ended), TransitionError::NotActive(Status::Revoked));
}
