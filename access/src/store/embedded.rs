//! The embedded backend: one SQLite file, for a single jitgate instance.
//!
//! SQLite over a key-value engine because the portal's queries (status tabs, search, filters
//! by user, resource or group, cursor pagination, audit by time range) are indexed SQL here,
//! and every commit is a real transaction on a format any operator can open with `sqlite3`.
//! One connection behind a mutex: writes are serialised anyway, and the proxy's hot path reads
//! its own cache, not this.

mod commit;
mod lists;
mod outbox;
mod people;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use tokio::sync::mpsc;

use super::codec::{decode, encode, parse_request_id};
use super::query::MAX_PAGE;
use super::{
    AuditQuery, ChangeEvent, ChangeFeed, Page, RequestQuery, Store, StoreError, events_of,
};
use crate::api_token::ApiToken;
use crate::audit::AuditEvent;
use crate::ids::{AuditId, RequestId, ResourceName, TokenId, UserId};
use crate::outbox::{Notification, Outcome};
use crate::people::Person;
use crate::request::{AccessRequest, Grant};
use crate::session::{Session, SessionId};
use crate::time::Timestamp;
use crate::transition::Change;

/// 2: `pending_requests`, one pending request per user and resource (an older jitgate would
/// write requests without it, so it must not open a version 2 file).
const SCHEMA_VERSION: i64 = 2;
const FEED_CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    subscribers: Mutex<Vec<mpsc::Sender<ChangeEvent>>>,
}

fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{}: {e}", path.display()))
}

impl EmbeddedStore {
    /// Opens (creating if needed) the database file and its parent directory.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(&path).map_err(sqlite_error(&path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite_error(&path))?;
        // WAL keeps readers from blocking the writer; NORMAL sync is durable across process
        // crashes (the operator error that matters here) at a fraction of FULL's fsync cost.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(sqlite_error(&path))?;
        let version: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite_error(&path))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Unavailable(format!(
                "{} was written by a newer jitgate (schema {version}, this one knows {SCHEMA_VERSION})",
                path.display()
            )));
        }
        conn.execute_batch(include_str!("embedded/schema.sql")).map_err(sqlite_error(&path))?;
        if version < 2 {
            point_at_pending_requests(&conn).map_err(sqlite_error(&path))?;
        }
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(sqlite_error(&path))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                subscribers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `work` on the connection off the async runtime.
    async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.conn);
            work(&mut conn, &inner.path)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }

    fn publish(&self, events: Vec<ChangeEvent>) {
        if events.is_empty() {
            return;
        }
        let mut subscribers = lock(&self.inner.subscribers);
        // A subscriber that cannot keep up loses its feed (its receiver ends), which tells it
        // to stop trusting its cache: better than silently dropping an invalidation.
        subscribers.retain(|tx| events.iter().all(|event| tx.try_send(event.clone()).is_ok()));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Schema 1 to 2: points each (user, resource) at its pending request, the newest where an
/// older jitgate let a double submit open two (both stay pending and reviewable; the older
/// one no longer blocks a new request once the newer one is decided). Replaces what a file
/// taken back to schema 1 and forward again may still hold.
fn point_at_pending_requests(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO pending_requests (requester, resource, request_id, pending_until)
         SELECT requester, resource, id, deadline FROM requests
         WHERE status = 'pending' AND deadline IS NOT NULL ORDER BY id",
        [],
    )?;
    Ok(())
}

/// Runs a query whose rows are `(key, json)` and decodes the JSON.
fn fetch_json<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<T>, StoreError> {
    let err = sqlite_error(path);
    let mut statement = conn.prepare_cached(sql).map_err(&err)?;
    let rows = statement
        .query_map(params_from_iter(params), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(&err)?;
    let mut items = Vec::new();
    for row in rows {
        let (key, json) = row.map_err(&err)?;
        items.push(decode(&key, &json)?);
    }
    Ok(items)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn commit(&self, change: &Change) -> Result<(), StoreError> {
        let owned = change.clone();
        self.with_conn(move |conn, path| commit::commit_in(conn, path, &owned)).await?;
        self.publish(events_of(change));
        Ok(())
    }

    async fn request(&self, id: RequestId) -> Result<Option<AccessRequest>, StoreError> {
        self.with_conn(move |conn, path| {
            let rows = fetch_json(
                conn,
                path,
                "SELECT id, data FROM requests WHERE id = ?1",
                vec![Value::Text(id.to_string())],
            )?;
            Ok(rows.into_iter().next())
        })
        .await
    }

    async fn active_grant(
        &self,
        user: &UserId,
        resource: &ResourceName,
        now: Timestamp,
    ) -> Result<Option<Grant>, StoreError> {
        let (user, resource) = (user.to_string(), resource.to_string());
        self.with_conn(move |conn, path| {
            let rows: Vec<Grant> = fetch_json(
                conn,
                path,
                "SELECT request_id, data FROM active_grants WHERE requester = ?1 AND resource = ?2 AND expires_at > ?3",
                vec![Value::Text(user), Value::Text(resource), Value::Integer(now.as_millis())],
            )?;
            Ok(rows.into_iter().find(|g| g.is_active_at(now)))
        })
        .await
    }

    async fn active_grants_for_user(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Grant>, StoreError> {
        let user = user.to_string();
        self.with_conn(move |conn, path| {
            let rows: Vec<Grant> = fetch_json(
                conn,
                path,
                "SELECT request_id, data FROM active_grants WHERE requester = ?1 AND expires_at > ?2 ORDER BY resource",
                vec![Value::Text(user), Value::Integer(now.as_millis())],
            )?;
            Ok(rows.into_iter().filter(|g| g.is_active_at(now)).collect())
        })
        .await
    }

    async fn list_requests(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<AccessRequest, RequestId>, StoreError> {
        let query = query.clone();
        self.with_conn(move |conn, path| lists::list_requests_in(conn, path, &query)).await
    }

    async fn count_requests(&self, query: &RequestQuery, cap: usize) -> Result<usize, StoreError> {
        let query = query.clone();
        self.with_conn(move |conn, path| lists::count_requests_in(conn, path, &query, cap)).await
    }

    async fn list_audit(
        &self,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent, AuditId>, StoreError> {
        let query = query.clone();
        self.with_conn(move |conn, path| lists::list_audit_in(conn, path, &query)).await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        self.with_conn(move |conn, path| {
            let err = sqlite_error(path);
            let mut statement = conn
                .prepare_cached(
                    "SELECT id FROM requests WHERE deadline <= ?1 ORDER BY deadline LIMIT ?2",
                )
                .map_err(&err)?;
            let ids = statement
                .query_map(params![now.as_millis(), limit as i64], |r| r.get::<_, String>(0))
                .map_err(&err)?;
            let mut due = Vec::new();
            for id in ids {
                due.push(parse_request_id("requests.id", &id.map_err(&err)?)?);
            }
            Ok(due)
        })
        .await
    }

    async fn subscribe(&self) -> Result<ChangeFeed, StoreError> {
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        lock(&self.inner.subscribers).push(tx);
        Ok(rx)
    }

    async fn publish_heartbeat(&self, instance: &str, beat: u64) -> Result<(), StoreError> {
        self.publish(vec![ChangeEvent::Heartbeat { instance: instance.to_owned(), beat }]);
        Ok(())
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let session = session.clone();
        self.with_conn(move |conn, path| {
            let err = sqlite_error(path);
            // Expired sessions are of no use to anyone; clear them out as new ones arrive.
            conn.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1",
                [session.created_at.as_millis()],
            )
            .map_err(&err)?;
            conn.execute(
                "INSERT INTO sessions (id, requester, expires_at, data) VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.id.as_str(),
                    session.identity.user.as_str(),
                    session.expires_at.as_millis(),
                    encode(&session)
                ],
            )
            .map_err(&err)?;
            Ok(())
        })
        .await
    }

    async fn record_person(&self, person: &Person) -> Result<Person, StoreError> {
        let person = person.clone();
        self.with_conn(move |conn, path| people::record(conn, path, &person)).await
    }

    async fn people(&self, limit: usize) -> Result<Vec<Person>, StoreError> {
        self.with_conn(move |conn, path| people::list(conn, path, limit)).await
    }

    async fn save_api_token(&self, token: &ApiToken) -> Result<(), StoreError> {
        let token = token.clone();
        self.with_conn(move |conn, path| tokens::save(conn, path, &token)).await
    }

    async fn api_token(&self, id: TokenId, now: Timestamp) -> Result<Option<ApiToken>, StoreError> {
        self.with_conn(move |conn, path| tokens::get(conn, path, id, now)).await
    }

    async fn api_tokens_of(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiToken>, StoreError> {
        let user = user.clone();
        self.with_conn(move |conn, path| tokens::of_user(conn, path, &user, now)).await
    }

    async fn delete_api_token(&self, id: TokenId) -> Result<Option<ApiToken>, StoreError> {
        let deleted = self.with_conn(move |conn, path| tokens::delete(conn, path, id)).await?;
        if deleted.is_some() {
            self.publish(vec![ChangeEvent::ApiTokenRevoked { id }]);
        }
        Ok(deleted)
    }

    async fn session(&self, id: &SessionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let id = id.as_str().to_owned();
        self.with_conn(move |conn, path| {
            let rows: Vec<Session> = fetch_json(
                conn,
                path,
                "SELECT id, data FROM sessions WHERE id = ?1 AND expires_at > ?2",
                vec![Value::Text(id), Value::Integer(now.as_millis())],
            )?;
            Ok(rows.into_iter().find(|s| s.is_valid_at(now)))
        })
        .await
    }

    async fn end_session(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = id.as_str().to_owned();
        self.with_conn(move |conn, path| {
            conn.execute("DELETE FROM sessions WHERE id = ?1", [key]).map_err(sqlite_error(path))
        })
        .await?;
        self.publish(vec![ChangeEvent::SessionEnded { session: id.clone() }]);
        Ok(())
    }

    async fn end_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        let key = user.as_str().to_owned();
        let ended = self
            .with_conn(move |conn, path| {
                conn.execute("DELETE FROM sessions WHERE requester = ?1", [key])
                    .map_err(sqlite_error(path))
            })
            .await?;
        self.publish(vec![ChangeEvent::SessionsEndedFor { user: user.clone() }]);
        Ok(ended)
    }

    async fn claim_once(
        &self,
        key: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.with_conn(move |conn, path| {
            let err = sqlite_error(path);
            conn.execute("DELETE FROM claims WHERE until <= ?1", [now.as_millis()])
                .map_err(&err)?;
            let inserted = conn
                .execute(
                    "INSERT OR IGNORE INTO claims (key, until) VALUES (?1, ?2)",
                    params![key, until.as_millis()],
                )
                .map_err(&err)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.with_conn(move |conn, path| outbox::claim_in(conn, path, now, lease, limit)).await
    }

    async fn finish_notification(
        &self,
        item: &Notification,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let (item, outcome) = (item.clone(), outcome.clone());
        self.with_conn(move |conn, path| outbox::finish_in(conn, path, &item, &outcome)).await
    }

    async fn failed_notifications(&self, limit: usize) -> Result<Vec<Notification>, StoreError> {
        self.with_conn(move |conn, path| {
            fetch_json(
                conn,
                path,
                &format!(
                    "SELECT id, data FROM outbox WHERE state = 'failed' ORDER BY id DESC LIMIT {}",
                    limit.min(MAX_PAGE)
                ),
                Vec::new(),
            )
        })
        .await
    }

    async fn pending_notifications(&self, cap: usize) -> Result<usize, StoreError> {
        self.with_conn(move |conn, path| {
            let count: i64 = conn
                .query_row(
                    &format!(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE state = 'pending' LIMIT {})",
                        cap.min(i64::MAX as usize)
                    ),
                    [],
                    |row| row.get(0),
                )
                .map_err(sqlite_error(path))?;
            Ok(usize::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|conn, path| {
            conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sqlite_error(path))
        })
        .await
    }
}
