//! Listing and counting requests and audit events in the embedded store: the portal's
//! filters as one indexed SQL query each, with cursor pagination.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::{fetch_json, sqlite_error};
use crate::audit::AuditEvent;
use crate::ids::{AuditId, RequestId};
use crate::request::AccessRequest;
use crate::store::query::page_size;
use crate::store::{AuditQuery, Page, RequestQuery, StoreError};

/// A WHERE clause under construction with its positional parameters; clauses mark each
/// parameter with `{?}`, numbered as they are pushed.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    fn push(&mut self, clause: &str, values: impl IntoIterator<Item = Value>) {
        let mut clause = clause.to_owned();
        for value in values {
            self.params.push(value);
            clause = clause.replacen("{?}", &format!("?{}", self.params.len()), 1);
        }
        self.clauses.push(clause);
    }

    fn push_in(&mut self, column: &str, values: Vec<String>) {
        let marks = vec!["{?}"; values.len()].join(", ");
        self.push(&format!("{column} IN ({marks})"), values.into_iter().map(Value::Text));
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// Every filter of `query` except its cursor.
fn request_filter(query: &RequestQuery) -> Filter {
    let mut filter = Filter::default();
    if !query.statuses.is_empty() {
        filter.push_in("status", query.statuses.iter().map(|s| s.as_str().to_owned()).collect());
    }
    if let Some(requester) = &query.requester {
        filter.push("requester = {?}", [Value::Text(requester.to_string())]);
    }
    if !query.resources.is_empty() {
        filter.push_in("resource", query.resources.iter().map(ToString::to_string).collect());
    }
    if let Some(group) = &query.group {
        filter.push(
            "id IN (SELECT request_id FROM request_groups WHERE group_name = {?})",
            [Value::Text(group.to_string())],
        );
    }
    if let Some(needle) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let needle = Value::Text(needle.to_lowercase());
        filter.push(
            "(instr(requester, {?}) > 0 OR instr(resource, {?}) > 0 OR instr(lower(reason), {?}) > 0)",
            [needle.clone(), needle.clone(), needle],
        );
    }
    filter
}

pub(super) fn list_requests_in(
    conn: &Connection,
    path: &Path,
    query: &RequestQuery,
) -> Result<Page<AccessRequest, RequestId>, StoreError> {
    let size = page_size(query.limit);
    let mut filter = request_filter(query);
    if let Some(before) = query.before {
        filter.push("id < {?}", [Value::Text(before.to_string())]);
    }
    let sql = format!(
        "SELECT id, data FROM requests {} ORDER BY id DESC LIMIT {}",
        filter.sql(),
        size + 1
    );
    let rows = fetch_json(conn, path, &sql, filter.params)?;
    Ok(Page::from_rows(rows, size, |r: &AccessRequest| r.id))
}

pub(super) fn count_requests_in(
    conn: &Connection,
    path: &Path,
    query: &RequestQuery,
    cap: usize,
) -> Result<usize, StoreError> {
    let filter = request_filter(query);
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM requests {} LIMIT {})",
        filter.sql(),
        cap.min(i64::MAX as usize)
    );
    let err = sqlite_error(path);
    let mut statement = conn.prepare_cached(&sql).map_err(&err)?;
    let count: i64 =
        statement.query_row(params_from_iter(filter.params), |row| row.get(0)).map_err(&err)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

pub(super) fn list_audit_in(
    conn: &Connection,
    path: &Path,
    query: &AuditQuery,
) -> Result<Page<AuditEvent, AuditId>, StoreError> {
    let size = page_size(query.limit);
    let mut filter = Filter::default();
    if let Some(from) = query.from {
        filter.push("id >= {?}", [Value::Text(AuditId::min_at(from).to_string())]);
    }
    if let Some(to) = query.to {
        filter.push("id < {?}", [Value::Text(AuditId::min_at(to).to_string())]);
    }
    if let Some(actor) = &query.actor {
        filter.push("actor = {?}", [Value::Text(actor.clone())]);
    }
    if let Some(resource) = &query.resource {
        filter.push("resource = {?}", [Value::Text(resource.to_string())]);
    }
    if let Some(request_id) = query.request_id {
        filter.push("request_id = {?}", [Value::Text(request_id.to_string())]);
    }
    if let Some(before) = query.before {
        filter.push("id < {?}", [Value::Text(before.to_string())]);
    }
    let sql =
        format!("SELECT id, data FROM audit {} ORDER BY id DESC LIMIT {}", filter.sql(), size + 1);
    let rows = fetch_json(conn, path, &sql, filter.params)?;
    Ok(Page::from_rows(rows, size, |e: &AuditEvent| e.id))
}
