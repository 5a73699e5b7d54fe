//! Who is calling the API. Scripts send `Authorization: Bearer <token>`: a personal API token
//! (`jgt_…`, made in the portal, see `access::api_token`) or an IdP token; the portal's own
//! pages (and anyone holding a browser session) send the session cookie, and then every
//! change must carry the session's CSRF token in `X-CSRF-Token`: a cookie alone never
//! authorises a state change, whatever the browser was tricked into sending.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use jitgate_access::ids::ResourceName;
use jitgate_access::policy::Identity;

use super::error::ApiError;
use crate::state::Portal;

/// The header a session caller repeats its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The same header as the OpenAPI document spells it.
pub const CSRF_HEADER_NAME: &str = "X-CSRF-Token";

pub struct Caller {
    pub identity: Identity,
    pub is_admin: bool,
    /// The resources this caller may review (every one for admins).
    pub reviews: Vec<ResourceName>,
    /// The CSRF token for a session caller; `None` for bearer callers, who need none.
    pub csrf: Option<String>,
}

impl Caller {
    /// The resources whose requests this caller may list: all for admins (`None`).
    pub fn review_scope(&self) -> Option<&[ResourceName]> {
        if self.is_admin { None } else { Some(&self.reviews) }
    }
}

fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::unauthenticated())?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

impl FromRequestParts<Portal> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        if let Some(token) = bearer_token(parts)? {
            if token.starts_with(jitgate_access::api_token::PREFIX) {
                let identity =
                    portal.service.api_token_identity(token).await?.ok_or_else(|| {
                        ApiError::new(
                            axum::http::StatusCode::UNAUTHORIZED,
                            "invalid_token",
                            "this API token is unknown, expired or revoked",
                        )
                    })?;
                return Ok(Caller {
                    is_admin: portal.config.roles.is_admin(&identity),
                    reviews: portal.service.reviewable_resources(&identity),
                    csrf: None,
                    identity,
                });
            }
            let verifier = portal
                .bearer
                .as_ref()
                .ok_or_else(|| ApiError::from(jitgate_access::bearer::BearerError::NotAccepted))?;
            let verified = verifier.verify(token, portal.clock.now()).await?;
            let identity = verified.identity;
            return Ok(Caller {
                is_admin: portal.config.roles.is_admin(&identity),
                reviews: portal.service.reviewable_resources(&identity),
                csrf: None,
                identity,
            });
        }
        let viewer = portal
            .viewer(&parts.headers)
            .await
            .map_err(|_| ApiError::unavailable("jitgate cannot reach its store right now"))?
            .ok_or_else(ApiError::unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if viewer.require_csrf(portal, sent).is_err() {
                return Err(ApiError::csrf());
            }
        }
        Ok(Caller {
            identity: viewer.session.identity,
            is_admin: viewer.is_admin,
            reviews: viewer.reviews,
            csrf: Some(viewer.csrf),
        })
    }
}
