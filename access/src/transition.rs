//! The request/grant state machine as pure functions: current state + actor + policy + now in,
//! a [`Change`] (or a typed refusal) out. Stores only commit changes atomically; they never
//! decide anything, so both backends behave identically by construction.

use std::collections::BTreeSet;
use std::time::Duration;

use thiserror::Error;

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::ids::{AuditId, IdGenerator, RequestId, ResourceName, UserId};
use crate::policy::{Approval, Identity, JitPolicy, Starts};
use crate::request::{AccessRequest, ApprovalVote, Grant, GrantEnd, RequestState, Status};
use crate::time::{Timestamp, format_duration};

mod break_glass;
mod claim;
mod extend;
mod pause;
mod schedule;
pub use break_glass::{acknowledge, break_glass};
pub use claim::claim;
pub use extend::{ExtensionAsk, extension_room, open_extension};
pub use pause::{PauseRole, pause, resume};
pub use schedule::{START_TOLERANCE, open_scheduled};

/// Longest reason or reviewer note accepted, in characters.
pub const MAX_TEXT_LEN: usize = 2_000;

/// A set of writes that must land together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub requests: Vec<RequestWrite>,
    pub grant_pointer: Option<GrantPointerUpdate>,
    pub pending_pointer: Option<PendingPointerUpdate>,
    pub audit: Vec<AuditEvent>,
    /// Notifications announcing this change, committed with it (added by the service).
    pub outbox: Vec<crate::outbox::Notification>,
}

/// A request to store, valid only if the stored version still equals `expected_version`
/// (`None`: the request must not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestWrite {
    pub request: AccessRequest,
    pub expected_version: Option<u64>,
}

/// The per-(user, resource) pointer to the one active grant, which the proxy reads.
// One per committed change, never in a collection: a boxed grant would save nothing worth an
// allocation (the grant grew past clippy's bound with first use's claim).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantPointerUpdate {
    /// Install `grant`; valid only if the pointer currently names `expected` (or is absent
    /// when `expected` is `None`).
    Set { grant: Grant, expected: Option<RequestId> },
    /// Remove the pointer if it still names `request_id`; a no-op otherwise.
    ClearIf { user: UserId, resource: ResourceName, request_id: RequestId },
}

/// The per-(user, resource) pointer to the one pending request. A new request takes it in the
/// same atomic commit that stores the request, so of two racing submits for one user and
/// resource exactly one commits; every transition out of pending clears it in its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingPointerUpdate {
    /// Point at `request_id`, pending until `pending_until`; valid only if no request of
    /// `user` for `resource` is pending at `at` (a pointer whose request's deadline is at or
    /// before `at` counts as absent: the clock decides timeouts, not the sweeper having run;
    /// so does one naming a request no longer pending, which a writer failed to clear).
    Set {
        user: UserId,
        resource: ResourceName,
        request_id: RequestId,
        pending_until: Timestamp,
        at: Timestamp,
    },
    /// Only the check of [`PendingPointerUpdate::Set`]: nothing is pending at `at`.
    Vacant { user: UserId, resource: ResourceName, at: Timestamp },
    /// Remove the pointer if it still names `request_id`; a no-op otherwise.
    ClearIf { user: UserId, resource: ResourceName, request_id: RequestId },
}

impl PendingPointerUpdate {
    /// The pointer clear for `request`, which is leaving pending.
    fn clear(request: &AccessRequest) -> Self {
        PendingPointerUpdate::ClearIf {
            user: request.requester.clone(),
            resource: request.resource.clone(),
            request_id: request.id,
        }
    }
}

/// Why a transition was refused. Each is something a user or reviewer can be told.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TransitionError {
    #[error("a reason is required")]
    ReasonRequired,
    #[error("the {what} is too long ({len} characters; at most {max})")]
    TextTooLong { what: &'static str, len: usize, max: usize },
    #[error("{0}")]
    DurationNotAllowed(String),
    #[error("the request is {0}, not pending")]
    NotPending(Status),
    #[error("the grant is {0}, not active")]
    NotActive(Status),
    #[error("you cannot review your own request")]
    SelfReview,
    #[error("you have already approved this request")]
    AlreadyApproved,
    #[error("only the requester can cancel a request")]
    NotRequester,
    #[error("nothing is due on this request yet")]
    NotDue,
    #[error("this resource's policy does not allow pausing a grant")]
    PauseNotAllowed,
    #[error("the grant is already paused")]
    AlreadyPaused,
    #[error("the grant is not paused")]
    NotPaused,
    #[error("a reviewer paused this grant; only a reviewer or an admin can resume it")]
    PausedByReviewer,
    #[error("this resource's policy does not allow extending a grant; ask for access anew")]
    ExtensionNotAllowed,
    #[error("you may not break glass on this resource; ask for access instead")]
    BreakGlassNotAllowed,
    #[error("this grant was not made by breaking glass; there is nothing to acknowledge")]
    NotBreakGlass,
    #[error("this break-glass grant has already been reviewed")]
    AlreadyAcknowledged,
    #[error("you cannot acknowledge your own break-glass access; another reviewer must")]
    OwnBreakGlass,
    #[error("this resource's policy does not allow scheduling access; ask for it now")]
    SchedulingNotAllowed,
    #[error(
        "the start {0} is in the past; choose a later start, or leave it empty to start when approved"
    )]
    StartInPast(Timestamp),
    #[error("the start is too far ahead: at most {0} from now")]
    StartTooFar(String),
    #[error(
        "the requester holds access to this resource until {0}; a scheduled grant would end it \
         early, so approve this once that access has ended (or the requester ends it)"
    )]
    HoldsAccess(Timestamp),
    #[error(
        "the requester has access to this resource scheduled from {0}; cancel that first, \
         since a new grant would replace it"
    )]
    AccessScheduled(Timestamp),
    #[error("this grant does not wait for first use")]
    NotFirstUse,
    #[error("this grant has already been claimed by its first use")]
    AlreadyClaimed,
    #[error("this grant has not been used yet, so its time has not started; use it first")]
    Unclaimed,
}

/// What every transition needs besides the request: the time and a source of audit ids.
pub struct Context<'a> {
    pub now: Timestamp,
    pub ids: &'a IdGenerator,
}

impl Context<'_> {
    fn audit(
        &self,
        request: &AccessRequest,
        actor: Actor,
        action: AuditAction,
        note: impl Into<String>,
    ) -> AuditEvent {
        AuditEvent::about(
            AuditId::from(self.ids.next(self.now)),
            self.now,
            actor,
            action,
            request,
            note,
        )
    }
}

/// What a user asks for.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub requester: Identity,
    pub resource: ResourceName,
    pub reason: String,
    pub duration: Duration,
}

fn checked_text(text: &str, what: &'static str) -> Result<String, TransitionError> {
    let text = text.trim();
    let len = text.chars().count();
    if len > MAX_TEXT_LEN {
        return Err(TransitionError::TextTooLong { what, len, max: MAX_TEXT_LEN });
    }
    Ok(text.to_owned())
}

fn check_requested_duration(policy: &JitPolicy, duration: Duration) -> Result<(), TransitionError> {
    if policy.allows_duration(duration) {
        return Ok(());
    }
    let max = format_duration(policy.max_duration);
    let message = if duration > policy.max_duration {
        format!("{} exceeds the maximum of {max}", format_duration(duration))
    } else if policy.allow_custom_duration {
        format!("the duration must be between 1m and {max}")
    } else {
        let presets: Vec<String> = policy.durations.iter().map(|d| format_duration(*d)).collect();
        format!("choose one of the offered durations: {}", presets.join(", "))
    };
    Err(TransitionError::DurationNotAllowed(message))
}

/// A reviewer may change the duration to anything within the policy's bounds.
fn check_approved_duration(policy: &JitPolicy, duration: Duration) -> Result<(), TransitionError> {
    if duration > policy.max_duration || duration < JitPolicy::MIN_DURATION.min(policy.max_duration)
    {
        return Err(TransitionError::DurationNotAllowed(format!(
            "the approved duration must be between 1m and {}",
            format_duration(policy.max_duration)
        )));
    }
    Ok(())
}

fn write(mut request: AccessRequest) -> RequestWrite {
    let expected_version = Some(request.version);
    request.version += 1;
    RequestWrite { request, expected_version }
}

/// Opens a request. Under automatic approval the same change also approves it (actor: system),
/// so a crash can never leave an auto-approvable request pending.
///
/// `current` is the request that holds the user's active grant for this resource, if any.
pub fn open(
    ctx: &Context<'_>,
    new: NewRequest,
    id: RequestId,
    policy: &JitPolicy,
    current: Option<&AccessRequest>,
) -> Result<Change, TransitionError> {
    open_request(ctx, new, None, id, policy, current)
}

/// [`open`], for a window starting at `starts_at` when given (already checked against the
/// policy by [`open_scheduled`]).
fn open_request(
    ctx: &Context<'_>,
    new: NewRequest,
    starts_at: Option<Timestamp>,
    id: RequestId,
    policy: &JitPolicy,
    current: Option<&AccessRequest>,
) -> Result<Change, TransitionError> {
    let reason = checked_text(&new.reason, "reason")?;
    let reason_required = policy.reason_required || policy.approval == Approval::Auto;
    if reason_required && reason.is_empty() {
        return Err(TransitionError::ReasonRequired);
    }
    check_requested_duration(policy, new.duration)?;
    let request = AccessRequest {
        id,
        version: 1,
        requester: new.requester.user,
        requester_groups: new.requester.groups,
        resource: new.resource,
        reason,
        requested_duration: new.duration,
        created_at: ctx.now,
        pending_until: schedule::pending_until(ctx.now, policy, starts_at, new.duration),
        approvals: Vec::new(),
        state: RequestState::Pending,
        extends: None,
        break_glass: None,
        starts_at,
    };
    let created = ctx.audit(
        &request,
        Actor::User(request.requester.clone()),
        AuditAction::RequestCreated,
        request.reason.clone(),
    );
    let approved = if policy.approval == Approval::Auto {
        schedule::check_current(&request, current, ctx.now)?;
        let duration = request.requested_duration;
        let auto = "approved automatically";
        let approved = (AuditAction::RequestApproved, auto);
        let window = (duration, policy.starts);
        Some(grant_now(ctx, request.clone(), window, Actor::System, approved, current))
    } else {
        None
    };
    Ok(opening(ctx, request, created, approved))
}

/// The change that opens `request` (audited by `created`): under automatic approval the
/// `approved` change, with the request created in its approved state (one write, not two);
/// otherwise the request pending, taking the user's pending slot for the resource.
fn opening(
    ctx: &Context<'_>,
    request: AccessRequest,
    created: AuditEvent,
    approved: Option<Change>,
) -> Change {
    let (user, resource) = (request.requester.clone(), request.resource.clone());
    if let Some(mut change) = approved {
        if let Some(first) = change.requests.first_mut() {
            first.request.version = 1;
            first.expected_version = None;
        }
        change.audit.insert(0, created);
        // Never pending itself, it still may not pass a request that is.
        change.pending_pointer = Some(PendingPointerUpdate::Vacant { user, resource, at: ctx.now });
        return change;
    }
    let pointer = PendingPointerUpdate::Set {
        user,
        resource,
        request_id: request.id,
        pending_until: request.pending_until,
        at: ctx.now,
    };
    Change {
        requests: vec![RequestWrite { request, expected_version: None }],
        grant_pointer: None,
        pending_pointer: Some(pointer),
        audit: vec![created],
        outbox: Vec::new(),
    }
}

fn ensure_reviewable(
    request: &AccessRequest,
    reviewer: &UserId,
    now: Timestamp,
) -> Result<(), TransitionError> {
    let status = request.status_at(now);
    if status != Status::Pending {
        return Err(TransitionError::NotPending(status));
    }
    if &request.requester == reviewer {
        return Err(TransitionError::SelfReview);
    }
    Ok(())
}

/// Records `reviewer`'s approval. Once distinct approvals reach the policy's threshold the
/// grant starts now, for the shortest duration any approver allowed; a grant the user already
/// holds is extended, never shortened.
pub fn approve(
    ctx: &Context<'_>,
    request: &AccessRequest,
    reviewer: &UserId,
    duration: Option<Duration>,
    note: &str,
    policy: &JitPolicy,
    current: Option<&AccessRequest>,
) -> Result<Change, TransitionError> {
    ensure_reviewable(request, reviewer, ctx.now)?;
    if request.approvers().any(|r| r == reviewer) {
        return Err(TransitionError::AlreadyApproved);
    }
    let note = checked_text(note, "note")?;
    let duration = duration.unwrap_or(request.requested_duration);
    check_approved_duration(policy, duration)?;
    let mut updated = request.clone();
    updated.approvals.push(ApprovalVote {
        reviewer: reviewer.clone(),
        at: ctx.now,
        duration,
        note: note.clone(),
    });
    let distinct: BTreeSet<&UserId> = updated.approvers().collect();
    let needed = policy.approvals_needed().max(1) as usize;
    if distinct.len() < needed {
        let event = ctx.audit(
            &updated,
            Actor::User(reviewer.clone()),
            AuditAction::ApprovalRecorded,
            format!("approval {} of {needed}; {note}", distinct.len())
                .trim_end_matches("; ")
                .to_owned(),
        );
        return Ok(Change {
            requests: vec![write(updated)],
            grant_pointer: None,
            pending_pointer: None,
            audit: vec![event],
            outbox: Vec::new(),
        });
    }
    let shortest = updated.approvals.iter().map(|v| v.duration).min().unwrap_or(duration);
    if updated.extends.is_some() {
        let actor = Actor::User(reviewer.clone());
        return extend::grant_extension(ctx, updated, shortest, actor, &note, policy, current);
    }
    schedule::check_current(&updated, current, ctx.now)?;
    let approved = (AuditAction::RequestApproved, note.as_str());
    let actor = Actor::User(reviewer.clone());
    Ok(grant_now(ctx, updated, (shortest, policy.starts), actor, approved, current))
}

/// Moves a pending request to approved with a grant of `duration` starting now, at the
/// request's scheduled start (its clock runs from there, even when approved after it), or,
/// under `Starts::OnFirstUse` for a request asked for now, waiting for its first use until
/// `claim_within` from now. A grant that continues one in force starts now whatever `starts`
/// says: its holder is already using the resource. The request's write comes first in the
/// change, then the superseded holder's, if any. A holder whose window has not started yet
/// (only breaking glass gets here over one: see [`schedule::check_current`]) is superseded
/// without lending its later end.
fn grant_now(
    ctx: &Context<'_>,
    mut request: AccessRequest,
    (duration, starts): (Duration, Starts),
    actor: Actor,
    (action, note): (AuditAction, &str),
    current: Option<&AccessRequest>,
) -> Change {
    let starts_at = request.starts_at;
    let mut expires_at = starts_at.unwrap_or(ctx.now).plus(duration);
    let mut writes = Vec::new();
    let mut audit = Vec::new();
    let current_grant =
        current.and_then(|c| c.grant().filter(|g| g.is_active_at(ctx.now)).map(|g| (c, g)));
    // A scheduled grant starts at its start: first use applies to access asked for now.
    let claim = match (starts, current_grant, starts_at) {
        (Starts::OnFirstUse { claim_within }, None, None) => {
            expires_at = ctx.now.plus(claim_within);
            Some(crate::request::Claim { duration, claimed_at: None })
        }
        _ => None,
    };
    if let Some((holder, grant)) = current_grant {
        if grant.has_started_at(ctx.now) {
            expires_at = expires_at.max(grant.expires_at);
        }
        let mut superseded = holder.clone();
        if let RequestState::Approved { grant } = &mut superseded.state {
            grant.end = Some(GrantEnd::Superseded { by_request: request.id, at: ctx.now });
        }
        audit.push(ctx.audit(
            holder,
            actor.clone(),
            AuditAction::GrantSuperseded,
            format!("continued by request {}", request.id),
        ));
        writes.push(write(superseded));
    }
    let grant = Grant {
        user: request.requester.clone(),
        resource: request.resource.clone(),
        request_id: request.id,
        granted_at: ctx.now,
        expires_at,
        end: None,
        paused: None,
        starts_at,
        claim,
    };
    request.state = RequestState::Approved { grant: grant.clone() };
    let summary = match (starts_at, grant.claim_by()) {
        (Some(start), _) => format!("scheduled from {start} until {expires_at}"),
        (None, Some(by)) => {
            format!("granted for {} from first use; claim by {by}", format_duration(duration))
        }
        (None, None) => format!("granted until {expires_at}"),
    };
    let note = if note.is_empty() { summary } else { format!("{note} ({summary})") };
    audit.insert(0, ctx.audit(&request, actor, action, note));
    let pending_pointer = Some(PendingPointerUpdate::clear(&request));
    writes.insert(0, write(request));
    Change {
        requests: writes,
        grant_pointer: Some(GrantPointerUpdate::Set {
            grant,
            expected: current_grant.map(|(c, _)| c.id),
        }),
        pending_pointer,
        audit,
        outbox: Vec::new(),
    }
}

pub fn deny(
    ctx: &Context<'_>,
    request: &AccessRequest,
    reviewer: &UserId,
    note: &str,
) -> Result<Change, TransitionError> {
    ensure_reviewable(request, reviewer, ctx.now)?;
    let note = checked_text(note, "note")?;
    let mut updated = request.clone();
    updated.state = RequestState::Denied { by: reviewer.clone(), at: ctx.now, note: note.clone() };
    let event =
        ctx.audit(&updated, Actor::User(reviewer.clone()), AuditAction::RequestDenied, note);
    Ok(Change {
        pending_pointer: Some(PendingPointerUpdate::clear(&updated)),
        requests: vec![write(updated)],
        grant_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    })
}

/// The requester withdraws a pending request, or a scheduled grant before its start.
pub fn cancel(
    ctx: &Context<'_>,
    request: &AccessRequest,
    by: &UserId,
) -> Result<Change, TransitionError> {
    if &request.requester != by {
        return Err(TransitionError::NotRequester);
    }
    let status = request.status_at(ctx.now);
    if status == Status::Scheduled {
        return Ok(schedule::cancel_scheduled(ctx, request, by));
    }
    if status != Status::Pending {
        return Err(TransitionError::NotPending(status));
    }
    let mut updated = request.clone();
    updated.state = RequestState::Cancelled { by: by.clone(), at: ctx.now };
    let event = ctx.audit(&updated, Actor::User(by.clone()), AuditAction::RequestCancelled, "");
    Ok(Change {
        pending_pointer: Some(PendingPointerUpdate::clear(&updated)),
        requests: vec![write(updated)],
        grant_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    })
}

/// Ends an active grant now, or a scheduled one before its start. Who may do so (an admin, or
/// the user ending their own access) is decided by the caller.
pub fn revoke(
    ctx: &Context<'_>,
    request: &AccessRequest,
    by: &UserId,
    note: &str,
) -> Result<Change, TransitionError> {
    let status = request.status_at(ctx.now);
    if !matches!(status, Status::Active | Status::Scheduled) {
        return Err(TransitionError::NotActive(status));
    }
    let note = checked_text(note, "note")?;
    let mut updated = request.clone();
    let Some(pointer) = end_grant(
        &mut updated,
        GrantEnd::Revoked { by: by.clone(), at: ctx.now, note: note.clone() },
    ) else {
        return Err(TransitionError::NotActive(status));
    };
    let event = ctx.audit(&updated, Actor::User(by.clone()), AuditAction::GrantRevoked, note);
    Ok(Change {
        requests: vec![write(updated)],
        grant_pointer: Some(pointer),
        pending_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    })
}

/// Records what the clock already decided: a pending request past its deadline timed out, a
/// scheduled grant past its start started, an active grant past its expiry expired. Run by the sweeper; safe to race, since the version
/// check lets only one commit win.
pub fn expire(ctx: &Context<'_>, request: &AccessRequest) -> Result<Change, TransitionError> {
    let mut updated = request.clone();
    match (&request.state, request.status_at(ctx.now)) {
        (RequestState::Pending, Status::TimedOut) => {
            updated.state = RequestState::TimedOut { at: request.pending_until };
            let event = ctx.audit(
                &updated,
                Actor::System,
                AuditAction::RequestTimedOut,
                "nobody decided in time",
            );
            Ok(Change {
                pending_pointer: Some(PendingPointerUpdate::clear(&updated)),
                requests: vec![write(updated)],
                grant_pointer: None,
                audit: vec![event],
                outbox: Vec::new(),
            })
        }
        (RequestState::Approved { grant }, Status::Active)
            if grant.end.is_none() && grant.starts_at.is_some() =>
        {
            Ok(schedule::record_start(ctx, request))
        }
        (RequestState::Approved { grant }, status @ (Status::Expired | Status::Lapsed))
            if grant.end.is_none() =>
        {
            let at = grant.expires_at;
            let (end, action, note) = if status == Status::Lapsed {
                (GrantEnd::Lapsed { at }, AuditAction::GrantLapsed, "never used: lapsed unclaimed")
            } else {
                (GrantEnd::Expired { at }, AuditAction::GrantExpired, "")
            };
            let pointer = end_grant(&mut updated, end).ok_or(TransitionError::NotDue)?;
            let event = ctx.audit(&updated, Actor::System, action, note);
            Ok(Change {
                requests: vec![write(updated)],
                grant_pointer: Some(pointer),
                pending_pointer: None,
                audit: vec![event],
                outbox: Vec::new(),
            })
        }
        _ => Err(TransitionError::NotDue),
    }
}

fn end_grant(request: &mut AccessRequest, end: GrantEnd) -> Option<GrantPointerUpdate> {
    let RequestState::Approved { grant } = &mut request.state else { return None };
    grant.end = Some(end);
    Some(GrantPointerUpdate::ClearIf {
        user: grant.user.clone(),
        resource: grant.resource.clone(),
        request_id: grant.request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GroupName;
    use crate::policy::tests::{hours, jit, manual};

    fn ctx(ids: &IdGenerator, now: i64) -> Context<'_> {
        Context { now: Timestamp::from_millis(now), ids }
    }

    fn new_request(user: &str, duration: Duration) -> NewRequest {
        NewRequest {
            requester: Identity::new(
                UserId::parse(user).unwrap(),
                [GroupName::parse("dev").unwrap()],
            ),
            resource: ResourceName::parse("db").unwrap(),
            reason: "  incident 7  ".into(),
            duration,
        }
    }

    fn opened(
        ids: &IdGenerator,
        policy: &JitPolicy,
        now: i64,
        current: Option<&AccessRequest>,
    ) -> Change {
        let ctx = ctx(ids, now);
        let id = RequestId::from(ids.next(ctx.now));
        open(&ctx, new_request("a@x.io", hours(1)), id, policy, current).unwrap()
    }

    #[test]
    fn opening_trims_the_reason_and_creates_version_one() {
        let ids = IdGenerator::new();
        let change = opened(&ids, &jit(manual(1)), 1_000, None);
        let write = &change.requests[0];
        assert_eq!(write.expected_version, None);
        assert_eq!(write.request.version, 1);
        assert_eq!(write.request.reason, "incident 7");
        assert_eq!(write.request.pending_until, Timestamp::from_millis(1_000).plus(hours(24)));
        assert_eq!(change.audit.len(), 1);
        assert!(change.grant_pointer.is_none());
    }

    #[test]
    fn auto_approval_over_an_active_grant_supersedes_it_in_the_same_change() {
        let ids = IdGenerator::new();
        let policy = jit(Approval::Auto);
        let first = opened(&ids, &policy, 1_000, None).requests.remove(0).request;
        let second = opened(&ids, &policy, 2_000, Some(&first));
        assert_eq!(second.requests.len(), 2);
        assert_eq!(second.requests[0].expected_version, None, "created approved, in one write");
        assert_eq!(second.requests[1].request.id, first.id);
        assert_eq!(second.requests[1].expected_version, Some(1));
        assert_eq!(second.requests[1].request.recorded_status(), Status::Superseded);
        match &second.grant_pointer {
            Some(GrantPointerUpdate::Set { grant, expected }) => {
                assert_eq!(*expected, Some(first.id));
                assert_eq!(grant.expires_at, Timestamp::from_millis(2_000).plus(hours(1)));
            }
            other => panic!("expected a pointer set, got {other:?}"),
        }
        let actions: Vec<AuditAction> = second.audit.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            vec![
                AuditAction::RequestCreated,
                AuditAction::RequestApproved,
                AuditAction::GrantSuperseded
            ]
        );
    }

    #[test]
    fn overlong_text_is_refused_not_truncated() {
        let ids = IdGenerator::new();
        let ctx = ctx(&ids, 0);
        let mut new = new_request("a@x.io", hours(1));
        new.reason = "x".repeat(MAX_TEXT_LEN + 1);
        let id = RequestId::from(ids.next(ctx.now));
        let refused = open(&ctx, new, id, &jit(manual(1)), None).unwrap_err();
        assert!(matches!(refused, TransitionError::TextTooLong { what: "reason", .. }));
    }

    #[test]
    fn the_pending_pointer_is_taken_on_opening_and_cleared_by_every_way_out_of_pending() {
        let ids = IdGenerator::new();
        let policy = jit(manual(2));
        let change = opened(&ids, &policy, 1_000, None);
        let request = change.requests[0].request.clone();
        let (user, resource) = (request.requester.clone(), request.resource.clone());
        assert_eq!(
            change.pending_pointer,
            Some(PendingPointerUpdate::Set {
                user: user.clone(),
                resource: resource.clone(),
                request_id: request.id,
                pending_until: request.pending_until,
                at: Timestamp::from_millis(1_000),
            })
        );
        let cleared =
            Some(PendingPointerUpdate::ClearIf { user, resource, request_id: request.id });
        let (rev1, rev2) = (UserId::parse("r1@x.io").unwrap(), UserId::parse("r2@x.io").unwrap());
        let at = ctx(&ids, 2_000);
        let first = approve(&at, &request, &rev1, None, "", &policy, None).unwrap();
        assert_eq!(first.pending_pointer, None, "one approval of two: still pending");
        let half = first.requests[0].request.clone();
        let approved = approve(&at, &half, &rev2, None, "", &policy, None).unwrap();
        assert_eq!(approved.pending_pointer, cleared);
        assert_eq!(deny(&at, &request, &rev1, "").unwrap().pending_pointer, cleared);
        assert_eq!(cancel(&at, &request, &request.requester).unwrap().pending_pointer, cleared);
        let late = ctx(&ids, request.pending_until.as_millis());
        assert_eq!(expire(&late, &request).unwrap().pending_pointer, cleared);
        let granted = approved.requests[0].request.clone();
        assert_eq!(revoke(&at, &granted, &rev1, "").unwrap().pending_pointer, None);

        // Auto approval is never pending, but may not pass a request that is.
        let auto = opened(&ids, &jit(Approval::Auto), 3_000, None);
        assert!(matches!(
            auto.pending_pointer,
            Some(PendingPointerUpdate::Vacant { at, .. }) if at == Timestamp::from_millis(3_000)
        ));
    }

    #[test]
    fn expire_before_the_deadline_is_not_due() {
        let ids = IdGenerator::new();
        let request = opened(&ids, &jit(manual(1)), 1_000, None).requests.remove(0).request;
        let early = expire(&ctx(&ids, 2_000), &request).unwrap_err();
        assert_eq!(early, TransitionError::NotDue);
        let late = expire(&ctx(&ids, 1_000 + 24 * 3_600_000), &request).unwrap();
        assert_eq!(late.requests[0].request.recorded_status(), Status::TimedOut);
        assert_eq!(late.requests[0].expected_version, Some(1));
    }
}
