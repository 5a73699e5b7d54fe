//! API failures as JSON: `{"error": {"code": "...", "message": "..."}}`. Codes are part of the
//! API contract (scripts branch on them); messages are for people and may change.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jitgate_access::bearer::BearerError;
use jitgate_access::service::ServiceError;
use jitgate_access::store::StoreError;
use jitgate_access::transition::TransitionError;
use serde::Serialize;
use utoipa::ToSchema;

/// Every code the API answers with. Scripts branch on these, so a code is never renamed.
pub const CODES: [&str; 35] = [
    "unauthenticated",
    "invalid_token",
    "csrf_failed",
    "forbidden",
    "self_review",
    "invalid_request",
    "reason_required",
    "too_long",
    "duration_not_allowed",
    "not_found",
    "standing_access",
    "already_pending",
    "requester_not_eligible",
    "not_pending",
    "not_active",
    "already_approved",
    "not_due",
    "too_large",
    "unsupported_media_type",
    "unavailable",
    "contention",
    "pause_not_allowed",
    "already_paused",
    "not_paused",
    "extension_not_allowed",
    "break_glass_not_allowed",
    "not_break_glass",
    "already_acknowledged",
    "scheduling_not_allowed",
    "start_not_allowed",
    "holds_access",
    "access_scheduled",
    "not_first_use",
    "already_claimed",
    "unclaimed",
];

fn code_schema() -> utoipa::openapi::schema::Object {
    super::model::one_of(&CODES, "Stable: scripts may branch on it.")
}

/// The body of every API failure.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(schema_with = code_schema)]
    pub code: &'static str,
    /// For people; may change.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send a session cookie or an Authorization: Bearer token",
        )
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "a session-authenticated change needs the X-CSRF-Token header from GET /api/v1/me",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        debug_assert!(CODES.contains(&self.code), "undocumented error code {}", self.code);
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(r#"Bearer realm="jitgate""#),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store error in the API");
        Self::unavailable("jitgate cannot reach its store right now; retry shortly")
    }
}

impl From<BearerError> for ApiError {
    fn from(error: BearerError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "cannot check a bearer token");
            return Self::unavailable(
                "the identity provider's keys cannot be fetched; retry shortly",
            );
        }
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", error.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let error = match error {
            ServiceError::Store(store) => return store.into(),
            other => other,
        };
        let message = error.to_string();
        let (status, code) = match &error {
            ServiceError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ServiceError::RequestNotFound(_)
            | ServiceError::UnknownResource(_)
            | ServiceError::TokenNotFound => (StatusCode::NOT_FOUND, "not_found"),
            ServiceError::NoAccess(_) | ServiceError::Forbidden(_) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            ServiceError::StandingAccess(_) => (StatusCode::CONFLICT, "standing_access"),
            ServiceError::AlreadyPending { .. } => (StatusCode::CONFLICT, "already_pending"),
            ServiceError::RequesterNoLongerEligible(_) => {
                (StatusCode::CONFLICT, "requester_not_eligible")
            }
            ServiceError::Contention(_) => (StatusCode::SERVICE_UNAVAILABLE, "contention"),
            ServiceError::Refused(refusal) => match refusal {
                TransitionError::SelfReview => (StatusCode::FORBIDDEN, "self_review"),
                TransitionError::NotRequester => (StatusCode::FORBIDDEN, "forbidden"),
                TransitionError::NotPending(_) => (StatusCode::CONFLICT, "not_pending"),
                TransitionError::NotActive(_) => (StatusCode::CONFLICT, "not_active"),
                TransitionError::AlreadyApproved => (StatusCode::CONFLICT, "already_approved"),
                TransitionError::NotDue => (StatusCode::CONFLICT, "not_due"),
                TransitionError::PauseNotAllowed => (StatusCode::FORBIDDEN, "pause_not_allowed"),
                TransitionError::AlreadyPaused => (StatusCode::CONFLICT, "already_paused"),
                TransitionError::NotPaused => (StatusCode::CONFLICT, "not_paused"),
                TransitionError::PausedByReviewer => (StatusCode::FORBIDDEN, "forbidden"),
                TransitionError::ExtensionNotAllowed => {
                    (StatusCode::FORBIDDEN, "extension_not_allowed")
                }
                TransitionError::BreakGlassNotAllowed => {
                    (StatusCode::FORBIDDEN, "break_glass_not_allowed")
                }
                TransitionError::OwnBreakGlass => (StatusCode::FORBIDDEN, "self_review"),
                TransitionError::NotBreakGlass => (StatusCode::CONFLICT, "not_break_glass"),
                TransitionError::AlreadyAcknowledged => {
                    (StatusCode::CONFLICT, "already_acknowledged")
                }
                TransitionError::SchedulingNotAllowed => {
                    (StatusCode::FORBIDDEN, "scheduling_not_allowed")
                }
                TransitionError::StartInPast(_) | TransitionError::StartTooFar(_) => {
                    (StatusCode::BAD_REQUEST, "start_not_allowed")
                }
                TransitionError::HoldsAccess(_) => (StatusCode::CONFLICT, "holds_access"),
                TransitionError::AccessScheduled(_) => (StatusCode::CONFLICT, "access_scheduled"),
                TransitionError::NotFirstUse => (StatusCode::CONFLICT, "not_first_use"),
                TransitionError::AlreadyClaimed => (StatusCode::CONFLICT, "already_claimed"),
                TransitionError::Unclaimed => (StatusCode::CONFLICT, "unclaimed"),
                TransitionError::ReasonRequired => (StatusCode::BAD_REQUEST, "reason_required"),
                TransitionError::TextTooLong { .. } => (StatusCode::BAD_REQUEST, "too_long"),
                TransitionError::DurationNotAllowed(_) => {
                    (StatusCode::BAD_REQUEST, "duration_not_allowed")
                }
            },
        };
        Self::new(status, code, message)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", rejection.body_text())
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ),
            _ => Self::invalid(rejection.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the body is over 16 KiB")
            }
            _ => Self::invalid(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}
