//! Claiming a grant on its first use, for the proxy. No authorisation: the proxy has
//! already decided that the request comes from the grant's holder and that the policy gives
//! them just-in-time access; the rules of the claim are [`crate::transition::claim`]'s.

use super::{AccessService, ServiceError};
use crate::ids::RequestId;
use crate::request::Grant;
use crate::transition::{self, TransitionError};

impl AccessService {
    /// Starts the duration of request `id`'s grant now, if it waits for first use, and
    /// returns the grant as stored afterwards. Losing the race to another instance is not an
    /// error: the grant it claimed is returned, so the duration starts once whoever wins.
    /// `None`: the request holds no grant in force (it lapsed, was revoked, …).
    pub async fn claim_first_use(&self, id: RequestId) -> Result<Option<Grant>, ServiceError> {
        let claimed = self.act_on(id, |request, ctx| Ok(transition::claim(ctx, request)?)).await;
        let request = match claimed {
            Ok(request) => request,
            Err(ServiceError::Refused(
                TransitionError::AlreadyClaimed
                | TransitionError::NotFirstUse
                | TransitionError::AlreadyPaused
                | TransitionError::NotActive(_),
            )) => self.load(id).await?,
            Err(other) => return Err(other),
        };
        let now = self.clock.now();
        Ok(request.grant().filter(|grant| grant.is_active_at(now)).cloned())
    }
}
