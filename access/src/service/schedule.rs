//! Scheduled access, as the portal asks for it. The rules (how far ahead, what a schedule may
//! not replace) live in [`crate::transition`]; cancelling and revoking before the start go
//! through [`AccessService::cancel`] and [`AccessService::revoke`] like any other.

use std::time::Duration;

use super::{AccessService, ServiceError};
use crate::ids::ResourceName;
use crate::policy::Identity;
use crate::request::AccessRequest;
use crate::time::Timestamp;

impl AccessService {
    /// Opens a request of `who` for access to `resource` from `starts_at` for `duration`,
    /// decided like any request (under automatic approval it comes back scheduled). A start
    /// that is now, or a little before ([`crate::transition::START_TOLERANCE`]), asks for
    /// access now.
    pub async fn request_scheduled_access(
        &self,
        who: &Identity,
        resource: &ResourceName,
        reason: &str,
        duration: Duration,
        starts_at: Timestamp,
    ) -> Result<AccessRequest, ServiceError> {
        self.open_request(who, resource, reason, duration, Some(starts_at)).await
    }

    /// How far ahead `who` may schedule access to `resource`; `None` when they may not (the
    /// policy says `schedule_ahead = "off"`, or they cannot ask for it at all). For forms
    /// deciding whether to offer a start.
    pub fn schedule_ahead(&self, who: &Identity, resource: &ResourceName) -> Option<Duration> {
        self.jit_policy(who, resource).ok().and_then(|policy| policy.schedule_ahead)
    }
}
