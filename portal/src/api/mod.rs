//! JSON API v1: the portal's operations for scripts and tools. Authenticated by an IdP bearer
//! token or by the browser session plus `X-CSRF-Token` (see [`caller`]); described by the
//! OpenAPI document served at `/api/v1/openapi.json`.

pub mod caller;
pub mod error;
pub mod model;
mod reads;
mod requests;
mod users;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use self::caller::Caller;
use self::error::ApiError;
use crate::state::Portal;

/// Rows per page when the caller does not say.
const DEFAULT_LIMIT: usize = 50;
/// The most rows one call returns.
const MAX_LIMIT: usize = 200;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

const OPENAPI: &str = include_str!("openapi.json");

/// The API's routes, to be nested under [`PREFIX`].
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route("/requests", get(requests::list).post(requests::create))
        .route("/requests/{id}", get(requests::get))
        .route("/requests/{id}/cancel", post(requests::cancel))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/deny", post(requests::deny))
        .route("/requests/{id}/revoke", post(requests::revoke))
        .route("/grants", get(reads::grants))
        .route("/audit", get(reads::audit))
        .route("/users/{user}/sessions/end", post(users::end_sessions))
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// `GET /api/v1/me`: who the API takes the caller for, and the CSRF token a session caller
/// must send back on changes.
async fn me(caller: Caller) -> Json<serde_json::Value> {
    Json(json!({
        "email": caller.identity.user.to_string(),
        "groups": caller.identity.groups.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "admin": caller.is_admin,
        "reviews": caller.reviews.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "csrf_token": caller.csrf,
    }))
}

/// A JSON body that may be empty (`{}` then): actions like cancel need no fields, and a
/// script should not have to send a body or a content type for them.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::invalid(format!("bad JSON body: {error}")))
}

fn limit(asked: Option<usize>) -> usize {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}
