//! A reviewer's queue on their home page: the newest requests waiting for their decision, so
//! someone who reviews but owns no app does not land on an empty page while people wait.

use jitgate_access::request::Status;
use jitgate_access::store::RequestQuery;

use super::text::When;
use crate::error::PortalError;
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// Requests read to find the ones to show (the store filters by resource, not by reviewer).
const SCAN: usize = 50;
/// Requests shown; the rest are a click away on the dashboard.
const SHOWN: usize = 5;

pub struct QueueItem {
    pub id: String,
    pub user: String,
    pub resource: String,
    pub asked: When,
    pub duration: String,
    pub reason: String,
}

/// What the home page's queue shows; empty `items` reads "nothing waits for you".
pub struct Queue {
    pub items: Vec<QueueItem>,
    /// How many more wait than are shown ("" when none).
    pub more: String,
    pub dashboard: String,
}

impl Portal {
    /// The viewer's queue, or `None` for someone who reviews nothing.
    pub(crate) async fn queue(&self, viewer: &Viewer) -> Result<Option<Queue>, PortalError> {
        if !viewer.is_reviewer() {
            return Ok(None);
        }
        let now = self.clock.now();
        let query = RequestQuery {
            statuses: vec![Status::Pending],
            resources: if viewer.is_admin { Vec::new() } else { viewer.reviews.clone() },
            limit: SCAN,
            ..RequestQuery::default()
        };
        let page = self.service.store().list_requests(&query).await?;
        let waiting: Vec<_> = page
            .items
            .iter()
            .filter(|request| self.actions(viewer, request, now, String::new()).can_decide)
            .collect();
        let more = match waiting.len().saturating_sub(SHOWN) {
            0 if page.next.is_some() => "more".to_owned(),
            0 => String::new(),
            n if page.next.is_some() => format!("{n}+ more"),
            n => format!("{n} more"),
        };
        let items = waiting
            .into_iter()
            .take(SHOWN)
            .map(|request| QueueItem {
                id: request.id.to_string(),
                user: request.requester.to_string(),
                resource: request.resource.to_string(),
                asked: When::of(request.created_at, now),
                duration: crate::outcome::duration_phrase(request),
                reason: request.reason.clone(),
            })
            .collect();
        Ok(Some(Queue { items, more, dashboard: paths::REVIEW.to_owned() }))
    }
}
