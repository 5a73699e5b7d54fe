//! `/cli/sign-in`: the portal's half of the command line's browser sign-in (the protocol is
//! `jitgate_access::cli_sign_in`). The signed-in user sees the code their terminal shows and
//! allows it; the answer is a personal API token, made as for the tokens page (audited, at most
//! [`LIFETIME`]), posted to the CLI's loopback address by a form, never put in a URL.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::Response;
use jitgate_access::cli_sign_in;
use serde::Deserialize;

use super::{Nav, render};
use crate::csrf::{CsrfForm, HasCsrf};
use crate::error::PortalError;
use crate::security::FormTarget;
use crate::state::Portal;
use crate::viewer::Viewer;

/// How long a token made this way lasts (like `gh auth login`'s, long enough not to nag).
pub const LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Which CLI asks: its loopback port and its state, as the link carried them.
#[derive(Deserialize)]
pub struct Asking {
    #[serde(default)]
    port: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
}

impl HasCsrf for Asking {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl Asking {
    /// The port and state when both are what a `jitgate login --browser` sends; never echoed
    /// otherwise.
    fn checked(&self) -> Result<(u16, &str), PortalError> {
        let port = self.port.parse::<u16>().ok().filter(|port| cli_sign_in::valid_port(*port));
        match port {
            Some(port) if cli_sign_in::valid_state(&self.state) => Ok((port, &self.state)),
            _ => Err(PortalError::BadRequest(
                "This sign-in link is incomplete or damaged. Run `jitgate login --browser` again."
                    .to_owned(),
            )),
        }
    }
}

#[derive(Template)]
#[template(path = "cli_sign_in.html")]
struct AllowPage<'a> {
    nav: Nav,
    code: String,
    port: u16,
    state: &'a str,
}

#[derive(Template)]
#[template(path = "cli_sign_in_done.html")]
struct DonePage<'a> {
    nav: Nav,
    code: String,
    callback: String,
    state: &'a str,
    token: &'a str,
}

/// `GET /cli/sign-in?port=…&state=…`: asks the signed-in user to allow it.
pub async fn ask(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(asking): Query<Asking>,
) -> Result<Response, PortalError> {
    let (port, state) = asking.checked()?;
    let page =
        AllowPage { nav: portal.nav(&viewer).await?, code: cli_sign_in::code(state), port, state };
    render(&page)
}

/// `POST /cli/sign-in`: makes the token and answers with the form that hands it to the CLI.
pub async fn allow(
    State(portal): State<Portal>,
    CsrfForm { viewer, form }: CsrfForm<Asking>,
) -> Result<Response, PortalError> {
    let (port, state) = form.checked()?;
    let (_, token) = portal
        .service
        .create_api_token(viewer.identity(), cli_sign_in::TOKEN_NAME, LIFETIME)
        .await?;
    let page = DonePage {
        nav: portal.nav(&viewer).await?,
        code: cli_sign_in::code(state),
        callback: cli_sign_in::callback_url(port),
        state,
        token: &token,
    };
    let mut response = render(&page)?;
    // The page holds a secret: kept by no cache, the browser's included.
    response.headers_mut().insert(header::CACHE_CONTROL, "no-store".parse().expect("a header"));
    // This page alone may post to the CLI's loopback address.
    response.extensions_mut().insert(FormTarget(cli_sign_in::callback_origin(port)));
    Ok(response)
}
