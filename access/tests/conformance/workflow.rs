//! Every legal and illegal transition, through the service, against the backend under test.

use std::time::Duration;

use jitgate_access::audit::{Actor, AuditAction};
use jitgate_access::clock::Clock;
use jitgate_access::request::{GrantEnd, RequestState, Status};
use jitgate_access::service::ServiceError;
use jitgate_access::store::AuditQuery;
use jitgate_access::transition::TransitionError;

use crate::fixture::*;

async fn actions(f: &Fixture, request: jitgate_access::ids::RequestId) -> Vec<AuditAction> {
    let query = AuditQuery { request_id: Some(request), limit: 100, ..AuditQuery::default() };
    let page = f.store.list_audit(&query).await.unwrap();
    // Newest first from the store; oldest first reads better in assertions.
    page.items.iter().rev().map(|e| e.action).collect()
}

pub async fn manual_request_is_pending_until_approved(f: Fixture) {
    let db = resource("db");
    let request =
        f.service.request_access(&alice(), &db, "debug incident 42", hours(1)).await.unwrap();
    assert_eq!(request.status_at(f.clock.now()), Status::Pending);
    assert_eq!(f.store.request(request.id).await.unwrap().unwrap(), request);
    let now = f.clock.now();
    assert!(f.store.active_grant(&alice().user, &db, now).await.unwrap().is_none());
    assert_eq!(actions(&f, request.id).await, vec![AuditAction::RequestCreated]);

    // The grant's clock starts at approval, not at request time.
    f.clock.advance(mins(30));
    let approved = f.service.approve(&reviewer(), request.id, None, "ok").await.unwrap();
    let grant = approved.grant().expect("approved requests carry a grant").clone();
    assert_eq!(grant.granted_at, f.clock.now());
    assert_eq!(grant.expires_at, f.clock.now().plus(hours(1)));
    assert_eq!(f.store.active_grant(&alice().user, &db, f.clock.now()).await.unwrap(), Some(grant));
    assert_eq!(
        actions(&f, request.id).await,
        vec![AuditAction::RequestCreated, AuditAction::RequestApproved]
    );
}

pub async fn auto_approval_grants_at_once_and_requires_a_reason(f: Fixture) {
    let db = resource("db");
    let refused = f.service.request_access(&bob(), &db, "   ", hours(1)).await.unwrap_err();
    assert!(
        matches!(refused, ServiceError::Refused(TransitionError::ReasonRequired)),
        "{refused:?}"
    );

    let request = f.service.request_access(&bob(), &db, "deploy hotfix", hours(8)).await.unwrap();
    assert_eq!(request.status_at(f.clock.now()), Status::Active);
    let grant = f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(grant.request_id, request.id);
    assert_eq!(grant.expires_at, f.clock.now().plus(hours(8)));
    let query = AuditQuery { request_id: Some(request.id), limit: 10, ..AuditQuery::default() };
    let events = f.store.list_audit(&query).await.unwrap().items;
    let approval = events.iter().find(|e| e.action == AuditAction::RequestApproved).unwrap();
    assert_eq!(approval.actor, Actor::System);
}

pub async fn durations_are_held_to_the_policy(f: Fixture) {
    let db = resource("db");
    let too_long = f.service.request_access(&alice(), &db, "r", hours(9)).await.unwrap_err();
    match too_long {
        ServiceError::Refused(TransitionError::DurationNotAllowed(message)) => {
            assert!(message.contains("exceeds the maximum of 8h"), "{message}")
        }
        other => panic!("expected a duration refusal, got {other:?}"),
    }
    let request = f.service.request_access(&alice(), &db, "r", hours(2)).await.unwrap();
    // The approver may change the duration within bounds, not beyond them.
    let beyond = f.service.approve(&reviewer(), request.id, Some(hours(10)), "").await.unwrap_err();
    assert!(matches!(beyond, ServiceError::Refused(TransitionError::DurationNotAllowed(_))));
    let approved = f.service.approve(&reviewer(), request.id, Some(mins(30)), "").await.unwrap();
    assert_eq!(approved.grant().unwrap().expires_at, f.clock.now().plus(mins(30)));
}

pub async fn requester_never_reviews_own_request(f: Fixture) {
    let db = resource("db");
    // A reviewer who is also eligible to request (in "dev") still cannot decide their own.
    let reviewer_dev = person("rev1@example.com", &["security", "dev"]);
    let request = f.service.request_access(&reviewer_dev, &db, "need it", hours(1)).await.unwrap();
    // Nor does their bell count it.
    assert_eq!(f.service.count_awaiting_review(&reviewer_dev, 100).await.unwrap(), 0);
    let approve = f.service.approve(&reviewer_dev, request.id, None, "").await.unwrap_err();
    assert!(matches!(approve, ServiceError::Refused(TransitionError::SelfReview)), "{approve:?}");
    let deny = f.service.deny(&reviewer_dev, request.id, "").await.unwrap_err();
    assert!(matches!(deny, ServiceError::Refused(TransitionError::SelfReview)), "{deny:?}");
    assert_eq!(f.store.request(request.id).await.unwrap().unwrap().version, request.version);
}

pub async fn only_reviewers_decide(f: Fixture) {
    let request = f.service.request_access(&alice(), &resource("db"), "r", hours(1)).await.unwrap();
    // The bell counts exactly what each may decide.
    for (who, count) in [(reviewer(), 1), (admin(), 1), (mallory(), 0), (alice(), 0)] {
        assert_eq!(f.service.count_awaiting_review(&who, 100).await.unwrap(), count, "{who:?}");
    }
    let refused = f.service.approve(&mallory(), request.id, None, "").await.unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)), "{refused:?}");
    let refused = f.service.deny(&bob(), request.id, "").await.unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)), "{refused:?}");
    // Admins review everything.
    f.service.approve(&admin(), request.id, None, "").await.unwrap();
}

pub async fn users_without_an_assignment_cannot_request(f: Fixture) {
    let refused =
        f.service.request_access(&mallory(), &resource("db"), "r", hours(1)).await.unwrap_err();
    assert!(matches!(refused, ServiceError::NoAccess(_)), "{refused:?}");
    let standing =
        f.service.request_access(&mallory(), &resource("wiki"), "r", hours(1)).await.unwrap_err();
    assert!(matches!(standing, ServiceError::StandingAccess(_)), "{standing:?}");
    let unknown =
        f.service.request_access(&alice(), &resource("nope"), "r", hours(1)).await.unwrap_err();
    assert!(matches!(unknown, ServiceError::UnknownResource(_)), "{unknown:?}");
}

pub async fn one_pending_request_per_user_and_resource(f: Fixture) {
    let db = resource("db");
    let first = f.service.request_access(&alice(), &db, "r", hours(1)).await.unwrap();
    match f.service.request_access(&alice(), &db, "again", hours(1)).await.unwrap_err() {
        ServiceError::AlreadyPending { id, .. } => assert_eq!(id, first.id),
        other => panic!("expected AlreadyPending, got {other:?}"),
    }
}

pub async fn deny_is_final(f: Fixture) {
    let request = f.service.request_access(&alice(), &resource("db"), "r", hours(1)).await.unwrap();
    let denied = f.service.deny(&reviewer(), request.id, "not during the freeze").await.unwrap();
    match &denied.state {
        RequestState::Denied { by, note, .. } => {
            assert_eq!(by, &reviewer().user);
            assert_eq!(note, "not during the freeze");
        }
        other => panic!("expected denied, got {other:?}"),
    }
    for refused in [
        f.service.approve(&second_reviewer(), request.id, None, "").await.unwrap_err(),
        f.service.deny(&second_reviewer(), request.id, "").await.unwrap_err(),
        f.service.cancel(&alice(), request.id).await.unwrap_err(),
        f.service.revoke(&admin(), request.id, "").await.unwrap_err(),
    ] {
        assert!(
            matches!(
                refused,
                ServiceError::Refused(TransitionError::NotPending(Status::Denied))
                    | ServiceError::Refused(TransitionError::NotActive(Status::Denied))
            ),
            "{refused:?}"
        );
    }
    assert_eq!(
        actions(&f, request.id).await,
        vec![AuditAction::RequestCreated, AuditAction::RequestDenied]
    );
}

pub async fn requester_cancels_pending_request(f: Fixture) {
    let request = f.service.request_access(&alice(), &resource("db"), "r", hours(1)).await.unwrap();
    let other = f.service.cancel(&bob(), request.id).await.unwrap_err();
    assert!(matches!(other, ServiceError::Refused(TransitionError::NotRequester)), "{other:?}");
    let cancelled = f.service.cancel(&alice(), request.id).await.unwrap();
    assert_eq!(cancelled.recorded_status(), Status::Cancelled);
    let late = f.service.approve(&reviewer(), request.id, None, "").await.unwrap_err();
    assert!(matches!(late, ServiceError::Refused(TransitionError::NotPending(Status::Cancelled))));
    // Cancelling frees the slot for a new request.
    f.service.request_access(&alice(), &resource("db"), "again", hours(1)).await.unwrap();
}

pub async fn threshold_counts_distinct_reviewers(f: Fixture) {
    let db = resource("db");
    let request =
        f.service.request_access(&carol(), &db, "schema migration", hours(8)).await.unwrap();
    let once = f.service.approve(&reviewer(), request.id, None, "").await.unwrap();
    assert_eq!(once.recorded_status(), Status::Pending);
    let twice = f.service.approve(&reviewer(), request.id, None, "").await.unwrap_err();
    assert!(matches!(twice, ServiceError::Refused(TransitionError::AlreadyApproved)), "{twice:?}");
    assert!(f.store.active_grant(&carol().user, &db, f.clock.now()).await.unwrap().is_none());
    // The second distinct reviewer completes it; the shortest approved duration wins.
    f.clock.advance(mins(5));
    let done = f.service.approve(&second_reviewer(), request.id, Some(hours(2)), "").await.unwrap();
    assert_eq!(done.recorded_status(), Status::Active);
    assert_eq!(done.grant().unwrap().expires_at, f.clock.now().plus(hours(2)));
    assert_eq!(
        actions(&f, request.id).await,
        vec![
            AuditAction::RequestCreated,
            AuditAction::ApprovalRecorded,
            AuditAction::RequestApproved
        ]
    );
}

pub async fn a_new_approval_extends_and_never_shortens(f: Fixture) {
    let db = resource("db");
    let long = f.service.request_access(&bob(), &db, "first", hours(8)).await.unwrap();
    let long_expiry = long.grant().unwrap().expires_at;
    f.clock.advance(hours(1));
    let short = f.service.request_access(&bob(), &db, "second", hours(1)).await.unwrap();
    // The one active grant now belongs to the newer request but keeps the later expiry.
    let grant = f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().unwrap();
    assert_eq!(grant.request_id, short.id);
    assert_eq!(grant.expires_at, long_expiry);
    let old = f.store.request(long.id).await.unwrap().unwrap();
    assert!(
        matches!(old.grant().unwrap().end, Some(GrantEnd::Superseded { by_request, .. }) if by_request == short.id)
    );
    assert_eq!(old.recorded_status(), Status::Superseded);

    f.clock.advance(hours(6));
    let longer = f.service.request_access(&bob(), &db, "third", hours(8)).await.unwrap();
    assert_eq!(longer.grant().unwrap().expires_at, f.clock.now().plus(hours(8)));
}

pub async fn grant_is_not_returned_at_or_after_expiry(f: Fixture) {
    let db = resource("db");
    let request = f.service.request_access(&bob(), &db, "r", hours(1)).await.unwrap();
    let expires_at = request.grant().unwrap().expires_at;
    let user = bob().user;
    f.clock.set(expires_at.plus(Duration::ZERO));
    let just_before = jitgate_access::time::Timestamp::from_millis(expires_at.as_millis() - 1);
    assert!(f.store.active_grant(&user, &db, just_before).await.unwrap().is_some());
    assert!(f.store.active_grant(&user, &db, expires_at).await.unwrap().is_none());
    assert!(f.store.active_grant(&user, &db, expires_at.plus(hours(1))).await.unwrap().is_none());
    assert!(f.store.active_grants_for_user(&user, expires_at).await.unwrap().is_empty());
    assert_eq!(f.store.active_grants_for_user(&user, just_before).await.unwrap().len(), 1);
    let revoke_late = f.service.revoke(&admin(), request.id, "").await.unwrap_err();
    assert!(matches!(
        revoke_late,
        ServiceError::Refused(TransitionError::NotActive(Status::Expired))
    ));
}

pub async fn revoke_ends_the_grant_now(f: Fixture) {
    let db = resource("db");
    let request = f.service.request_access(&bob(), &db, "r", hours(8)).await.unwrap();
    let outsider = f.service.revoke(&mallory(), request.id, "").await.unwrap_err();
    assert!(matches!(outsider, ServiceError::Forbidden(_)), "{outsider:?}");
    let pending = f.service.request_access(&alice(), &db, "r", hours(1)).await.unwrap();
    let not_active = f.service.revoke(&admin(), pending.id, "").await.unwrap_err();
    assert!(matches!(
        not_active,
        ServiceError::Refused(TransitionError::NotActive(Status::Pending))
    ));

    let revoked = f.service.revoke(&admin(), request.id, "left the team").await.unwrap();
    assert_eq!(revoked.recorded_status(), Status::Revoked);
    assert!(f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().is_none());
    let again = f.service.revoke(&admin(), request.id, "").await.unwrap_err();
    assert!(matches!(again, ServiceError::Refused(TransitionError::NotActive(Status::Revoked))));
    // The holder may end their own access too.
    let own = f.service.request_access(&bob(), &db, "again", hours(1)).await.unwrap();
    f.service.revoke(&bob(), own.id, "done early").await.unwrap();
    assert_eq!(actions(&f, own.id).await.last(), Some(&AuditAction::GrantRevoked));
}

pub async fn sweep_records_timeouts_and_expiries(f: Fixture) {
    let db = resource("db");
    let pending = f.service.request_access(&alice(), &db, "r", hours(1)).await.unwrap();
    let granted = f.service.request_access(&bob(), &db, "r", hours(1)).await.unwrap();
    assert_eq!(f.service.sweep(100).await.unwrap(), 0, "nothing is due yet");

    f.clock.advance(hours(2));
    assert_eq!(f.service.sweep(100).await.unwrap(), 1, "the grant expired");
    let expired = f.store.request(granted.id).await.unwrap().unwrap();
    assert_eq!(expired.recorded_status(), Status::Expired);
    assert_eq!(actions(&f, granted.id).await.last(), Some(&AuditAction::GrantExpired));

    f.clock.advance(hours(23));
    assert_eq!(f.service.sweep(100).await.unwrap(), 1, "the request timed out");
    assert_eq!(
        f.store.request(pending.id).await.unwrap().unwrap().recorded_status(),
        Status::TimedOut
    );
    let late = f.service.approve(&reviewer(), pending.id, None, "").await.unwrap_err();
    assert!(matches!(late, ServiceError::Refused(TransitionError::NotPending(Status::TimedOut))));
    assert_eq!(f.service.sweep(100).await.unwrap(), 0, "each is recorded once");
    assert!(f.store.due(f.clock.now(), 10).await.unwrap().is_empty());
}

pub async fn timed_out_request_cannot_be_approved_before_the_sweep(f: Fixture) {
    let request = f.service.request_access(&alice(), &resource("db"), "r", hours(1)).await.unwrap();
    f.clock.advance(hours(24));
    let late = f.service.approve(&reviewer(), request.id, None, "").await.unwrap_err();
    assert!(
        matches!(late, ServiceError::Refused(TransitionError::NotPending(Status::TimedOut))),
        "{late:?}"
    );
}

/// Two reviewers racing: one approves while the other denies. Exactly one outcome lands and
/// the audit trail records exactly one decision, every time.
pub async fn racing_reviewers_produce_one_outcome(f: Fixture) {
    let f = std::sync::Arc::new(f);
    for round in 0..20 {
        let requester = person(&format!("dev{round}@example.com"), &["dev"]);
        let request =
            f.service.request_access(&requester, &resource("db"), "race", hours(1)).await.unwrap();
        let (a, b) = (f.clone(), f.clone());
        let approve =
            tokio::spawn(async move { a.service.approve(&reviewer(), request.id, None, "").await });
        let deny =
            tokio::spawn(async move { b.service.deny(&second_reviewer(), request.id, "no").await });
        let (approve, deny) = (approve.await.unwrap(), deny.await.unwrap());
        assert!(
            approve.is_ok() != deny.is_ok(),
            "round {round}: exactly one must win: {approve:?} / {deny:?}"
        );
        let loser = approve.as_ref().err().or(deny.as_ref().err()).unwrap();
        assert!(
            matches!(loser, ServiceError::Refused(TransitionError::NotPending(_))),
            "{loser:?}"
        );
        let decisions: Vec<AuditAction> = actions(&f, request.id)
            .await
            .into_iter()
            .filter(|a| matches!(a, AuditAction::RequestApproved | AuditAction::RequestDenied))
            .collect();
        assert_eq!(decisions.len(), 1, "round {round}: {decisions:?}");
        let stored = f.store.request(request.id).await.unwrap().unwrap();
        let expected = if approve.is_ok() { Status::Active } else { Status::Denied };
        assert_eq!(stored.recorded_status(), expected);
    }
}
