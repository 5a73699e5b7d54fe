//! Ending requests and grants: the requester cancelling, a revocation, and the sweep that
//! records what the clock already decided (timeouts, scheduled starts, expiries).

use super::{
    Change, Context, GrantPointerUpdate, PendingPointerUpdate, TransitionError, checked_text,
    schedule, write,
};
use crate::audit::{Actor, AuditAction};
use crate::ids::UserId;
use crate::request::{AccessRequest, GrantEnd, RequestState, Status};

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
