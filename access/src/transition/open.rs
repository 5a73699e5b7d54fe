//! Opening a request: checking the reason and duration against the policy, and the change
//! that stores it pending (taking the user's pending slot) or, under automatic approval,
//! approved in the same commit.

use std::time::Duration;

use super::{
    Change, Context, NewRequest, PendingPointerUpdate, RequestWrite, TransitionError, checked_text,
    grant_now, schedule,
};
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::ids::RequestId;
use crate::policy::{Approval, JitPolicy};
use crate::request::{AccessRequest, RequestState};
use crate::time::{Timestamp, format_duration};

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
/// policy by [`open_scheduled`](super::open_scheduled)).
pub(super) fn open_request(
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
pub(super) fn opening(
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
