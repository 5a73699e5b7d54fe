//! The HTML pages. Each module owns one area; this one holds what they share: the header every
//! page shows (who is signed in, the reviewer's pending bell) and small helpers.

pub mod access;
pub mod audit;
pub mod break_glass;
pub mod cli_sign_in;
pub mod decide;
pub mod directory;
pub mod extend;
pub mod notifications;
pub mod pause;
pub mod queue;
pub mod request;
pub mod request_status;
pub mod review;
pub mod schedule;
pub mod text;
pub mod tokens;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use jitgate_access::request::{AccessRequest, RequestState, Status};
use jitgate_access::store::RequestQuery;
use jitgate_access::time::{Timestamp, format_duration};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::PortalError;
use crate::state::Portal;
use crate::viewer::Viewer;

/// The bell shows the exact count up to this, then "99+".
const BELL_MAX: usize = 99;
/// Entries the bell's list shows.
const BELL_LIST: usize = 5;
/// A grant ending within this is "expiring soon" on the requester's bell.
const EXPIRING_SOON: std::time::Duration = std::time::Duration::from_secs(3600);
/// A decision on the requester's own request stays on their bell this long.
const RECENT_DECISION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// What the header of every signed-in page shows.
pub struct Nav {
    pub email: String,
    pub is_reviewer: bool,
    pub is_admin: bool,
    /// Pending requests this viewer may decide plus news about their own requests, as shown
    /// on the bell ("" when none).
    pub bell: String,
    /// The bell's list: the newest of those.
    pub items: Vec<BellItem>,
    pub csrf: String,
}

/// One line of the bell's list.
pub struct BellItem {
    pub text: String,
    pub href: String,
    pub when: TimeView,
}

/// An instant as pages show it: a readable UTC time, the machine form for `<time>`, and the
/// time left until it, which `app.js` keeps counting down.
pub struct TimeView {
    pub iso: String,
    /// `2026-11-30 18:09 UTC`.
    pub text: String,
}

impl TimeView {
    pub fn at(at: Timestamp) -> Self {
        let iso = humantime::format_rfc3339_seconds(at.to_system_time()).to_string();
        let text = format!("{} {} UTC", &iso[..10], &iso[11..16]);
        Self { iso, text }
    }
}

/// Time left until an instant, which `app.js` counts down live (`<time data-countdown>`);
/// without JavaScript the page shows the time left when it was rendered.
pub struct Countdown {
    pub at: TimeView,
    /// `1h 59m`, at rendering.
    pub left: String,
    /// What the countdown says once it reaches zero.
    pub ended: String,
}

impl Countdown {
    pub fn until(at: Timestamp, now: Timestamp, ended: &str) -> Self {
        Self { at: TimeView::at(at), left: time_left(at, now), ended: ended.to_owned() }
    }
}

impl Portal {
    pub async fn nav(&self, viewer: &Viewer) -> Result<Nav, PortalError> {
        let pending = self.service.count_awaiting_review(viewer.identity(), BELL_MAX + 1).await?;
        let mut items = if pending > 0 { self.to_review(viewer).await? } else { Vec::new() };
        let news = self.news_for(viewer).await?;
        let count = pending + news.len();
        items.extend(news);
        items.truncate(BELL_LIST);
        let bell = match count {
            0 => String::new(),
            n if n > BELL_MAX => format!("{BELL_MAX}+"),
            n => n.to_string(),
        };
        Ok(Nav {
            email: viewer.identity().user.to_string(),
            is_reviewer: viewer.is_reviewer(),
            is_admin: viewer.is_admin,
            bell,
            items,
            csrf: viewer.csrf.clone(),
        })
    }

    /// The newest requests the viewer may decide.
    async fn to_review(&self, viewer: &Viewer) -> Result<Vec<BellItem>, PortalError> {
        let query = RequestQuery {
            statuses: vec![Status::Pending],
            resources: if viewer.is_admin { Vec::new() } else { viewer.reviews.clone() },
            limit: BELL_LIST + 5,
            ..RequestQuery::default()
        };
        let now = self.clock.now();
        let requests = self.service.store().list_requests(&query).await?.items;
        Ok(requests
            .iter()
            .filter(|r| {
                r.status_at(now) == Status::Pending && r.requester != viewer.identity().user
            })
            .take(BELL_LIST)
            .map(|r| BellItem {
                text: format!(
                    "{} asks for {} ({})",
                    r.requester,
                    r.resource,
                    format_duration(r.requested_duration)
                ),
                href: format!("{}#r-{}", crate::paths::REVIEW, r.id),
                when: TimeView::at(r.created_at),
            })
            .collect())
    }

    /// The viewer's own news: decisions a reviewer made in the last day, and grants about
    /// to end.
    async fn news_for(&self, viewer: &Viewer) -> Result<Vec<BellItem>, PortalError> {
        let query = RequestQuery {
            requester: Some(viewer.identity().user.clone()),
            limit: 20,
            ..RequestQuery::default()
        };
        let now = self.clock.now();
        let since = Timestamp::from_millis(
            now.as_millis().saturating_sub(RECENT_DECISION.as_millis() as i64),
        );
        let requests = self.service.store().list_requests(&query).await?.items;
        Ok(requests.iter().filter_map(|r| news_of(r, now, since)).collect())
    }
}

fn news_of(request: &AccessRequest, now: Timestamp, since: Timestamp) -> Option<BellItem> {
    let href = crate::paths::request_status(request.id);
    let resource = &request.resource;
    match (&request.state, request.status_at(now)) {
        (RequestState::Approved { grant }, Status::Active)
            if now.until(grant.expires_at) <= EXPIRING_SOON =>
        {
            Some(BellItem {
                text: format!("Your access to {resource} ends soon"),
                href,
                when: TimeView::at(grant.expires_at),
            })
        }
        // Auto-approved requests have no reviewer's vote: the requester saw it happen. A
        // schedule approved ahead is news too.
        (RequestState::Approved { grant }, Status::Active | Status::Scheduled)
            if grant.granted_at >= since && !request.approvals.is_empty() =>
        {
            let by = request.approvals.last().map(|v| v.reviewer.to_string()).unwrap_or_default();
            Some(BellItem {
                text: format!("{by} approved your request for {resource}"),
                href,
                when: TimeView::at(grant.granted_at),
            })
        }
        (RequestState::Denied { by, at, .. }, _) if *at >= since => Some(BellItem {
            text: format!("{by} denied your request for {resource}"),
            href,
            when: TimeView::at(*at),
        }),
        _ => None,
    }
}

/// The text with its first letter in upper case: messages from lower layers start lower case.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
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
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: String,
    /// The header's navigation when someone is signed in.
    pub nav: Option<Nav>,
    /// Where the page's one link goes, and what it says.
    pub link: (&'a str, &'a str),
}

/// The link a message page offers when nothing more fitting is at hand.
pub const BACK_HOME: (&str, &str) = (crate::paths::HOME, "Back to My access");

/// A plain page with a title and a sentence, under the header (with the viewer's navigation
/// when there is one) and one link onwards.
pub fn message_page(
    title: &str,
    message: &str,
    nav: Option<Nav>,
    link: (&str, &str),
) -> Result<Response, PortalError> {
    render(&MessagePage { title, message: capitalise(message), nav, link })
}

pub async fn not_found() -> PortalError {
    PortalError::NotFound
}
