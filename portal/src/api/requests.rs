//! `/api/v1/requests`: open, list, read, cancel, approve, deny and revoke access requests.
//! Authorisation is the access service's (the same rules as the pages); this layer adds who
//! may *see* a request: its requester, its reviewers and admins. Others get 404, not 403, so
//! request ids reveal nothing.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jitgate_access::ids::{GroupName, RequestId, ResourceName, UserId};
use jitgate_access::request::{AccessRequest, Status};
use jitgate_access::store::RequestQuery;
use serde::Deserialize;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::model::{RequestPage, RequestView};
use super::{body, limit};
use crate::state::Portal;

/// A duration as whole seconds (`3600`) or in words (`"1h"`, `"90m"`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = Duration)]
pub(super) enum DurationField {
    /// Seconds.
    Seconds(u64),
    /// In words, like `90m`, `4h` or `1h30m`.
    Text(String),
}

impl DurationField {
    pub(super) fn parse(&self) -> Result<Duration, ApiError> {
        match self {
            DurationField::Seconds(secs) => Ok(Duration::from_secs(*secs)),
            DurationField::Text(text) => humantime::parse_duration(text.trim()).map_err(|_| {
                ApiError::invalid(format!(
                    "{text:?} is not a duration; write it like 90m, 4h or 3600"
                ))
            }),
        }
    }
}

/// What `POST /requests` takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The resource's name, as in the config.
    resource: String,
    /// Why; required where the resource's policy says so and under automatic approval.
    #[serde(default)]
    #[schema(max_length = 2000)]
    reason: String,
    /// How long access is asked for, within the policy's durations.
    duration: DurationField,
    /// Break glass: grant it to yourself at once, whatever the approval, for a duration up
    /// to the policy's `break_glass.max_duration`. Only for members of the policy's
    /// `break_glass.groups`; the reason is then always required. Every reviewer and admin is
    /// told, and the grant is flagged until a reviewer acknowledges it.
    #[serde(default)]
    break_glass: bool,
    /// Schedule it: the access starts at this instant (RFC 3339 with an offset, e.g.
    /// `2026-12-01T09:00:00Z`), no more than the policy's `schedule_ahead` from now, and runs
    /// for `duration` from there. Reviewers may approve it ahead of time; until the start it
    /// is `scheduled` and lets nobody in. Absent or `null`: access is asked for now.
    #[serde(default)]
    #[schema(format = DateTime)]
    starts_at: Option<String>,
}

/// What approve, deny and revoke take; every field is optional and so is the body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Approve only: the duration to grant instead of the one asked for, within the policy's
    /// maximum.
    #[serde(default)]
    duration: Option<DurationField>,
    /// Shown to the requester and kept in the audit trail.
    #[serde(default)]
    #[schema(max_length = 2000)]
    note: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// Comma-separated statuses.
    #[serde(default)]
    status: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    q: String,
    /// Only the caller's own requests, even for a reviewer.
    #[serde(default)]
    mine: bool,
    #[serde(default)]
    before: String,
    limit: Option<usize>,
}

pub(super) fn request_id(raw: &str) -> Result<RequestId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no request with this id"))
}

pub(super) fn view(portal: &Portal, request: &AccessRequest) -> Json<RequestView> {
    Json(RequestView::of(request, portal.clock.now()))
}

/// Loads a request the caller may see.
pub(super) async fn visible(
    portal: &Portal,
    caller: &Caller,
    id: RequestId,
) -> Result<AccessRequest, ApiError> {
    let request = portal
        .service
        .store()
        .request(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no request with this id"))?;
    let sees = caller.is_admin
        || request.requester == caller.identity.user
        || portal.service.may_review(&caller.identity, &request);
    if sees { Ok(request) } else { Err(ApiError::not_found("no request with this id")) }
}

/// Request access
///
/// Opens a request. Under automatic approval it comes back `active` at once; otherwise it is
/// `pending` until reviewers decide. With `"break_glass": true` an eligible caller's access
/// comes back `active` at once whatever the approval, marked `break_glass` until a reviewer
/// acknowledges it.
#[utoipa::path(
    post,
    path = "/requests",
    tag = "requests",
    operation_id = "create_request",
    request_body(content = NewRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names the request", body = RequestView,
            headers(("Location" = String, description = "`/api/v1/requests/{id}`"))),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field, bad duration, `starts_at` not RFC 3339 with an offset, or with break glass), `reason_required`, `too_long` (reason over 2000 characters), `duration_not_allowed` (for break glass: past `break_glass.max_duration`) or `start_not_allowed` (`starts_at` over a minute in the past, or further ahead than `schedule_ahead`)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`), `forbidden` (no access to the resource, even on request) or `break_glass_not_allowed` (the caller is not in the policy's `break_glass.groups`) or `scheduling_not_allowed` (the policy says `schedule_ahead = \"off\"`)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such resource", body = ErrorBody),
        (status = 409, description = "`already_pending` (a request for it is waiting), `standing_access` (the caller has access without asking), `holds_access` (under automatic approval, a scheduled request while the caller holds access to it now) or `access_scheduled` (the caller has access to it scheduled; cancel that first)", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn create(
    State(portal): State<Portal>,
    caller: Caller,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = bytes?;
    let new: NewRequest = match body::<Option<NewRequest>>(&bytes)? {
        Some(new) => new,
        None => return Err(ApiError::invalid("send {\"resource\", \"reason\", \"duration\"}")),
    };
    let resource = ResourceName::parse(new.resource.trim())
        .map_err(|_| ApiError::not_found(format!("no resource named {:?}", new.resource)))?;
    let duration = new.duration.parse()?;
    let starts_at = match &new.starts_at {
        Some(text) => Some(crate::start_time::parse_rfc3339(text).map_err(ApiError::invalid)?),
        None => None,
    };
    let (who, reason) = (&caller.identity, new.reason.trim());
    let service = &portal.service;
    let created = match (new.break_glass, starts_at) {
        (true, Some(_)) => {
            return Err(ApiError::invalid("break glass is for now: send no starts_at with it"));
        }
        (true, None) => service.break_glass(who, &resource, reason, duration).await?,
        (false, Some(start)) => {
            service.request_scheduled_access(who, &resource, reason, duration, start).await?
        }
        (false, None) => service.request_access(who, &resource, reason, duration).await?,
    };
    let location = format!("/api/v1/requests/{}", created.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], view(&portal, &created))
        .into_response())
}

/// List requests
///
/// Newest first, one page per call (`next` is the cursor for `before`). Reviewers see the
/// resources they review (admins all); other users, and anyone with `mine=true`, their own.
#[utoipa::path(
    get,
    path = "/requests",
    tag = "requests",
    operation_id = "list_requests",
    params(
        ("status" = Option<String>, Query, description = "Comma-separated statuses: `pending`, `active`, `expired`, `revoked`, `superseded`, `denied`, `cancelled`, `timed_out`"),
        ("resource" = Option<String>, Query, description = "Resource name"),
        ("user" = Option<String>, Query, description = "Requester email"),
        ("group" = Option<String>, Query, description = "A group the requester was in when they asked"),
        ("q" = Option<String>, Query, description = "Case-insensitive search in user, resource and reason"),
        ("mine" = Option<bool>, Query, description = "Only the caller's own requests, even for a reviewer"),
        ("before" = Option<String>, Query, description = "Cursor: the previous page's `next`"),
        ("limit" = Option<u32>, Query, description = "Rows per page (1-200, default 50)"),
    ),
    responses(
        (status = 200, description = "One page of requests", body = RequestPage),
        (status = 400, description = "`invalid_request`: an unknown status, a malformed resource, email, group, cursor or limit", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`forbidden`: another user's requests without reviewing, or a resource the caller does not review", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn list(
    State(portal): State<Portal>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestPage>, ApiError> {
    let Query(params) = params?;
    let mut query = RequestQuery { limit: limit(params.limit), ..RequestQuery::default() };
    for raw in params.status.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let status = Status::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ApiError::invalid(format!("{raw:?} is not a status")))?;
        query.statuses.push(status);
    }
    if !params.resource.trim().is_empty() {
        query.resources = vec![
            ResourceName::parse(params.resource.trim())
                .map_err(|_| ApiError::invalid("not a resource name"))?,
        ];
    }
    if !params.user.trim().is_empty() {
        query.requester = Some(
            UserId::parse(params.user.trim())
                .map_err(|_| ApiError::invalid("not an email address"))?,
        );
    }
    if !params.group.trim().is_empty() {
        query.group = Some(
            GroupName::parse(params.group.trim())
                .map_err(|_| ApiError::invalid("not a group name"))?,
        );
    }
    let search = params.q.trim();
    query.search = (!search.is_empty()).then(|| search.chars().take(200).collect());
    if !params.before.is_empty() {
        query.before = Some(params.before.parse().map_err(|_| ApiError::invalid("bad cursor"))?);
    }
    let own = params.mine || (!caller.is_admin && caller.reviews.is_empty());
    if own {
        if query.requester.as_ref().is_some_and(|u| *u != caller.identity.user) {
            return Err(ApiError::forbidden("you may list only your own requests"));
        }
        query.requester = Some(caller.identity.user.clone());
    } else if let Some(scope) = caller.review_scope() {
        if query.resources.is_empty() {
            query.resources = scope.to_vec();
        } else if query.resources.iter().any(|r| !scope.contains(r)) {
            return Err(ApiError::forbidden("you do not review that resource"));
        }
    }
    let page = portal.service.store().list_requests(&query).await?;
    let now = portal.clock.now();
    let items: Vec<RequestView> = page.items.iter().map(|r| RequestView::of(r, now)).collect();
    Ok(Json(RequestPage { items, next: page.next.map(|id| id.to_string()) }))
}

/// One request
///
/// Visible to its requester, its reviewers and admins; `404` for anyone else, so request ids
/// reveal nothing.
#[utoipa::path(
    get,
    path = "/requests/{id}",
    tag = "requests",
    operation_id = "get_request",
    params(("id" = String, Path, description = "Request id (ULID)")),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn get(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let request = visible(&portal, &caller, request_id(&id)?).await?;
    Ok(view(&portal, &request))
}

/// Cancel a pending request
///
/// The requester withdraws it, or scheduled access before its start. Takes no body.
#[utoipa::path(
    post,
    path = "/requests/{id}/cancel",
    tag = "requests",
    operation_id = "cancel_request",
    params(("id" = String, Path, description = "Request id (ULID)")),
    responses(
        (status = 200, description = "The cancelled request", body = RequestView),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`) or `forbidden` (a reviewer who is not the requester)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_pending`: already decided (scheduled access can still be cancelled before its start)", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn cancel(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let request = portal.service.cancel(&caller.identity, id).await?;
    Ok(view(&portal, &request))
}

/// Approve
///
/// A reviewer of the resource or an admin, never the requester (`self_review`). With
/// `approvals_needed` > 1 the request stays `pending` until enough distinct reviewers
/// approved; the grant lasts the shortest duration any of them allowed.
#[utoipa::path(
    post,
    path = "/requests/{id}/approve",
    tag = "requests",
    operation_id = "approve_request",
    params(("id" = String, Path, description = "Request id (ULID)")),
    request_body(content = Option<Review>, content_type = "application/json", description = "Optional: `duration` and `note`"),
    responses(
        (status = 200, description = "The request, `active` once approved by enough reviewers", body = RequestView),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field, bad duration), `duration_not_allowed` or `too_long` (note over 2000 characters)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`), `forbidden` (not a reviewer of the resource) or `self_review`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_pending` (already decided), `already_approved` (by this reviewer), `requester_not_eligible` (the config changed since they asked), `holds_access` (a scheduled request while the requester holds access to the resource: approve it once that has ended) or `access_scheduled` (the requester has access scheduled there; they cancel it first)", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn approve(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RequestView>, ApiError> {
    let bytes = bytes?;
    let review = body::<Option<Review>>(&bytes)?.unwrap_or_default();
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let duration = review.duration.as_ref().map(DurationField::parse).transpose()?;
    let request =
        portal.service.approve(&caller.identity, id, duration, review.note.trim()).await?;
    Ok(view(&portal, &request))
}

/// Deny
///
/// A reviewer of the resource or an admin, never the requester.
#[utoipa::path(
    post,
    path = "/requests/{id}/deny",
    tag = "requests",
    operation_id = "deny_request",
    params(("id" = String, Path, description = "Request id (ULID)")),
    request_body(content = Option<Review>, content_type = "application/json", description = "Optional: a `note` for the requester"),
    responses(
        (status = 200, description = "The denied request", body = RequestView),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field) or `too_long` (note over 2000 characters)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`), `forbidden` (not a reviewer of the resource) or `self_review`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_pending`: already decided", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn deny(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RequestView>, ApiError> {
    let bytes = bytes?;
    let review = body::<Option<Review>>(&bytes)?.unwrap_or_default();
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let request = portal.service.deny(&caller.identity, id, review.note.trim()).await?;
    Ok(view(&portal, &request))
}

/// Revoke an active grant
///
/// Reviewers and admins, or the holder ending their own access. Access ends at once, open
/// connections included.
#[utoipa::path(
    post,
    path = "/requests/{id}/revoke",
    tag = "requests",
    operation_id = "revoke_request",
    params(("id" = String, Path, description = "Request id (ULID)")),
    request_body(content = Option<Review>, content_type = "application/json", description = "Optional: a `note`"),
    responses(
        (status = 200, description = "The request, its grant ended", body = RequestView),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field) or `too_long` (note over 2000 characters)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`) or `forbidden` (neither a reviewer, an admin nor the holder)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_active`: no grant in force or scheduled", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn revoke(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RequestView>, ApiError> {
    let bytes = bytes?;
    let review = body::<Option<Review>>(&bytes)?.unwrap_or_default();
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let request = portal.service.revoke(&caller.identity, id, review.note.trim()).await?;
    Ok(view(&portal, &request))
}
