//! Failed notifications, for admins: what could not be delivered after every retry, to whom,
//! and why, so a broken SMTP login or webhook URL is noticed and the people told by hand.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jitgate_access::outbox::Target;

use super::{Nav, relative, render};
use crate::error::PortalError;
use crate::state::Portal;
use crate::viewer::Viewer;

/// Failures listed, newest first.
const SHOWN: usize = 200;

pub struct Row {
    pub when: String,
    pub at: String,
    pub event: &'static str,
    pub target: String,
    pub request: String,
    pub user: String,
    pub resource: String,
    pub attempts: u32,
    pub error: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct FailedPage {
    nav: Nav,
    rows: Vec<Row>,
}

/// `GET /notifications`.
pub async fn failed(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PortalError> {
    if !viewer.is_admin {
        return Err(PortalError::Forbidden("only admins see failed notifications".into()));
    }
    let now = portal.clock.now();
    let items = portal.service.store().failed_notifications(SHOWN).await?;
    let rows = items
        .iter()
        .map(|item| {
            let at = match item.delivery {
                jitgate_access::outbox::Delivery::Failed { at } => at,
                jitgate_access::outbox::Delivery::Pending => item.next_attempt_at,
            };
            Row {
                when: relative(at, now),
                at: at.to_string(),
                event: item.event.kind.as_str(),
                target: match &item.target {
                    Target::Email(to) => format!("email to {to}"),
                    Target::Webhook(name) => format!("webhook {name}"),
                },
                request: item.event.request.id.to_string(),
                user: item.event.request.requester.to_string(),
                resource: item.event.request.resource.to_string(),
                attempts: item.attempts,
                error: item.last_error.clone().unwrap_or_default(),
            }
        })
        .collect();
    render(&FailedPage { nav: portal.nav(&viewer).await?, rows })
}
