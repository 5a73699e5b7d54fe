//! Pausing and resuming an active grant: switching it off and on without ending it.
//!
//! The grant keeps its window: pausing never lengthens access, so `expires_at` is untouched
//! and a grant paused past its end simply expires. Both transitions rewrite the grant pointer
//! in place (`Set` expecting the same holder), which is what every proxy reads and what the
//! change feed announces, so a pause locks the user out everywhere as a revocation does.

use super::{Change, Context, GrantPointerUpdate, TransitionError, checked_text, write};
use crate::audit::{Actor, AuditAction};
use crate::ids::UserId;
use crate::policy::JitPolicy;
use crate::request::{AccessRequest, Grant, Pause, RequestState, Status};

/// In what capacity someone pauses or resumes a grant; decided by the service, which knows
/// who reviews what. The holder counts as the holder even when they also review the
/// resource: nobody lifts a reviewer's pause of their own grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseRole {
    Holder,
    /// A reviewer of the request, or an admin.
    Reviewer,
}

/// The request's grant if it is active at `ctx.now`, with the request to rewrite.
fn active_grant<'r>(
    ctx: &Context<'_>,
    request: &'r AccessRequest,
) -> Result<(AccessRequest, &'r Grant), TransitionError> {
    let status = request.status_at(ctx.now);
    match (&request.state, status) {
        (RequestState::Approved { grant }, Status::Active) => Ok((request.clone(), grant)),
        _ => Err(TransitionError::NotActive(status)),
    }
}

/// The change that stores `updated`'s grant over itself in the grant pointer.
fn rewrite(updated: AccessRequest, grant: Grant, event: crate::audit::AuditEvent) -> Change {
    let expected = Some(grant.request_id);
    Change {
        requests: vec![write(updated)],
        grant_pointer: Some(GrantPointerUpdate::Set { grant, expected }),
        pending_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    }
}

/// Switches an active grant off. Allowed only where the policy (as it resolves now) allows
/// pausing; who may do it at all is the service's decision.
pub fn pause(
    ctx: &Context<'_>,
    request: &AccessRequest,
    by: &UserId,
    note: &str,
    policy: &JitPolicy,
) -> Result<Change, TransitionError> {
    let (mut updated, grant) = active_grant(ctx, request)?;
    if grant.paused.is_some() {
        return Err(TransitionError::AlreadyPaused);
    }
    if !policy.allow_pause {
        return Err(TransitionError::PauseNotAllowed);
    }
    let note = checked_text(note, "note")?;
    let mut grant = grant.clone();
    grant.paused = Some(Pause { by: by.clone(), at: ctx.now, note: note.clone() });
    updated.state = RequestState::Approved { grant: grant.clone() };
    let note = format!("{note} (paused until resumed; still ends at {})", grant.expires_at);
    let event =
        ctx.audit(&updated, Actor::User(by.clone()), AuditAction::GrantPaused, note.trim_start());
    Ok(rewrite(updated, grant, event))
}

/// Switches a paused grant back on, for what is left of its window. Needs no policy: a grant
/// paused before the operator turned pausing off can still be resumed. A pause by a reviewer
/// can only be lifted by a reviewer.
pub fn resume(
    ctx: &Context<'_>,
    request: &AccessRequest,
    by: &UserId,
    role: PauseRole,
    note: &str,
) -> Result<Change, TransitionError> {
    let (mut updated, grant) = active_grant(ctx, request)?;
    if grant.paused.is_none() {
        return Err(TransitionError::NotPaused);
    }
    if role == PauseRole::Holder && grant.paused_by_other() {
        return Err(TransitionError::PausedByReviewer);
    }
    let note = checked_text(note, "note")?;
    let mut grant = grant.clone();
    grant.paused = None;
    updated.state = RequestState::Approved { grant: grant.clone() };
    let event = ctx.audit(&updated, Actor::User(by.clone()), AuditAction::GrantResumed, note);
    Ok(rewrite(updated, grant, event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GroupName, IdGenerator, RequestId, ResourceName};
    use crate::policy::tests::{hours, jit};
    use crate::policy::{Approval, Identity};
    use crate::time::Timestamp;
    use crate::transition::{NewRequest, open};

    fn user(email: &str) -> UserId {
        UserId::parse(email).unwrap()
    }

    fn pausable() -> JitPolicy {
        JitPolicy { allow_pause: true, ..jit(Approval::Auto) }
    }

    fn granted(ids: &IdGenerator) -> AccessRequest {
        let ctx = Context { now: Timestamp::from_millis(1_000), ids };
        let new = NewRequest {
            requester: Identity::new(user("a@x.io"), [GroupName::parse("dev").unwrap()]),
            resource: ResourceName::parse("db").unwrap(),
            reason: "incident".into(),
            duration: hours(1),
        };
        let id = RequestId::from(ids.next(ctx.now));
        open(&ctx, new, id, &pausable(), None).unwrap().requests.remove(0).request
    }

    fn at(ids: &IdGenerator, millis: i64) -> Context<'_> {
        Context { now: Timestamp::from_millis(millis), ids }
    }

    fn grant_of(change: &Change) -> &Grant {
        match &change.grant_pointer {
            Some(GrantPointerUpdate::Set { grant, .. }) => grant,
            other => panic!("expected the pointer rewritten, got {other:?}"),
        }
    }

    #[test]
    fn pausing_locks_without_moving_the_end_and_rewrites_the_pointer_in_place() {
        let ids = IdGenerator::new();
        let request = granted(&ids);
        let holder = request.requester.clone();
        let change = pause(&at(&ids, 2_000), &request, &holder, " lunch ", &pausable()).unwrap();
        let grant = grant_of(&change);
        assert!(grant.is_active_at(Timestamp::from_millis(2_000)));
        assert!(!grant.allows_at(Timestamp::from_millis(2_000)));
        assert_eq!(grant.expires_at, request.grant().unwrap().expires_at, "the window runs on");
        assert_eq!(grant.paused.as_ref().map(|p| p.note.as_str()), Some("lunch"));
        assert!(matches!(
            change.grant_pointer,
            Some(GrantPointerUpdate::Set { expected: Some(id), .. }) if id == request.id
        ));
        assert_eq!(change.requests[0].expected_version, Some(request.version));
        assert_eq!(change.audit[0].action, AuditAction::GrantPaused);

        let paused = change.requests[0].request.clone();
        let again = pause(&at(&ids, 3_000), &paused, &holder, "", &pausable());
        assert_eq!(again.unwrap_err(), TransitionError::AlreadyPaused);
        let resumed = resume(&at(&ids, 3_000), &paused, &holder, PauseRole::Holder, "").unwrap();
        assert!(grant_of(&resumed).allows_at(Timestamp::from_millis(3_000)));
        assert_eq!(resumed.audit[0].action, AuditAction::GrantResumed);
        let resumed = resumed.requests[0].request.clone();
        let twice = resume(&at(&ids, 4_000), &resumed, &holder, PauseRole::Holder, "");
        assert_eq!(twice.unwrap_err(), TransitionError::NotPaused);
    }

    #[test]
    fn the_policy_must_allow_pausing_but_not_resuming() {
        let ids = IdGenerator::new();
        let request = granted(&ids);
        let holder = request.requester.clone();
        let strict = jit(Approval::Auto);
        let refused = pause(&at(&ids, 2_000), &request, &holder, "", &strict).unwrap_err();
        assert_eq!(refused, TransitionError::PauseNotAllowed);
        let paused = pause(&at(&ids, 2_000), &request, &holder, "", &pausable()).unwrap();
        let paused = paused.requests[0].request.clone();
        assert!(resume(&at(&ids, 3_000), &paused, &holder, PauseRole::Holder, "").is_ok());
    }

    #[test]
    fn a_reviewers_pause_is_lifted_only_by_a_reviewer() {
        let ids = IdGenerator::new();
        let request = granted(&ids);
        let (holder, reviewer) = (request.requester.clone(), user("r@x.io"));
        let change = pause(&at(&ids, 2_000), &request, &reviewer, "", &pausable()).unwrap();
        let paused = change.requests[0].request.clone();
        let by_holder = resume(&at(&ids, 3_000), &paused, &holder, PauseRole::Holder, "");
        assert_eq!(by_holder.unwrap_err(), TransitionError::PausedByReviewer);
        assert!(resume(&at(&ids, 3_000), &paused, &reviewer, PauseRole::Reviewer, "").is_ok());
    }

    #[test]
    fn a_paused_grant_still_expires_and_then_can_be_neither_paused_nor_resumed() {
        let ids = IdGenerator::new();
        let request = granted(&ids);
        let holder = request.requester.clone();
        let end = request.grant().unwrap().expires_at;
        let paused = pause(&at(&ids, 2_000), &request, &holder, "", &pausable()).unwrap();
        let paused = paused.requests[0].request.clone();
        let late = at(&ids, end.as_millis());
        assert_eq!(paused.status_at(late.now), Status::Expired);
        let refused = resume(&late, &paused, &holder, PauseRole::Holder, "").unwrap_err();
        assert_eq!(refused, TransitionError::NotActive(Status::Expired));
        let refused = pause(&late, &request, &holder, "", &pausable()).unwrap_err();
        assert_eq!(refused, TransitionError::NotActive(Status::Expired));
        let expired = crate::transition::expire(&late, &paused).unwrap();
        assert_eq!(expired.requests[0].request.recorded_status(), Status::Expired);
    }
}
