//! Sessions and single-use claims in Redis: `{P}:session:<id>` strings expiring with the
//! session, the user's `{P}:usessions:<user>` index (for "sign out everywhere"), and
//! `{P}:claim:<key>` markers, as laid out in the module docs of the Redis store.

use redis::AsyncCommands;

use super::RedisStore;
use crate::ids::UserId;
use crate::session::{Session, SessionId};
use crate::store::codec::{decode, encode};
use crate::store::{ChangeEvent, StoreError};
use crate::time::Timestamp;

/// Reads a user's session index: the members whose session has ended or expired (or that
/// name no session at all), for pruning, and the latest expiry (ms) among the live ones,
/// `i64::MAX` for one that never expires.
async fn index(
    store: &RedisStore,
    user_sessions: &str,
) -> Result<(Vec<String>, Option<i64>), StoreError> {
    let members: Vec<String> =
        store.conn.clone().smembers(user_sessions).await.map_err(|e| store.unavailable(e))?;
    let (valid, mut ended): (Vec<String>, Vec<String>) =
        members.into_iter().partition(|id| SessionId::parse(id).is_ok());
    if valid.is_empty() {
        return Ok((ended, None));
    }
    let mut pipe = redis::pipe();
    for id in valid.iter().filter_map(|id| SessionId::parse(id).ok()) {
        pipe.cmd("PEXPIRETIME").arg(store.keys.session(&id));
    }
    // -2: no such key (ended, or expired by Redis); -1: no expiry (never written so).
    let expiries: Vec<i64> =
        pipe.query_async(&mut store.conn.clone()).await.map_err(|e| store.unavailable(e))?;
    let mut latest = None;
    for (id, expiry) in valid.into_iter().zip(expiries) {
        match expiry {
            -2 => ended.push(id),
            -1 => latest = Some(i64::MAX),
            at => latest = latest.max(Some(at)),
        }
    }
    Ok((ended, latest))
}

pub(super) async fn create(store: &RedisStore, session: &Session) -> Result<(), StoreError> {
    let key = store.keys.session(&session.id);
    let user_sessions = store.keys.user_sessions(&session.identity.user);
    let expires = session.expires_at.as_millis();
    let (ended, latest) = index(store, &user_sessions).await?;
    let mut pipe = redis::pipe();
    pipe.atomic()
        .set(&key, encode(session))
        .ignore()
        .cmd("PEXPIREAT")
        .arg(&key)
        .arg(expires)
        .ignore()
        .sadd(&user_sessions, session.id.as_str())
        .ignore();
    if !ended.is_empty() {
        pipe.srem(&user_sessions, &ended).ignore();
    }
    // The index lives as long as the longest of its sessions: NX gives a new (or older,
    // never-expiring) index that expiry, GT only ever extends it, so a racing sign-in
    // with a shorter session cannot cut it short.
    let until = latest.map_or(expires, |latest| latest.max(expires));
    if until < i64::MAX {
        for condition in ["NX", "GT"] {
            pipe.cmd("PEXPIREAT").arg(&user_sessions).arg(until).arg(condition).ignore();
        }
    } else {
        pipe.persist(&user_sessions).ignore();
    }
    pipe.query_async::<()>(&mut store.conn.clone()).await.map_err(|e| store.unavailable(e))?;
    store.replicated().await
}

pub(super) async fn get(
    store: &RedisStore,
    id: &SessionId,
    now: Timestamp,
) -> Result<Option<Session>, StoreError> {
    let mut loaded = store.load_json::<Session>(&[store.keys.session(id)], None).await?;
    Ok(loaded.pop().flatten().filter(|session| session.is_valid_at(now)))
}

pub(super) async fn end(store: &RedisStore, id: &SessionId) -> Result<(), StoreError> {
    let key = store.keys.session(id);
    let event = encode(&ChangeEvent::SessionEnded { session: id.clone() });
    // The session names its user, whose index loses it too. One already gone (expired)
    // names nobody; the next sign-in's pruning takes it out of the index.
    let stored: Option<String> =
        store.conn.clone().get(&key).await.map_err(|e| store.unavailable(e))?;
    let user = stored.and_then(|json| decode::<Session>(&key, &json).ok()).map(|s| s.identity.user);
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    if let Some(user) = user {
        pipe.srem(store.keys.user_sessions(&user), id.as_str()).ignore();
    }
    pipe.publish(store.keys.events(), event).ignore();
    pipe.query_async::<()>(&mut store.conn.clone()).await.map_err(|e| store.unavailable(e))?;
    store.replicated().await
}

pub(super) async fn end_all_of(store: &RedisStore, user: &UserId) -> Result<usize, StoreError> {
    let event = encode(&ChangeEvent::SessionsEndedFor { user: user.clone() });
    let ended: usize = store
        .end_sessions_script
        .key(store.keys.user_sessions(user))
        .key(store.keys.events())
        .arg(store.keys.session_prefix())
        .arg(event)
        .invoke_async(&mut store.conn.clone())
        .await
        .map_err(|e| store.unavailable(e))?;
    store.replicated().await?;
    Ok(ended)
}

pub(super) async fn claim_once(
    store: &RedisStore,
    key: &str,
    until: Timestamp,
) -> Result<bool, StoreError> {
    let claimed: Option<String> = redis::cmd("SET")
        .arg(store.keys.claim(key))
        .arg(1)
        .arg("NX")
        .arg("PXAT")
        .arg(until.as_millis())
        .query_async(&mut store.conn.clone())
        .await
        .map_err(|e| store.unavailable(e))?;
    store.replicated().await?;
    Ok(claimed.is_some())
}
