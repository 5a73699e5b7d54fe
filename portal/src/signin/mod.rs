//! Signing in and out. Both providers end in [`Portal::finish`]: a server-side session, the
//! portal's cookie, and a redirect onwards ([`Portal::continue_to`]).
//!
//! A sign-in that starts on a resource host carries `state`: the digest of a random cookie the
//! proxy set on that host. It travels through the local form or the IdP round trip into the
//! handoff token, and the proxy redeems the token only for the browser holding that cookie, so
//! a handoff link made for one browser is useless in another (login CSRF).

pub mod local;
pub mod oidc;
pub mod throttle;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::config::LocalUser;
use jitgate_access::cookies::CookieName;
use jitgate_access::policy::Identity;
use jitgate_access::return_to::ReturnTo;
use jitgate_access::routes::{self, STATE_PARAM};
use jitgate_access::session::{Session, SessionId};

use crate::csrf::{CsrfField, CsrfForm};
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// Length of a sign-in state digest: SHA-256 in unpadded base64url.
const STATE_DIGEST_LEN: usize = 43;

pub enum SignIn {
    Local(Vec<LocalUser>),
    Oidc(Box<oidc::OidcSignIn>),
}

/// `raw` if it is shaped like a sign-in state digest ([`jitgate_access::token::state_digest`]);
/// anything else counts as no state at all, so nothing arbitrary reaches a handoff token.
pub fn sign_in_state(raw: Option<&str>) -> Option<&str> {
    raw.filter(|state| {
        state.len() == STATE_DIGEST_LEN
            && state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// `GET /auth/sign-in?rd=…&state=…`: straight on when already signed in; otherwise the local
/// form or the IdP.
pub async fn page(
    State(portal): State<Portal>,
    viewer: Option<Viewer>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PortalError> {
    let rd = portal.destinations.vet(query.get("rd").map(String::as_str));
    let state = sign_in_state(query.get(STATE_PARAM).map(String::as_str));
    if let Some(viewer) = viewer {
        return Ok(portal.continue_to(&viewer.session, &rd, state));
    }
    match &portal.sign_in {
        SignIn::Local(_) => Ok(local::form(&portal, &headers, &rd, state)),
        SignIn::Oidc(oidc) => oidc.start(&portal, &rd, state).await,
    }
}

impl Portal {
    /// Where a signed-in browser goes next. A portal page, directly. A resource host with a
    /// sign-in state: a handoff that gives the host its own cookie, redeemable only by the
    /// browser holding that state. A resource host without one: the resource URL itself,
    /// never a handoff; the host then sets its state cookie and sends the browser back here
    /// with a state, and this signed-in visit completes it.
    pub fn continue_to(&self, session: &Session, rd: &ReturnTo, state: Option<&str>) -> Response {
        match (rd, sign_in_state(state)) {
            (ReturnTo::Portal(path), _) => Redirect::to(path).into_response(),
            (ReturnTo::Resource { host, path }, Some(state)) => {
                let token = self.keys.handoff(&session.id, host, path, state, self.clock.now());
                let scheme = self.destinations.scheme();
                Redirect::to(&routes::handoff_url(scheme, host, &token)).into_response()
            }
            (resource, None) => Redirect::to(&self.destinations.url(resource)).into_response(),
        }
    }

    /// Starts a session for `identity` and sends the browser on to `rd` (see
    /// [`Portal::continue_to`]).
    pub async fn finish(
        &self,
        identity: Identity,
        rd: &ReturnTo,
        state: Option<&str>,
    ) -> Result<Response, PortalError> {
        self.finish_named(identity, None, rd, state).await
    }

    /// [`Portal::finish`] for someone the IdP gave a display name (`name`), which the people
    /// record keeps.
    pub async fn finish_named(
        &self,
        identity: Identity,
        name: Option<&str>,
        rd: &ReturnTo,
        state: Option<&str>,
    ) -> Result<Response, PortalError> {
        // The people record first: it is what lets jitgate mail this person as a reviewer
        // named by group, and list them in the directory.
        self.service.record_sign_in(&identity, name).await?;
        let now = self.clock.now();
        let session = Session {
            id: SessionId::random(),
            identity,
            created_at: now,
            expires_at: now.plus(self.config.session.ttl),
        };
        self.service.store().create_session(&session).await?;
        tracing::info!(user = %session.identity.user, "signed in");
        let cookie = self.keys.session_cookie(&session.id, &self.host, session.expires_at);
        let mut response = self.continue_to(&session, rd, state);
        self.set_cookie(&mut response, CookieName::Session, &cookie, self.config.session.ttl)?;
        Ok(response)
    }
}

/// `POST /auth/sign-out`: ends the session on every host at once (the proxies hear of it
/// through the store's change feed), and audits it. With an IdP that supports RP-initiated
/// logout, the browser goes on to end its IdP session too, and comes back to the signed-out
/// page; otherwise straight to that page, which says what is still open.
pub async fn sign_out(
    State(portal): State<Portal>,
    headers: HeaderMap,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    portal.service.sign_out(&viewer.session).await?;
    tracing::info!(user = %viewer.identity().user, "signed out");
    let signed_out = format!("{}{}", portal.config.server.portal_url, paths::SIGNED_OUT);
    let idp = match &portal.sign_in {
        SignIn::Oidc(oidc) => {
            let hint = portal.cookie(&headers, CookieName::IdToken);
            oidc.end_session_url(hint, &signed_out).await
        }
        SignIn::Local(_) => None,
    };
    let mut response = Redirect::to(idp.as_deref().unwrap_or(paths::SIGNED_OUT)).into_response();
    portal.clear_cookie(&mut response, CookieName::Session)?;
    portal.clear_cookie(&mut response, CookieName::IdToken)?;
    Ok(response)
}

/// `GET /auth/signed-out`: what signing out ended, honestly per provider.
pub async fn signed_out(State(portal): State<Portal>) -> Result<Response, PortalError> {
    let message = match &portal.sign_in {
        SignIn::Local(_) => {
            "You are signed out of jitgate and of every app you opened through it.".to_owned()
        }
        SignIn::Oidc(oidc) if oidc.ends_sessions().await => format!(
            "You are signed out of jitgate, of every app you opened through it, and of {}.",
            oidc.issuer_host()
        ),
        SignIn::Oidc(oidc) => format!(
            "You are signed out of jitgate and of every app you opened through it. Your \
             session at {} is still open, so signing in again may not ask for your password: \
             on a shared computer, sign out there too.",
            oidc.issuer_host()
        ),
    };
    crate::pages::message_page("Signed out", &message, None, (paths::SIGN_IN_PATH, "Sign in again"))
}
