//! Query shapes shared by both backends.

use crate::ids::{AuditId, GroupName, RequestId, ResourceName, UserId};
use crate::request::Status;
use crate::time::Timestamp;

/// One page of results and the cursor for the next, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// Builds a page from up to `size + 1` rows fetched newest first: the extra row only
    /// proves there is a next page.
    pub(crate) fn from_rows(mut rows: Vec<T>, size: usize, cursor: impl Fn(&T) -> C) -> Self {
        let more = rows.len() > size;
        rows.truncate(size);
        let next = if more { rows.last().map(cursor) } else { None };
        Self { items: rows, next }
    }
}

/// Requests newest first. Every filter that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestQuery {
    /// Recorded statuses to include; empty means all.
    pub statuses: Vec<Status>,
    pub requester: Option<UserId>,
    /// Resources to include (a reviewer sees only the ones they review); empty means all.
    pub resources: Vec<ResourceName>,
    /// Requests made by members of this group (as they were when they asked).
    pub group: Option<GroupName>,
    /// Case-insensitive substring of requester, resource or reason.
    pub search: Option<String>,
    /// Only requests older than this one (the previous page's `next`).
    pub before: Option<RequestId>,
    pub limit: usize,
}

/// Audit events newest first. Every filter that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Inclusive lower bound.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound.
    pub to: Option<Timestamp>,
    /// An actor key: an email, or `system`.
    pub actor: Option<String>,
    pub resource: Option<ResourceName>,
    pub request_id: Option<RequestId>,
    pub before: Option<AuditId>,
    pub limit: usize,
}

/// The largest page either backend returns, whatever was asked.
pub const MAX_PAGE: usize = 500;

pub(crate) fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}
