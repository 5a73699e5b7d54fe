//! Asking for access: the form and submitting it. A refused submission redirects back to the
//! form with what was typed and what was wrong ([`crate::draft`]), so Back and Reload never
//! resubmit; the request's own page is [`super::request_status`].

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::ids::{RequestId, ResourceName};
use jitgate_access::policy::{Access, Approval, Identity, JitPolicy};
use jitgate_access::request::{GrantEnd, RequestState, Status};
use jitgate_access::return_to::ReturnTo;
use jitgate_access::service::ServiceError;
use jitgate_access::store::RequestQuery;
use jitgate_access::time::format_duration;
use jitgate_access::transition::{MAX_TEXT_LEN, TransitionError};
use serde::Deserialize;

use super::{Nav, TimeView, capitalise, render};
use crate::csrf::{CsrfForm, HasCsrf};
use crate::draft::Draft;
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// The form's fields, as named in the HTML and in a [`Draft`].
const DURATION: &str = "duration";
const CUSTOM: &str = "custom";
const REASON: &str = "reason";
const BREAK_GLASS: &str = "break_glass";
const STARTS_AT: &str = "starts_at";

/// Custom durations offered as examples, when within the viewer's maximum.
const EXAMPLES: [Duration; 7] = [
    Duration::from_secs(20 * 60),
    Duration::from_secs(45 * 60),
    Duration::from_secs(90 * 60),
    Duration::from_secs(4 * 3600),
    Duration::from_secs(12 * 3600),
    Duration::from_secs(2 * 86_400),
    Duration::from_secs(5 * 86_400),
];

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One form field's error, as the template marks it up (`aria-describedby` of the field).
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "request_form.html")]
struct RequestForm {
    nav: Nav,
    resource: String,
    /// The app's own URL, named in "why you are here".
    app_url: String,
    rd: String,
    choices: Vec<Choice>,
    custom_allowed: bool,
    custom_chosen: bool,
    custom: String,
    custom_hint: String,
    reason: String,
    reason_len: usize,
    reason_required: bool,
    approval: String,
    max_reason: usize,
    /// Why the app is locked now: the last grant expired or was revoked, the last request
    /// was denied ("" when the viewer never had access).
    history: Option<History>,
    errors: Vec<Invalid>,
    /// Errors not tied to a field (a refusal by the service).
    general: Option<String>,
    /// The longest break-glass grant, in words, when the viewer may break glass here.
    break_glass: Option<String>,
    break_glass_checked: bool,
    /// How far ahead the viewer may schedule, in words; `None` when they may not.
    schedule_ahead: Option<String>,
    /// The start typed (`YYYY-MM-DDTHH:MM`, UTC), "" for now.
    starts_at: String,
    /// The time now, UTC, shown beside the start field so nobody mistakes its zone.
    now_utc: String,
}

impl RequestForm {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    /// The first field in error, which the page focuses.
    fn first_invalid(&self) -> &str {
        self.errors.first().map_or("", |e| e.field)
    }
}

/// What happened to the viewer's last request for this app.
pub struct History {
    pub text: String,
    pub at: Option<TimeView>,
    pub note: String,
    /// The reason given then, offered again when the access ended (not when it was refused).
    pub reuse: Option<String>,
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
                "Your access to {resource} is standing: just open it."
            ))),
            Access::NoAccess => Err(PortalError::Forbidden(format!(
                "No policy lets you request {resource}; ask your administrator."
            ))),
        }
    }

    /// The app's own address (its host and path prefix).
    pub(super) fn app_url(&self, resource: &ResourceName) -> String {
        self.config.resource(resource).map_or_else(String::new, |config| {
            self.destinations.url(&ReturnTo::Resource {
                host: config.host.clone(),
                path: config.path_prefix.clone(),
            })
        })
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

/// "up to 8h, e.g. 45m or 4h": examples never longer than the viewer may ask for.
fn custom_hint(policy: &JitPolicy) -> String {
    let fits: Vec<String> = EXAMPLES
        .iter()
        .filter(|d| **d <= policy.max_duration && !policy.durations.contains(d))
        .map(|d| format_duration(*d))
        .collect();
    let examples = match fits.as_slice() {
        [] => format_duration(policy.max_duration),
        [one] => one.clone(),
        [.., a, b] => format!("{a} or {b}"),
    };
    format!("up to {}, e.g. {examples}", format_duration(policy.max_duration))
}

/// The viewer's latest request for `resource`, told as why they are here again.
async fn history(
    portal: &Portal,
    viewer: &Viewer,
    resource: &ResourceName,
) -> Result<Option<History>, PortalError> {
    let latest = portal
        .service
        .store()
        .list_requests(&RequestQuery {
            requester: Some(viewer.identity().user.clone()),
            resources: vec![resource.clone()],
            limit: 1,
            ..RequestQuery::default()
        })
        .await?
        .items
        .into_iter()
        .next();
    let Some(request) = latest else { return Ok(None) };
    let now = portal.clock.now();
    let told = match (&request.state, request.status_at(now)) {
        (RequestState::Approved { grant }, Status::Expired) => History {
            text: format!("Your access to {resource} expired at"),
            at: Some(TimeView::at(match &grant.end {
                Some(GrantEnd::Expired { at }) => *at,
                _ => grant.expires_at,
            })),
            note: String::new(),
            reuse: Some(request.reason.clone()),
        },
        (RequestState::Approved { grant }, Status::Revoked) => match &grant.end {
            Some(GrantEnd::Revoked { by, at, note }) => History {
                text: format!("Your access to {resource} was revoked by {by} at"),
                at: Some(TimeView::at(*at)),
                note: note.clone(),
                reuse: Some(request.reason.clone()),
            },
            _ => return Ok(None),
        },
        (RequestState::Denied { by, at, note }, _) => History {
            text: format!("Your last request was denied by {by} at"),
            at: Some(TimeView::at(*at)),
            note: note.clone(),
            reuse: None,
        },
        (_, Status::TimedOut) => History {
            text: "Your last request timed out: nobody decided in time.".into(),
            at: None,
            note: String::new(),
            reuse: Some(request.reason.clone()),
        },
        _ => return Ok(None),
    };
    Ok(Some(told))
}

/// The reason of the viewer's own earlier request `again` for `resource` ("Request again").
async fn earlier_reason(
    portal: &Portal,
    viewer: &Viewer,
    resource: &ResourceName,
    again: Option<&String>,
) -> Result<Option<String>, PortalError> {
    let Some(id) = again.and_then(|id| id.parse::<RequestId>().ok()) else { return Ok(None) };
    let request = portal.service.store().request(id).await?;
    Ok(request
        .filter(|r| r.requester == viewer.identity().user && &r.resource == resource)
        .map(|r| r.reason))
}

/// `GET /request/{resource}?rd=…&again=…`.
pub async fn form(
    State(portal): State<Portal>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(resource): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PortalError> {
    let resource: ResourceName = resource.parse().map_err(|_| PortalError::NotFound)?;
    let policy = portal.jit_policy(&viewer, &resource)?;
    let rd = portal.destinations.vet(query.get("rd").map(String::as_str));
    // Already granted: nothing to ask for, go on to the app; or scheduled: say when.
    let now = portal.clock.now();
    let store = portal.service.store();
    if let Some(grant) = store.active_grant(&viewer.identity().user, &resource, now).await? {
        if grant.is_scheduled_at(now) {
            return super::schedule::locked(&portal, &viewer, &grant, now).await;
        }
        // Paused, the app would send the browser straight back here: say so instead.
        if grant.paused.is_some() {
            return super::pause::locked_while_paused(&portal, &viewer, &grant).await;
        }
        return Ok(portal.continue_to(&viewer.session, &rd, None));
    }
    let page_path = paths::request_form(&resource);
    let draft = portal.draft(&headers, &page_path);
    let history = history(&portal, &viewer, &resource).await?;
    let again = earlier_reason(&portal, &viewer, &resource, query.get("again")).await?;
    let who = viewer.identity();
    let mut page = form_page(portal.nav(&viewer).await?, who, &portal, &resource, policy, &rd);
    let reuse = history.as_ref().and_then(|h| h.reuse.clone());
    page.history = history;
    if let Some(reason) = again.or(reuse) {
        page.reason_len = reason.chars().count();
        page.reason = reason;
    }
    if let Some(draft) = &draft {
        fill_from(&mut page, draft);
    }
    let mut response = render(&page)?;
    portal.forget_draft(&headers, &mut response);
    Ok(response)
}

fn form_page(
    nav: Nav,
    who: &Identity,
    portal: &Portal,
    resource: &ResourceName,
    policy: &JitPolicy,
    rd: &ReturnTo,
) -> RequestForm {
    let mut choices: Vec<Choice> = policy
        .durations
        .iter()
        .enumerate()
        .map(|(i, d)| Choice {
            label: format_duration(*d),
            value: d.as_secs().to_string(),
            selected: i == 0,
        })
        .collect();
    if policy.allow_custom_duration {
        choices.push(Choice { value: CUSTOM.into(), label: "Custom…".into(), selected: false });
    }
    let rd = if *rd == ReturnTo::home() { String::new() } else { portal.destinations.url(rd) };
    RequestForm {
        nav,
        resource: resource.to_string(),
        app_url: portal.app_url(resource),
        rd,
        choices,
        custom_allowed: policy.allow_custom_duration,
        custom_chosen: false,
        custom: String::new(),
        custom_hint: custom_hint(policy),
        reason: String::new(),
        reason_len: 0,
        reason_required: policy.reason_required || policy.approval == Approval::Auto,
        approval: approval_text(policy),
        max_reason: MAX_TEXT_LEN,
        history: None,
        errors: Vec::new(),
        general: None,
        break_glass: policy
            .break_glass
            .as_ref()
            .filter(|rule| rule.admits(who))
            .map(|rule| format_duration(rule.max_duration)),
        break_glass_checked: false,
        schedule_ahead: policy.schedule_ahead.map(format_duration),
        starts_at: String::new(),
        now_utc: TimeView::at(portal.clock.now()).text,
    }
}

/// Puts a refused submission's values and errors back into the form.
fn fill_from(page: &mut RequestForm, draft: &Draft) {
    if let Some(chosen) = draft.get(DURATION) {
        for choice in &mut page.choices {
            choice.selected = choice.value == chosen;
        }
        page.custom_chosen = chosen == CUSTOM;
    }
    page.custom = draft.get(CUSTOM).unwrap_or_default().to_owned();
    page.reason = draft.get(REASON).unwrap_or_default().to_owned();
    page.reason_len = page.reason.chars().count();
    page.starts_at = draft.get(STARTS_AT).unwrap_or_default().to_owned();
    for field in [DURATION, REASON, STARTS_AT] {
        if let Some(message) = draft.error_of(field) {
            let field = if field == DURATION && page.custom_chosen { CUSTOM } else { field };
            page.errors.push(Invalid { field, message: message.to_owned() });
        }
    }
    page.general = draft.error_of("").map(str::to_owned);
    page.break_glass_checked = draft.get(BREAK_GLASS) == Some("yes");
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
    /// `yes` when the Break glass choice is taken.
    #[serde(default)]
    break_glass: String,
    /// The scheduled start, UTC, as a `datetime-local` field sends it; "" for now.
    #[serde(default)]
    starts_at: String,
}

impl Submission {
    /// A duration typed into the custom box wins over the radio buttons: nobody types one
    /// without meaning it, and ignoring it silently grants something else than asked.
    fn wants_custom(&self) -> bool {
        self.duration == CUSTOM || !self.custom.trim().is_empty()
    }
}

fn chosen_duration(policy: &JitPolicy, submission: &Submission) -> Result<Duration, String> {
    if submission.wants_custom() {
        if !policy.allow_custom_duration {
            return Err("Choose one of the offered durations.".into());
        }
        let typed = submission.custom.trim();
        if typed.is_empty() {
            return Err(
                "Type a duration, like 90m or 4h, or choose one of the offered ones.".into()
            );
        }
        let duration = humantime::parse_duration(typed)
            .map_err(|_| format!("{typed:?} is not a duration; write it like 90m, 4h or 2d."))?;
        if duration.is_zero() {
            return Err("A duration must be longer than zero.".into());
        }
        if duration > policy.max_duration {
            return Err(format!(
                "{} is longer than the {} you may ask for here.",
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
        .ok_or_else(|| "Choose one of the offered durations.".into())
}

/// The reason's problems found before asking the service (which refuses them too): an
/// over-long reason is refused whole, never cut.
fn reason_error(policy: &JitPolicy, reason: &str) -> Option<String> {
    let len = reason.chars().count();
    if len > MAX_TEXT_LEN {
        return Some(format!(
            "Your reason is {len} characters long; the limit is {MAX_TEXT_LEN}. Shorten it by {}.",
            len - MAX_TEXT_LEN
        ));
    }
    let required = policy.reason_required || policy.approval == Approval::Auto;
    (required && reason.is_empty()).then(|| "Give a reason: reviewers see it.".into())
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
    let reason = submission.reason.trim();
    let mut draft = Draft::new(&paths::request_form(&resource))
        .value(DURATION, if submission.wants_custom() { CUSTOM } else { &submission.duration })
        .value(CUSTOM, &submission.custom)
        .value(REASON, &submission.reason)
        .value(BREAK_GLASS, &submission.break_glass)
        .value(STARTS_AT, &submission.starts_at);
    let breaks_glass = match submission.break_glass.as_str() {
        "" => false,
        "yes" => true,
        _ => return Err(PortalError::BadRequest("break_glass is \"yes\" or absent".into())),
    };
    let duration = chosen_duration(policy, &submission);
    if let Err(error) = &duration {
        draft = draft.error(DURATION, error.clone());
    }
    if let Some(error) = reason_error(policy, reason) {
        draft = draft.error(REASON, error);
    }
    let starts_at = super::schedule::chosen_start(&submission.starts_at, breaks_glass);
    if let Err(error) = &starts_at {
        draft = draft.error(STARTS_AT, error.clone());
    }
    let now = portal.clock.now();
    let refused = match (duration, starts_at) {
        (Ok(duration), Ok(starts_at)) if draft.errors.is_empty() => {
            let (who, service) = (viewer.identity(), &portal.service);
            let opened = match (breaks_glass, starts_at) {
                (true, _) => service.break_glass(who, &resource, reason, duration).await,
                (false, Some(start)) => {
                    service.request_scheduled_access(who, &resource, reason, duration, start).await
                }
                (false, None) => service.request_access(who, &resource, reason, duration).await,
            };
            match opened {
                Ok(request) if request.grant().is_some_and(|grant| grant.allows_at(now)) => {
                    return Ok(portal.continue_to(&viewer.session, &rd, None));
                }
                Ok(request) => {
                    return Ok(Redirect::to(&status_url(request.id, &rd, &portal)).into_response());
                }
                Err(ServiceError::AlreadyPending { id, .. }) => {
                    return Ok(Redirect::to(&status_url(id, &rd, &portal)).into_response());
                }
                Err(ServiceError::Refused(refused)) => refused,
                Err(other) => return Err(other.into()),
            }
        }
        _ => return again(&portal, viewer, &resource, policy, &rd, draft).await,
    };
    let field = match refused {
        TransitionError::ReasonRequired | TransitionError::TextTooLong { .. } => REASON,
        TransitionError::DurationNotAllowed(_) => DURATION,
        TransitionError::StartInPast(_)
        | TransitionError::StartTooFar(_)
        | TransitionError::SchedulingNotAllowed => STARTS_AT,
        _ => "",
    };
    let draft = draft.error(field, format!("{}.", capitalise(&refused.to_string())));
    again(&portal, viewer, &resource, policy, &rd, draft).await
}

/// Back to the form with `draft`: a redirect, or (when the draft is too large for a cookie)
/// the form itself with 422.
async fn again(
    portal: &Portal,
    viewer: Viewer,
    resource: &ResourceName,
    policy: &JitPolicy,
    rd: &ReturnTo,
    draft: Draft,
) -> Result<Response, PortalError> {
    let mut location = paths::request_form(resource);
    if *rd != ReturnTo::home() {
        location = format!("{location}?rd={}", super::encode(&portal.destinations.url(rd)));
    }
    if let Some(response) = portal.redirect_with_draft(&location, draft.clone())? {
        return Ok(response);
    }
    let who = viewer.identity();
    let mut page = form_page(portal.nav(&viewer).await?, who, portal, resource, policy, rd);
    fill_from(&mut page, &draft);
    render(&page).map(|mut response| {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        response
    })
}

fn status_url(id: RequestId, rd: &ReturnTo, portal: &Portal) -> String {
    paths::request_status_then(id, &portal.destinations.url(rd))
}
