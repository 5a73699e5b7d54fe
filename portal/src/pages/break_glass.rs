//! Break glass in the portal: the mark a break-glass grant carries on the dashboard, the
//! request page and *My access* until it is reviewed, and `POST /requests/{id}/acknowledge`,
//! the reviewer's Acknowledge button beside Revoke. The rules are the access service's.

use axum::extract::{Path, State};
use axum::response::Response;
use jitgate_access::request::AccessRequest;

use crate::csrf::{CsrfField, CsrfForm};
use crate::error::PortalError;
use crate::flash::Flash;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// What `break_glass_badge.html` shows of a break-glass grant.
#[derive(Debug, Clone)]
pub struct Badge {
    pub id: String,
    /// Neither acknowledged nor revoked yet: the flag.
    pub unreviewed: bool,
    /// Who acknowledged it, once someone did.
    pub acknowledged_by: String,
    /// The viewer may acknowledge it now: a reviewer of it, never its holder.
    pub may_acknowledge: bool,
}

impl Portal {
    /// The badge of `request` for `viewer`; `None` for anything but a break-glass grant.
    pub(crate) fn break_glass_badge(
        &self,
        viewer: &Viewer,
        request: &AccessRequest,
    ) -> Option<Badge> {
        let mark = request.break_glass.as_ref()?;
        let unreviewed = request.break_glass_unreviewed();
        let holder = request.requester == viewer.identity().user;
        Some(Badge {
            id: request.id.to_string(),
            unreviewed,
            acknowledged_by: mark
                .acknowledged
                .as_ref()
                .map(|ack| ack.by.to_string())
                .unwrap_or_default(),
            may_acknowledge: unreviewed
                && !holder
                && self.service.may_review(viewer.identity(), request),
        })
    }
}

/// `POST /requests/{id}/acknowledge`: lands on the request's page, which shows the flag gone,
/// with a message saying what was done.
pub async fn acknowledge(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    let done = portal.service.acknowledge(viewer.identity(), request.id, "").await?;
    let text =
        format!("Acknowledged {}'s break-glass access to {}.", done.requester, done.resource);
    portal.flash_redirect(&paths::request_status(done.id), Flash::done(text))
}
