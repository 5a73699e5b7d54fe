//! The audit log page: filter by time, actor, resource or request, page back through history,
//! and download the filtered trail as CSV or JSON (`?format=csv|json`), streamed.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use jitgate_access::ids::AuditId;
use jitgate_access::store::MAX_PAGE;
use serde::Deserialize;

use super::text::When;
use super::{Nav, encode, render};
use crate::api::model::AuditView;
use crate::audit_filter::{AuditFilter, FilterError};
use crate::audit_words::{Wording, short_id, words};
use crate::error::PortalError;
use crate::export::{csv_download, json_download, pages};
use crate::paths;
use crate::state::Portal;
use crate::viewer::Viewer;

/// Events per page on screen.
const PAGE_SIZE: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    #[serde(default)]
    before: String,
    #[serde(default)]
    format: String,
}

pub struct Row {
    pub when: When,
    pub words: Wording,
    /// The request's full id and its short form ("" for session events).
    pub request: String,
    pub short: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    filter: AuditFilter,
    resources: Vec<String>,
    /// Whether the resource list includes "all" (admins).
    any_resource: bool,
    rows: Vec<Row>,
    next: Option<String>,
    /// The filter as a query string, for the download links and the next page.
    params: String,
}

fn params_of(filter: &AuditFilter) -> String {
    [
        ("from", &filter.from),
        ("to", &filter.to),
        ("actor", &filter.actor),
        ("resource", &filter.resource),
        ("request", &filter.request),
    ]
    .iter()
    .filter(|(_, value)| !value.trim().is_empty())
    .map(|(key, value)| format!("{key}={}", encode(value.trim())))
    .collect::<Vec<_>>()
    .join("&")
}

/// `GET /audit`: admins see everything; reviewers the resources they review.
pub async fn page(
    State(portal): State<Portal>,
    viewer: Viewer,
    filter: Result<Query<AuditFilter>, QueryRejection>,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Response, PortalError> {
    let bad = |_| PortalError::BadRequest("the filter is not valid".into());
    let (Query(filter), Query(paging)) = (filter.map_err(bad)?, paging.map_err(bad)?);
    if !viewer.is_reviewer() {
        return Err(PortalError::Forbidden("only admins and reviewers see the audit log".into()));
    }
    let scope = (!viewer.is_admin).then_some(viewer.reviews.as_slice());
    let limit = if paging.format.is_empty() { PAGE_SIZE } else { MAX_PAGE };
    let mut query = filter.query(scope, limit).map_err(|error| match error {
        FilterError::Invalid(message) => PortalError::BadRequest(message),
        FilterError::OutOfScope => PortalError::Forbidden("you do not review that resource".into()),
    })?;
    let store = portal.service.store().clone();
    match paging.format.as_str() {
        "csv" | "json" => {
            let events = pages(move |before: Option<AuditId>| {
                let store = store.clone();
                let query = jitgate_access::store::AuditQuery { before, ..query.clone() };
                async move { store.list_audit(&query).await }
            });
            use futures_util::TryStreamExt;
            let events = events.map_ok(|page| page.iter().map(AuditView::of).collect::<Vec<_>>());
            return Ok(if paging.format == "csv" {
                csv_download(
                    "jitgate-audit.csv",
                    &AuditView::COLUMNS,
                    events.map_ok(|page| {
                        page.iter()
                            .map(|view| view.cells().iter().map(|c| (*c).to_owned()).collect())
                            .collect()
                    }),
                )
            } else {
                json_download("jitgate-audit.json", events)
            });
        }
        "" => {}
        other => return Err(PortalError::BadRequest(format!("{other:?} is not an export format"))),
    }
    if !paging.before.is_empty() {
        query.before = Some(
            paging.before.parse().map_err(|_| PortalError::BadRequest("bad page cursor".into()))?,
        );
    }
    let page = portal.service.store().list_audit(&query).await?;
    let now = portal.clock.now();
    let rows = page
        .items
        .iter()
        .map(|event| {
            let request = event.request_id.map(|id| id.to_string()).unwrap_or_default();
            Row {
                when: When::of(event.at, now),
                words: words(event),
                short: short_id(&request),
                request,
            }
        })
        .collect();
    let params = params_of(&filter);
    let next = page.next.map(|id| paths::audit(format!("{params}&before={id}")));
    let resources = if viewer.is_admin {
        portal.config.resources.iter().map(|r| r.name.to_string()).collect()
    } else {
        viewer.reviews.iter().map(ToString::to_string).collect()
    };
    render(&AuditPage {
        nav: portal.nav(&viewer).await?,
        filter,
        resources,
        any_resource: viewer.is_admin,
        rows,
        next,
        params,
    })
}
