//! The request/grant state machine as pure functions: current state + actor + policy + now in,
//! a [`Change`] (or a typed refusal) out. Stores only commit changes atomically; they never
//! decide anything, so both backends behave identically by construction.

use std::time::Duration;

use thiserror::Error;

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::ids::{AuditId, IdGenerator, RequestId, ResourceName, UserId};
use crate::policy::Identity;
use crate::request::{AccessRequest, Grant, Status};
use crate::time::{Timestamp, format_duration};

mod break_glass;
mod claim;
mod end;
mod extend;
mod open;
mod pause;
mod review;
mod schedule;
pub use break_glass::{acknowledge, break_glass};
pub use claim::claim;
pub use end::{cancel, expire, revoke};
pub use extend::{ExtensionAsk, extension_room, open_extension};
pub use open::open;
use open::{open_request, opening};
pub use pause::{PauseRole, pause, resume};
use review::grant_now;
pub use review::{approve, deny};
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

fn write(mut request: AccessRequest) -> RequestWrite {
    let expected_version = Some(request.version);
    request.version += 1;
    RequestWrite { request, expected_version }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GroupName;
    use crate::policy::tests::{hours, jit, manual};
    use crate::policy::{Approval, JitPolicy};

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
