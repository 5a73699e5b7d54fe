//! Outbox queries in Redis: claiming due notifications (`redis/claim.lua`), the failed ones
//! and the pending count. Finishing one is a commit plan (`plan::finish`).

use std::time::Duration;

use redis::AsyncCommands;

use super::RedisStore;
use crate::outbox::Notification;
use crate::store::StoreError;
use crate::store::query::MAX_PAGE;
use crate::time::Timestamp;

/// The outbox items with these ids; ids whose item is gone (delivered meanwhile) are
/// skipped.
async fn notifications(
    store: &RedisStore,
    ids: &[String],
) -> Result<Vec<Notification>, StoreError> {
    let keys: Vec<String> =
        ids.iter().filter_map(|id| id.parse().ok()).map(|id| store.keys.notification(id)).collect();
    Ok(store.load_json::<Notification>(&keys, None).await?.into_iter().flatten().collect())
}

pub(super) async fn claim(
    store: &RedisStore,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let ids: Vec<String> = store
        .claim_script
        .key(store.keys.outbox_due())
        .arg(now.as_millis())
        .arg(now.plus(lease).as_millis())
        .arg(limit.min(MAX_PAGE))
        .invoke_async(&mut store.conn.clone())
        .await
        .map_err(|e| store.unavailable(e))?;
    notifications(store, &ids).await
}

pub(super) async fn failed(
    store: &RedisStore,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg(store.keys.outbox_failed())
        .arg("+")
        .arg("-")
        .arg("BYLEX")
        .arg("REV")
        .arg("LIMIT")
        .arg(0)
        .arg(limit.min(MAX_PAGE))
        .query_async(&mut store.conn.clone())
        .await
        .map_err(|e| store.unavailable(e))?;
    notifications(store, &ids).await
}

pub(super) async fn pending_count(store: &RedisStore, cap: usize) -> Result<usize, StoreError> {
    let count: usize = store
        .conn
        .clone()
        .zcard(store.keys.outbox_due())
        .await
        .map_err(|e| store.unavailable(e))?;
    Ok(count.min(cap))
}
