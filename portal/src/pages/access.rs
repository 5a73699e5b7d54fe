//! *My access*: every resource the viewer may reach, and where each stands for them.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jitgate_access::policy::Access;
use jitgate_access::request::Status;
use jitgate_access::return_to::ReturnTo;
use jitgate_access::store::RequestQuery;

use super::{Countdown, Nav, render};
use crate::error::PortalError;
use crate::state::Portal;
use crate::viewer::Viewer;

/// One row of *My access*.
pub struct Row {
    pub name: String,
    pub url: String,
    pub state: RowState,
}

// One per resource row of one page, rendered once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum RowState {
    Standing,
    Locked,
    Pending {
        request: String,
    },
    /// Approved ahead of its start: counted down to it, cancellable.
    Scheduled {
        request: String,
        starts: Countdown,
    },
    Active {
        request: String,
        left: Countdown,
        pause: PauseButton,
        extend: bool,
        /// "granted 15m (asked 1h)" when a reviewer granted other than asked, else "".
        granted: String,
        /// Set for a break-glass grant: flagged until a reviewer acknowledges it.
        glass: Option<super::break_glass::Badge>,
        /// "waiting for first use — claim by …" for a grant whose time has not started.
        waiting: Option<String>,
    },
}

/// Which pause button an active grant's row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseButton {
    /// The policy does not allow pausing.
    None,
    Pause,
    Resume,
    /// Paused by a reviewer: only a reviewer can resume it.
    PausedByReviewer,
}

impl PauseButton {
    pub fn is_paused(&self) -> bool {
        matches!(self, PauseButton::Resume | PauseButton::PausedByReviewer)
    }
}

#[derive(Template)]
#[template(path = "my_access.html")]
struct MyAccess {
    nav: Nav,
    rows: Vec<Row>,
    /// A reviewer's queue, shown first (`review_queue.html`).
    queue: Option<super::queue::Queue>,
}

/// `GET /`.
pub async fn my_access(
    State(portal): State<Portal>,
    viewer: Viewer,
) -> Result<Response, PortalError> {
    let now = portal.clock.now();
    let identity = viewer.identity();
    let store = portal.service.store();
    let grants = store.active_grants_for_user(&identity.user, now).await?;
    let pending = store
        .list_requests(&RequestQuery {
            statuses: vec![Status::Pending],
            requester: Some(identity.user.clone()),
            limit: 100,
            ..RequestQuery::default()
        })
        .await?
        .items;
    let mut rows = Vec::new();
    for resource in &portal.config.resources {
        let state = match resource.policy.resolve(&portal.config.roles, identity) {
            Access::NoAccess => continue,
            Access::Standing { .. } => RowState::Standing,
            Access::Jit { policy, .. } => {
                let grant = grants.iter().find(|g| g.resource == resource.name);
                if let Some(grant) = grant.filter(|g| g.is_scheduled_at(now)) {
                    let start = grant.starts_at.unwrap_or(now);
                    RowState::Scheduled {
                        request: grant.request_id.to_string(),
                        starts: Countdown::until(start, now, "now"),
                    }
                } else if let Some(grant) = grant {
                    let pause = match &grant.paused {
                        Some(_) if grant.paused_by_other() => PauseButton::PausedByReviewer,
                        Some(_) => PauseButton::Resume,
                        None if policy.allow_pause => PauseButton::Pause,
                        None => PauseButton::None,
                    };
                    let asked = store.request(grant.request_id).await?;
                    let glass = asked.as_ref().and_then(|r| portal.break_glass_badge(&viewer, r));
                    let granted = match asked {
                        Some(request)
                            if crate::outcome::granted(&request)
                                .is_some_and(|g| g != request.requested_duration) =>
                        {
                            crate::outcome::duration_phrase(&request)
                        }
                        _ => String::new(),
                    };
                    RowState::Active {
                        waiting: crate::outcome::waiting_for_first_use(grant),
                        granted,
                        glass,
                        request: grant.request_id.to_string(),
                        left: Countdown::until(grant.expires_at, now, "ended"),
                        pause,
                        // Its time has not started: nothing to extend yet.
                        extend: policy.allow_extension && !grant.awaits_claim(),
                    }
                } else if let Some(request) = pending
                    .iter()
                    .find(|r| r.resource == resource.name && r.status_at(now) == Status::Pending)
                {
                    RowState::Pending { request: request.id.to_string() }
                } else {
                    RowState::Locked
                }
            }
        };
        // A plain link: the resource host starts its own sign-in if it needs one.
        let entry =
            ReturnTo::Resource { host: resource.host.clone(), path: resource.path_prefix.clone() };
        rows.push(Row {
            name: resource.name.to_string(),
            url: portal.destinations.url(&entry),
            state,
        });
    }
    let queue = portal.queue(&viewer).await?;
    render(&MyAccess { nav: portal.nav(&viewer).await?, rows, queue })
}
