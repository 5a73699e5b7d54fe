//! Personal API tokens, for scripts and the `jitgate` CLI: the signed-in user's live tokens,
//! a form to create one (its secret shown once, on the page the POST answers with, never
//! cached), and a revoke button each. Admins revoke anyone's through the JSON API.

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::api_token::{MAX_LIFETIME, MAX_NAME};
use jitgate_access::ids::TokenId;
use serde::Deserialize;

use super::{Nav, relative, render};
use crate::csrf::{CsrfField, CsrfForm, HasCsrf};
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// The lifetimes offered, in days.
const LIFETIMES: [u64; 4] = [1, 7, 30, 90];

pub struct Row {
    pub id: String,
    pub name: String,
    pub created: String,
    pub created_at: String,
    pub expires: String,
    pub expires_at: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Nav,
    rows: Vec<Row>,
    lifetimes: [u64; 4],
    max_name: usize,
    /// The portal's URL, for `jitgate login --portal`.
    portal_url: String,
    /// The new token's string, on the page that answers its creation only.
    created: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NewToken {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: String,
}

impl HasCsrf for NewToken {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn page(
    portal: &Portal,
    viewer: &Viewer,
    created: Option<String>,
    error: Option<String>,
) -> Result<Response, PortalError> {
    let now = portal.clock.now();
    let rows = portal
        .service
        .api_tokens(viewer.identity())
        .await?
        .into_iter()
        .map(|token| Row {
            id: token.id.to_string(),
            name: token.name,
            created: relative(token.created_at, now),
            created_at: token.created_at.to_string(),
            expires: relative(token.expires_at, now),
            expires_at: token.expires_at.to_string(),
        })
        .collect();
    let page = TokensPage {
        nav: portal.nav(viewer).await?,
        rows,
        lifetimes: LIFETIMES,
        max_name: MAX_NAME,
        portal_url: portal.config.server.portal_url.clone(),
        created,
        error,
    };
    let mut response = render(&page)?;
    // The page may show a secret: never kept by a cache, the browser's included.
    response.headers_mut().insert(header::CACHE_CONTROL, "no-store".parse().expect("a header"));
    Ok(response)
}

/// `GET /tokens`.
pub async fn list(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PortalError> {
    page(&portal, &viewer, None, None).await
}

/// `POST /tokens`: creates a token and shows it once.
pub async fn create(
    State(portal): State<Portal>,
    CsrfForm { viewer, form }: CsrfForm<NewToken>,
) -> Result<Response, PortalError> {
    let name = form.name.trim();
    let days = form.days.parse::<u64>().ok().filter(|days| LIFETIMES.contains(days));
    let problem = if name.is_empty() {
        Some("Name the token, e.g. after the machine or script that will use it.".to_owned())
    } else if name.chars().count() > MAX_NAME {
        Some(format!("The name is longer than {MAX_NAME} characters."))
    } else if days.is_none() {
        Some("Choose how long the token lasts.".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        let mut response = page(&portal, &viewer, None, Some(problem)).await?;
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        return Ok(response);
    }
    let lifetime = Duration::from_secs(days.unwrap_or(1) * 24 * 3600).min(MAX_LIFETIME);
    let (_, shown) = portal.service.create_api_token(viewer.identity(), name, lifetime).await?;
    page(&portal, &viewer, Some(shown), None).await
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let id: TokenId = id.parse().map_err(|_| PortalError::NotFound)?;
    portal.service.revoke_api_token(viewer.identity(), id).await?;
    Ok(Redirect::to(paths::TOKENS).into_response())
}
