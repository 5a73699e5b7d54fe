//! Extending an active grant: the holder asks for more time before it ends. The ask is a
//! request of its own ([`AccessRequest::extends`]), decided like any request under the
//! policy's approval (automatically, or by as many reviewers as a request needs); the grant
//! runs on untouched while it waits. Approved, it takes over the grant with a later end, in
//! one change, the way a new approval supersedes a grant.

use std::time::Duration;

use super::{
    Change, Context, GrantPointerUpdate, PendingPointerUpdate, TransitionError, checked_text,
    opening, write,
};
use crate::audit::{Actor, AuditAction};
use crate::ids::RequestId;
use crate::policy::{Approval, Identity, JitPolicy};
use crate::request::{AccessRequest, Extends, Grant, GrantEnd, RequestState, Status};
use crate::time::{Timestamp, format_duration};

/// What the holder asks for: `more` time on top of the grant's current end.
#[derive(Debug, Clone)]
pub struct ExtensionAsk {
    pub requester: Identity,
    pub reason: String,
    pub more: Duration,
}

/// The end an extension by `more` gives a grant ending at `end`, if the policy allows it at
/// `now`: never more than `max_duration` from now, never more than `max_total` from `since`.
fn extended_end(
    policy: &JitPolicy,
    since: Timestamp,
    end: Timestamp,
    more: Duration,
    now: Timestamp,
) -> Result<Timestamp, TransitionError> {
    if more < JitPolicy::MIN_DURATION {
        return Err(TransitionError::DurationNotAllowed(
            "an extension must add at least 1m".into(),
        ));
    }
    let cap = extension_cap(policy, since, now);
    let wanted = end.plus(more);
    if wanted <= cap {
        return Ok(wanted);
    }
    let message = if cap <= end {
        "this access cannot be extended any further under its policy".to_owned()
    } else {
        format!(
            "{} more is too long: at most {} can be added now",
            format_duration(more),
            format_duration(end.until(cap))
        )
    };
    Err(TransitionError::DurationNotAllowed(message))
}

/// The latest end an extension may give a grant held since `since`, asked for at `now`.
fn extension_cap(policy: &JitPolicy, since: Timestamp, now: Timestamp) -> Timestamp {
    let cap = now.plus(policy.max_duration);
    policy.max_total.map_or(cap, |total| cap.min(since.plus(total)))
}

/// When the grant an extension of `holder` extends was first granted: the start `max_total`
/// counts from, carried along a chain of extensions.
fn held_since(holder: &AccessRequest, grant: &Grant) -> Timestamp {
    holder.extends.as_ref().map_or(grant.granted_at, |e| e.since)
}

/// How much more time `holder`'s grant could be given now, or why it cannot be extended
/// (ended, the policy does not allow it, or `max_total`/`max_duration` leave under 1m). The
/// portal asks this before it shows an Extend form, so that it never shows a dead one; the
/// ask itself ([`open_extension`]) checks all of it again.
pub fn extension_room(
    holder: &AccessRequest,
    policy: &JitPolicy,
    now: Timestamp,
) -> Result<Duration, TransitionError> {
    let grant = active(holder, now)?;
    if !policy.allow_extension {
        return Err(TransitionError::ExtensionNotAllowed);
    }
    let since = held_since(holder, grant);
    let room = grant.expires_at.until(extension_cap(policy, since, now));
    if room >= JitPolicy::MIN_DURATION {
        return Ok(room);
    }
    let why = match policy.max_total {
        Some(total) if grant.expires_at.until(since.plus(total)) < JitPolicy::MIN_DURATION => {
            format!(
                "this access already lasts the {} in all its policy allows; it cannot be extended any further",
                format_duration(total)
            )
        }
        _ => format!(
            "this access already runs the {} from now its policy allows; it can be extended once less is left",
            format_duration(policy.max_duration)
        ),
    };
    Err(TransitionError::DurationNotAllowed(why))
}

/// The active grant of `holder`, or why there is none.
fn active(holder: &AccessRequest, now: Timestamp) -> Result<&Grant, TransitionError> {
    let status = holder.status_at(now);
    match (&holder.state, status) {
        // Its time has not started: there is nothing to extend yet.
        (RequestState::Approved { grant }, Status::Active) if grant.awaits_claim() => {
            Err(TransitionError::Unclaimed)
        }
        (RequestState::Approved { grant }, Status::Active) => Ok(grant),
        _ => Err(TransitionError::NotActive(status)),
    }
}

/// Opens an extension of `holder`'s grant. Under automatic approval the same change extends
/// it; otherwise the extension waits for reviewers, taking the user's pending slot for the
/// resource.
pub fn open_extension(
    ctx: &Context<'_>,
    ask: ExtensionAsk,
    id: RequestId,
    holder: &AccessRequest,
    policy: &JitPolicy,
) -> Result<Change, TransitionError> {
    if holder.requester != ask.requester.user {
        return Err(TransitionError::NotRequester);
    }
    let grant = active(holder, ctx.now)?;
    if !policy.allow_extension {
        return Err(TransitionError::ExtensionNotAllowed);
    }
    let reason = checked_text(&ask.reason, "reason")?;
    if (policy.reason_required || policy.approval == Approval::Auto) && reason.is_empty() {
        return Err(TransitionError::ReasonRequired);
    }
    let extends = Extends {
        request: holder.id,
        original_reason: holder
            .extends
            .as_ref()
            .map_or_else(|| holder.reason.clone(), |e| e.original_reason.clone()),
        since: held_since(holder, grant),
    };
    extended_end(policy, extends.since, grant.expires_at, ask.more, ctx.now)?;
    let request = AccessRequest {
        id,
        version: 1,
        requester: ask.requester.user.clone(),
        requester_groups: ask.requester.groups,
        resource: holder.resource.clone(),
        reason,
        requested_duration: ask.more,
        created_at: ctx.now,
        pending_until: ctx.now.plus(policy.pending_timeout),
        approvals: Vec::new(),
        state: RequestState::Pending,
        extends: Some(extends),
        break_glass: None,
        starts_at: None,
    };
    let note = format!("extension of {}: {}", holder.id, request.reason);
    let asked = ctx.audit(
        &request,
        Actor::User(request.requester.clone()),
        AuditAction::ExtensionRequested,
        note.trim_end_matches(": "),
    );
    let approved = if policy.approval == Approval::Auto {
        let more = request.requested_duration;
        let system = Actor::System;
        Some(grant_extension(ctx, request.clone(), more, system, "", policy, Some(holder))?)
    } else {
        None
    };
    Ok(opening(ctx, request, asked, approved))
}

/// Approves extension `request` by `more`: it takes over the grant of `current` (which must
/// still be the grant it extends, and active) with the later end, keeping a pause in force.
/// The bounds are checked again now, since time has passed since the ask.
pub(super) fn grant_extension(
    ctx: &Context<'_>,
    mut request: AccessRequest,
    more: Duration,
    actor: Actor,
    note: &str,
    policy: &JitPolicy,
    current: Option<&AccessRequest>,
) -> Result<Change, TransitionError> {
    let Some(extends) = request.extends.clone() else {
        return Err(TransitionError::NotPending(request.status_at(ctx.now)));
    };
    let holder = match current {
        Some(holder) if holder.id == extends.request => holder,
        // The grant it extends ended, or another approval took over from it.
        _ => return Err(TransitionError::NotActive(Status::Superseded)),
    };
    let old = active(holder, ctx.now)?;
    let expires_at = extended_end(policy, extends.since, old.expires_at, more, ctx.now)?;
    let grant = Grant {
        user: request.requester.clone(),
        resource: request.resource.clone(),
        request_id: request.id,
        granted_at: ctx.now,
        expires_at,
        end: None,
        paused: old.paused.clone(),
        starts_at: None,
        claim: None,
    };
    let mut superseded = holder.clone();
    if let RequestState::Approved { grant } = &mut superseded.state {
        grant.end = Some(GrantEnd::Superseded { by_request: request.id, at: ctx.now });
    }
    let handed_over = ctx.audit(
        holder,
        actor.clone(),
        AuditAction::GrantSuperseded,
        format!("extended by request {}", request.id),
    );
    request.state = RequestState::Approved { grant: grant.clone() };
    let summary = format!("extended until {expires_at}");
    let note = if note.is_empty() { summary } else { format!("{note} ({summary})") };
    let extended = ctx.audit(&request, actor, AuditAction::GrantExtended, note);
    Ok(Change {
        pending_pointer: Some(PendingPointerUpdate::ClearIf {
            user: request.requester.clone(),
            resource: request.resource.clone(),
            request_id: request.id,
        }),
        requests: vec![write(request), write(superseded)],
        grant_pointer: Some(GrantPointerUpdate::Set { grant, expected: Some(holder.id) }),
        audit: vec![extended, handed_over],
        outbox: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GroupName, IdGenerator, UserId};
    use crate::policy::tests::{hours, jit, manual};
    use crate::transition::{NewRequest, approve, open};

    fn bob() -> Identity {
        Identity::new(UserId::parse("bob@x.io").unwrap(), [GroupName::parse("dev").unwrap()])
    }

    fn extendable(approval: Approval) -> JitPolicy {
        JitPolicy { allow_extension: true, max_total: Some(hours(10)), ..jit(approval) }
    }

    fn at(ids: &IdGenerator, millis: i64) -> Context<'_> {
        Context { now: Timestamp::from_millis(millis), ids }
    }

    /// Bob's one-hour grant, approved automatically at t = 0.
    fn granted(ids: &IdGenerator, policy: &JitPolicy) -> AccessRequest {
        let new = NewRequest {
            requester: bob(),
            resource: crate::ids::ResourceName::parse("db").unwrap(),
            reason: "incident".into(),
            duration: hours(1),
        };
        let auto = JitPolicy { approval: Approval::Auto, ..policy.clone() };
        let id = RequestId::from(ids.next(Timestamp::from_millis(0)));
        open(&at(ids, 0), new, id, &auto, None).unwrap().requests.remove(0).request
    }

    fn ask(more: Duration) -> ExtensionAsk {
        ExtensionAsk { requester: bob(), reason: "more".into(), more }
    }

    #[test]
    fn the_holder_never_approves_their_own_extension() {
        let ids = IdGenerator::new();
        let policy = extendable(manual(1));
        let holder = granted(&ids, &policy);
        let id = RequestId::from(ids.next(Timestamp::from_millis(1)));
        let change = open_extension(&at(&ids, 1), ask(hours(1)), id, &holder, &policy).unwrap();
        let extension = change.requests[0].request.clone();
        assert_eq!(extension.recorded_status(), Status::Pending);
        assert!(change.grant_pointer.is_none(), "the grant is untouched while it waits");
        let own = approve(&at(&ids, 2), &extension, &bob().user, None, "", &policy, Some(&holder));
        assert_eq!(own.unwrap_err(), TransitionError::SelfReview);
    }

    #[test]
    fn the_new_end_is_bounded_by_max_duration_from_now_and_max_total_from_the_start() {
        let ids = IdGenerator::new();
        let policy = JitPolicy { max_duration: hours(2), ..extendable(Approval::Auto) };
        let holder = granted(&ids, &policy);
        let id = RequestId::from(ids.next(Timestamp::from_millis(1)));
        let refused = open_extension(&at(&ids, 1), ask(hours(2)), id, &holder, &policy);
        assert!(matches!(refused, Err(TransitionError::DurationNotAllowed(_))), "3h > now + 2h");
        let change = open_extension(&at(&ids, 1), ask(hours(1)), id, &holder, &policy).unwrap();
        let grant = change.requests[0].request.grant().unwrap().clone();
        assert_eq!(grant.expires_at, Timestamp::from_millis(0).plus(hours(2)));
        assert_eq!(change.requests[1].request.recorded_status(), Status::Superseded);
        let refused =
            open_extension(&at(&ids, 1), ask(Duration::from_secs(30)), id, &holder, &policy);
        assert!(matches!(refused, Err(TransitionError::DurationNotAllowed(_))), "under 1m");
    }

    #[test]
    fn the_room_left_is_what_max_total_allows_and_none_once_it_is_used_up() {
        let ids = IdGenerator::new();
        let policy = JitPolicy {
            max_duration: hours(4),
            max_total: Some(hours(3)),
            ..extendable(Approval::Auto)
        };
        let holder = granted(&ids, &policy);
        assert_eq!(extension_room(&holder, &policy, Timestamp::from_millis(1)), Ok(hours(2)));
        let id = RequestId::from(ids.next(Timestamp::from_millis(1)));
        let change = open_extension(&at(&ids, 1), ask(hours(2)), id, &holder, &policy).unwrap();
        let extended = change.requests[0].request.clone();
        let used_up = extension_room(&extended, &policy, Timestamp::from_millis(2));
        assert!(matches!(used_up, Err(TransitionError::DurationNotAllowed(_))), "{used_up:?}");
        let off = JitPolicy { allow_extension: false, ..policy.clone() };
        let refused = extension_room(&holder, &off, Timestamp::from_millis(1));
        assert_eq!(refused, Err(TransitionError::ExtensionNotAllowed));
        let ended = extension_room(&holder, &policy, Timestamp::from_millis(0).plus(hours(1)));
        assert!(matches!(ended, Err(TransitionError::NotActive(_))), "{ended:?}");
    }
}
