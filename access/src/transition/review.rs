//! A reviewer's decision on a pending request: approvals up to the policy's threshold, then
//! the grant starting now (or at its scheduled start, or on first use), or a denial.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{
    Change, Context, GrantPointerUpdate, PendingPointerUpdate, TransitionError, checked_text,
    extend, schedule, write,
};
use crate::audit::{Actor, AuditAction};
use crate::ids::UserId;
use crate::policy::{JitPolicy, Starts};
use crate::request::{AccessRequest, ApprovalVote, Grant, GrantEnd, RequestState, Status};
use crate::time::{Timestamp, format_duration};

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
pub(super) fn grant_now(
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
