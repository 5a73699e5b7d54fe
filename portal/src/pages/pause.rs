//! `POST /requests/{id}/pause|resume|extend`: the buttons and the small form on *My access*
//! that switch the viewer's grant off and on, or ask for more time on it, and what the app's
//! request form shows while the grant is paused. The rules are the access service's; these only
//! ask it and go where the outcome shows.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use jitgate_access::request::Grant;
use serde::Deserialize;

use crate::csrf::{CsrfField, CsrfForm, HasCsrf};
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// `POST /requests/{id}/pause`.
pub async fn pause(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    portal.service.pause(viewer.identity(), request.id, "").await?;
    Ok(Redirect::to(paths::HOME).into_response())
}

/// `POST /requests/{id}/resume`.
pub async fn resume(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let request = portal.visible_request(&viewer, &id).await?;
    portal.service.resume(viewer.identity(), request.id, "").await?;
    Ok(Redirect::to(paths::HOME).into_response())
}

/// The Extend form: how much more time, in words (`30m`, `2h`), and why.
#[derive(Deserialize)]
pub struct ExtendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    reason: String,
}

impl HasCsrf for ExtendForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /requests/{id}/extend`: lands on the extension's page, which shows whether it was
/// granted at once or waits for reviewers.
pub async fn extend(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<ExtendForm>,
) -> Result<Response, PortalError> {
    let more = humantime::parse_duration(form.duration.trim()).map_err(|_| {
        PortalError::BadRequest(format!(
            "{:?} is not a duration; write it like 30m or 2h",
            form.duration.trim()
        ))
    })?;
    let request = portal.visible_request(&viewer, &id).await?;
    let extension =
        portal.service.extend(viewer.identity(), request.id, more, form.reason.trim()).await?;
    Ok(Redirect::to(&paths::request_status(extension.id)).into_response())
}

/// What the app's request form shows the holder of a paused grant: the proxy locks the app
/// while the grant is paused, and going on to it would only come back here.
pub async fn locked_while_paused(
    portal: &Portal,
    viewer: &Viewer,
    grant: &Grant,
) -> Result<Response, PortalError> {
    let who = if grant.paused_by_other() {
        "A reviewer paused it; only a reviewer can resume it."
    } else {
        "Resume it on My access to go on."
    };
    let message = format!(
        "Your access to {} is paused, so the app is locked until it is resumed. {who}",
        grant.resource
    );
    let nav = Some(portal.nav(viewer).await?);
    super::message_page("Your access is paused", &message, nav, super::BACK_HOME)
}
