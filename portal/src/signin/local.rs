//! The `local` provider: a users file with argon2 password hashes. For the quickstart, small
//! teams and tests; production deployments use their IdP.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use jitgate_access::config::LocalUser;
use jitgate_access::cookies::CookieName;
use jitgate_access::policy::Identity;
use jitgate_access::return_to::ReturnTo;
use jitgate_access::routes::STATE_PARAM;
use serde::Deserialize;

use super::{SignIn, sign_in_state};
use crate::csrf::{HasCsrf, PresessionForm, WhenStale, presession_value};
use crate::draft::Draft;
use crate::error::PortalError;
use crate::pages::encode;
use crate::paths;
use crate::state::Portal;

/// Emails and passwords longer than this are not credentials.
const MAX_FIELD: usize = 512;
/// How long the sign-in form's pre-session cookie lives.
const PRESESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    rd: String,
    /// The resource host's sign-in state digest, carried to the handoff ("" when none).
    state: &'a str,
    csrf: String,
    email: &'a str,
    error: Option<&'a str>,
    /// The email and password were refused (not merely a stale form): both fields are marked.
    invalid: bool,
}

/// Field names of the sign-in form's draft ([`Draft`]).
const EMAIL: &str = "email";
/// The draft's marker that the credentials were refused.
const CREDENTIALS: &str = "credentials";

/// The sign-in form, its CSRF token bound to a pre-session cookie (set here when missing),
/// showing the draft a refused attempt left.
pub fn form(portal: &Portal, headers: &HeaderMap, rd: &ReturnTo, state: Option<&str>) -> Response {
    let existing =
        portal.cookie(headers, CookieName::Presession).filter(|v| v.len() >= 32).map(str::to_owned);
    let binding = existing.clone().unwrap_or_else(presession_value);
    let draft = portal.draft(headers, paths::SIGN_IN_PATH);
    let draft_error = draft.as_ref().and_then(|d| d.errors.first());
    let page = SignInPage {
        rd: portal.destinations.url(rd),
        state: state.unwrap_or_default(),
        csrf: portal.csrf.token(&binding),
        email: draft.as_ref().and_then(|d| d.get(EMAIL)).unwrap_or_default(),
        error: draft_error.map(|e| e.message.as_str()),
        invalid: draft_error.is_some_and(|e| e.field == CREDENTIALS),
    };
    let mut response = match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => return PortalError::Unavailable.into_response(),
    };
    portal.forget_draft(headers, &mut response);
    if existing.is_none()
        && let Err(error) =
            portal.set_cookie(&mut response, CookieName::Presession, &binding, PRESESSION_LIFETIME)
    {
        return error.into_response();
    }
    response
}

/// Back to a fresh sign-in form (same `rd` and state) with the email typed and `error`.
fn back_to_form(
    portal: &Portal,
    rd: &ReturnTo,
    state: Option<&str>,
    email: &str,
    field: &str,
    error: &str,
) -> Response {
    let mut location =
        format!("{}?rd={}", paths::SIGN_IN_PATH, encode(&portal.destinations.url(rd)));
    if let Some(state) = state {
        location = format!("{location}&{STATE_PARAM}={state}");
    }
    let draft = Draft::new(paths::SIGN_IN_PATH).value(EMAIL, email).error(field, error);
    match portal.redirect_with_draft(&location, draft) {
        Ok(Some(response)) => response,
        // An email is at most MAX_FIELD bytes: the draft always fits.
        Ok(None) => Redirect::to(&location).into_response(),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rd: String,
    #[serde(default)]
    state: String,
}

impl HasCsrf for Credentials {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WhenStale for Credentials {
    fn stale(&self, portal: &Portal) -> Response {
        let rd = portal.destinations.vet(Some(&self.rd));
        let email = if self.email.len() > MAX_FIELD { "" } else { self.email.trim() };
        back_to_form(
            portal,
            &rd,
            sign_in_state(Some(&self.state)),
            email,
            "",
            "Your sign-in form expired, try again.",
        )
    }
}

/// Verifying against this when the email is unknown makes both failures take as long.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    // Random salt; hashing with default parameters cannot fail.
    Argon2::default().hash_password(b"no such user").map(|h| h.to_string()).unwrap_or_default()
});

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// `POST /auth/sign-in`.
pub async fn submit(
    State(portal): State<Portal>,
    PresessionForm(form): PresessionForm<Credentials>,
) -> Result<Response, PortalError> {
    let SignIn::Local(users) = &portal.sign_in else {
        return Err(PortalError::NotFound);
    };
    let rd = portal.destinations.vet(Some(&form.rd));
    let state = sign_in_state(Some(&form.state));
    if form.email.len() > MAX_FIELD || form.password.len() > MAX_FIELD {
        return Err(PortalError::BadRequest("the email or password is too long".into()));
    }
    let email = form.email.trim().to_ascii_lowercase();
    let now = portal.clock.now();
    if let Err(wait) = portal.throttle.check(&email, now) {
        return Ok(locked_out(&portal, &rd, state, &email, wait));
    }
    let user: Option<LocalUser> = users.iter().find(|u| u.email.as_str() == email).cloned();
    let hash = user.as_ref().map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password = form.password;
    // Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || password_matches(&hash, &password))
        .await
        .unwrap_or(false);
    match user {
        Some(user) if matches => {
            portal.throttle.succeeded(&email);
            let identity = Identity::new(user.email.clone(), user.groups.iter().cloned());
            portal.finish(identity, &rd, state).await
        }
        _ => {
            tracing::info!(email = %email, "local sign-in refused");
            if let Some(ban) = portal.throttle.failed(&email, now) {
                tracing::warn!(email = %email, "too many failed sign-ins; account paused");
                return Ok(locked_out(&portal, &rd, state, &email, ban));
            }
            Ok(back_to_form(
                &portal,
                &rd,
                state,
                &email,
                CREDENTIALS,
                "That email and password do not match.",
            ))
        }
    }
}

/// Back to the form, saying how long the account is paused (also as `Retry-After`).
fn locked_out(
    portal: &Portal,
    rd: &ReturnTo,
    state: Option<&str>,
    email: &str,
    wait: std::time::Duration,
) -> Response {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let message = format!(
        "Too many failed sign-ins for this account. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    );
    let mut response = back_to_form(portal, rd, state, email, "", &message);
    if let Ok(value) = wait.as_secs().max(1).to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
