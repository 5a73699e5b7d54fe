//! Flash messages: one sentence confirming what a person just did ("Approved alice@example.com's
//! request for app for 15m"), carried across the redirect of a post/redirect/get.
//!
//! A handler that changes something answers with [`Portal::flash_redirect`]: a `303 See Other`
//! plus a short-lived cookie ([`CookieName::Flash`]) holding the message as an HS256 token
//! under its own derived key ([`Purpose::Flash`]), so nobody can make the portal display text
//! it did not write. The next HTML page the browser gets shows it once: [`show`], a layer on
//! the whole router, fills the `<!-- flash -->` slot in `base.html` and clears the cookie in
//! the same response. Redirects, downloads and JSON pass the cookie on untouched, so the
//! message survives until a page can show it. Handlers never read the cookie themselves, and
//! templates need no field for it.
//!
//! ```text
//! return portal.flash_redirect(&back, Flash::done(format!("Denied {user}'s request")));
//! ```

use std::time::Duration;

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::cookies::CookieName;
use jitgate_access::keys::{self, Purpose};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::PortalError;
use crate::state::Portal;

/// Long enough for any redirect chain to land, short enough that a message never shows up
/// on an unrelated page later.
const LIFETIME: Duration = Duration::from_secs(60);
/// Longer messages are cut: the cookie must stay well under browsers' 4 KiB.
const MAX_TEXT: usize = 400;
/// Where `base.html` wants the message.
const SLOT: &str = "<!-- flash -->";
/// Pages bigger than this are passed through without a message rather than buffered.
const MAX_PAGE: usize = 4 * 1024 * 1024;

/// How the message reads: `Done` for an action that happened, `Problem` for one that did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    Done,
    Problem,
}

impl Tone {
    /// The CSS class of the banner.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Done => "done",
            Tone::Problem => "problem",
        }
    }
}

/// One message to show on the next page.
#[derive(Debug, Clone, PartialEq, Eq, Template)]
#[template(path = "flash.html")]
pub struct Flash {
    pub tone: Tone,
    pub text: String,
}

impl Flash {
    pub fn done(text: impl Into<String>) -> Self {
        Self::new(Tone::Done, text.into())
    }

    pub fn problem(text: impl Into<String>) -> Self {
        Self::new(Tone::Problem, text.into())
    }

    fn new(tone: Tone, text: String) -> Self {
        let text = match text.char_indices().nth(MAX_TEXT) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        };
        Self { tone, text }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    tone: Tone,
    text: String,
    /// Seconds since the epoch, on the portal's clock.
    exp: u64,
}

/// The HS256 pair flash tokens are signed and checked with.
pub struct FlashKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl FlashKey {
    pub fn derive(secret: &[u8]) -> Self {
        let key = keys::derive(secret, Purpose::Flash);
        Self { encoding: EncodingKey::from_secret(&key), decoding: DecodingKey::from_secret(&key) }
    }

    fn seal(&self, flash: &Flash, exp: u64) -> Result<String, PortalError> {
        let claims = Claims { tone: flash.tone, text: flash.text.clone(), exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| PortalError::Unavailable)
    }

    /// The message in `token`, if this key signed it and it has not expired at `now_secs`.
    fn open(&self, token: &str, now_secs: u64) -> Option<Flash> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the portal's clock below, not the system's.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?.claims;
        (now_secs < claims.exp).then(|| Flash::new(claims.tone, claims.text))
    }
}

impl Portal {
    fn now_secs(&self) -> u64 {
        u64::try_from(self.clock.now().as_millis() / 1000).unwrap_or(0)
    }

    /// A `303 See Other` to `to` (a portal path) that shows `flash` on the page it lands on.
    pub fn flash_redirect(&self, to: &str, flash: Flash) -> Result<Response, PortalError> {
        let token = self.flash.seal(&flash, self.now_secs() + LIFETIME.as_secs())?;
        let mut response = Redirect::to(to).into_response();
        self.set_cookie(&mut response, CookieName::Flash, &token, LIFETIME)?;
        Ok(response)
    }
}

/// The layer that shows a pending message on the first HTML page and clears it (see the
/// module's documentation). A forged or expired cookie is cleared and shows nothing.
pub async fn show(State(portal): State<Portal>, request: Request, next: Next) -> Response {
    let Some(token) = portal.cookie(request.headers(), CookieName::Flash).map(str::to_owned) else {
        return next.run(request).await;
    };
    let response = next.run(request).await;
    let is_page = response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
    // A response that sets a new message (a redirect) or is not a page leaves it for later.
    let flash_name = format!("{}=", portal.cookies.name(CookieName::Flash));
    let sets_flash = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&flash_name)));
    if !is_page || sets_flash {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAGE).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the page was too large").into_response();
    };
    let html = String::from_utf8_lossy(&bytes);
    if !html.contains(SLOT) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let banner = portal
        .flash
        .open(&token, portal.now_secs())
        .and_then(|flash| flash.render().ok())
        .unwrap_or_default();
    let html = html.replacen(SLOT, &banner, 1);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut response = Response::from_parts(parts, Body::from(html));
    if portal.clear_cookie(&mut response, CookieName::Flash).is_err() {
        tracing::warn!("could not clear the flash cookie");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_opens_only_under_its_key_and_before_it_expires() {
        let key = FlashKey::derive(b"secret-secret-secret-secret-secret");
        let flash = Flash::done("Approved <b>alice</b>'s request");
        let token = key.seal(&flash, 100).unwrap();
        assert_eq!(key.open(&token, 99), Some(flash));
        assert_eq!(key.open(&token, 100), None, "expired");
        let other = FlashKey::derive(b"another-secret-another-secret-another");
        assert_eq!(other.open(&token, 99), None, "signed under another secret");
        assert_eq!(key.open("garbage", 99), None);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let flash = Flash::problem("é".repeat(MAX_TEXT + 10));
        assert_eq!(flash.text.chars().count(), MAX_TEXT + 1);
        assert!(flash.text.ends_with('…'));
    }

    #[test]
    fn the_banner_escapes_the_text() {
        let html = Flash::done("<script>x</script>").render().unwrap();
        assert!(!html.contains("<script>") && html.contains("&#60;script&#62;"), "{html}");
        assert!(html.contains("role=\"status\""), "{html}");
    }
}
