//! `/api/v1/requests`: open, list, read, cancel, approve, deny and revoke access requests.
//! Authorisation is the access service's (the same rules as the pages); this layer adds who
//! may *see* a request: its requester, its reviewers and admins. Others get 404, not 403, so
//! request ids reveal nothing.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jitgate_access::ids::{GroupName, RequestId, ResourceName, UserId};
use jitgate_access::request::{AccessRequest, Status};
use jitgate_access::store::RequestQuery;
use serde::Deserialize;
use serde_json::json;

use super::caller::Caller;
use super::error::ApiError;
use super::model::RequestView;
use super::{body, limit};
use crate::state::Portal;

/// A duration as seconds (`3600`) or in words (`"1h"`, `"90m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationField {
    Seconds(u64),
    Text(String),
}

impl DurationField {
    fn parse(&self) -> Result<Duration, ApiError> {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    resource: String,
    #[serde(default)]
    reason: String,
    duration: DurationField,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[serde(default)]
    duration: Option<DurationField>,
    #[serde(default)]
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

fn request_id(raw: &str) -> Result<RequestId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no request with this id"))
}

fn view(portal: &Portal, request: &AccessRequest) -> Json<RequestView> {
    Json(RequestView::of(request, portal.clock.now()))
}

/// Loads a request the caller may see.
async fn visible(
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

/// `POST /api/v1/requests`.
pub async fn create(
    State(portal): State<Portal>,
    caller: Caller,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let new: NewRequest = match body::<Option<NewRequest>>(&bytes)? {
        Some(new) => new,
        None => return Err(ApiError::invalid("send {\"resource\", \"reason\", \"duration\"}")),
    };
    let resource = ResourceName::parse(new.resource.trim())
        .map_err(|_| ApiError::not_found(format!("no resource named {:?}", new.resource)))?;
    let duration = new.duration.parse()?;
    let created = portal
        .service
        .request_access(&caller.identity, &resource, new.reason.trim(), duration)
        .await?;
    let location = format!("/api/v1/requests/{}", created.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], view(&portal, &created))
        .into_response())
}

/// `GET /api/v1/requests`: newest first, one page per call (`next` is the cursor for
/// `before`). Reviewers see the resources they review, others their own requests.
pub async fn list(
    State(portal): State<Portal>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(json!({ "items": items, "next": page.next.map(|id| id.to_string()) })))
}

/// `GET /api/v1/requests/{id}`.
pub async fn get(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let request = visible(&portal, &caller, request_id(&id)?).await?;
    Ok(view(&portal, &request))
}

/// `POST /api/v1/requests/{id}/cancel`: the requester withdraws a pending request.
pub async fn cancel(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let request = portal.service.cancel(&caller.identity, id).await?;
    Ok(view(&portal, &request))
}

/// `POST /api/v1/requests/{id}/approve` with optional `duration` and `note`.
pub async fn approve(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<RequestView>, ApiError> {
    let review: Review = body(&bytes)?;
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let duration = review.duration.as_ref().map(DurationField::parse).transpose()?;
    let request =
        portal.service.approve(&caller.identity, id, duration, review.note.trim()).await?;
    Ok(view(&portal, &request))
}

/// `POST /api/v1/requests/{id}/deny` with an optional `note`.
pub async fn deny(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<RequestView>, ApiError> {
    let review: Review = body(&bytes)?;
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let request = portal.service.deny(&caller.identity, id, review.note.trim()).await?;
    Ok(view(&portal, &request))
}

/// `POST /api/v1/requests/{id}/revoke`: ends the active grant (reviewers, admins, or the
/// holder ending their own access).
pub async fn revoke(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<RequestView>, ApiError> {
    let review: Review = body(&bytes)?;
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let request = portal.service.revoke(&caller.identity, id, review.note.trim()).await?;
    Ok(view(&portal, &request))
}
