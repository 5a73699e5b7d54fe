//! Signing in and out. Both providers end in [`finish`]: a server-side session, the portal's
//! cookie, and a redirect onwards — through a handoff when the user came from a resource.

pub mod local;
pub mod oidc;
pub mod throttle;

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::config::LocalUser;
use jitgate_access::policy::Identity;
use jitgate_access::routes::{self, SESSION_COOKIE};
use jitgate_access::session::{Session, SessionId};

use crate::csrf::CsrfField;
use crate::error::PortalError;
use crate::return_to::ReturnTo;
use crate::state::Portal;
use crate::viewer::Viewer;

pub enum SignIn {
    Local(Vec<LocalUser>),
    Oidc(Box<oidc::OidcSignIn>),
}

/// `GET /auth/sign-in?rd=…`: straight on when already signed in; otherwise the local form or
/// the IdP.
pub async fn page(
    State(portal): State<Portal>,
    viewer: Option<Viewer>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PortalError> {
    let rd = ReturnTo::vet(&portal.config, query.get("rd").map(String::as_str));
    if let Some(viewer) = viewer {
        return Ok(portal.continue_to(&viewer.session, &rd));
    }
    match &portal.sign_in {
        SignIn::Local(_) => Ok(local::form(&portal, &headers, &rd, None)),
        SignIn::Oidc(oidc) => oidc.start(&portal, &rd),
    }
}

impl Portal {
    /// A `Set-Cookie` value for the portal host (HttpOnly, Lax, Secure on https).
    pub fn cookie(&self, name: &str, value: &str, max_age_secs: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}")
    }

    /// Where a signed-in browser goes next: a portal page, or a resource host via a handoff
    /// that gives the host its own cookie.
    pub fn continue_to(&self, session: &Session, rd: &ReturnTo) -> Response {
        match rd {
            ReturnTo::Portal(path) => Redirect::to(path).into_response(),
            ReturnTo::Resource { host, path } => {
                let token = self.keys.handoff(&session.id, host, path, self.clock.now());
                let scheme = if self.secure { "https" } else { "http" };
                Redirect::to(&routes::handoff_url(scheme, host, &token)).into_response()
            }
        }
    }

    /// Starts a session for `identity` and sends the browser on to `rd`.
    pub async fn finish(&self, identity: Identity, rd: &ReturnTo) -> Result<Response, PortalError> {
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
        let mut response = self.continue_to(&session, rd);
        let headers = response.headers_mut();
        let set = self.cookie(SESSION_COOKIE, &cookie, self.config.session.ttl.as_secs());
        headers.append(
            axum::http::header::SET_COOKIE,
            set.parse().map_err(|_| PortalError::Unavailable)?,
        );
        Ok(response)
    }
}

/// `POST /auth/sign-out`: ends the session on every host at once (the proxies hear of it
/// through the store's change feed).
pub async fn sign_out(
    State(portal): State<Portal>,
    viewer: Viewer,
    Form(form): Form<CsrfField>,
) -> Result<Response, PortalError> {
    viewer.require_csrf(&portal, &form.csrf)?;
    portal.service.store().end_session(&viewer.session.id).await?;
    tracing::info!(user = %viewer.identity().user, "signed out");
    let mut response = crate::pages::message(
        "Signed out",
        "You are signed out of jitgate and of every app you opened through it.",
    )?;
    let clear = portal.cookie(SESSION_COOKIE, "", 0);
    response.headers_mut().append(
        axum::http::header::SET_COOKIE,
        clear.parse().map_err(|_| PortalError::Unavailable)?,
    );
    Ok(response)
}
