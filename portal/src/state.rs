//! What every handler shares, built once at start-up.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use jitgate_access::bearer::BearerVerifier;
use jitgate_access::clock::Clock;
use jitgate_access::config::{Config, IdentityConfig};
use jitgate_access::routes::JWKS_PATH;
use jitgate_access::service::AccessService;
use jitgate_access::token::TokenKeys;

use crate::csrf::CsrfKey;
use crate::signin::SignIn;
use crate::signin::oidc::{OidcError, OidcSignIn};
use crate::signin::throttle::Throttle;
use crate::{api, assets, pages, security, signin};

/// Form bodies are a reason and a few fields: anything near this is hostile.
const BODY_LIMIT: usize = 16 * 1024;

pub struct PortalSettings {
    pub config: Arc<Config>,
    pub service: Arc<AccessService>,
    pub clock: Arc<dyn Clock>,
    /// The public keys of the upstream assertions, published at [`JWKS_PATH`].
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
    pub(crate) sign_in: SignIn,
    pub(crate) throttle: Throttle,
    pub(crate) assertion_jwks: serde_json::Value,
    pub(crate) bearer: Option<BearerVerifier>,
    /// `https` when the portal's external URL is: cookies get `Secure`.
    pub(crate) secure: bool,
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
    pub async fn new(settings: PortalSettings) -> Result<Self, OidcError> {
        let config = settings.config;
        let secret = config.session.secret.expose().as_bytes().to_vec();
        let sign_in = match &config.identity {
            IdentityConfig::Local { users, .. } => SignIn::Local(users.clone()),
            IdentityConfig::Oidc { .. } => {
                SignIn::Oidc(Box::new(OidcSignIn::discover(&config).await?))
            }
        };
        Ok(Self(Arc::new(Inner {
            keys: TokenKeys::new(&secret),
            csrf: CsrfKey::derive(&secret),
            sign_in,
            throttle: Throttle::default(),
            secure: config.server.portal_url.starts_with("https://"),
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
            .route("/", get(pages::access::my_access))
            .route("/auth/sign-in", get(signin::page).post(signin::local::submit))
            .route("/auth/callback", get(signin::oidc::callback))
            .route("/auth/sign-out", post(signin::sign_out))
            .route("/request/{resource}", get(pages::request::form).post(pages::request::submit))
            .route("/requests/{id}", get(pages::request::status))
            .route("/requests/{id}/cancel", post(pages::request::cancel))
            .route("/requests/{id}/end", post(pages::request::end))
            .route("/review", get(pages::review::dashboard))
            .route("/review/{id}/approve", post(pages::review::approve))
            .route("/review/{id}/deny", post(pages::review::deny))
            .route("/review/{id}/revoke", post(pages::review::revoke))
            .route("/audit", get(pages::audit::page))
            .route("/notifications", get(pages::notifications::failed))
            .route("/access", get(pages::directory::index))
            .route("/access/resources/{name}", get(pages::directory::resource))
            .route("/access/groups/{name}", get(pages::directory::group))
            .route("/access/users/{email}", get(pages::directory::user))
            .route("/assets/{file}", get(assets::serve))
            .route(JWKS_PATH, get(assertion_jwks))
            .nest(api::PREFIX, api::routes())
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), security::headers))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.clone())
    }
}

async fn assertion_jwks(
    axum::extract::State(portal): axum::extract::State<Portal>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/jwk-set+json")],
        portal.assertion_jwks.to_string(),
    )
}
