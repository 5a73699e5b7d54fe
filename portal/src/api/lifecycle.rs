//! `/api/v1/requests/{id}/pause|resume|extend|acknowledge`: changes to a grant while it runs,
//! and the after-the-fact review of a break-glass grant. The rules (who, when, the policy's
//! `allow_pause`, `allow_extension` and `break_glass`) are the access service's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::body;
use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::model::RequestView;
use super::requests::{DurationField, request_id, view, visible};
use crate::state::Portal;

/// What `POST /requests/{id}/extend` takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// How much time to add to the grant's current end.
    duration: DurationField,
    /// Why; required where the policy requires a reason and under automatic approval.
    #[serde(default)]
    #[schema(max_length = 2000)]
    reason: String,
}

/// What pause and resume take; the body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// Kept in the audit trail and shown to the holder.
    #[serde(default)]
    #[schema(max_length = 2000)]
    note: String,
}

/// Pause an active grant
///
/// The holder, a reviewer of the request or an admin switches the grant off: every proxy
/// refuses the holder at once and cuts their open connections, as on revocation. The grant's
/// end does not move, so time spent paused is time lost. Only where the resource's policy
/// sets `allow_pause`.
#[utoipa::path(
    post,
    path = "/requests/{id}/pause",
    tag = "requests",
    operation_id = "pause_grant",
    params(("id" = String, Path, description = "Request id (ULID)")),
    request_body(content = Option<Note>, content_type = "application/json", description = "Optional: a `note`"),
    responses(
        (status = 200, description = "The request, its grant paused", body = RequestView),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field) or `too_long` (note over 2000 characters)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`) or `pause_not_allowed` (the policy does not allow pausing)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_active` (no grant in force), `already_paused` or `requester_not_eligible` (the config no longer gives the holder just-in-time access)", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn pause(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RequestView>, ApiError> {
    switch(&portal, &caller, &id, bytes, Switch::Off).await
}

/// Acknowledge a break-glass grant
///
/// A reviewer of the request or an admin reviews a grant its holder gave themselves by
/// breaking glass, lifting its flag (`break_glass.unreviewed` becomes `false`); the holder is
/// told. Never the holder, even when they review the resource. Revoking the grant instead is
/// `POST /requests/{id}/revoke`.
#[utoipa::path(
    post,
    path = "/requests/{id}/acknowledge",
    tag = "requests",
    operation_id = "acknowledge_break_glass",
    params(("id" = String, Path, description = "Request id (ULID)")),
    request_body(content = Option<Note>, content_type = "application/json", description = "Optional: a `note`"),
    responses(
        (status = 200, description = "The request, its break glass acknowledged", body = RequestView),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field) or `too_long` (note over 2000 characters)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`), or `self_review` (the holder)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_break_glass` (an ordinary request) or `already_acknowledged` (acknowledged or revoked already)", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn acknowledge(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RequestView>, ApiError> {
    switch(&portal, &caller, &id, bytes, Switch::Acknowledge).await
}

/// The changes that take only an optional note: switching a grant off or on, and
/// acknowledging a break-glass grant (which lifts its flag).
enum Switch {
    Off,
    On,
    Acknowledge,
}

/// Pause (`Off`), resume (`On`) or acknowledge the grant of request `id`, with the body's note.
async fn switch(
    portal: &Portal,
    caller: &Caller,
    id: &str,
    bytes: Result<Bytes, BytesRejection>,
    to: Switch,
) -> Result<Json<RequestView>, ApiError> {
    let bytes = bytes?;
    let note = body::<Option<Note>>(&bytes)?.unwrap_or_default();
    let id = visible(portal, caller, request_id(id)?).await?.id;
    let (who, note) = (&caller.identity, note.note.trim());
    let request = match to {
        Switch::Off => portal.service.pause(who, id, note).await?,
        Switch::On => portal.service.resume(who, id, note).await?,
        Switch::Acknowledge => portal.service.acknowledge(who, id, note).await?,
    };
    Ok(view(portal, &request))
}

/// Resume a paused grant
///
/// Switches the grant back on for what is left of its window. The holder may lift their own
/// pause; a pause by a reviewer or an admin is lifted only by a reviewer or an admin.
#[utoipa::path(
    post,
    path = "/requests/{id}/resume",
    tag = "requests",
    operation_id = "resume_grant",
    params(("id" = String, Path, description = "Request id (ULID)")),
    request_body(content = Option<Note>, content_type = "application/json", description = "Optional: a `note`"),
    responses(
        (status = 200, description = "The request, its grant on again", body = RequestView),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field) or `too_long` (note over 2000 characters)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`) or `forbidden` (the holder, when a reviewer or an admin paused it)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_active` (the grant ended, or its window closed while paused) or `not_paused`", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn resume(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<RequestView>, ApiError> {
    switch(&portal, &caller, &id, bytes, Switch::On).await
}

/// Extend an active grant
///
/// The holder asks for `duration` more on top of the grant's current end, before it ends. The
/// new end is at most the policy's `max_duration` from now and never more than its
/// `max_total` after the access first began. Under automatic approval the grant is extended
/// at once (`active`); otherwise the extension is `pending` until as many reviewers as a
/// request needs approve it, and the grant runs on meanwhile. Either way the answer is the
/// extension request, whose `extends` names the grant.
#[utoipa::path(
    post,
    path = "/requests/{id}/extend",
    tag = "requests",
    operation_id = "extend_grant",
    params(("id" = String, Path, description = "The id of the request holding the grant (ULID)")),
    request_body(content = Extension, content_type = "application/json"),
    responses(
        (status = 201, description = "The extension request; `Location` names it", body = RequestView,
            headers(("Location" = String, description = "`/api/v1/requests/{id}`"))),
        (status = 400, description = "`invalid_request` (bad JSON, unknown field, bad duration), `reason_required`, `too_long` (reason over 2000 characters) or `duration_not_allowed` (past `max_duration` from now or `max_total`)", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`), `forbidden` (not the holder) or `extension_not_allowed` (the policy does not allow extensions)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not one the caller may see", body = ErrorBody),
        (status = 409, description = "`not_active` (the grant ended) or `already_pending` (an extension or request for the resource is waiting)", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 16 KiB", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE_WRITE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn extend(
    State(portal): State<Portal>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = bytes?;
    let Some(ask) = body::<Option<Extension>>(&bytes)? else {
        return Err(ApiError::invalid("send {\"duration\", \"reason\"}"));
    };
    let more = ask.duration.parse()?;
    let id = visible(&portal, &caller, request_id(&id)?).await?.id;
    let extension = portal.service.extend(&caller.identity, id, more, ask.reason.trim()).await?;
    let location = format!("/api/v1/requests/{}", extension.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], view(&portal, &extension))
        .into_response())
}
