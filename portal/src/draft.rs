//! A refused form, carried across a redirect: the values typed and what was wrong with them.
//!
//! Forms answer a POST with a redirect to their own GET page (post/redirect/get), so Back and
//! Reload never resubmit. What the user typed and the errors travel in a signed, short-lived,
//! read-once cookie bound to the form's page, because a reason of 2000 characters does not
//! belong in a URL (history, logs). The signature stops a sibling host from planting text
//! into someone's form; the page binding stops a draft from showing up on another form.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::cookies::CookieName;
use jitgate_access::keys::{self, Purpose};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::PortalError;
use crate::state::Portal;

/// Long enough to follow a redirect on a slow phone, short enough to go stale quickly.
const LIFETIME: Duration = Duration::from_secs(300);
/// Browsers keep cookies up to 4096 bytes including name and attributes.
const MAX_COOKIE: usize = 3800;

/// One field's problem, or the form's when `field` is empty.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What a refused form carries to its page.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Draft {
    /// The path of the page the draft belongs to.
    page: String,
    pub values: BTreeMap<String, String>,
    pub errors: Vec<FieldError>,
    exp: u64,
}

impl Draft {
    pub fn new(page: &str) -> Self {
        Self { page: page.to_owned(), ..Self::default() }
    }

    pub fn value(mut self, field: &str, value: &str) -> Self {
        self.values.insert(field.to_owned(), value.to_owned());
        self
    }

    pub fn error(mut self, field: &str, message: impl Into<String>) -> Self {
        self.errors.push(FieldError { field: field.to_owned(), message: message.into() });
        self
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.values.get(field).map(String::as_str)
    }

    /// The message for `field`, if it is in error.
    pub fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

fn key(portal: &Portal) -> [u8; 32] {
    keys::derive(portal.config.session.secret.expose().as_bytes(), Purpose::FormDraft)
}

fn now_secs(portal: &Portal) -> u64 {
    (portal.clock.now().as_millis() / 1000) as u64
}

impl Portal {
    /// A redirect to `location` (the draft's page, possibly with a query) carrying `draft`;
    /// `None` when the draft is too large for a cookie, and the caller answers directly.
    pub fn redirect_with_draft(
        &self,
        location: &str,
        mut draft: Draft,
    ) -> Result<Option<Response>, PortalError> {
        draft.exp = now_secs(self) + LIFETIME.as_secs();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &draft,
            &EncodingKey::from_secret(&key(self)),
        )
        .map_err(|_| PortalError::Unavailable)?;
        if token.len() > MAX_COOKIE {
            return Ok(None);
        }
        let mut response = Redirect::to(location).into_response();
        self.set_cookie(&mut response, CookieName::FormDraft, &token, LIFETIME)?;
        Ok(Some(response))
    }

    /// The draft left for `page`, if any, valid and fresh. The page then calls
    /// [`Portal::forget_draft`] on its response: a draft shows once.
    pub fn draft(&self, headers: &HeaderMap, page: &str) -> Option<Draft> {
        let token = self.cookie(headers, CookieName::FormDraft)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let draft = jsonwebtoken::decode::<Draft>(
            token,
            &DecodingKey::from_secret(&key(self)),
            &validation,
        )
        .ok()?
        .claims;
        (draft.page == page && now_secs(self) < draft.exp).then_some(draft)
    }

    /// Deletes the draft cookie when the request had one.
    pub fn forget_draft(&self, headers: &HeaderMap, response: &mut Response) {
        if self.cookie(headers, CookieName::FormDraft).is_some() {
            // A header built from the cookie jar's own names and attributes is always valid.
            let _ = self.clear_cookie(response, CookieName::FormDraft);
        }
    }
}
