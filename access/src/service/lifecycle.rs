//! Changes to a grant while it runs: pausing, resuming and extending. Authorisation lives
//! here, the rules of the transitions in [`crate::transition`].

use std::time::Duration;

use super::{AccessService, ServiceError};
use crate::ids::RequestId;
use crate::policy::Identity;
use crate::request::AccessRequest;
use crate::store::StoreError;
use crate::transition::{self, Context, ExtensionAsk, PauseRole};

impl AccessService {
    /// In what capacity `who` may pause or resume `request`'s grant: its holder, or one of
    /// its reviewers (admins included). Anyone else is refused.
    fn pause_role(
        &self,
        who: &Identity,
        request: &AccessRequest,
    ) -> Result<PauseRole, ServiceError> {
        if request.requester == who.user {
            Ok(PauseRole::Holder)
        } else if self.may_review(who, request) {
            Ok(PauseRole::Reviewer)
        } else {
            Err(ServiceError::Forbidden(
                "only the holder, a reviewer or an admin can pause a grant",
            ))
        }
    }

    /// Switches an active grant off at once, on every proxy, without ending it. The policy
    /// the request resolves to now must allow pausing.
    pub async fn pause(
        &self,
        who: &Identity,
        id: RequestId,
        note: &str,
    ) -> Result<AccessRequest, ServiceError> {
        self.act_on(id, |request, ctx| {
            self.pause_role(who, request)?;
            let (_, policy) = self.policy_for(request)?;
            Ok(transition::pause(ctx, request, &who.user, note, policy)?)
        })
        .await
    }

    /// Switches a paused grant back on for what is left of its window. A pause by a reviewer
    /// is lifted only by a reviewer.
    pub async fn resume(
        &self,
        who: &Identity,
        id: RequestId,
        note: &str,
    ) -> Result<AccessRequest, ServiceError> {
        self.act_on(id, |request, ctx| {
            let role = self.pause_role(who, request)?;
            Ok(transition::resume(ctx, request, &who.user, role, note)?)
        })
        .await
    }

    /// The holder asks for `more` time on the grant of request `id`, before it ends. Under
    /// automatic approval the grant is extended at once; otherwise the extension waits for
    /// reviewers (it takes the user's one pending slot for the resource) while the grant runs
    /// on. Returns the extension request.
    pub async fn extend(
        &self,
        who: &Identity,
        id: RequestId,
        more: Duration,
        reason: &str,
    ) -> Result<AccessRequest, ServiceError> {
        let holder = self.load(id).await?;
        if holder.requester != who.user {
            return Err(ServiceError::Forbidden("only the holder can extend their grant"));
        }
        let policy = self.jit_policy(who, &holder.resource)?;
        let extension = RequestId::from(self.ids.next(self.clock.now()));
        let opened = self
            .commit_with_retry(extension, || async {
                let holder = self.load(id).await?;
                let ctx = Context { now: self.clock.now(), ids: &self.ids };
                let ask = ExtensionAsk { requester: who.clone(), reason: reason.to_owned(), more };
                Ok(transition::open_extension(&ctx, ask, extension, &holder, policy)?)
            })
            .await;
        match opened {
            Err(ServiceError::Store(StoreError::AlreadyPending(existing))) => {
                Err(ServiceError::AlreadyPending { resource: holder.resource, id: existing })
            }
            other => other,
        }
    }
}
