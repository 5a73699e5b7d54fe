//! What every handler shares, built once at start-up.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use jitgate_access::bearer::BearerVerifier;
use jitgate_access::clock::Clock;
use jitgate_access::config::{Config, IdentityConfig};
use jitgate_access::cookies::{CookieName, Cookies};
use jitgate_access::idp::IdpClient;
use jitgate_access::return_to::{Destinations, DestinationsError};
use jitgate_access::service::AccessService;
use jitgate_access::token::TokenKeys;
use thiserror::Error;

use crate::csrf::CsrfKey;
use crate::error::PortalError;
use crate::flash::FlashKey;
use crate::signin::SignIn;
use crate::signin::oidc::{OidcError, OidcSignIn};
use crate::signin::throttle::Throttle;
use crate::{api, assets, flash, pages, paths, security, signin};

/// Form bodies are a reason and a few fields: anything near this is hostile.
const BODY_LIMIT: usize = 16 * 1024;

/// Why the portal cannot start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// The config's portal URL or a resource host cannot be vetted against (validation
    /// should have refused it).
    #[error("return URLs: {0}")]
    Destinations(#[from] DestinationsError),
}

pub struct PortalSettings {
    pub config: Arc<Config>,
    pub service: Arc<AccessService>,
    pub clock: Arc<dyn Clock>,
    /// The public keys of the upstream assertions, published at [`paths::JWKS_PATH`].
    pub assertion_jwks: serde_json::Value,
    /// Verifies IdP tokens presented to the API; `None` without an OIDC provider.
    pub bearer: Option<BearerVerifier>,
}

/// The shared state behind a [`Portal`].
pub struct Inner {
    pub(crate) config: Arc<Config>,
    pub(crate) service: Arc<AccessService>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keys: TokenKeys,
    pub(crate) csrf: CsrfKey,
    pub(crate) flash: FlashKey,
    pub(crate) sign_in: SignIn,
    /// Shared with the portal a reload replaces this one with (see [`Portal::reconfigured`]).
    pub(crate) throttle: Arc<Throttle>,
    pub(crate) assertion_jwks: serde_json::Value,
    pub(crate) bearer: Option<BearerVerifier>,
    /// The portal's cookies: `Secure` and `__Host-` named when its external URL is https.
    pub(crate) cookies: Cookies,
    /// Where a browser may be sent back to: every `rd` goes through it.
    pub(crate) destinations: Destinations,
    /// The portal's host as browsers address it (`access.example.com[:port]`).
    pub(crate) host: String,
    pub(crate) csp: axum::http::HeaderValue,
}

/// The portal app; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Portal(pub(crate) Arc<Inner>);

impl std::ops::Deref for Portal {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Portal {
    /// Builds the portal; with `oidc`, discovers the IdP first, so an unreachable or
    /// misconfigured IdP is an error at start, not at the first sign-in.
    pub async fn new(settings: PortalSettings) -> Result<Self, StartError> {
        Self::build(settings, Arc::default()).await
    }

    /// The portal under a reloaded config (its resources, policies, roles and notification
    /// routing, in `settings`), to serve in this one's place. Sign-in failures counted so far
    /// carry over: a reload must not lift a lockout. What only a restart changes (the session
    /// secret, the identity provider, the portal's URL) is taken from `settings` as it stands,
    /// which the caller keeps as it was at the start.
    pub async fn reconfigured(&self, settings: PortalSettings) -> Result<Self, StartError> {
        Self::build(settings, self.throttle.clone()).await
    }

    async fn build(settings: PortalSettings, throttle: Arc<Throttle>) -> Result<Self, StartError> {
        let config = settings.config;
        let destinations = Destinations::from_config(&config)?;
        let secret = config.session.secret.expose().as_bytes().to_vec();
        let sign_in = match &config.identity {
            IdentityConfig::Local { users, .. } => SignIn::Local(users.clone()),
            IdentityConfig::Oidc { issuer, .. } => {
                // The process's one IdP client, shared with the bearer checks when there are.
                let idp = settings.bearer.as_ref().map_or_else(
                    || Arc::new(IdpClient::new(issuer)),
                    |bearer| bearer.idp().clone(),
                );
                SignIn::Oidc(Box::new(OidcSignIn::discover(&config, idp).await?))
            }
        };
        Ok(Self(Arc::new(Inner {
            keys: TokenKeys::new(&secret),
            csrf: CsrfKey::derive(&secret),
            flash: FlashKey::derive(&secret),
            sign_in,
            throttle,
            cookies: Cookies::new(destinations.scheme() == "https"),
            destinations,
            host: config.server.portal_host.clone(),
            csp: security::content_security_policy(&config),
            assertion_jwks: settings.assertion_jwks,
            bearer: settings.bearer,
            service: settings.service,
            clock: settings.clock,
            config,
        })))
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(paths::HOME, get(pages::access::my_access))
            .route(paths::SIGN_IN_PATH, get(signin::page).post(signin::local::submit))
            .route(paths::CALLBACK_PATH, get(signin::oidc::callback))
            .route(paths::SIGN_OUT, post(signin::sign_out))
            .route(paths::SIGNED_OUT, get(signin::signed_out))
            .route(paths::REQUEST_FORM_PATH, get(pages::request::form).post(pages::request::submit))
            .route(paths::REQUEST_STATUS, get(pages::request_status::status))
            .route(paths::TOKENS, get(pages::tokens::list).post(pages::tokens::create))
            .route(paths::TOKENS_REVOKE, post(pages::tokens::revoke))
            .route(paths::CLI_SIGN_IN, get(pages::cli_sign_in::ask).post(pages::cli_sign_in::allow))
            .route(paths::REQUEST_CANCEL, post(pages::request_status::cancel))
            .route(paths::REQUEST_END, post(pages::request_status::end))
            .route(paths::REQUEST_PAUSE, post(pages::pause::pause))
            .route(paths::REQUEST_RESUME, post(pages::pause::resume))
            .route(paths::REQUEST_EXTEND, get(pages::extend::page).post(pages::pause::extend))
            .route(paths::REQUEST_ACKNOWLEDGE, post(pages::break_glass::acknowledge))
            .route(paths::REVIEW, get(pages::review::dashboard))
            .route(paths::REVIEW_APPROVE, post(pages::decide::approve))
            .route(paths::REVIEW_DENY, post(pages::decide::deny))
            .route(paths::REVIEW_REVOKE, post(pages::decide::revoke))
            .route(paths::AUDIT, get(pages::audit::page))
            .route(paths::NOTIFICATIONS, get(pages::notifications::failed))
            .route(paths::DIRECTORY, get(pages::directory::index))
            .route(paths::DIRECTORY_RESOURCE, get(pages::directory::resource))
            .route(paths::DIRECTORY_GROUP, get(pages::directory::group))
            .route(paths::DIRECTORY_USER, get(pages::directory::user))
            .route(paths::DIRECTORY_USER_END_SESSIONS, post(pages::directory::end_sessions))
            .route(paths::ASSETS, get(assets::serve))
            .route(paths::JWKS_PATH, get(assertion_jwks))
            .nest(api::PREFIX, api::routes())
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), flash::show))
            .layer(axum::middleware::from_fn_with_state(self.clone(), security::headers))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.clone())
    }
}

impl Portal {
    /// The value of one of jitgate's cookies on this request, under this deployment's name
    /// for it (`__Host-…` on HTTPS: a plain-named one planted by a sibling host is ignored).
    pub fn cookie<'a>(&self, headers: &'a HeaderMap, which: CookieName) -> Option<&'a str> {
        let values = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
        self.cookies.find(which, values).filter(|value| !value.is_empty())
    }

    /// Sets `which` to `value` in the browser for `max_age`.
    pub fn set_cookie(
        &self,
        response: &mut Response,
        which: CookieName,
        value: &str,
        max_age: Duration,
    ) -> Result<(), PortalError> {
        append_set_cookie(response, self.cookies.set(which, value, max_age))
    }

    /// Deletes `which` in the browser.
    pub fn clear_cookie(
        &self,
        response: &mut Response,
        which: CookieName,
    ) -> Result<(), PortalError> {
        append_set_cookie(response, self.cookies.clear(which))
    }
}

fn append_set_cookie(response: &mut Response, cookie: String) -> Result<(), PortalError> {
    // Values are tokens and ids (base64url, JWTs): always a valid header.
    let value = HeaderValue::try_from(cookie).map_err(|_| PortalError::Unavailable)?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}

async fn assertion_jwks(
    axum::extract::State(portal): axum::extract::State<Portal>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/jwk-set+json")],
        portal.assertion_jwks.to_string(),
    )
}
