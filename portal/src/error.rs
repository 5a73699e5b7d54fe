//! Everything a handler can fail with, and how each failure reads to a person.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use jitgate_access::service::ServiceError;
use jitgate_access::store::StoreError;
use jitgate_access::transition::TransitionError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PortalError {
    #[error("sign in first")]
    SignInRequired(String),
    #[error("this page does not exist")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("this form has expired or did not come from jitgate; reload the page and try again")]
    Csrf,
    #[error("jitgate cannot reach its store right now; try again in a moment")]
    Unavailable,
    #[error("{0}")]
    SignInFailed(String),
}

impl From<StoreError> for PortalError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store error in the portal");
        PortalError::Unavailable
    }
}

impl From<ServiceError> for PortalError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Store(error) => error.into(),
            ServiceError::RequestNotFound(_)
            | ServiceError::UnknownResource(_)
            | ServiceError::TokenNotFound => PortalError::NotFound,
            ServiceError::NoAccess(_) | ServiceError::Forbidden(_) => {
                PortalError::Forbidden(error.to_string())
            }
            ServiceError::Refused(
                TransitionError::SelfReview
                | TransitionError::NotRequester
                | TransitionError::OwnBreakGlass
                | TransitionError::BreakGlassNotAllowed,
            ) => PortalError::Forbidden(error.to_string()),
            other => PortalError::BadRequest(other.to_string()),
        }
    }
}

impl PortalError {
    pub fn status(&self) -> StatusCode {
        match self {
            PortalError::SignInRequired(_) => StatusCode::SEE_OTHER,
            PortalError::NotFound => StatusCode::NOT_FOUND,
            PortalError::Forbidden(_) | PortalError::Csrf => StatusCode::FORBIDDEN,
            PortalError::BadRequest(_) | PortalError::SignInFailed(_) => StatusCode::BAD_REQUEST,
            PortalError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            PortalError::SignInRequired(_) => "Sign in",
            PortalError::NotFound => "Not found",
            PortalError::Forbidden(_) => "Not allowed",
            PortalError::Csrf => "Please try again",
            PortalError::BadRequest(_) => "That did not work",
            PortalError::Unavailable => "Temporarily unavailable",
            PortalError::SignInFailed(_) => "Sign-in failed",
        }
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        if let PortalError::SignInRequired(back) = &self {
            return Redirect::to(&crate::paths::sign_in(back)).into_response();
        }
        let page = crate::pages::MessagePage {
            title: self.title(),
            message: crate::pages::capitalise(&self.to_string()),
            nav: None,
            link: crate::pages::BACK_HOME,
        };
        match page.render() {
            Ok(html) => (self.status(), Html(html)).into_response(),
            Err(_) => (self.status(), self.to_string()).into_response(),
        }
    }
}
