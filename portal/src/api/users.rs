//! `/api/v1/users/{user}`: what an admin does to a user's account rather than to a request.

use axum::Json;
use axum::extract::{Path, State};
use jitgate_access::ids::UserId;

use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::model::SessionsEnded;
use crate::state::Portal;

/// End every session of a user
///
/// Admins only. Signs the user out of jitgate and of every app they opened through it, on
/// every device, at once (ASVS 7.4.5); their grants stay. Audited as `sessions_ended` (actor:
/// the admin, user: the user). Takes no body.
#[utoipa::path(
    post,
    path = "/users/{user}/sessions/end",
    tag = "users",
    operation_id = "end_user_sessions",
    params(("user" = String, Path, description = "The user's email")),
    responses(
        (status = 200, description = "How many sessions ended", body = SessionsEnded),
        (status = 400, description = "`invalid_request`: not an email address", body = ErrorBody),
        (status = 401, description = super::UNAUTHENTICATED, body = ErrorBody),
        (status = 403, description = "`csrf_failed` (session without `X-CSRF-Token`) or `forbidden` (not an admin)", body = ErrorBody),
        (status = 503, description = super::UNAVAILABLE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn end_sessions(
    State(portal): State<Portal>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<SessionsEnded>, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::forbidden("only admins can end a user's sessions"));
    }
    let user = UserId::parse(user.trim())
        .map_err(|_| ApiError::invalid(format!("{user:?} is not an email address")))?;
    let ended = portal.service.end_sessions_of(&caller.identity, &user).await?;
    tracing::info!(admin = %caller.identity.user, %user, ended, "ended a user's sessions");
    Ok(Json(SessionsEnded { ended: ended as u64 }))
}
