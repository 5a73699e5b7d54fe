//! `/api/v1/users/{user}`: what an admin does to a user's account rather than to a request.

use axum::Json;
use axum::extract::{Path, State};
use jitgate_access::ids::UserId;
use serde_json::{Value, json};

use super::caller::Caller;
use super::error::ApiError;
use crate::state::Portal;

/// `POST /api/v1/users/{user}/sessions/end`: an admin signs the user out everywhere at once
/// (ASVS 7.4.5); answers how many sessions ended. Audited by the access service.
pub async fn end_sessions(
    State(portal): State<Portal>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_admin {
        return Err(ApiError::forbidden("only admins can end a user's sessions"));
    }
    let user = UserId::parse(user.trim())
        .map_err(|_| ApiError::invalid(format!("{user:?} is not an email address")))?;
    let ended = portal.service.end_sessions_of(&caller.identity, &user).await?;
    tracing::info!(admin = %caller.identity.user, %user, ended, "ended a user's sessions");
    Ok(Json(json!({ "ended": ended })))
}
