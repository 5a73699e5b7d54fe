//! Listing and counting requests and audit events in Redis: walks over the lexically
//! ordered index sets, newest first, a batch at a time.

use super::{RESPONSE_TIMEOUT, RedisStore, WALK_BATCH};
use crate::audit::AuditEvent;
use crate::ids::{AuditId, RequestId};
use crate::request::AccessRequest;
use crate::store::query::page_size;
use crate::store::{AuditQuery, Page, RequestQuery, StoreError};

/// Walks the union of lexically ordered index sets from newest to oldest, below `upper`
/// (exclusive) and down to `lower` (inclusive), loading and filtering records a batch at a
/// time until `want` match. Never loads a whole index.
async fn walk<T, L, Fut>(
    store: &RedisStore,
    index_keys: &[String],
    mut upper: Option<String>,
    lower: Option<String>,
    want: usize,
    load: L,
    keep: impl Fn(&T) -> bool,
) -> Result<Vec<T>, StoreError>
where
    L: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<Option<T>>, StoreError>>,
{
    let mut found = Vec::new();
    let min = lower.map(|l| format!("[{l}")).unwrap_or_else(|| "-".into());
    loop {
        let max = upper.as_ref().map(|u| format!("({u}")).unwrap_or_else(|| "+".into());
        let mut batch: Vec<String> = Vec::new();
        for key in index_keys {
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(&max)
                .arg(&min)
                .arg("BYLEX")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(WALK_BATCH)
                .query_async(&mut store.conn.clone())
                .await
                .map_err(|e| store.unavailable(e))?;
            batch.extend(ids);
        }
        // The newest WALK_BATCH of the union are exactly right: any id among them is
        // within the newest WALK_BATCH of its own set.
        batch.sort_unstable_by(|a, b| b.cmp(a));
        batch.dedup();
        batch.truncate(WALK_BATCH);
        let Some(last) = batch.last().cloned() else { return Ok(found) };
        for record in load(batch).await?.into_iter().flatten() {
            if keep(&record) {
                found.push(record);
                if found.len() == want {
                    return Ok(found);
                }
            }
        }
        upper = Some(last);
    }
}

/// Up to `want` requests matching `query` below its cursor, newest first, walking the
/// narrowest index the query allows and filtering the rest in memory.
async fn matching(
    store: &RedisStore,
    query: &RequestQuery,
    want: usize,
) -> Result<Vec<AccessRequest>, StoreError> {
    let index_keys: Vec<String> = if let Some(user) = &query.requester {
        vec![store.keys.by_user(user)]
    } else if let Some(group) = &query.group {
        vec![store.keys.by_group(group)]
    } else if !query.resources.is_empty() {
        query.resources.iter().map(|r| store.keys.by_resource(r)).collect()
    } else if !query.statuses.is_empty() {
        query.statuses.iter().map(|s| store.keys.by_status(*s)).collect()
    } else {
        vec![store.keys.all_requests()]
    };
    let needle =
        query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let keep = |request: &AccessRequest| {
        (query.statuses.is_empty() || query.statuses.contains(&request.recorded_status()))
            && query.requester.as_ref().is_none_or(|u| &request.requester == u)
            && (query.resources.is_empty() || query.resources.contains(&request.resource))
            && query.group.as_ref().is_none_or(|g| request.requester_groups.contains(g))
            && needle.as_deref().is_none_or(|n| request.matches_search(n))
    };
    let load = |ids: Vec<String>| async move {
        let keys: Vec<String> =
            ids.iter().filter_map(|id| id.parse().ok()).map(|id| store.keys.request(id)).collect();
        store.load_json::<AccessRequest>(&keys, Some("d")).await
    };
    let upper = query.before.map(|id| id.to_string());
    walk(store, &index_keys, upper, None, want, load, keep).await
}

pub(super) async fn requests(
    store: &RedisStore,
    query: &RequestQuery,
) -> Result<Page<AccessRequest, RequestId>, StoreError> {
    let size = page_size(query.limit);
    let rows = matching(store, query, size + 1).await?;
    Ok(Page::from_rows(rows, size, |r| r.id))
}

pub(super) async fn count_requests(
    store: &RedisStore,
    query: &RequestQuery,
    cap: usize,
) -> Result<usize, StoreError> {
    if cap == 0 {
        return Ok(0);
    }
    let needs_records = query.requester.is_some()
        || query.group.is_some()
        || query.search.as_deref().is_some_and(|s| !s.trim().is_empty());
    if needs_records {
        let all = RequestQuery { before: None, ..query.clone() };
        return Ok(matching(store, &all, cap).await?.len());
    }
    // Status sets are disjoint (a request sits in exactly one), so per-status counts add
    // up; with resources too, each pair is one ZINTERCARD.
    let status_keys: Vec<String> = if query.statuses.is_empty() {
        vec![store.keys.all_requests()]
    } else {
        query.statuses.iter().map(|s| store.keys.by_status(*s)).collect()
    };
    let mut pipe = redis::pipe();
    for status_key in &status_keys {
        if query.resources.is_empty() {
            pipe.zcard(status_key);
        } else {
            for resource in &query.resources {
                pipe.cmd("ZINTERCARD")
                    .arg(2)
                    .arg(status_key)
                    .arg(store.keys.by_resource(resource))
                    .arg("LIMIT")
                    .arg(cap.min(i64::MAX as usize));
            }
        }
    }
    let counts: Vec<usize> = store
        .bounded(RESPONSE_TIMEOUT, "counting requests", pipe.query_async(&mut store.conn.clone()))
        .await?;
    Ok(counts.into_iter().sum::<usize>().min(cap))
}

pub(super) async fn audit(
    store: &RedisStore,
    query: &AuditQuery,
) -> Result<Page<AuditEvent, AuditId>, StoreError> {
    let size = page_size(query.limit);
    let index_key = if let Some(id) = query.request_id {
        store.keys.audit_by_request(id)
    } else if let Some(actor) = &query.actor {
        store.keys.audit_by_actor(actor)
    } else if let Some(resource) = &query.resource {
        store.keys.audit_by_resource(resource)
    } else {
        store.keys.all_audit()
    };
    let keep = |event: &AuditEvent| {
        query.actor.as_deref().is_none_or(|a| event.actor.key() == a)
            && query.resource.as_ref().is_none_or(|r| event.resource.as_ref() == Some(r))
            && query.request_id.is_none_or(|id| event.request_id == Some(id))
    };
    let load = |ids: Vec<String>| async move {
        let keys: Vec<String> =
            ids.iter().filter_map(|id| id.parse().ok()).map(|id| store.keys.audit(id)).collect();
        store.load_json::<AuditEvent>(&keys, None).await
    };
    let upper = match (query.before, query.to.map(AuditId::min_at)) {
        (Some(before), Some(to)) => Some(before.min(to)),
        (before, to) => before.or(to),
    };
    let lower = query.from.map(|from| AuditId::min_at(from).to_string());
    let rows =
        walk(store, &[index_key], upper.map(|id| id.to_string()), lower, size + 1, load, keep)
            .await?;
    Ok(Page::from_rows(rows, size, |e| e.id))
}
