//! Read-only API resources: grants in force, and the audit trail.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use jitgate_access::ids::{ResourceName, UserId};
use jitgate_access::request::{RequestState, Status};
use jitgate_access::store::RequestQuery;
use serde::Deserialize;

use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::limit;
use super::model::{AuditPage, AuditView, GrantPage, GrantView};
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

/// Grants in force
///
/// The caller's own (with `mine=true`, and always for someone who reviews nothing, in one
/// page); reviewers and admins get every active grant on the resources they review, paged
/// like requests.
#[utoipa::path(
    get,
    path = "/grants",
    tag = "grants",
    operation_id = "list_grants",
    params(
        ("user" = Option<String>, Query, description = "Holder email (reviewers and admins)"),
        ("resource" = Option<String>, Query, description = "Resource name (reviewers and admins)"),
        ("mine" = Option<bool>, Query, description = "Only the caller's own grants"),
        ("before" = Option<String>, Query, description = "Cursor: the previous page's `next`"),
        ("limit" = Option<u32>, Query, description = "Rows per page (1-200, default 50)"),
    ),
    responses(
        (status = 200, description = "Grants in force", body = GrantPage),
        (status = 400, description = "`invalid_request`: a malformed email, resource, cursor, limit or `mine`", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`forbidden`: a resource the caller does not review", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn grants(
    State(portal): State<Portal>,
    caller: Caller,
    params: Result<Query<GrantParams>, QueryRejection>,
) -> Result<Json<GrantPage>, ApiError> {
    let Query(params) = params?;
    let now = portal.clock.now();
    let store = portal.service.store();
    let reviewer = caller.is_admin || !caller.reviews.is_empty();
    if params.mine || !reviewer {
        let grants = store.active_grants_for_user(&caller.identity.user, now).await?;
        let items: Vec<GrantView> = grants.iter().map(|g| GrantView::of(g, now)).collect();
        return Ok(Json(GrantPage { items, next: None }));
    }
    let mut query = RequestQuery {
        statuses: vec![Status::Scheduled, Status::Active],
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
    Ok(Json(GrantPage { items, next: page.next.map(|id| id.to_string()) }))
}

/// Paging for the audit trail, read from the same query string as the filter (two `Query`
/// extractors rather than `serde(flatten)`, which breaks numbers in query strings).
#[derive(Debug, Default, Deserialize)]
pub struct AuditPaging {
    #[serde(default)]
    before: String,
    limit: Option<usize>,
}

/// Audit trail
///
/// Newest first. Admins see every event; reviewers the resources they review (the first of
/// theirs when no resource is given).
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    operation_id = "list_audit",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD (inclusive)"),
        ("to" = Option<String>, Query, description = "RFC 3339 time (exclusive) or YYYY-MM-DD (inclusive)"),
        ("actor" = Option<String>, Query, description = "Email or `system`"),
        ("resource" = Option<String>, Query, description = "Resource name"),
        ("request" = Option<String>, Query, description = "Request id"),
        ("before" = Option<String>, Query, description = "Cursor: the previous page's `next`"),
        ("limit" = Option<u32>, Query, description = "Rows per page (1-200, default 50)"),
    ),
    responses(
        (status = 200, description = "One page of events", body = AuditPage),
        (status = 400, description = "`invalid_request`: a malformed time, resource, request id, cursor or limit", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`forbidden`: neither an admin nor a reviewer, or a resource the caller does not review", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn audit(
    State(portal): State<Portal>,
    caller: Caller,
    filter: Result<Query<AuditFilter>, QueryRejection>,
    paging: Result<Query<AuditPaging>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
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
    Ok(Json(AuditPage { items, next: page.next.map(|id| id.to_string()) }))
}
