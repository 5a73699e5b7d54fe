//! `GET /requests/{id}/extend`: the Extend form of one grant on a page of its own, prefilled,
//! where the expiry reminder's link lands (issue 15). Its own page rather than My access with a
//! form opened: a mail link must name one grant and survive the sign-in round trip as a plain
//! portal path, and a grant that cannot be extended needs room to say why. The form posts to
//! the same path ([`super::pause::extend`]), so the service's rules decide the ask itself.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::policy::Access;
use jitgate_access::request::{AccessRequest, GrantEnd, RequestState, Status};
use jitgate_access::store::RequestQuery;
use jitgate_access::time::format_duration;
use jitgate_access::transition::{TransitionError, extension_room};

use super::{Countdown, Nav, capitalise, render};
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// What the page offers for the grant.
enum Offer {
    /// The form, filled in with what the holder most likely wants: as long again as the
    /// grant's own ask (capped by what the policy still allows), and its reason.
    Form { more: String, reason: String, room: String },
    /// An ask for this resource already waits for reviewers: one at a time.
    Waiting { request: String },
    /// Why the grant cannot be extended, in a sentence.
    Refused { why: String },
}

#[derive(Template)]
#[template(path = "extend.html")]
struct ExtendPage {
    nav: Nav,
    id: String,
    resource: String,
    /// When the grant ends now; `None` once it ended.
    ends: Option<Countdown>,
    offer: Offer,
}

/// `GET /requests/{id}/extend`.
pub async fn page(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    // The reminder names the grant as it was; an extension since then holds it now.
    if let RequestState::Approved { grant } = &request.state
        && let Some(GrantEnd::Superseded { by_request, .. }) = &grant.end
    {
        return Ok(Redirect::to(&paths::request_extend(*by_request)).into_response());
    }
    let now = portal.clock.now();
    let ends = match (&request.state, request.status_at(now)) {
        (RequestState::Approved { grant }, Status::Active) => {
            Some(Countdown::until(grant.expires_at, now, "ended"))
        }
        _ => None,
    };
    let offer = portal.offer(&viewer, &request).await?;
    render(&ExtendPage {
        nav: portal.nav(&viewer).await?,
        id: request.id.to_string(),
        resource: request.resource.to_string(),
        ends,
        offer,
    })
}

impl Portal {
    async fn offer(&self, viewer: &Viewer, request: &AccessRequest) -> Result<Offer, PortalError> {
        let refused = |why: String| Ok(Offer::Refused { why });
        if request.requester != viewer.identity().user {
            return refused(format!(
                "Only {} can ask for more time on their access.",
                request.requester
            ));
        }
        let resolved = self
            .config
            .resource(&request.resource)
            .map(|resource| resource.policy.resolve(&self.config.roles, viewer.identity()));
        let Some(Access::Jit { policy, .. }) = resolved else {
            return refused(format!(
                "You no longer have time-limited access to {} to extend.",
                request.resource
            ));
        };
        let room = match extension_room(request, policy, self.clock.now()) {
            Ok(room) => room,
            Err(TransitionError::NotActive(status)) => {
                return refused(format!(
                    "This access is {status}: there is nothing left to extend. Ask for access anew."
                ));
            }
            Err(error) => return refused(capitalise(&format!("{error}."))),
        };
        if let Some(waiting) = self.pending_for(viewer, request).await? {
            return Ok(Offer::Waiting { request: waiting.id.to_string() });
        }
        let more = request.requested_duration.min(room);
        let reason =
            request.extends.as_ref().map_or(&request.reason, |e| &e.original_reason).clone();
        Ok(Offer::Form { more: format_duration(more), reason, room: format_duration(room) })
    }

    /// The viewer's request for `request`'s resource that waits for reviewers, if any.
    async fn pending_for(
        &self,
        viewer: &Viewer,
        request: &AccessRequest,
    ) -> Result<Option<AccessRequest>, PortalError> {
        let now = self.clock.now();
        let pending = self
            .service
            .store()
            .list_requests(&RequestQuery {
                statuses: vec![Status::Pending],
                requester: Some(viewer.identity().user.clone()),
                resources: vec![request.resource.clone()],
                limit: 10,
                ..RequestQuery::default()
            })
            .await?
            .items;
        Ok(pending.into_iter().find(|r| r.status_at(now) == Status::Pending))
    }
}
