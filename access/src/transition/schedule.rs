//! Scheduled access: a request may name a future start, at most the policy's `schedule_ahead`
//! from now. Reviewers approve it ahead of time; the grant's window (its clock) runs from the
//! start, for the approved duration.
//!
//! Approved, a scheduled grant takes the user's grant pointer at once, like any grant, so every
//! proxy instance learns of it (and of its cancellation or revocation) through the same change
//! feed as a revocation. Before its start [`Grant::allows_at`] lets nobody in; from the start
//! the clock alone opens it, whether or not the sweeper has run. The sweeper only records the
//! start ([`record_start`]: the `grant_started` audit event, which mails the holder).
//!
//! One grant per user and resource still holds, and a scheduled grant must neither cut the
//! user's present access nor be silently merged with it (that would grant the gap between
//! the two windows, which nobody approved). The rule ([`check_current`]) is the simplest that
//! keeps both: a scheduled grant is only approved while the user holds no grant on the
//! resource, and nothing but breaking glass is granted over a scheduled grant before its
//! start (the requester cancels it first).

use std::time::Duration;

use super::{
    Change, Context, GrantPointerUpdate, NewRequest, TransitionError, open_request, write,
};
use crate::audit::{Actor, AuditAction};
use crate::ids::{RequestId, UserId};
use crate::policy::JitPolicy;
use crate::request::{AccessRequest, RequestState};
use crate::time::{Timestamp, format_duration};

/// How far in the past a start may be and still count as "now": a form filled in over a
/// minute, or a client's clock a little behind. Anything earlier is refused, never moved.
pub const START_TOLERANCE: Duration = Duration::from_secs(60);

/// Opens `new` to start at `starts_at`: checked against the policy's `schedule_ahead`, then
/// opened like any request (under automatic approval, approved in the same change). A start
/// within [`START_TOLERANCE`] of now, or earlier by no more than it, is an ordinary request.
pub fn open_scheduled(
    ctx: &Context<'_>,
    new: NewRequest,
    starts_at: Timestamp,
    id: RequestId,
    policy: &JitPolicy,
    current: Option<&AccessRequest>,
) -> Result<Change, TransitionError> {
    let ahead = policy.schedule_ahead.ok_or(TransitionError::SchedulingNotAllowed)?;
    if starts_at.plus(START_TOLERANCE) < ctx.now {
        return Err(TransitionError::StartInPast(starts_at));
    }
    if starts_at > ctx.now.plus(ahead) {
        return Err(TransitionError::StartTooFar(format_duration(ahead)));
    }
    let starts_at = (starts_at > ctx.now).then_some(starts_at);
    open_request(ctx, new, starts_at, id, policy, current)
}

/// When a request opened at `now` times out: after the policy's `pending_timeout`, and for a
/// scheduled one no later than the end of the window it asks for (approved after its start,
/// the grant still ends at start + duration, so later there is nothing left to grant).
pub(super) fn pending_until(
    now: Timestamp,
    policy: &JitPolicy,
    starts_at: Option<Timestamp>,
    duration: Duration,
) -> Timestamp {
    let timeout = now.plus(policy.pending_timeout);
    starts_at.map_or(timeout, |start| timeout.min(start.plus(duration)))
}

/// Whether `request` may be granted now given `current`, the request holding the user's
/// grant pointer on the resource (see the module's rule): a scheduled request only when the
/// user holds no grant there, any other only when the holder's window has started.
pub(super) fn check_current(
    request: &AccessRequest,
    current: Option<&AccessRequest>,
    now: Timestamp,
) -> Result<(), TransitionError> {
    let Some(grant) = current.and_then(AccessRequest::grant).filter(|g| g.is_active_at(now)) else {
        return Ok(());
    };
    if let Some(start) = grant.starts_at.filter(|_| grant.is_scheduled_at(now)) {
        return Err(TransitionError::AccessScheduled(start));
    }
    if request.starts_at.is_some_and(|start| start > now) {
        return Err(TransitionError::HoldsAccess(grant.expires_at));
    }
    Ok(())
}

/// The requester withdraws scheduled `request` before its start: cancelled, its grant
/// pointer cleared in the same change (every proxy hears it as it hears a revocation).
pub(super) fn cancel_scheduled(ctx: &Context<'_>, request: &AccessRequest, by: &UserId) -> Change {
    let mut updated = request.clone();
    updated.state = RequestState::Cancelled { by: by.clone(), at: ctx.now };
    let pointer = GrantPointerUpdate::ClearIf {
        user: request.requester.clone(),
        resource: request.resource.clone(),
        request_id: request.id,
    };
    let note = "scheduled access cancelled before its start";
    let event = ctx.audit(&updated, Actor::User(by.clone()), AuditAction::RequestCancelled, note);
    Change {
        requests: vec![write(updated)],
        grant_pointer: Some(pointer),
        pending_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    }
}

/// Records that scheduled `request`'s window has opened (the caller checked it has, and has
/// not ended): its grant loses `starts_at`, in the request and in the pointer, and the start
/// is audited as `grant_started`, which announces it to the holder.
pub(super) fn record_start(ctx: &Context<'_>, request: &AccessRequest) -> Change {
    let mut updated = request.clone();
    let mut pointer = None;
    let mut at = ctx.now;
    if let RequestState::Approved { grant } = &mut updated.state {
        at = grant.starts_at.take().unwrap_or(ctx.now);
        pointer =
            Some(GrantPointerUpdate::Set { grant: grant.clone(), expected: Some(request.id) });
    }
    let note = format!("started at {at}");
    let event = ctx.audit(&updated, Actor::System, AuditAction::GrantStarted, note);
    Change {
        requests: vec![write(updated)],
        grant_pointer: pointer,
        pending_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{approve, cancel, expire, revoke};
    use super::*;
    use crate::ids::{GroupName, IdGenerator, ResourceName};
    use crate::policy::tests::{hours, jit, manual};
    use crate::policy::{Approval, Identity};
    use crate::request::Status;

    const HOUR: i64 = 3_600_000;

    fn ask() -> NewRequest {
        NewRequest {
            requester: Identity::new(
                UserId::parse("ann@x.io").unwrap(),
                [GroupName::parse("dev").unwrap()],
            ),
            resource: ResourceName::parse("db").unwrap(),
            reason: "migration".into(),
            duration: hours(1),
        }
    }

    fn at(ids: &IdGenerator, millis: i64) -> Context<'_> {
        Context { now: Timestamp::from_millis(millis), ids }
    }

    fn scheduled(ids: &IdGenerator, policy: &JitPolicy, start: i64) -> AccessRequest {
        let ctx = at(ids, 0);
        let id = RequestId::from(ids.next(ctx.now));
        let change =
            open_scheduled(&ctx, ask(), Timestamp::from_millis(start), id, policy, None).unwrap();
        change.requests[0].request.clone()
    }

    #[test]
    fn an_approved_schedule_holds_the_pointer_but_opens_only_at_its_start_for_its_duration() {
        let ids = IdGenerator::new();
        let policy = jit(manual(1));
        let request = scheduled(&ids, &policy, 3 * HOUR);
        assert_eq!(request.pending_until, Timestamp::from_millis(4 * HOUR), "start + duration");
        let reviewer = UserId::parse("rev@x.io").unwrap();
        let change = approve(&at(&ids, HOUR), &request, &reviewer, None, "", &policy, None);
        let change = change.unwrap();
        let approved = &change.requests[0].request;
        let grant = approved.grant().unwrap().clone();
        assert!(matches!(change.grant_pointer, Some(GrantPointerUpdate::Set { .. })));
        assert_eq!(grant.expires_at, Timestamp::from_millis(4 * HOUR), "its clock starts at 3h");
        assert_eq!(approved.status_at(Timestamp::from_millis(HOUR)), Status::Scheduled);
        assert!(!grant.allows_at(Timestamp::from_millis(3 * HOUR - 1)));
        assert!(grant.allows_at(Timestamp::from_millis(3 * HOUR)), "the clock opens it");
        assert!(!grant.allows_at(Timestamp::from_millis(4 * HOUR)));
        assert_eq!(expire(&at(&ids, 2 * HOUR), approved), Err(TransitionError::NotDue));
        let started = expire(&at(&ids, 3 * HOUR), approved).unwrap();
        assert_eq!(started.audit[0].action, AuditAction::GrantStarted);
        let after = &started.requests[0].request;
        assert_eq!(after.recorded_status(), Status::Active);
        assert_eq!(after.grant().unwrap().expires_at, grant.expires_at, "the start moved nothing");
        assert_eq!(after.starts_at, Some(Timestamp::from_millis(3 * HOUR)), "kept for display");
    }

    /// Under `starts = "on_first_use"`, a request that names a start starts then: the
    /// schedule is its start, so no claim waits on it.
    #[test]
    fn a_schedule_on_a_first_use_policy_starts_at_its_start_with_no_claim() {
        let ids = IdGenerator::new();
        let mut policy = jit(manual(1));
        policy.starts = crate::policy::Starts::OnFirstUse { claim_within: hours(24) };
        let request = scheduled(&ids, &policy, 3 * HOUR);
        let reviewer = UserId::parse("rev@x.io").unwrap();
        let change = approve(&at(&ids, HOUR), &request, &reviewer, None, "", &policy, None);
        let grant = change.unwrap().requests[0].request.grant().unwrap().clone();
        assert_eq!(grant.claim, None, "nothing waits for a first use");
        assert_eq!(grant.expires_at, Timestamp::from_millis(4 * HOUR), "start + duration");
        assert!(grant.allows_at(Timestamp::from_millis(3 * HOUR)), "the clock opens it");
    }

    #[test]
    fn starts_in_the_past_or_beyond_the_horizon_are_refused_and_a_policy_may_forbid_them() {
        let ids = IdGenerator::new();
        let ctx = at(&ids, 10 * HOUR);
        let id = RequestId::from(ids.next(ctx.now));
        let policy = jit(manual(1));
        let open = |start: i64, policy: &JitPolicy| {
            open_scheduled(&ctx, ask(), Timestamp::from_millis(start), id, policy, None)
        };
        assert!(matches!(open(9 * HOUR, &policy), Err(TransitionError::StartInPast(_))));
        let soon = open(10 * HOUR - 30_000, &policy).unwrap();
        assert_eq!(soon.requests[0].request.starts_at, None, "within the tolerance: now");
        let far = 10 * HOUR + 14 * 24 * HOUR + 1;
        assert!(matches!(open(far, &policy), Err(TransitionError::StartTooFar(_))));
        let off = JitPolicy { schedule_ahead: None, ..policy };
        assert_eq!(open(11 * HOUR, &off).unwrap_err(), TransitionError::SchedulingNotAllowed);
    }

    #[test]
    fn a_schedule_never_cuts_present_access_and_nothing_else_replaces_it_before_its_start() {
        let ids = IdGenerator::new();
        let auto = jit(Approval::Auto);
        let ctx = at(&ids, 0);
        let now_id = RequestId::from(ids.next(ctx.now));
        let present = super::super::open(&ctx, ask(), now_id, &auto, None).unwrap();
        let present = present.requests[0].request.clone();
        let later = RequestId::from(ids.next(ctx.now));
        let start = Timestamp::from_millis(5 * HOUR);
        let refused = open_scheduled(&ctx, ask(), start, later, &auto, Some(&present));
        assert!(matches!(refused, Err(TransitionError::HoldsAccess(_))));

        let waiting = open_scheduled(&ctx, ask(), start, later, &auto, None).unwrap();
        let waiting = waiting.requests[0].request.clone();
        let again = RequestId::from(ids.next(ctx.now));
        let refused = super::super::open(&ctx, ask(), again, &auto, Some(&waiting));
        assert_eq!(refused.unwrap_err(), TransitionError::AccessScheduled(start));
    }

    #[test]
    fn cancelling_or_revoking_before_the_start_clears_the_pointer() {
        let ids = IdGenerator::new();
        let auto = jit(Approval::Auto);
        let ctx = at(&ids, 0);
        let id = RequestId::from(ids.next(ctx.now));
        let start = Timestamp::from_millis(2 * HOUR);
        let change = open_scheduled(&ctx, ask(), start, id, &auto, None).unwrap();
        let request = change.requests[0].request.clone();
        let cancelled = cancel(&ctx, &request, &request.requester).unwrap();
        assert_eq!(cancelled.requests[0].request.recorded_status(), Status::Cancelled);
        assert!(matches!(cancelled.grant_pointer, Some(GrantPointerUpdate::ClearIf { .. })));
        let admin = UserId::parse("admin@x.io").unwrap();
        let revoked = revoke(&ctx, &request, &admin, "not needed").unwrap();
        assert_eq!(revoked.requests[0].request.recorded_status(), Status::Revoked);
        assert!(matches!(revoked.grant_pointer, Some(GrantPointerUpdate::ClearIf { .. })));
    }
}
