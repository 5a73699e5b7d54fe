//! The reviewers' dashboard: requests by tab, searchable, one page at a time, with approve,
//! deny and revoke on each row. Reviewers see the resources they review; admins see all.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use jitgate_access::ids::{GroupName, RequestId, ResourceName, UserId};
use jitgate_access::request::{AccessRequest, GrantEnd, RequestState, Status};
use jitgate_access::store::RequestQuery;
use jitgate_access::time::Timestamp;

use super::decide::Actions;
use super::text::When;
use super::{Nav, encode, render, time_left};
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// Rows per dashboard page.
const PAGE_SIZE: usize = 50;
/// Tab counts are exact up to this, then shown as "N+": a search has no index to count by.
const COUNT_MAX: usize = 10_000;
/// The longest search string taken.
const MAX_SEARCH: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Pending,
    Active,
    Denied,
    Ended,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Pending, Tab::Active, Tab::Denied, Tab::Ended];

    fn parse(raw: Option<&String>) -> Self {
        Tab::ALL
            .into_iter()
            .find(|t| Some(t.key()) == raw.map(String::as_str))
            .unwrap_or(Tab::Pending)
    }

    fn key(self) -> &'static str {
        match self {
            Tab::Pending => "pending",
            Tab::Active => "active",
            Tab::Denied => "denied",
            Tab::Ended => "ended",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Pending => "Pending",
            Tab::Active => "Approved / Active",
            Tab::Denied => "Denied",
            Tab::Ended => "Expired / Revoked",
        }
    }

    fn statuses(self) -> Vec<Status> {
        match self {
            Tab::Pending => vec![Status::Pending],
            Tab::Active => vec![Status::Scheduled, Status::Active],
            Tab::Denied => vec![Status::Denied, Status::Cancelled, Status::TimedOut],
            Tab::Ended => {
                vec![Status::Expired, Status::Revoked, Status::Superseded, Status::Lapsed]
            }
        }
    }
}

pub struct TabLink {
    pub key: &'static str,
    pub label: &'static str,
    pub count: String,
    pub current: bool,
}

pub struct Row {
    pub id: String,
    pub user: String,
    pub resource: String,
    pub requested: When,
    pub status: String,
    pub reason: String,
    /// For an extension: the request it extends and that request's reason; empty otherwise.
    pub extends_of: String,
    pub original_reason: String,
    pub managed_by: String,
    pub time_left: String,
    /// "for 1h", or "granted 15m (asked 1h)" once a reviewer granted less.
    pub duration: String,
    /// The reviewer's note on a denial or a revocation.
    pub note: String,
    /// When a denied, cancelled, timed-out, expired or revoked request ended.
    pub ended: Option<When>,
    pub actions: Actions,
    /// A break-glass grant's mark and Acknowledge button.
    pub glass: Option<super::break_glass::Badge>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct Dashboard {
    nav: Nav,
    tabs: Vec<TabLink>,
    tab: &'static str,
    search: String,
    /// The filters as query parameters, kept by tab links and decisions.
    params: String,
    /// The resource, user or group the view is narrowed to, in words.
    narrowed: String,
    rows: Vec<Row>,
    next: Option<String>,
}

/// Who decided (and who ended the grant early), or for a request still collecting approvals,
/// who approved so far ("1 of 2").
fn managed_by(request: &AccessRequest, needed: Option<u32>) -> String {
    match &request.state {
        RequestState::Pending if request.approvals.is_empty() => String::new(),
        RequestState::Pending => {
            let of = needed.map(|n| format!(" of {n}")).unwrap_or_default();
            format!("approved by {} ({}{of})", request.approved_by(), request.approvals.len())
        }
        RequestState::Approved { grant } => match &grant.end {
            Some(GrantEnd::Revoked { by, .. }) => {
                format!("{}; revoked by {by}", crate::summary::granted_by(request))
            }
            _ => crate::summary::granted_by(request),
        },
        RequestState::Denied { by, .. } | RequestState::Cancelled { by, .. } => by.to_string(),
        RequestState::TimedOut { .. } => "timed out".into(),
    }
}

impl Portal {
    fn query(&self, viewer: &Viewer, tab: Tab, filters: &Filters, limit: usize) -> RequestQuery {
        let mut resources = if viewer.is_admin { Vec::new() } else { viewer.reviews.clone() };
        if let Some(chosen) = &filters.resource {
            // The handler refused a resource outside the viewer's own.
            resources = vec![chosen.clone()];
        }
        RequestQuery {
            statuses: tab.statuses(),
            resources,
            requester: filters.user.clone(),
            group: filters.group.clone(),
            search: (!filters.search.is_empty()).then(|| filters.search.clone()),
            limit,
            ..RequestQuery::default()
        }
    }

    fn row(&self, viewer: &Viewer, request: &AccessRequest, now: Timestamp, back: &str) -> Row {
        let status = request.status_at(now);
        let needed = self.policy_of(request).map(|p| p.approvals_needed());
        Row {
            id: request.id.to_string(),
            user: request.requester.to_string(),
            resource: request.resource.to_string(),
            requested: When::of(request.created_at, now),
            status: status.as_str().to_owned(),
            reason: request.reason.clone(),
            extends_of: request.extends.as_ref().map(|e| e.request.to_string()).unwrap_or_default(),
            original_reason: request
                .extends
                .as_ref()
                .map(|e| e.original_reason.clone())
                .unwrap_or_default(),
            managed_by: managed_by(request, needed),
            time_left: match (&request.state, status) {
                (RequestState::Approved { grant }, Status::Active) => {
                    crate::outcome::waiting_for_first_use(grant)
                        .unwrap_or_else(|| time_left(grant.expires_at, now))
                }
                (RequestState::Approved { grant }, Status::Scheduled) => {
                    let start = grant.starts_at.unwrap_or(now);
                    format!("starts in {}", time_left(start, now))
                }
                (_, Status::Pending) => {
                    format!("decide within {}", time_left(request.pending_until, now))
                }
                _ => String::new(),
            },
            // A scheduled request says from when: reviewers approve it ahead of its start.
            duration: match request.starts_at {
                Some(start) => format!(
                    "{} from {}",
                    crate::outcome::duration_phrase(request),
                    super::TimeView::at(start).text
                ),
                None => crate::outcome::duration_phrase(request),
            },
            note: crate::outcome::decision_note(request).to_owned(),
            ended: crate::outcome::ended_at(request, now).map(|at| When::of(at, now)),
            actions: self.actions(viewer, request, now, back.to_owned()),
            glass: self.break_glass_badge(viewer, request),
        }
    }
}

/// What the dashboard is narrowed to besides the tab: a search, and the resource, user or
/// group the directory's pages link here with.
#[derive(Default)]
pub struct Filters {
    search: String,
    resource: Option<ResourceName>,
    user: Option<UserId>,
    group: Option<GroupName>,
}

impl Filters {
    fn parse(query: &HashMap<String, String>) -> Result<Self, PortalError> {
        let get = |key: &str| query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let bad = |what: &str| PortalError::BadRequest(format!("that is not a {what}"));
        Ok(Self {
            search: get("q").map(|q| q.chars().take(MAX_SEARCH).collect()).unwrap_or_default(),
            resource: get("resource")
                .map(|r| ResourceName::parse(r).map_err(|_| bad("resource name")))
                .transpose()?,
            user: get("user").map(|u| UserId::parse(u).map_err(|_| bad("user"))).transpose()?,
            group: get("group")
                .map(|g| GroupName::parse(g).map_err(|_| bad("group")))
                .transpose()?,
        })
    }

    /// The filters as query parameters (`&q=…&resource=…`), for links that keep them.
    fn params(&self) -> String {
        let mut out = format!("&q={}", encode(&self.search));
        if let Some(resource) = &self.resource {
            out.push_str(&format!("&resource={}", encode(resource.as_str())));
        }
        if let Some(user) = &self.user {
            out.push_str(&format!("&user={}", encode(user.as_str())));
        }
        if let Some(group) = &self.group {
            out.push_str(&format!("&group={}", encode(group.as_str())));
        }
        out
    }

    /// What the view is narrowed to, in words ("" when only by search).
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(resource) = &self.resource {
            parts.push(format!("resource {resource}"));
        }
        if let Some(user) = &self.user {
            parts.push(format!("user {user}"));
        }
        if let Some(group) = &self.group {
            parts.push(format!("group {group}"));
        }
        parts.join(", ")
    }
}

/// `GET /review?tab=…&q=…&resource=…&user=…&group=…&before=…`.
pub async fn dashboard(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PortalError> {
    if !viewer.is_reviewer() {
        return Err(PortalError::Forbidden("only reviewers and admins see the dashboard".into()));
    }
    let tab = Tab::parse(query.get("tab"));
    let filters = Filters::parse(&query)?;
    if let Some(resource) = &filters.resource
        && !viewer.is_admin
        && !viewer.reviews.contains(resource)
    {
        return Err(PortalError::Forbidden("you do not review that resource".into()));
    }
    let before = match query.get("before").filter(|b| !b.is_empty()) {
        Some(raw) => Some(
            raw.parse::<RequestId>()
                .map_err(|_| PortalError::BadRequest("bad page cursor".into()))?,
        ),
        None => None,
    };
    let store = portal.service.store();
    let mut tabs = Vec::new();
    for each in Tab::ALL {
        let query = portal.query(&viewer, each, &filters, PAGE_SIZE);
        let count = match store.count_requests(&query, COUNT_MAX + 1).await? {
            n if n > COUNT_MAX => format!("{COUNT_MAX}+"),
            n => n.to_string(),
        };
        tabs.push(TabLink { key: each.key(), label: each.label(), count, current: each == tab });
    }
    let mut page_query = portal.query(&viewer, tab, &filters, PAGE_SIZE);
    page_query.before = before;
    let page = store.list_requests(&page_query).await?;
    let now = portal.clock.now();
    let params = filters.params();
    let back = paths::review_tab(tab.key(), &params);
    let rows = page.items.iter().map(|request| portal.row(&viewer, request, now, &back)).collect();
    let next = page.next.map(|id| paths::review_tab(tab.key(), format!("{params}&before={id}")));
    render(&Dashboard {
        nav: portal.nav(&viewer).await?,
        tabs,
        tab: tab.key(),
        narrowed: filters.describe(),
        search: filters.search,
        params,
        rows,
        next,
    })
}
