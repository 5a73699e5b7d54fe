//! Asking for access: the form, submitting it, and the request's own page, which moves on by
//! itself once a reviewer decides (a meta refresh without JavaScript, polling with it).

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Json, Redirect, Response};
use jitgate_access::ids::{RequestId, ResourceName};
use jitgate_access::policy::{Access, Approval, Identity, JitPolicy};
use jitgate_access::request::{AccessRequest, GrantEnd, RequestState, Status};
use jitgate_access::return_to::ReturnTo;
use jitgate_access::service::ServiceError;
use jitgate_access::time::format_duration;
use jitgate_access::transition::MAX_TEXT_LEN;
use serde::Deserialize;

use super::{Nav, relative, render, time_left};
use crate::csrf::{CsrfField, CsrfForm, HasCsrf};
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "request_form.html")]
struct RequestForm {
    nav: Nav,
    resource: String,
    rd: String,
    choices: Vec<Choice>,
    custom_allowed: bool,
    custom: String,
    max: String,
    reason: String,
    reason_required: bool,
    approval: String,
    max_reason: usize,
    error: Option<String>,
    /// The longest break-glass grant, in words, when the viewer may break glass here.
    break_glass: Option<String>,
    break_glass_checked: bool,
}

impl Portal {
    fn jit_policy<'a>(
        &'a self,
        viewer: &Viewer,
        resource: &ResourceName,
    ) -> Result<&'a JitPolicy, PortalError> {
        let config = self.config.resource(resource).ok_or(PortalError::NotFound)?;
        match config.policy.resolve(&self.config.roles, viewer.identity()) {
            Access::Jit { policy, .. } => Ok(policy),
            Access::Standing { .. } => Err(PortalError::BadRequest(format!(
                "your access to {resource} is standing: just open it"
            ))),
            Access::NoAccess => Err(PortalError::Forbidden(format!(
                "no policy lets you request {resource}; ask your administrator"
            ))),
        }
    }
}

fn approval_text(policy: &JitPolicy) -> String {
    match policy.approval {
        Approval::Auto => "Access is granted as soon as you submit.".into(),
        Approval::Manual { approvals_needed } if approvals_needed.get() == 1 => {
            "A reviewer approves or denies your request; you will see the decision here.".into()
        }
        Approval::Manual { approvals_needed } => format!(
            "{approvals_needed} reviewers must approve your request; you will see the decision here."
        ),
    }
}

fn form_page(
    nav: Nav,
    who: &Identity,
    resource: &ResourceName,
    policy: &JitPolicy,
    rd: String,
    entered: Option<&Submission>,
    error: Option<String>,
) -> RequestForm {
    let chosen = entered.map(|e| e.duration.as_str());
    let mut choices: Vec<Choice> = policy
        .durations
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let value = d.as_secs().to_string();
            let selected = chosen.map_or(i == 0, |c| c == value);
            Choice { label: format_duration(*d), value, selected }
        })
        .collect();
    if policy.allow_custom_duration {
        choices.push(Choice {
            value: "custom".into(),
            label: "Custom…".into(),
            selected: chosen == Some("custom"),
        });
    }
    RequestForm {
        nav,
        resource: resource.to_string(),
        rd,
        choices,
        custom_allowed: policy.allow_custom_duration,
        custom: entered.map_or_else(String::new, |e| e.custom.clone()),
        max: format_duration(policy.max_duration),
        reason: entered.map_or_else(String::new, |e| e.reason.clone()),
        reason_required: policy.reason_required || policy.approval == Approval::Auto,
        approval: approval_text(policy),
        max_reason: MAX_TEXT_LEN,
        error,
        break_glass: policy
            .break_glass
            .as_ref()
            .filter(|rule| rule.admits(who))
            .map(|rule| format_duration(rule.max_duration)),
        break_glass_checked: entered.is_some_and(|e| e.break_glass == "yes"),
    }
}

/// `GET /request/{resource}?rd=…`.
pub async fn form(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(resource): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PortalError> {
    let resource: ResourceName = resource.parse().map_err(|_| PortalError::NotFound)?;
    let policy = portal.jit_policy(&viewer, &resource)?;
    let rd = portal.destinations.vet(query.get("rd").map(String::as_str));
    // Already granted: nothing to ask for, go on to the app.
    let now = portal.clock.now();
    if portal.service.store().active_grant(&viewer.identity().user, &resource, now).await?.is_some()
    {
        return Ok(portal.continue_to(&viewer.session, &rd, None));
    }
    let page = form_page(
        portal.nav(&viewer).await?,
        viewer.identity(),
        &resource,
        policy,
        portal.destinations.url(&rd),
        None,
        None,
    );
    render(&page)
}

impl HasCsrf for Submission {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Deserialize)]
pub struct Submission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rd: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    custom: String,
    #[serde(default)]
    reason: String,
    /// `yes` when the Break glass box is ticked.
    #[serde(default)]
    break_glass: String,
}

fn chosen_duration(policy: &JitPolicy, submission: &Submission) -> Result<Duration, String> {
    if submission.duration == "custom" {
        if !policy.allow_custom_duration {
            return Err("choose one of the offered durations".into());
        }
        let duration = humantime::parse_duration(submission.custom.trim()).map_err(|_| {
            format!("{:?} is not a duration; write it like 90m, 4h or 2d", submission.custom.trim())
        })?;
        if duration > policy.max_duration {
            return Err(format!(
                "{} is longer than the {} this resource allows",
                format_duration(duration),
                format_duration(policy.max_duration)
            ));
        }
        return Ok(duration);
    }
    submission
        .duration
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .filter(|d| policy.durations.contains(d))
        .ok_or_else(|| "choose one of the offered durations".into())
}

/// `POST /request/{resource}`.
pub async fn submit(
    State(portal): State<Portal>,
    Path(resource): Path<String>,
    CsrfForm { viewer, form: submission }: CsrfForm<Submission>,
) -> Result<Response, PortalError> {
    let resource: ResourceName = resource.parse().map_err(|_| PortalError::NotFound)?;
    let policy = portal.jit_policy(&viewer, &resource)?;
    let rd = portal.destinations.vet(Some(&submission.rd));
    let again = |portal: &Portal, nav: Nav, error: String| {
        let page = form_page(
            nav,
            viewer.identity(),
            &resource,
            policy,
            portal.destinations.url(&rd),
            Some(&submission),
            Some(error),
        );
        render(&page).map(|mut response| {
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            response
        })
    };
    let duration = match chosen_duration(policy, &submission) {
        Ok(duration) => duration,
        Err(error) => return again(&portal, portal.nav(&viewer).await?, error),
    };
    let reason = submission.reason.trim();
    let opened = match submission.break_glass.as_str() {
        "" => portal.service.request_access(viewer.identity(), &resource, reason, duration).await,
        "yes" => portal.service.break_glass(viewer.identity(), &resource, reason, duration).await,
        _ => return Err(PortalError::BadRequest("break_glass is \"yes\" or absent".into())),
    };
    match opened {
        Ok(request) if request.grant().is_some() => {
            Ok(portal.continue_to(&viewer.session, &rd, None))
        }
        Ok(request) => Ok(Redirect::to(&status_url(request.id, &rd, &portal)).into_response()),
        Err(ServiceError::AlreadyPending { id, .. }) => {
            Ok(Redirect::to(&status_url(id, &rd, &portal)).into_response())
        }
        Err(ServiceError::Refused(refused)) => {
            again(&portal, portal.nav(&viewer).await?, capitalise(&refused.to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

fn status_url(id: RequestId, rd: &ReturnTo, portal: &Portal) -> String {
    paths::request_status_then(id, &portal.destinations.url(rd))
}

#[derive(Template)]
#[template(path = "request_status.html")]
struct StatusPage {
    nav: Nav,
    id: String,
    resource: String,
    status: String,
    headline: String,
    detail: String,
    reason: String,
    requested: String,
    asked: String,
    approvals: Vec<String>,
    /// A break-glass grant's mark (and Acknowledge button for its reviewers).
    glass: Option<super::break_glass::Badge>,
    pending: bool,
    active: bool,
    is_requester: bool,
    rd: String,
    /// "15m (asked 1h)" when a reviewer granted other than asked, else "".
    granted: String,
    /// A reviewer's approve, deny and revoke (`decide.html`), for anyone who reviews it.
    review: Option<super::decide::Actions>,
    requester: String,
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
    let (headline, detail) = match (&request.state, status) {
        (_, Status::Pending) if !is_requester => (
            format!("{} asks for {}", request.requester, request.resource),
            "Approve or deny it below; the requester sees your decision at once.".to_owned(),
        ),
        (_, Status::Pending) => (
            "Waiting for approval".to_owned(),
            "This page updates by itself when a reviewer decides.".to_owned(),
        ),
        (RequestState::Approved { grant }, Status::Active) if !is_requester => (
            format!("{} has access to {}", request.requester, request.resource),
            format!("Their access ends in {}.", time_left(grant.expires_at, now)),
        ),
        (RequestState::Approved { grant }, Status::Active) => (
            "Access granted".to_owned(),
            format!("Your access ends in {}.", time_left(grant.expires_at, now)),
        ),
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
                Some(GrantEnd::Revoked { by, note, .. }) if note.is_empty() => {
                    format!("Revoked by {by}.")
                }
                Some(GrantEnd::Revoked { by, note, .. }) => format!("Revoked by {by}: {note}"),
                _ => String::new(),
            },
        ),
        (_, other) => (format!("Access {other}"), String::new()),
    };
    let page = StatusPage {
        nav: portal.nav(&viewer).await?,
        id: request.id.to_string(),
        resource: request.resource.to_string(),
        status: status.as_str().to_owned(),
        headline,
        detail,
        reason: request.reason.clone(),
        requested: format_duration(request.requested_duration),
        asked: relative(request.created_at, now),
        approvals: request.approvals.iter().map(|v| v.reviewer.to_string()).collect(),
        pending: status == Status::Pending,
        active: status == Status::Active,
        is_requester,
        rd: rd.map(|rd| portal.destinations.url(&rd)).unwrap_or_default(),
        granted: if crate::outcome::granted(&request)
            .is_some_and(|granted| granted != request.requested_duration)
        {
            crate::outcome::duration_text(&request)
        } else {
            String::new()
        },
        review: (!is_requester)
            .then(|| portal.actions(&viewer, &request, now, paths::request_status(request.id))),
        glass: portal.break_glass_badge(&viewer, &request),
        requester: request.requester.to_string(),
    };
    render(&page)
}

/// `POST /requests/{id}/cancel`: the requester withdraws a pending request.
pub async fn cancel(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    portal.service.cancel(viewer.identity(), request.id).await?;
    Ok(Redirect::to(&paths::request_status(request.id)).into_response())
}

/// `POST /requests/{id}/end`: the requester ends their own active grant now.
pub async fn end(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    if request.requester != viewer.identity().user {
        return Err(PortalError::Forbidden(
            "only the requester can end their own access here".into(),
        ));
    }
    portal.service.revoke(viewer.identity(), request.id, "ended by the requester").await?;
    Ok(Redirect::to(paths::HOME).into_response())
}
