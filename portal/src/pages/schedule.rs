//! Scheduled access on the requester's pages: reading the request form's start field, and the
//! page a scheduled grant's holder lands on before its start (the proxy sends a locked
//! browser to the request form, which sends them here rather than back to the app).

use askama::Template;
use axum::response::Response;
use jitgate_access::request::Grant;
use jitgate_access::time::Timestamp;

use super::{Countdown, Nav, render};
use crate::error::PortalError;
use crate::state::Portal;
use crate::viewer::Viewer;

/// The form's start: `None` for "now" (the field left empty). Break glass is for now, so a
/// start with it is refused rather than ignored.
pub fn chosen_start(typed: &str, breaks_glass: bool) -> Result<Option<Timestamp>, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    if breaks_glass {
        return Err("Break glass grants access now: clear the start, or ask for approval.".into());
    }
    crate::start_time::parse_form_utc(typed).map(Some).map_err(|error| format!("{error}."))
}

#[derive(Template)]
#[template(path = "scheduled_locked.html")]
struct ScheduledLocked {
    nav: Nav,
    resource: String,
    request: String,
    /// Until the start, counted down.
    starts: Countdown,
    /// Until the end, as a time.
    ends: super::TimeView,
}

/// The page saying `grant` (not started at `now`) starts in how long: the locked page of a
/// scheduled grant. 200, not an error: nothing is wrong, it is early.
pub async fn locked(
    portal: &Portal,
    viewer: &Viewer,
    grant: &Grant,
    now: Timestamp,
) -> Result<Response, PortalError> {
    let start = grant.starts_at.unwrap_or(now);
    render(&ScheduledLocked {
        nav: portal.nav(viewer).await?,
        resource: grant.resource.to_string(),
        request: grant.request_id.to_string(),
        starts: Countdown::until(start, now, "now: reload this page"),
        ends: super::TimeView::at(grant.expires_at),
    })
}
