//! Breaking glass and its after-the-fact review. Who may do each lives here; the rules of
//! the transitions in [`crate::transition`].

use std::time::Duration;

use super::{AccessService, ServiceError};
use crate::ids::{RequestId, ResourceName};
use crate::policy::Identity;
use crate::request::AccessRequest;
use crate::transition::{self, Context, NewRequest};

impl AccessService {
    /// Whether `who` may break glass on `resource`: the policy they resolve to there names
    /// one of their groups under `break_glass`. For pages deciding whether to offer it.
    pub fn may_break_glass(&self, who: &Identity, resource: &ResourceName) -> bool {
        self.jit_policy(who, resource)
            .is_ok_and(|policy| policy.break_glass.as_ref().is_some_and(|rule| rule.admits(who)))
    }

    /// `who` grants themselves access to `resource` at once, with `reason`, for `duration`
    /// (within the policy's `break_glass.max_duration`), whatever the approval. Every
    /// reviewer and admin is told through the outbox committed with it.
    pub async fn break_glass(
        &self,
        who: &Identity,
        resource: &ResourceName,
        reason: &str,
        duration: Duration,
    ) -> Result<AccessRequest, ServiceError> {
        let policy = self.jit_policy(who, resource)?;
        let id = RequestId::from(self.ids.next(self.clock.now()));
        self.commit_with_retry(id, || async {
            let current = self.current_holder(&who.user, resource).await?;
            let ctx = Context { now: self.clock.now(), ids: &self.ids };
            let new = NewRequest {
                requester: who.clone(),
                resource: resource.clone(),
                reason: reason.to_owned(),
                duration,
            };
            Ok(transition::break_glass(&ctx, new, id, policy, current.as_ref())?)
        })
        .await
    }

    /// A reviewer of the request (or an admin) reviews break-glass grant `id` after the
    /// fact, lifting its flag. Its holder never can, even when they are a reviewer.
    pub async fn acknowledge(
        &self,
        who: &Identity,
        id: RequestId,
        note: &str,
    ) -> Result<AccessRequest, ServiceError> {
        self.act_on(id, |request, ctx| {
            if request.requester != who.user && !self.may_review(who, request) {
                return Err(ServiceError::Forbidden(
                    "only a reviewer or an admin can acknowledge a break-glass grant",
                ));
            }
            Ok(transition::acknowledge(ctx, request, &who.user, note)?)
        })
        .await
    }
}
