//! A reviewer's decisions on one request (approve with a duration, deny with a note, revoke
//! with a note), wherever the request is shown: the dashboard, the request's own page and the
//! directory's pages all include `decide.html` with an [`Actions`] from [`Portal::actions`].
//!
//! Deny and revoke cannot happen on one click: the buttons that carry `confirm=yes` sit inside
//! a `<details>` the reviewer opens first, and a POST without `confirm=yes` (a form submitted
//! by a stray Enter, an old bookmarklet) only renders a confirmation page. Every decision ends
//! in a redirect back with a flash message saying what happened (post/redirect/get).

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use jitgate_access::ids::RequestId;
use jitgate_access::policy::{Access, Identity, JitPolicy};
use jitgate_access::request::{AccessRequest, Status};
use jitgate_access::time::{Timestamp, format_duration};
use jitgate_access::transition::MAX_TEXT_LEN;
use serde::Deserialize;

use super::{Nav, render};
use crate::csrf::{CsrfForm, HasCsrf};
use crate::error::PortalError;
use crate::flash::Flash;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// What the viewer may do on one request, and what the forms need to do it.
pub struct Actions {
    pub id: String,
    pub can_decide: bool,
    pub can_revoke: bool,
    /// The viewer's own pending request: nothing for them to decide.
    pub own: bool,
    /// The viewer approved already; another reviewer must add theirs.
    pub approved_already: bool,
    /// Durations a reviewer may grant, `(seconds, label)`, shortest first.
    pub durations: Vec<(String, String)>,
    /// The duration asked for, as labelled in `durations` (preselected).
    pub asked: String,
    /// Where the forms send the reviewer back to.
    pub back: String,
    pub max_note: usize,
}

impl Portal {
    /// Request `id` if `viewer` may decide on it or is its requester (whose own request is
    /// refused by the caller with a clearer message); otherwise "not found", as for a request
    /// that does not exist.
    async fn reviewable(
        &self,
        viewer: &Viewer,
        id: RequestId,
    ) -> Result<AccessRequest, PortalError> {
        let request = self.service.store().request(id).await?.ok_or(PortalError::NotFound)?;
        let own = request.requester == viewer.identity().user;
        if own || self.service.may_review(viewer.identity(), &request) {
            Ok(request)
        } else {
            Err(PortalError::NotFound)
        }
    }

    /// The JIT policy that applies to `request`'s requester (as they were when asking).
    pub(crate) fn policy_of(&self, request: &AccessRequest) -> Option<&JitPolicy> {
        let resource = self.config.resource(&request.resource)?;
        let requester =
            Identity::new(request.requester.clone(), request.requester_groups.iter().cloned());
        match resource.policy.resolve(&self.config.roles, &requester) {
            Access::Jit { policy, .. } => Some(policy),
            _ => None,
        }
    }

    pub(crate) fn actions(
        &self,
        viewer: &Viewer,
        request: &AccessRequest,
        now: Timestamp,
        back: String,
    ) -> Actions {
        let status = request.status_at(now);
        let own = request.requester == viewer.identity().user;
        let may_review = !own && self.service.may_review(viewer.identity(), request);
        let approved_already =
            request.approvers().any(|reviewer| *reviewer == viewer.identity().user);
        let mut durations: Vec<Duration> =
            self.policy_of(request).map(|p| p.durations.clone()).unwrap_or_default();
        if !durations.contains(&request.requested_duration) {
            durations.push(request.requested_duration);
        }
        durations.sort();
        Actions {
            id: request.id.to_string(),
            can_decide: may_review && status == Status::Pending && !approved_already,
            can_revoke: may_review && matches!(status, Status::Active | Status::Scheduled),
            own: own && status == Status::Pending,
            approved_already: approved_already && status == Status::Pending,
            durations: durations
                .into_iter()
                .map(|d| (d.as_secs().to_string(), format_duration(d)))
                .collect(),
            asked: format_duration(request.requested_duration),
            back,
            max_note: MAX_TEXT_LEN,
        }
    }
}

#[derive(Deserialize)]
pub struct Decision {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    note: String,
    /// `yes` from the second, deliberate button of deny and revoke.
    #[serde(default)]
    confirm: String,
    /// Where to go afterwards (a portal path), so decisions from other pages return there.
    #[serde(default)]
    back: String,
}

impl Decision {
    fn back(&self) -> String {
        let path = jitgate_access::return_to::local_path(&self.back);
        if path == paths::HOME { paths::REVIEW.into() } else { path.to_owned() }
    }

    fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

impl HasCsrf for Decision {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn request_id(id: &str) -> Result<RequestId, PortalError> {
    id.parse().map_err(|_| PortalError::NotFound)
}

/// `POST /review/{id}/approve`.
pub async fn approve(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<Decision>,
) -> Result<Response, PortalError> {
    let id = request_id(&id)?;
    let duration = match form.duration.trim() {
        "" => None,
        secs => Some(Duration::from_secs(
            secs.parse()
                .map_err(|_| PortalError::BadRequest("choose a duration from the list".into()))?,
        )),
    };
    let request = portal.service.approve(viewer.identity(), id, duration, form.note.trim()).await?;
    let text = match request.grant() {
        Some(_) => format!(
            "Approved {}'s request for {}: access for {}.",
            request.requester,
            request.resource,
            crate::outcome::duration_text(&request),
        ),
        None => format!(
            "Your approval of {}'s request for {} is recorded; it needs another reviewer's too.",
            request.requester, request.resource
        ),
    };
    portal.flash_redirect(&form.back(), Flash::done(text))
}

/// `POST /review/{id}/deny`.
pub async fn deny(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<Decision>,
) -> Result<Response, PortalError> {
    undo(&portal, &id, &viewer, &form, Kind::Deny).await
}

/// `POST /review/{id}/revoke`: ends an active grant now; the note reaches the requester.
pub async fn revoke(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<Decision>,
) -> Result<Response, PortalError> {
    undo(&portal, &id, &viewer, &form, Kind::Revoke).await
}

/// A deny or revoke: the confirmation page without `confirm=yes`, else the decision and a
/// redirect back with what happened.
async fn undo(
    portal: &Portal,
    id: &str,
    viewer: &Viewer,
    form: &Decision,
    kind: Kind,
) -> Result<Response, PortalError> {
    let id = request_id(id)?;
    if !form.confirmed() {
        return confirm(portal, viewer, id, kind, form).await;
    }
    let note = form.note.trim();
    let text = match kind {
        Kind::Deny => {
            let request = portal.service.deny(viewer.identity(), id, note).await?;
            format!("Denied {}'s request for {}.", request.requester, request.resource)
        }
        Kind::Revoke => {
            if portal.reviewable(viewer, id).await?.requester == viewer.identity().user {
                // The requester's own "End access now" lives on their pages.
                return Err(PortalError::Forbidden("use End access now on your own grant".into()));
            }
            let request = portal.service.revoke(viewer.identity(), id, note).await?;
            format!("Revoked {}'s access to {}.", request.requester, request.resource)
        }
    };
    portal.flash_redirect(&form.back(), Flash::done(text))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deny,
    Revoke,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Nav,
    title: String,
    question: String,
    reason: String,
    action: String,
    button: &'static str,
    note: String,
    max_note: usize,
    back: String,
}

/// The confirmation step of a deny or revoke that arrived without `confirm=yes`; changes
/// nothing.
async fn confirm(
    portal: &Portal,
    viewer: &Viewer,
    id: RequestId,
    kind: Kind,
    form: &Decision,
) -> Result<Response, PortalError> {
    let request = portal.reviewable(viewer, id).await?;
    if request.requester == viewer.identity().user {
        return Err(PortalError::Forbidden("you cannot review your own request".into()));
    }
    let now = portal.clock.now();
    let status = request.status_at(now);
    let (title, question, action, button) = match kind {
        Kind::Deny if status == Status::Pending => (
            "Deny this request?",
            format!("Deny {}'s request for {}?", request.requester, request.resource),
            paths::review_deny(id),
            "Deny request",
        ),
        Kind::Revoke if matches!(status, Status::Active | Status::Scheduled) => (
            "Revoke this access?",
            format!(
                "Revoke {}'s access to {} now? Open connections are cut at once.",
                request.requester, request.resource
            ),
            paths::review_revoke(id),
            "Revoke access",
        ),
        _ => {
            return Err(PortalError::BadRequest(format!(
                "this request is {status}: there is nothing to {}",
                if kind == Kind::Deny { "deny" } else { "revoke" }
            )));
        }
    };
    render(&ConfirmPage {
        nav: portal.nav(viewer).await?,
        title: title.into(),
        question,
        reason: request.reason.clone(),
        action,
        button,
        note: form.note.chars().take(MAX_TEXT_LEN).collect(),
        max_note: MAX_TEXT_LEN,
        back: form.back(),
    })
}
