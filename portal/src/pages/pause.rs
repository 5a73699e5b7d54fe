//! `POST /requests/{id}/pause|resume`: the buttons on *My access* that switch the viewer's
//! grant off and on. The rules are the access service's; these only ask it and go home.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use crate::csrf::{CsrfField, CsrfForm};
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;

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
