//! The one storage interface, and its two backends: [`embedded`] (SQLite, one node) and
//! [`redis`] (several nodes sharing state).
//!
//! Stores do not decide anything: the state machine in [`crate::transition`] computes a
//! [`Change`] and a store commits it atomically or refuses it with [`StoreError::Conflict`].
//! The conformance suite (`access/tests/`) runs the same tests against both backends.

mod codec;
pub mod embedded;
mod query;
pub use self::redis::RedisStore;
pub use embedded::EmbeddedStore;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;

pub use query::{AuditQuery, MAX_PAGE, Page, RequestQuery};

use crate::api_token::ApiToken;
use crate::audit::AuditEvent;
use crate::ids::{AuditId, RequestId, ResourceName, TokenId, UserId};
use crate::outbox::{Notification, Outcome};
use crate::people::Person;
use crate::request::{AccessRequest, Grant};
use crate::session::{Session, SessionId};
use crate::time::Timestamp;
use crate::transition::Change;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The change was computed from state that has moved on (another reviewer, another
    /// instance). Reload and decide again.
    #[error("the record changed underneath this update; reload and retry")]
    Conflict,
    /// The change opens a request (or auto-approves one) while request `0` of the same user
    /// for the same resource is pending: its pending pointer check failed. Nothing was written.
    #[error("request {0} of this user for this resource is already pending")]
    AlreadyPending(RequestId),
    /// The backend cannot be reached or refused to work. Access decisions fail closed on it.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data that does not decode: a bug or a foreign writer, never user input.
    #[error("corrupt record {key}: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
}

/// What a proxy must hear about to keep its grant cache right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChangeEvent {
    /// The active grant of `user` for `resource` was installed, extended or removed.
    GrantChanged { user: UserId, resource: ResourceName },
    /// A session ended (sign-out or revocation): forget it now.
    SessionEnded { session: SessionId },
    /// Every session of `user` ended ("sign out everywhere").
    SessionsEndedFor { user: UserId },
    /// A personal API token was revoked: proxies that accepted it forget it now, and cut what
    /// it opened.
    ApiTokenRevoked { id: TokenId },
    /// A subscriber's own probe, published through the store and read back from the feed.
    /// Hearing beat `n` proves every change published before `n` was sent has arrived: the
    /// feed is live up to then, not merely connected (see the proxy's cache).
    Heartbeat { instance: String, beat: u64 },
}

/// A live feed of [`ChangeEvent`]s. When the feed is lost (the receiver yields `None`), the
/// subscriber can no longer trust anything it cached and must bypass its cache until it has
/// subscribed again.
pub type ChangeFeed = mpsc::Receiver<ChangeEvent>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies every write of `change` or none of them. Refuses with [`StoreError::Conflict`]
    /// when a request's stored version differs from its `expected_version` (or the request
    /// exists when it was expected not to), or when a `Set` grant pointer's `expected` holder
    /// is not the current one. Refuses with [`StoreError::AlreadyPending`] when its pending
    /// pointer update requires that nothing be pending for the user and resource and a request
    /// is. Audit events are appended in order; grant pointer changes are published to
    /// subscribers after the commit.
    async fn commit(&self, change: &Change) -> Result<(), StoreError>;

    /// The request, or `None` when no request has this id.
    async fn request(&self, id: RequestId) -> Result<Option<AccessRequest>, StoreError>;

    /// The grant in force for `user` on `resource` at `now`, if any. A grant is never
    /// returned at or after its `expires_at`, whatever a background sweeper has done. A
    /// paused grant is returned (it still holds the pointer): whoever decides access must
    /// ask [`Grant::allows_at`].
    async fn active_grant(
        &self,
        user: &UserId,
        resource: &ResourceName,
        now: Timestamp,
    ) -> Result<Option<Grant>, StoreError>;

    /// The grants in force for `user` at `now`, one per resource at most, paused ones
    /// included.
    async fn active_grants_for_user(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Grant>, StoreError>;

    /// Requests matching `query`, newest first, one page at a time.
    async fn list_requests(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<AccessRequest, RequestId>, StoreError>;

    /// How many requests match `query` (its `before` and `limit` ignored), counting no
    /// further than `cap`: tab counts and the reviewer's bell stay cheap however large the
    /// store grows. Filters backed by an index count without loading records.
    async fn count_requests(&self, query: &RequestQuery, cap: usize) -> Result<usize, StoreError>;

    /// Audit events matching `query`, newest first, one page at a time.
    async fn list_audit(&self, query: &AuditQuery)
    -> Result<Page<AuditEvent, AuditId>, StoreError>;

    /// Up to `limit` requests whose pending deadline or grant expiry is at or before `now`,
    /// for the sweeper to record.
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError>;

    /// Subscribes to change events from every instance sharing this store.
    async fn subscribe(&self) -> Result<ChangeFeed, StoreError>;

    /// Publishes [`ChangeEvent::Heartbeat`] to every subscriber, through the same path as
    /// every other change, within the store's response timeout.
    async fn publish_heartbeat(&self, instance: &str, beat: u64) -> Result<(), StoreError>;

    /// Stores a new session.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// Creates or refreshes `person`'s record at a sign-in: everything as given, except that
    /// an earlier `first_seen` is kept. The record as stored.
    async fn record_person(&self, person: &Person) -> Result<Person, StoreError>;

    /// Everyone who has signed in, by email, at most `limit` of them.
    async fn people(&self, limit: usize) -> Result<Vec<Person>, StoreError>;

    /// Stores a new personal API token (its digest, never its secret).
    async fn save_api_token(&self, token: &ApiToken) -> Result<(), StoreError>;

    /// The token with this id, unless it expired (at `now`) or was deleted.
    async fn api_token(&self, id: TokenId, now: Timestamp) -> Result<Option<ApiToken>, StoreError>;

    /// `user`'s tokens still valid at `now`, oldest first.
    async fn api_tokens_of(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiToken>, StoreError>;

    /// Deletes the token; the token it was, if there was one.
    async fn delete_api_token(&self, id: TokenId) -> Result<Option<ApiToken>, StoreError>;

    /// The session, or `None` when it is unknown, ended, or expired at `now`.
    async fn session(&self, id: &SessionId, now: Timestamp) -> Result<Option<Session>, StoreError>;

    /// Ends one session and tells subscribers. Ending an unknown session is not an error.
    async fn end_session(&self, id: &SessionId) -> Result<(), StoreError>;

    /// Ends every session of `user` and tells subscribers; returns how many there were.
    async fn end_sessions_of(&self, user: &UserId) -> Result<usize, StoreError>;

    /// Claims `key` until `until`: `true` the first time, `false` while an earlier claim
    /// holds. What makes handoff tokens single-use across every instance.
    async fn claim_once(
        &self,
        key: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Takes up to `limit` pending notifications due at `now`, oldest due first, and leases
    /// them until `now + lease`: until then no other claim returns them, on any instance. A
    /// worker that dies mid-delivery costs a lease's delay, never the notification.
    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Records the outcome of one attempt at delivering `item` (as claimed): delivered items
    /// leave the outbox; given-up items stay as failed and their audit event is appended.
    async fn finish_notification(
        &self,
        item: &Notification,
        outcome: &Outcome,
    ) -> Result<(), StoreError>;

    /// Notifications that were given up on, newest first.
    async fn failed_notifications(&self, limit: usize) -> Result<Vec<Notification>, StoreError>;

    /// Notifications waiting for delivery (the queue depth), counting no further than `cap`.
    async fn pending_notifications(&self, cap: usize) -> Result<usize, StoreError>;

    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The events a committed change must publish.
pub(crate) fn events_of(change: &Change) -> Vec<ChangeEvent> {
    use crate::transition::GrantPointerUpdate;
    match &change.grant_pointer {
        Some(GrantPointerUpdate::Set { grant, .. }) => vec![ChangeEvent::GrantChanged {
            user: grant.user.clone(),
            resource: grant.resource.clone(),
        }],
        Some(GrantPointerUpdate::ClearIf { user, resource, .. }) => {
            vec![ChangeEvent::GrantChanged { user: user.clone(), resource: resource.clone() }]
        }
        None => Vec::new(),
    }
}
