//! Who is looking at a page: the session behind the portal's own cookie, and what their roles
//! let them see.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use jitgate_access::cookies::CookieName;
use jitgate_access::ids::ResourceName;
use jitgate_access::policy::Identity;
use jitgate_access::session::Session;

use crate::error::PortalError;
use crate::state::Portal;

/// A signed-in user. Extracting it from a request without a valid session redirects the
/// browser to sign-in (and back).
pub struct Viewer {
    pub session: Session,
    pub is_admin: bool,
    /// The resources this viewer may review some requests for (every one for admins); see
    /// `AccessService::reviewable_resources`.
    pub reviews: Vec<ResourceName>,
    /// The CSRF token for this viewer's forms.
    pub csrf: String,
}

impl Viewer {
    pub fn identity(&self) -> &Identity {
        &self.session.identity
    }

    pub fn is_reviewer(&self) -> bool {
        !self.reviews.is_empty()
    }

    /// Refuses a state change whose CSRF token is not this viewer's.
    pub fn require_csrf(&self, portal: &Portal, token: &str) -> Result<(), PortalError> {
        if portal.csrf.verify(self.session.id.as_str(), token) {
            Ok(())
        } else {
            Err(PortalError::Csrf)
        }
    }
}

impl Portal {
    pub async fn viewer(&self, headers: &HeaderMap) -> Result<Option<Viewer>, PortalError> {
        let now = self.clock.now();
        let Some(sid) = self
            .cookie(headers, CookieName::Session)
            .and_then(|value| self.keys.verify_session_cookie(value, &self.host, now).ok())
        else {
            return Ok(None);
        };
        let Some(session) = self.service.store().session(&sid, now).await? else {
            return Ok(None);
        };
        let identity = &session.identity;
        Ok(Some(Viewer {
            is_admin: self.config.roles.is_admin(identity),
            reviews: self.service.reviewable_resources(identity),
            csrf: self.csrf.token(session.id.as_str()),
            session,
        }))
    }
}

impl FromRequestParts<Portal> for Viewer {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, PortalError> {
        match portal.viewer(&parts.headers).await? {
            Some(viewer) => Ok(viewer),
            None => {
                let here = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
                Err(PortalError::SignInRequired(here.to_owned()))
            }
        }
    }
}

impl OptionalFromRequestParts<Portal> for Viewer {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Portal,
    ) -> Result<Option<Self>, PortalError> {
        portal.viewer(&parts.headers).await
    }
}
