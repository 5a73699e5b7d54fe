//! The proxy's view of grants and sessions, kept off the store on the hot path.
//!
//! Entries (including "no grant") live until a change event says otherwise; every grant entry
//! carries its `expires_at`, which is compared with the clock on every request, so expiry never
//! waits for an event. While the change feed is down nothing is cached and every request asks
//! the store, which fails closed when the store is down too. Ended sessions and grants are
//! pruned every minute, so the maps hold what is live, not everyone ever seen.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use jitgate_access::clock::Clock;
use jitgate_access::ids::{ResourceName, UserId};
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{ChangeEvent, Store, StoreError};
use jitgate_access::time::Timestamp;
use tokio::sync::broadcast;

use crate::metrics::Metrics;

const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

pub struct AccessCache {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    /// User → resource → the grant's expiry, or `None` for "no grant". Nested so a lookup
    /// borrows its keys instead of allocating them.
    grants: RwLock<HashMap<UserId, HashMap<ResourceName, Option<Timestamp>>>>,
    /// Shared, not cloned, per request: a session may carry hundreds of groups.
    sessions: RwLock<HashMap<SessionId, Arc<Session>>>,
    /// The change feed is connected: cached entries can be trusted.
    live: AtomicBool,
    /// Bumped on every invalidation, so a lookup that raced an event does not cache stale data.
    generation: AtomicU64,
    /// Changes as they arrive, for the leases of open connections.
    changes: broadcast::Sender<LeaseEvent>,
}

/// What an open connection's lease is woken by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseEvent {
    GrantChanged {
        user: UserId,
        resource: ResourceName,
    },
    SessionEnded(SessionId),
    SessionsEndedFor(UserId),
    /// The change feed dropped or came back: events may have been missed, so every lease
    /// looks again at once.
    Resync,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AccessCache {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            metrics,
            grants: RwLock::default(),
            sessions: RwLock::default(),
            live: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            changes: broadcast::channel(1024).0,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn count(&self, kind: &str, hit: bool) {
        self.metrics.cache.with_label_values(&[kind, if hit { "hit" } else { "miss" }]).inc();
    }

    /// Every change from now on. A lagging receiver must re-check what it cares about.
    pub fn changes(&self) -> broadcast::Receiver<LeaseEvent> {
        self.changes.subscribe()
    }

    /// Tells open connections; nobody listening is fine (no connection is open).
    fn announce(&self, event: LeaseEvent) {
        let _ = self.changes.send(event);
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// The grant in force for `user` on `resource` at `now`.
    /// When the grant in force for `user` on `resource` at `now` expires, if there is one.
    pub async fn grant_expiry(
        &self,
        user: &UserId,
        resource: &ResourceName,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        if self.is_live()
            && let Some(entry) =
                read(&self.grants).get(user).and_then(|by_resource| by_resource.get(resource))
        {
            self.count("grant", true);
            return Ok(entry.filter(|expires_at| now < *expires_at));
        }
        self.count("grant", false);
        let _timer = self.metrics.store_seconds.start_timer();
        let generation = self.generation.load(Ordering::Acquire);
        let fetched =
            self.store.active_grant(user, resource, now).await?.map(|grant| grant.expires_at);
        if self.is_live() && self.generation.load(Ordering::Acquire) == generation {
            write(&self.grants).entry(user.clone()).or_default().insert(resource.clone(), fetched);
        }
        Ok(fetched)
    }

    /// The session, if it exists and is valid at `now`. When the store cannot be reached, a
    /// session seen earlier is still recognised: identity is not access, and standing-access
    /// resources keep working through a store outage. Grants get no such leniency.
    pub async fn session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let cached = read(&self.sessions).get(id).cloned();
        if self.is_live()
            && let Some(session) = &cached
        {
            self.count("session", true);
            return Ok(session.is_valid_at(now).then(|| session.clone()));
        }
        self.count("session", false);
        let _timer = self.metrics.store_seconds.start_timer();
        let generation = self.generation.load(Ordering::Acquire);
        match self.store.session(id, now).await {
            Ok(Some(session)) => {
                let session = Arc::new(session);
                if self.generation.load(Ordering::Acquire) == generation {
                    write(&self.sessions).insert(id.clone(), session.clone());
                }
                Ok(Some(session))
            }
            Ok(None) => {
                write(&self.sessions).remove(id);
                Ok(None)
            }
            Err(StoreError::Unavailable(_)) if cached.is_some() => {
                Ok(cached.filter(|s| s.is_valid_at(now)))
            }
            Err(error) => Err(error),
        }
    }

    pub fn apply(&self, event: &ChangeEvent) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match event {
            ChangeEvent::GrantChanged { user, resource } => {
                if let Some(by_resource) = write(&self.grants).get_mut(user) {
                    by_resource.remove(resource);
                }
                self.announce(LeaseEvent::GrantChanged {
                    user: user.clone(),
                    resource: resource.clone(),
                });
            }
            ChangeEvent::SessionEnded { session } => {
                write(&self.sessions).remove(session);
                self.announce(LeaseEvent::SessionEnded(session.clone()));
            }
            ChangeEvent::SessionsEndedFor { user } => {
                write(&self.sessions).retain(|_, s| &s.identity.user != user);
                self.announce(LeaseEvent::SessionsEndedFor(user.clone()));
            }
        }
    }

    fn feed_lost(&self) {
        self.metrics.change_feed_up.set(0);
        self.live.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        write(&self.grants).clear();
        self.announce(LeaseEvent::Resync);
    }

    fn feed_restored(&self) {
        // Anything cached before the feed (re)started may have missed events.
        self.generation.fetch_add(1, Ordering::AcqRel);
        write(&self.grants).clear();
        write(&self.sessions).clear();
        self.live.store(true, Ordering::Release);
        self.metrics.change_feed_up.set(1);
        self.announce(LeaseEvent::Resync);
    }

    /// Drops sessions and grants that have ended by `now`. Correctness never depends on it
    /// (every lookup compares expiry with the clock); memory does.
    pub fn prune(&self, now: Timestamp) {
        write(&self.sessions).retain(|_, session| session.is_valid_at(now));
        write(&self.grants).retain(|_, by_resource| {
            by_resource.retain(|_, expires_at| expires_at.is_none_or(|at| now < at));
            !by_resource.is_empty()
        });
    }

    /// How many sessions and users with grant entries are held.
    pub fn entries(&self) -> (usize, usize) {
        (read(&self.sessions).len(), read(&self.grants).len())
    }

    /// Prunes every minute for as long as the process runs.
    pub async fn prune_forever(self: Arc<Self>, clock: Arc<dyn Clock>) {
        loop {
            tokio::time::sleep(PRUNE_INTERVAL).await;
            self.prune(clock.now());
        }
    }

    /// Follows the store's change feed for as long as the process runs, resubscribing with
    /// backoff whenever it is lost.
    pub async fn follow_changes(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.subscribe().await {
                Ok(mut feed) => {
                    self.feed_restored();
                    backoff = Duration::from_millis(100);
                    tracing::info!("following store changes; grant cache enabled");
                    while let Some(event) = feed.recv().await {
                        self.apply(&event);
                    }
                    self.feed_lost();
                    tracing::warn!("store change feed lost; grant cache bypassed until it is back");
                }
                Err(error) => tracing::warn!(%error, "cannot subscribe to store changes"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jitgate_access::clock::{Clock, SystemClock};
    use jitgate_access::policy::Identity;
    use jitgate_access::session::{Session, SessionId};
    use jitgate_access::store::{EmbeddedStore, Store};

    use super::*;

    #[tokio::test]
    async fn prune_drops_what_has_ended_and_keeps_what_is_live() {
        let dir = std::env::temp_dir().join(format!("jitgate-cache-test-{}", std::process::id()));
        let path = dir.join("store.db");
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path).unwrap());
        let cache = Arc::new(AccessCache::new(store.clone(), Arc::new(Metrics::new())));
        tokio::spawn(cache.clone().follow_changes());
        let following = async {
            while !cache.is_live() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), following).await.expect("the feed starts");
        let now = SystemClock.now();
        let session = |email: &str, lasts: u64| Session {
            id: SessionId::random(),
            identity: Identity::new(email.parse().unwrap(), []),
            created_at: now,
            expires_at: now.plus(Duration::from_secs(lasts)),
        };
        let (short, long) = (session("a@example.com", 60), session("b@example.com", 3600));
        for session in [&short, &long] {
            store.create_session(session).await.unwrap();
            assert!(cache.session(&session.id, now).await.unwrap().is_some());
        }
        let app: ResourceName = "app".parse().unwrap();
        for user in ["a@example.com", "b@example.com"] {
            let none = cache.grant_expiry(&user.parse().unwrap(), &app, now).await.unwrap();
            assert_eq!(none, None);
        }
        {
            // A grant entry that ends in two minutes, as a lookup would have cached it.
            let mut grants = write(&cache.grants);
            let a = grants.get_mut(&"a@example.com".parse::<UserId>().unwrap()).unwrap();
            a.insert(app.clone(), Some(now.plus(Duration::from_secs(120))));
        }
        assert_eq!(cache.entries(), (2, 2));

        cache.prune(now.plus(Duration::from_secs(90)));
        assert_eq!(cache.entries(), (1, 2), "the ended session goes; grants and 'no grant' stay");
        cache.prune(now.plus(Duration::from_secs(121)));
        assert_eq!(cache.entries(), (1, 1), "the ended grant goes, and its user with it");
        let b = "b@example.com".parse().unwrap();
        assert_eq!(read(&cache.grants)[&b].get(&app), Some(&None), "'no grant' is kept");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
