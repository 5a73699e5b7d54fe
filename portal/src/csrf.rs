//! CSRF tokens: an HMAC of what ties the form to this browser — the session id once signed
//! in, or a random pre-session cookie on the sign-in form (so nobody can sign a victim into
//! the attacker's account either). Nothing to store, and a token planted from a sibling
//! subdomain is useless because it is bound to the victim's own session.
//!
//! Every state-changing request carries the token in its form (`csrf` field) or, for the JSON
//! API, in the `X-CSRF-Token` header. Form handlers take their body as a [`CsrfForm`] (signed
//! in) or a [`PresessionForm`] (the sign-in form), which check it before the handler runs, so
//! a handler cannot forget; the API's `Caller` extractor checks the header.

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jitgate_access::cookies::CookieName;
use jitgate_access::keys::{self, Purpose};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::state::Portal;
use crate::viewer::Viewer;

pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    pub fn derive(secret: &[u8]) -> Self {
        Self(keys::derive(secret, Purpose::Csrf))
    }

    fn mac(&self, binding: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(binding.as_bytes());
        mac
    }

    pub fn token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(binding).finalize().into_bytes())
    }

    /// Constant-time: a mismatch reveals nothing about the expected token.
    pub fn verify(&self, binding: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token.trim()) else { return false };
        self.mac(binding).verify_slice(&tag).is_ok()
    }
}

/// A form whose only field is its CSRF token (sign-out, cancel, end access).
#[derive(serde::Deserialize)]
pub struct CsrfField {
    #[serde(default)]
    pub csrf: String,
}

/// A form that carries a CSRF token in its `csrf` field.
pub trait HasCsrf {
    fn csrf(&self) -> &str;
}

impl HasCsrf for CsrfField {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A signed-in viewer's form, whose `csrf` field was checked against the viewer's session.
/// Without a session the browser is sent to sign in (as [`Viewer`] does); with a token that
/// is not the viewer's, the request is refused with [`crate::error::PortalError::Csrf`].
pub struct CsrfForm<T> {
    pub viewer: Viewer,
    pub form: T,
}

impl<T> FromRequest<Portal> for CsrfForm<T>
where
    T: DeserializeOwned + HasCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, portal: &Portal) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, portal)
            .await
            .map_err(IntoResponse::into_response)?;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), portal)
            .await
            .map_err(IntoResponse::into_response)?;
        viewer.require_csrf(portal, form.csrf()).map_err(IntoResponse::into_response)?;
        Ok(Self { viewer, form })
    }
}

/// A form posted before there is a session (the sign-in form), whose `csrf` field was checked
/// against the browser's pre-session cookie: nobody can sign a victim into the attacker's
/// account.
pub struct PresessionForm<T>(pub T);

/// A pre-session form's answer when its token does not match: the sign-in form goes back to a
/// fresh copy of itself with a word on why, instead of a dead-end 403.
pub trait WhenStale: HasCsrf {
    fn stale(&self, portal: &Portal) -> Response;
}

impl<T> FromRequest<Portal> for PresessionForm<T>
where
    T: DeserializeOwned + WhenStale + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, portal: &Portal) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let Form(form) =
            Form::<T>::from_request(request, portal).await.map_err(IntoResponse::into_response)?;
        let binding = portal.cookie(&headers, CookieName::Presession).unwrap_or_default();
        if binding.is_empty() || !portal.csrf.verify(binding, form.csrf()) {
            return Err(form.stale(portal));
        }
        Ok(Self(form))
    }
}

/// A fresh value for the pre-session cookie ([`jitgate_access::cookies::CookieName::Presession`]).
pub fn presession_value() -> String {
    jitgate_access::session::SessionId::random().as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_binding_and_key() {
        let key = CsrfKey::derive(b"secret-secret-secret-secret-secret");
        let token = key.token("session-a");
        assert!(key.verify("session-a", &token));
        assert!(!key.verify("session-b", &token));
        assert!(!key.verify("session-a", "forged"));
        assert!(!key.verify("session-a", ""));
        let other = CsrfKey::derive(b"another-secret-another-secret-another");
        assert!(!other.verify("session-a", &token));
    }
}
