//! Claiming a grant that starts on first use: the holder's first request through the proxy
//! starts its duration.
//!
//! An unclaimed grant is an ordinary active grant whose `expires_at` is its claim deadline,
//! so everything that ends grants (the sweeper, revocation, supersession) needs nothing new.
//! The claim rewrites the request (a versioned write) and the grant pointer in place (`Set`
//! expecting the same holder) in one commit: of two proxies racing to claim, one commit wins
//! and the other, recomputing from the stored request, finds it claimed
//! ([`TransitionError::AlreadyClaimed`]), so the duration starts exactly once. The pointer
//! write is announced on the change feed like a revocation, so every proxy sees the new end.

use super::{Change, Context, GrantPointerUpdate, TransitionError, write};
use crate::audit::{Actor, AuditAction};
use crate::request::{AccessRequest, RequestState, Status};
use crate::time::format_duration;

/// Starts the duration of `request`'s grant at `ctx.now`, its first use. Refused unless the
/// grant is active, waits for first use and is not paused (a paused grant lets nobody in,
/// so nothing uses it).
pub fn claim(ctx: &Context<'_>, request: &AccessRequest) -> Result<Change, TransitionError> {
    let status = request.status_at(ctx.now);
    let RequestState::Approved { grant } = &request.state else {
        return Err(TransitionError::NotActive(status));
    };
    if status != Status::Active {
        return Err(TransitionError::NotActive(status));
    }
    let Some(waiting) = &grant.claim else {
        return Err(TransitionError::NotFirstUse);
    };
    if waiting.claimed_at.is_some() {
        return Err(TransitionError::AlreadyClaimed);
    }
    if grant.paused.is_some() {
        return Err(TransitionError::AlreadyPaused);
    }
    let mut grant = grant.clone();
    let duration = waiting.duration;
    grant.expires_at = ctx.now.plus(duration);
    grant.claim = Some(crate::request::Claim { duration, claimed_at: Some(ctx.now) });
    let mut updated = request.clone();
    updated.state = RequestState::Approved { grant: grant.clone() };
    let note =
        format!("first used: {} from now, until {}", format_duration(duration), grant.expires_at);
    let event =
        ctx.audit(&updated, Actor::User(grant.user.clone()), AuditAction::GrantClaimed, note);
    let expected = Some(grant.request_id);
    Ok(Change {
        requests: vec![write(updated)],
        grant_pointer: Some(GrantPointerUpdate::Set { grant, expected }),
        pending_pointer: None,
        audit: vec![event],
        outbox: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GroupName, IdGenerator, RequestId, ResourceName, UserId};
    use crate::policy::tests::{hours, jit};
    use crate::policy::{Approval, Identity, JitPolicy, Starts};
    use crate::time::Timestamp;
    use crate::transition::{NewRequest, expire, open};

    fn first_use() -> JitPolicy {
        JitPolicy { starts: Starts::OnFirstUse { claim_within: hours(24) }, ..jit(Approval::Auto) }
    }

    fn at(ids: &IdGenerator, millis: i64) -> Context<'_> {
        Context { now: Timestamp::from_millis(millis), ids }
    }

    /// Alice's request for `db`, approved automatically at 1 s under `policy`.
    fn granted(ids: &IdGenerator, policy: &JitPolicy) -> AccessRequest {
        let ctx = at(ids, 1_000);
        let new = NewRequest {
            requester: Identity::new(
                UserId::parse("a@x.io").unwrap(),
                [GroupName::parse("dev").unwrap()],
            ),
            resource: ResourceName::parse("db").unwrap(),
            reason: "incident".into(),
            duration: hours(1),
        };
        let id = RequestId::from(ids.next(ctx.now));
        open(&ctx, new, id, policy, None).unwrap().requests.remove(0).request
    }

    #[test]
    fn an_approved_grant_waits_and_its_duration_runs_from_the_claim() {
        let ids = IdGenerator::new();
        let request = granted(&ids, &first_use());
        let grant = request.grant().unwrap();
        assert!(grant.awaits_claim());
        assert_eq!(grant.claim_by(), Some(Timestamp::from_millis(1_000).plus(hours(24))));
        let claimed_at = 1_000 + 5 * 3_600_000;
        let change = claim(&at(&ids, claimed_at), &request).unwrap();
        let written = &change.requests[0];
        assert_eq!(written.expected_version, Some(request.version), "a versioned write");
        let grant = written.request.grant().unwrap();
        assert!(!grant.awaits_claim());
        assert_eq!(grant.expires_at, Timestamp::from_millis(claimed_at).plus(hours(1)));
        assert_eq!(change.audit[0].action, AuditAction::GrantClaimed);
        match &change.grant_pointer {
            Some(GrantPointerUpdate::Set { grant: pointer, expected }) => {
                assert_eq!((pointer, *expected), (grant, Some(request.id)));
            }
            other => panic!("expected the pointer rewritten in place, got {other:?}"),
        }
        let again = claim(&at(&ids, claimed_at + 1), &written.request).unwrap_err();
        assert_eq!(again, TransitionError::AlreadyClaimed, "the duration starts once");
    }

    #[test]
    fn an_unclaimed_grant_lapses_at_its_deadline_and_cannot_be_claimed_after() {
        let ids = IdGenerator::new();
        let request = granted(&ids, &first_use());
        let deadline = request.grant().unwrap().expires_at.as_millis();
        assert_eq!(request.status_at(Timestamp::from_millis(deadline - 1)), Status::Active);
        assert_eq!(request.status_at(Timestamp::from_millis(deadline)), Status::Lapsed);
        let late = claim(&at(&ids, deadline), &request).unwrap_err();
        assert_eq!(late, TransitionError::NotActive(Status::Lapsed));
        let lapsed = expire(&at(&ids, deadline), &request).unwrap();
        assert_eq!(lapsed.requests[0].request.recorded_status(), Status::Lapsed);
        assert_eq!(lapsed.audit[0].action, AuditAction::GrantLapsed);
    }

    #[test]
    fn grants_that_start_on_approval_or_are_paused_are_not_claimed() {
        let ids = IdGenerator::new();
        let ordinary = granted(&ids, &jit(Approval::Auto));
        assert!(!ordinary.grant().unwrap().awaits_claim());
        assert_eq!(claim(&at(&ids, 2_000), &ordinary).unwrap_err(), TransitionError::NotFirstUse);
        let mut paused = granted(&ids, &first_use());
        if let RequestState::Approved { grant } = &mut paused.state {
            let by = grant.user.clone();
            grant.paused = Some(crate::request::Pause {
                by,
                at: Timestamp::from_millis(1_500),
                note: "".into(),
            });
        }
        assert_eq!(claim(&at(&ids, 2_000), &paused).unwrap_err(), TransitionError::AlreadyPaused);
    }
}
