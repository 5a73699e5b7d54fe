//! Breaking glass: a member of the policy's `break_glass` groups grants themselves access at
//! once, with a mandatory reason, even where approval is manual. It is not an approval: the
//! request is created already granted, audited as its own kind (`grant_break_glass`), and
//! carries a [`BreakGlassMark`] that keeps it flagged until a reviewer other than its holder
//! acknowledges it (or revokes the grant, which is an ordinary revocation).

use super::{
    Change, Context, NewRequest, TransitionError, checked_text, format_duration, grant_now, write,
};
use crate::audit::{Actor, AuditAction};
use crate::ids::{RequestId, UserId};
use crate::policy::JitPolicy;
use crate::request::{AccessRequest, Acknowledgement, BreakGlassMark, RequestState};

/// Grants `new` at once by breaking glass under `policy`. `current` is the request holding
/// the user's active grant on the resource, if any: it is superseded in the same change, as
/// by any new grant. A request of the user's still pending stays pending: breaking glass is
/// for when waiting for it is not an option.
pub fn break_glass(
    ctx: &Context<'_>,
    new: NewRequest,
    id: RequestId,
    policy: &JitPolicy,
    current: Option<&AccessRequest>,
) -> Result<Change, TransitionError> {
    let rule = policy
        .break_glass
        .as_ref()
        .filter(|rule| rule.admits(&new.requester))
        .ok_or(TransitionError::BreakGlassNotAllowed)?;
    let reason = checked_text(&new.reason, "reason")?;
    if reason.is_empty() {
        return Err(TransitionError::ReasonRequired);
    }
    if new.duration < JitPolicy::MIN_DURATION || new.duration > rule.max_duration {
        return Err(TransitionError::DurationNotAllowed(format!(
            "a break-glass grant lasts between 1m and {}",
            format_duration(rule.max_duration)
        )));
    }
    let request = AccessRequest {
        id,
        version: 1,
        requester: new.requester.user.clone(),
        requester_groups: new.requester.groups,
        resource: new.resource,
        reason: reason.clone(),
        requested_duration: new.duration,
        created_at: ctx.now,
        pending_until: ctx.now,
        approvals: Vec::new(),
        state: RequestState::Pending,
        extends: None,
        break_glass: Some(BreakGlassMark::default()),
        starts_at: None,
    };
    let actor = Actor::User(new.requester.user);
    let kind = (AuditAction::GrantBreakGlass, reason.as_str());
    // An emergency grant is for now: it never waits for first use.
    let window = (new.duration, crate::policy::Starts::OnApproval);
    let mut change = grant_now(ctx, request, window, actor, kind, current);
    // Created granted, in one write; it never held (nor clears) the pending slot.
    if let Some(first) = change.requests.first_mut() {
        first.request.version = 1;
        first.expected_version = None;
    }
    change.pending_pointer = None;
    Ok(change)
}

/// `by` reviews break-glass `request` after the fact, lifting its flag. Who may (a reviewer
/// of the request, or an admin) is the caller's to decide; that it is never the holder is
/// decided here, so no caller can forget it.
pub fn acknowledge(
    ctx: &Context<'_>,
    request: &AccessRequest,
    by: &UserId,
    note: &str,
) -> Result<Change, TransitionError> {
    if request.break_glass.is_none() {
        return Err(TransitionError::NotBreakGlass);
    }
    if !request.break_glass_unreviewed() {
        return Err(TransitionError::AlreadyAcknowledged);
    }
    if &request.requester == by {
        return Err(TransitionError::OwnBreakGlass);
    }
    let note = checked_text(note, "note")?;
    let mut updated = request.clone();
    let acknowledged = Acknowledgement { by: by.clone(), at: ctx.now, note: note.clone() };
    updated.break_glass = Some(BreakGlassMark { acknowledged: Some(acknowledged) });
    let event =
        ctx.audit(&updated, Actor::User(by.clone()), AuditAction::BreakGlassAcknowledged, note);
    Ok(Change {
        requests: vec![write(updated)],
        grant_pointer: None,
        pending_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GroupName, IdGenerator, ResourceName};
    use crate::policy::tests::{hours, jit, manual};
    use crate::policy::{BreakGlass, Identity};
    use crate::request::Status;
    use crate::time::Timestamp;

    fn oncall() -> Identity {
        Identity::new(UserId::parse("ann@x.io").unwrap(), [GroupName::parse("oncall").unwrap()])
    }

    fn policy() -> JitPolicy {
        let groups = [GroupName::parse("oncall").unwrap()].into();
        JitPolicy {
            break_glass: Some(BreakGlass { groups, max_duration: hours(1) }),
            ..jit(manual(2))
        }
    }

    fn ask(duration: std::time::Duration) -> NewRequest {
        NewRequest {
            requester: oncall(),
            resource: ResourceName::parse("db").unwrap(),
            reason: "outage".into(),
            duration,
        }
    }

    #[test]
    fn a_break_glass_grant_is_active_at_once_and_recorded_as_its_own_kind() {
        let ids = IdGenerator::new();
        let ctx = Context { now: Timestamp::from_millis(5), ids: &ids };
        let id = RequestId::from(ids.next(ctx.now));
        let change = break_glass(&ctx, ask(hours(1)), id, &policy(), None).unwrap();
        let request = &change.requests[0].request;
        assert_eq!(request.status_at(ctx.now), Status::Active);
        assert!(request.approvals.is_empty(), "break glass is not approval");
        assert!(request.break_glass_unreviewed());
        let actions: Vec<AuditAction> = change.audit.iter().map(|e| e.action).collect();
        assert_eq!(actions, vec![AuditAction::GrantBreakGlass]);
        let over = break_glass(&ctx, ask(hours(2)), id, &policy(), None);
        assert!(matches!(over, Err(TransitionError::DurationNotAllowed(_))));
        let own = acknowledge(&ctx, request, &oncall().user, "");
        assert_eq!(own.unwrap_err(), TransitionError::OwnBreakGlass);
    }
}
