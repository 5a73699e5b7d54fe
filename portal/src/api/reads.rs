//! Read-only API resources: grants in force, and the audit trail.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use jitgate_access::ids::{ResourceName, UserId};
use jitgate_access::request::{RequestState, Status};
use jitgate_access::store::RequestQuery;
use serde::Deserialize;
use serde_json::{Value, json};

use super::caller::Caller;
use super::error::ApiError;
use super::limit;
use super::model::{AuditView, GrantView};
use crate::audit_filter::{AuditFilter, FilterError};
use crate::state::Portal;

#[derive(Debug, Default, Deserialize)]
pub struct GrantParams {
    #[serde(default)]
    user: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    mine: bool,
    #[serde(default)]
    before: String,
    limit: Option<usize>,
}

/// `GET /api/v1/grants`: the caller's own grants in force, or, for reviewers and admins,
/// every active grant on the resources they review (paged like requests).
pub async fn grants(
    State(portal): State<Portal>,
    caller: Caller,
    params: Result<Query<GrantParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let now = portal.clock.now();
    let store = portal.service.store();
    let reviewer = caller.is_admin || !caller.reviews.is_empty();
    if params.mine || !reviewer {
        let grants = store.active_grants_for_user(&caller.identity.user, now).await?;
        let items: Vec<GrantView> = grants.iter().map(|g| GrantView::of(g, now)).collect();
        return Ok(Json(json!({ "items": items, "next": null })));
    }
    let mut query = RequestQuery {
        statuses: vec![Status::Active],
        limit: limit(params.limit),
        ..RequestQuery::default()
    };
    if !params.user.trim().is_empty() {
        query.requester =
            Some(UserId::parse(params.user.trim()).map_err(|_| ApiError::invalid("not an email"))?);
    }
    let chosen = match params.resource.trim() {
        "" => None,
        raw => {
            Some(ResourceName::parse(raw).map_err(|_| ApiError::invalid("not a resource name"))?)
        }
    };
    query.resources = match (caller.review_scope(), chosen) {
        (None, chosen) => chosen.into_iter().collect(),
        (Some(scope), Some(chosen)) if scope.contains(&chosen) => vec![chosen],
        (Some(_), Some(_)) => return Err(ApiError::forbidden("you do not review that resource")),
        (Some(scope), None) => scope.to_vec(),
    };
    if !params.before.is_empty() {
        query.before = Some(params.before.parse().map_err(|_| ApiError::invalid("bad cursor"))?);
    }
    let page = store.list_requests(&query).await?;
    let items: Vec<GrantView> = page
        .items
        .iter()
        .filter_map(|request| match &request.state {
            RequestState::Approved { grant } if grant.is_active_at(now) => {
                Some(GrantView::of(grant, now))
            }
            _ => None,
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": page.next.map(|id| id.to_string()) })))
}

/// Paging for the audit trail, read from the same query string as the filter (two `Query`
/// extractors rather than `serde(flatten)`, which breaks numbers in query strings).
#[derive(Debug, Default, Deserialize)]
pub struct AuditPaging {
    #[serde(default)]
    before: String,
    limit: Option<usize>,
}

/// `GET /api/v1/audit`: admins see every event; reviewers the resources they review.
pub async fn audit(
    State(portal): State<Portal>,
    caller: Caller,
    filter: Result<Query<AuditFilter>, QueryRejection>,
    paging: Result<Query<AuditPaging>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (Query(filter), Query(params)) = (filter?, paging?);
    if !caller.is_admin && caller.reviews.is_empty() {
        return Err(ApiError::forbidden("only admins and reviewers read the audit trail"));
    }
    let mut query =
        filter.query(caller.review_scope(), limit(params.limit)).map_err(|error| match error {
            FilterError::Invalid(message) => ApiError::invalid(message),
            FilterError::OutOfScope => ApiError::forbidden("you do not review that resource"),
        })?;
    if !params.before.is_empty() {
        query.before = Some(params.before.parse().map_err(|_| ApiError::invalid("bad cursor"))?);
    }
    let page = portal.service.store().list_audit(&query).await?;
    let items: Vec<AuditView> = page.items.iter().map(AuditView::of).collect();
    Ok(Json(json!({ "items": items, "next": page.next.map(|id| id.to_string()) })))
}
