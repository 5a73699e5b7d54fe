//! The HTML pages. Each module owns one area; this one holds what they share: the header every
//! page shows (who is signed in, the reviewer's pending bell) and small helpers.

pub mod access;
pub mod audit;
pub mod break_glass;
pub mod decide;
pub mod directory;
pub mod notifications;
pub mod pause;
pub mod queue;
pub mod request;
pub mod review;
pub mod text;
pub mod tokens;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use jitgate_access::time::{Timestamp, format_duration};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::PortalError;
use crate::state::Portal;
use crate::viewer::Viewer;

/// The bell shows the exact count up to this, then "99+".
const BELL_MAX: usize = 99;

pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// What the header of every signed-in page shows.
pub struct Nav {
    pub email: String,
    pub is_reviewer: bool,
    pub is_admin: bool,
    /// Pending requests this viewer may decide, as shown on the bell ("" when none).
    pub bell: String,
    pub csrf: String,
}

impl Portal {
    pub async fn nav(&self, viewer: &Viewer) -> Result<Nav, PortalError> {
        let bell = match self.service.count_awaiting_review(viewer.identity(), BELL_MAX + 1).await?
        {
            0 => String::new(),
            n if n > BELL_MAX => format!("{BELL_MAX}+"),
            n => n.to_string(),
        };
        Ok(Nav {
            email: viewer.identity().user.to_string(),
            is_reviewer: viewer.is_reviewer(),
            is_admin: viewer.is_admin,
            bell,
            csrf: viewer.csrf.clone(),
        })
    }
}

/// "in 3h 20m" / "5m ago", to the minute.
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let round = |d: std::time::Duration| {
        let secs = d.as_secs();
        if secs < 60 {
            "less than a minute".to_owned()
        } else {
            format_duration(std::time::Duration::from_secs(secs / 60 * 60))
        }
    };
    if at >= now {
        format!("in {}", round(now.until(at)))
    } else {
        format!("{} ago", round(at.until(now)))
    }
}

/// Time left until `at`, or "ended".
pub fn time_left(at: Timestamp, now: Timestamp) -> String {
    if at > now { relative(at, now).trim_start_matches("in ").to_owned() } else { "ended".into() }
}

pub fn render<T: Template>(page: &T) -> Result<Response, PortalError> {
    page.render().map(|html| Html(html).into_response()).map_err(|error| {
        tracing::error!(%error, "a template failed to render");
        PortalError::Unavailable
    })
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A plain page with a title and a sentence.
pub fn message(title: &str, message: &str) -> Result<Response, PortalError> {
    render(&MessagePage { title, message })
}

pub async fn not_found() -> PortalError {
    PortalError::NotFound
}
