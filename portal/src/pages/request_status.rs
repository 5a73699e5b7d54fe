//! A request's own page: who decides and whether they were told while it waits (updating by
//! itself: a meta refresh without JavaScript, polling with it), the decision after, the way
//! on to the app, and "Request again" once it is over.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Json, Response};
use jitgate_access::audit::Actor;
use jitgate_access::ids::RequestId;
use jitgate_access::outbox::{EventKind, NotificationEvent, Target};
use jitgate_access::policy::{Access, Identity};
use jitgate_access::request::{AccessRequest, GrantEnd, RequestState, Status};
use jitgate_access::return_to::ReturnTo;
use jitgate_access::time::format_duration;

use super::{Countdown, Nav, TimeView, relative, render};
use crate::csrf::{CsrfField, CsrfForm, HasCsrf};
use crate::error::PortalError;
use crate::flash::Flash;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

#[derive(Template)]
#[template(path = "request_status.html")]
struct StatusPage {
    nav: Nav,
    id: String,
    resource: String,
    status: String,
    headline: String,
    detail: String,
    /// The instant the detail counts down to (a grant's end, a pending request's deadline).
    countdown: Option<Countdown>,
    reason: String,
    requested: String,
    asked: String,
    approvals: Vec<String>,
    /// Who decides, and who was told, while the request waits.
    reviewers: String,
    told: String,
    pending: bool,
    /// Approved ahead of its start: the requester may still cancel it.
    scheduled: bool,
    /// The start asked for (UTC, in words), "" when asked for now.
    starts: String,
    active: bool,
    is_requester: bool,
    /// Where "Continue to the app" goes: the URL the requester was on their way to, else the
    /// app's own address.
    continue_url: String,
    /// "Request again" with the same reason, once the request is over.
    again_url: String,
    /// "15m (asked 1h)" when a reviewer granted other than asked, else "".
    granted: String,
    /// A reviewer's approve, deny and revoke (`decide.html`), for anyone who reviews it.
    review: Option<super::decide::Actions>,
    requester: String,
    /// A break-glass grant's mark (and Acknowledge button for its reviewers).
    glass: Option<super::break_glass::Badge>,
}

impl Portal {
    /// The request, if the viewer may see it: their own, or one they review.
    pub(crate) async fn visible_request(
        &self,
        viewer: &Viewer,
        id: &str,
    ) -> Result<AccessRequest, PortalError> {
        let id: RequestId = id.parse().map_err(|_| PortalError::NotFound)?;
        let request = self.service.store().request(id).await?.ok_or(PortalError::NotFound)?;
        let allowed = request.requester == viewer.identity().user
            || viewer.reviews.contains(&request.resource);
        if allowed { Ok(request) } else { Err(PortalError::NotFound) }
    }

    /// "dave@example.com or anyone in security": who may decide `request`, from the policy.
    fn reviewers_of(&self, request: &AccessRequest) -> String {
        let requester =
            Identity::new(request.requester.clone(), request.requester_groups.iter().cloned());
        let resolved = self
            .config
            .resource(&request.resource)
            .map(|resource| resource.policy.resolve(&self.config.roles, &requester));
        let principals = match &resolved {
            Some(Access::Jit { policy, .. }) if !policy.reviewers.is_empty() => &policy.reviewers,
            _ => &self.config.roles.reviewers,
        };
        let mut names: Vec<String> = principals.emails.iter().map(ToString::to_string).collect();
        names.extend(principals.groups.iter().map(|group| format!("anyone in {group}")));
        if names.is_empty() { "an admin".into() } else { names.join(" or ") }
    }

    /// Who was told of the new request, by what: the notification routing's own answer.
    fn told_of(&self, request: &AccessRequest) -> String {
        let event = NotificationEvent {
            kind: EventKind::RequestCreated,
            at: request.created_at,
            actor: Actor::User(request.requester.clone()),
            note: String::new(),
            request: request.clone(),
        };
        let targets = self.service.routing().targets(&event);
        let mailed: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| match t {
                Target::Email(to) => Some(to.to_string()),
                Target::Webhook(_) => None,
            })
            .collect();
        let hooks = targets.iter().filter(|t| matches!(t, Target::Webhook(_))).count();
        let mut told = Vec::new();
        if !mailed.is_empty() {
            told.push(format!("mailed {}", mailed.into_iter().collect::<Vec<_>>().join(", ")));
        }
        if hooks > 0 {
            told.push(if hooks == 1 {
                "posted to the team's webhook".to_owned()
            } else {
                format!("posted to {hooks} webhooks")
            });
        }
        if told.is_empty() {
            "Nobody was sent a message: reviewers find your request on their review page.".into()
        } else {
            format!("jitgate {} when you asked.", told.join(" and "))
        }
    }
}

/// `GET /requests/{id}?rd=…` (and `?format=json` for the page's script).
pub async fn status(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    let now = portal.clock.now();
    let status = request.status_at(now);
    if query.get("format").map(String::as_str) == Some("json") {
        return Ok(Json(
            serde_json::json!({ "id": request.id.to_string(), "status": status.as_str() }),
        )
        .into_response());
    }
    let is_requester = request.requester == viewer.identity().user;
    let rd = query.get("rd").map(|rd| portal.destinations.vet(Some(rd)));
    // Approved while the requester waited: take them where they were going.
    if status == Status::Active
        && is_requester
        && let Some(rd) = &rd
        && *rd != ReturnTo::home()
    {
        return Ok(portal.continue_to(&viewer.session, rd, None));
    }
    let mut countdown = None;
    let (headline, detail) = match (&request.state, status) {
        (_, Status::Pending) if !is_requester => (
            format!("{} asks for {}", request.requester, request.resource),
            "Approve or deny it below; the requester sees your decision at once.".to_owned(),
        ),
        (_, Status::Pending) => {
            countdown =
                Some(Countdown::until(request.pending_until, now, "no time: nobody decided"));
            (
                "Waiting for approval".to_owned(),
                "This page updates by itself when a reviewer decides. Without a decision, the request times out in".to_owned(),
            )
        }
        (RequestState::Approved { grant }, Status::Active) if grant.awaits_claim() => {
            let waiting = crate::outcome::waiting_for_first_use(grant).unwrap_or_default();
            let starts = format!(
                "{} of access start with the first request to {}; unused by then, it lapses.",
                crate::outcome::duration_text(&request),
                request.resource
            );
            let headline = if is_requester {
                "Approved: waiting for first use".to_owned()
            } else {
                format!("{} is approved for {}", request.requester, request.resource)
            };
            (headline, format!("Access is {waiting}. {starts}"))
        }
        (RequestState::Approved { grant }, Status::Active) if !is_requester => {
            countdown = Some(Countdown::until(grant.expires_at, now, "no time: it has ended"));
            (
                format!("{} has access to {}", request.requester, request.resource),
                "Their access ends in".to_owned(),
            )
        }
        (RequestState::Approved { grant }, Status::Active) => {
            countdown = Some(Countdown::until(grant.expires_at, now, "no time: it has ended"));
            ("Access granted".to_owned(), "Your access ends in".to_owned())
        }
        (RequestState::Approved { grant }, Status::Scheduled) => {
            let start = grant.starts_at.unwrap_or(now);
            countdown = Some(Countdown::until(start, now, "no time: it has started"));
            let headline = if is_requester {
                "Access scheduled".to_owned()
            } else {
                format!("{} has access to {} scheduled", request.requester, request.resource)
            };
            (headline, "Approved ahead of its start. It starts in".to_owned())
        }
        (RequestState::Denied { by, note, .. }, _) => (
            "Request denied".to_owned(),
            if note.is_empty() {
                format!("Denied by {by}.")
            } else {
                format!("Denied by {by}: {note}")
            },
        ),
        (RequestState::Cancelled { .. }, _) => ("Request cancelled".to_owned(), String::new()),
        (_, Status::TimedOut) => (
            "Request timed out".to_owned(),
            "Nobody decided in time; you can ask again.".to_owned(),
        ),
        (RequestState::Approved { grant }, Status::Revoked) => (
            "Access revoked".to_owned(),
            match &grant.end {
                Some(GrantEnd::Revoked { by, note, .. }) if !note.is_empty() => {
                    format!("Revoked by {by}: {note}")
                }
                Some(GrantEnd::Revoked { by, .. }) => format!("Revoked by {by}."),
                _ => String::new(),
            },
        ),
        (RequestState::Approved { grant }, Status::Lapsed) => (
            "Access lapsed unclaimed".to_owned(),
            format!(
                "It was never used before {}, so its time never started; you can ask again.",
                TimeView::at(grant.expires_at).text
            ),
        ),
        (RequestState::Approved { grant }, Status::Expired) => (
            "Access expired".to_owned(),
            format!("Your access ended at {}.", TimeView::at(grant.expires_at).text),
        ),
        (_, other) => (format!("Access {other}"), String::new()),
    };
    let over = !matches!(status, Status::Pending | Status::Active | Status::Scheduled);
    let again_url = if over && is_requester {
        format!("{}?again={}", paths::request_form(&request.resource), request.id)
    } else {
        String::new()
    };
    let continue_url = match &rd {
        Some(rd) if *rd != ReturnTo::home() => portal.destinations.url(rd),
        _ => portal.app_url(&request.resource),
    };
    let page = StatusPage {
        nav: portal.nav(&viewer).await?,
        id: request.id.to_string(),
        resource: request.resource.to_string(),
        status: status.as_str().to_owned(),
        headline,
        detail,
        countdown,
        reason: request.reason.clone(),
        requested: format_duration(request.requested_duration),
        asked: relative(request.created_at, now),
        approvals: request.approvals.iter().map(|v| v.reviewer.to_string()).collect(),
        reviewers: portal.reviewers_of(&request),
        told: portal.told_of(&request),
        pending: status == Status::Pending,
        scheduled: status == Status::Scheduled,
        starts: request.starts_at.map(|at| TimeView::at(at).text).unwrap_or_default(),
        active: status == Status::Active,
        is_requester,
        continue_url,
        again_url,
        granted: if crate::outcome::granted(&request)
            .is_some_and(|granted| granted != request.requested_duration)
        {
            crate::outcome::duration_text(&request)
        } else {
            String::new()
        },
        review: (!is_requester)
            .then(|| portal.actions(&viewer, &request, now, paths::request_status(request.id))),
        requester: request.requester.to_string(),
        glass: portal.break_glass_badge(&viewer, &request),
    };
    render(&page)
}

/// `POST /requests/{id}/cancel`: the requester withdraws a pending request, or scheduled
/// access before its start.
pub async fn cancel(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    portal.service.cancel(viewer.identity(), request.id).await?;
    let done = Flash::done(format!("Cancelled your request for {}.", request.resource));
    portal.flash_redirect(&paths::request_status(request.id), done)
}

/// `POST /requests/{id}/end`: the requester ends their own active grant now.
pub async fn end(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<EndForm>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    if request.requester != viewer.identity().user {
        return Err(PortalError::Forbidden(
            "Only the requester can end their own access here.".into(),
        ));
    }
    // One click never ends access: the button that says `confirm=yes` sits behind a
    // <details> the holder opens first. Anything else changes nothing.
    if form.confirm != "yes" {
        let ask = Flash::problem(format!(
            "Your access to {} was not ended: open \"End access now\" and confirm.",
            request.resource
        ));
        return portal.flash_redirect(paths::HOME, ask);
    }
    portal.service.revoke(viewer.identity(), request.id, "ended by the requester").await?;
    let done = Flash::done(format!("Ended your access to {}.", request.resource));
    portal.flash_redirect(paths::HOME, done)
}

/// The holder's "End access now": its CSRF token and the deliberate second button's `confirm`.
#[derive(serde::Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

impl HasCsrf for EndForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
