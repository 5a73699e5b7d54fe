//! The proxy's view of grants and sessions, kept off the store on the hot path.
//!
//! Entries (including "no grant") live until a change event says otherwise; every grant entry
//! carries its `expires_at`, which is compared with the clock on every request, so expiry never
//! waits for an event. Ended sessions and grants are pruned every minute, so the maps hold what
//! is live, not everyone ever seen.
//!
//! **Trust.** A feed that looks connected proves nothing: a frozen or partitioned Redis keeps
//! the subscriber's socket open while revocations go unheard. So the cache publishes its own
//! heartbeat through the store every [`HEARTBEAT_EVERY`] and reads it back from the feed;
//! hearing beat *n* proves every change published before *n* was sent has been applied. The
//! cache is trusted for [`TRUST_BOUND`] after the sending of the newest beat it heard. Past
//! that, every decision asks the store, which fails closed (503) when it does not answer within
//! its timeout, and every open connection's lease looks again at once.
//!
//! **Races.** A lookup that loaded from the store must not cache what an event invalidated
//! meanwhile. Each map has a generation, bumped under the map's write lock by every
//! invalidation; a lookup compares it under the same write lock before it inserts, so "load,
//! then event, then insert" cannot leave a stale entry behind (see the tests).

mod by_resource;

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jitgate_access::api_token::ApiToken;
use jitgate_access::clock::Clock;
use jitgate_access::ids::{ResourceName, TokenId, UserId};
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{ChangeEvent, Store, StoreError};
use jitgate_access::time::Timestamp;
use tokio::sync::broadcast;

use crate::claim::FirstUse;
use crate::metrics::{Lookup, Metrics};
use by_resource::ByResource;

const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// How often the cache probes its feed.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// How long after sending the newest beat it heard back the cache is trusted: the longest a
/// revocation can go unheard before this proxy stops using what it cached.
pub const TRUST_BOUND: Duration = Duration::from_secs(2);
/// How often the cache compares its trust with the clock, to tell open connections at once.
const TRUST_CHECK_EVERY: Duration = Duration::from_millis(100);

/// A map with the generation of its last invalidation, both under one lock.
struct Versioned<T> {
    map: T,
    generation: u64,
}

impl<T: Default> Default for Versioned<T> {
    fn default() -> Self {
        Self { map: T::default(), generation: 0 }
    }
}

type GrantMap = HashMap<UserId, ByResource>;

/// A cached session, found by its own id: the map holds the id once, inside the session,
/// instead of a second copy as the key.
struct Keyed(Arc<Session>);

impl Borrow<str> for Keyed {
    fn borrow(&self) -> &str {
        self.0.id.as_str()
    }
}

impl Hash for Keyed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.as_str().hash(state);
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Keyed {}

pub struct AccessCache {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    /// User → resource → the grant's expiry, or `None` for "no grant". Nested so a lookup
    /// borrows its keys instead of allocating them.
    grants: RwLock<Versioned<GrantMap>>,
    /// Shared, not cloned, per request: a session may carry hundreds of groups.
    sessions: RwLock<Versioned<HashSet<Keyed>>>,
    /// Personal API tokens presented as bearer tokens, by id (the secret is checked against
    /// the stored digest on every use). Like sessions: identity, not access.
    tokens: RwLock<Versioned<HashMap<TokenId, Arc<ApiToken>>>>,
    /// The change feed is connected (necessary for trust, not sufficient).
    connected: AtomicBool,
    /// Names this process's heartbeats among every instance's.
    instance: String,
    /// Monotonic time base for `trusted_until_ms`.
    epoch: Instant,
    /// Milliseconds after `epoch` until which cached entries may be used.
    trusted_until_ms: AtomicU64,
    /// Beats sent and not yet heard, with when they were sent.
    beats: Mutex<VecDeque<(u64, Instant)>>,
    next_beat: AtomicU64,
    /// Changes as they arrive, for the leases of open connections.
    changes: broadcast::Sender<LeaseEvent>,
    /// Claims grants that start on first use, on the miss that finds one unclaimed.
    first_use: FirstUse,
    /// Runs between a lookup's load and its insert: where the tests put a racing event.
    #[cfg(test)]
    after_load: Mutex<Option<Box<dyn FnOnce() + Send>>>,
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
    ApiTokenRevoked(TokenId),
    /// Trust in the cache was lost or regained: events may have been missed, so every lease
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
        let first_use = FirstUse::new(store.clone());
        Self {
            store,
            metrics,
            grants: RwLock::default(),
            sessions: RwLock::default(),
            tokens: RwLock::default(),
            connected: AtomicBool::new(false),
            instance: SessionId::random().as_str().to_owned(),
            epoch: Instant::now(),
            trusted_until_ms: AtomicU64::new(0),
            beats: Mutex::default(),
            next_beat: AtomicU64::new(0),
            changes: broadcast::channel(1024).0,
            first_use,
            #[cfg(test)]
            after_load: Mutex::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Who claims grants waiting for first use (see [`FirstUse::announce_with`]).
    pub fn first_use(&self) -> &FirstUse {
        &self.first_use
    }

    fn count(&self, kind: Lookup, hit: bool) {
        self.metrics.lookup(kind, hit).inc();
    }

    /// Every change from now on. A lagging receiver must re-check what it cares about.
    pub fn changes(&self) -> broadcast::Receiver<LeaseEvent> {
        self.changes.subscribe()
    }

    /// Tells open connections; nobody listening is fine (no connection is open).
    fn announce(&self, event: LeaseEvent) {
        let _ = self.changes.send(event);
    }

    fn millis_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether cached entries may be used now: the feed is connected and was heard live
    /// within [`TRUST_BOUND`].
    pub fn is_live(&self) -> bool {
        self.connected.load(Ordering::Acquire)
            && self.millis_since_epoch(Instant::now())
                < self.trusted_until_ms.load(Ordering::Acquire)
    }

    /// What the cache alone knows of the grant's expiry, without asking the store: the
    /// synchronous path's check (a response's chunks) that a deadline has moved, after an
    /// extension. `None` when nothing later is known or the cache is not trusted.
    pub fn cached_grant_expiry(
        &self,
        user: &UserId,
        resource: &ResourceName,
        now: Timestamp,
    ) -> Option<Timestamp> {
        if !self.is_live() {
            return None;
        }
        let grants = read(&self.grants);
        let expiry = (*grants.map.get(user)?.get(resource)?)?;
        (now < expiry).then_some(expiry)
    }

    /// When the grant in force for `user` on `resource` at `now` expires, if there is one.
    pub async fn grant_expiry(
        &self,
        user: &UserId,
        resource: &ResourceName,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        if self.is_live()
            && let Some(entry) =
                read(&self.grants).map.get(user).and_then(|by_resource| by_resource.get(resource))
        {
            self.count(Lookup::Grant, true);
            return Ok(entry.filter(|expires_at| now < *expires_at));
        }
        self.count(Lookup::Grant, false);
        let _timer = self.metrics.store_seconds.start_timer();
        let generation = read(&self.grants).generation;
        let mut fetched = self.store.active_grant(user, resource, now).await?;
        // Waiting for first use: this request is it. Only a claimed grant gets cached, so
        // a hit never meets an unclaimed one and the hit path pays nothing for claims.
        if let Some(grant) = fetched.as_ref().filter(|g| g.awaits_claim() && g.allows_at(now)) {
            fetched = self.first_use.claim(grant).await?;
        }
        // A paused grant is active but lets nobody in: to the proxy it is no grant at all.
        // Neither is a scheduled one before its start, but that "none" is not cached: the
        // clock opens it at its start, and no change event comes then to drop the entry.
        let opens_later = fetched.as_ref().is_some_and(|grant| grant.is_scheduled_at(now));
        let fetched = fetched.filter(|grant| grant.allows_at(now)).map(|grant| grant.expires_at);
        #[cfg(test)]
        if let Some(hook) = self.after_load.lock().unwrap_or_else(|p| p.into_inner()).take() {
            hook();
        }
        let mut grants = write(&self.grants);
        if grants.generation == generation && self.is_live() && !opens_later {
            grants.map.entry(user.clone()).or_default().insert(resource.clone(), fetched);
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
        let (cached, generation) = {
            let sessions = read(&self.sessions);
            (sessions.map.get(id.as_str()).map(|keyed| keyed.0.clone()), sessions.generation)
        };
        if self.is_live()
            && let Some(session) = &cached
        {
            self.count(Lookup::Session, true);
            return Ok(session.is_valid_at(now).then(|| session.clone()));
        }
        self.count(Lookup::Session, false);
        let _timer = self.metrics.store_seconds.start_timer();
        match self.store.session(id, now).await {
            Ok(Some(session)) => {
                let session = Arc::new(session);
                let mut sessions = write(&self.sessions);
                if sessions.generation == generation && session.id == *id {
                    sessions.map.replace(Keyed(session.clone()));
                }
                Ok(Some(session))
            }
            Ok(None) => {
                write(&self.sessions).map.remove(id.as_str());
                Ok(None)
            }
            Err(StoreError::Unavailable(_)) if cached.is_some() => {
                Ok(cached.filter(|s| s.is_valid_at(now)))
            }
            Err(error) => Err(error),
        }
    }

    /// The API token `id`, if it exists and has not expired at `now`; the caller checks the
    /// secret. Like [`AccessCache::session`], a token seen earlier is still recognised when
    /// the store cannot be reached (identity is not access: grants still fail closed), until
    /// its own expiry; a revocation heard on the feed removes it at once.
    pub async fn api_token(
        &self,
        id: TokenId,
        now: Timestamp,
    ) -> Result<Option<Arc<ApiToken>>, StoreError> {
        let (cached, generation) = {
            let tokens = read(&self.tokens);
            (tokens.map.get(&id).cloned(), tokens.generation)
        };
        let valid = |token: &Arc<ApiToken>| now < token.expires_at;
        if self.is_live()
            && let Some(token) = &cached
        {
            self.count(Lookup::ApiToken, true);
            return Ok(Some(token.clone()).filter(valid));
        }
        self.count(Lookup::ApiToken, false);
        let _timer = self.metrics.store_seconds.start_timer();
        match self.store.api_token(id, now).await {
            Ok(Some(token)) => {
                let token = Arc::new(token);
                let mut tokens = write(&self.tokens);
                if tokens.generation == generation && token.id == id {
                    tokens.map.insert(id, token.clone());
                }
                Ok(Some(token))
            }
            Ok(None) => {
                write(&self.tokens).map.remove(&id);
                Ok(None)
            }
            Err(StoreError::Unavailable(_)) if cached.is_some() => Ok(cached.filter(valid)),
            Err(error) => Err(error),
        }
    }

    pub fn apply(&self, event: &ChangeEvent) {
        match event {
            ChangeEvent::GrantChanged { user, resource } => {
                {
                    let mut grants = write(&self.grants);
                    grants.generation += 1;
                    if let Some(by_resource) = grants.map.get_mut(user) {
                        by_resource.remove(resource);
                    }
                }
                self.announce(LeaseEvent::GrantChanged {
                    user: user.clone(),
                    resource: resource.clone(),
                });
            }
            ChangeEvent::SessionEnded { session } => {
                {
                    let mut sessions = write(&self.sessions);
                    sessions.generation += 1;
                    sessions.map.remove(session.as_str());
                }
                self.announce(LeaseEvent::SessionEnded(session.clone()));
            }
            ChangeEvent::SessionsEndedFor { user } => {
                {
                    let mut sessions = write(&self.sessions);
                    sessions.generation += 1;
                    sessions.map.retain(|keyed| &keyed.0.identity.user != user);
                }
                self.announce(LeaseEvent::SessionsEndedFor(user.clone()));
            }
            ChangeEvent::ApiTokenRevoked { id } => {
                {
                    let mut tokens = write(&self.tokens);
                    tokens.generation += 1;
                    tokens.map.remove(id);
                }
                self.announce(LeaseEvent::ApiTokenRevoked(*id));
            }
            ChangeEvent::Heartbeat { instance, beat } if *instance == self.instance => {
                self.heard(*beat);
            }
            ChangeEvent::Heartbeat { .. } => {}
        }
    }

    /// Beat `beat` came back: the feed was live when it was sent.
    fn heard(&self, beat: u64) {
        let sent = {
            let mut beats = self.beats.lock().unwrap_or_else(|p| p.into_inner());
            let mut sent = None;
            while let Some(&(number, at)) = beats.front() {
                if number > beat {
                    break;
                }
                beats.pop_front();
                if number == beat {
                    sent = Some(at);
                }
            }
            sent
        };
        if let Some(sent) = sent {
            let until = self.millis_since_epoch(sent + TRUST_BOUND);
            let before = self.trusted_until_ms.fetch_max(until, Ordering::AcqRel);
            if before <= self.millis_since_epoch(Instant::now()) {
                self.trust_changed(true);
            }
        }
    }

    fn trust_changed(&self, trusted: bool) {
        self.metrics.change_feed_up.set(i64::from(trusted));
        self.announce(LeaseEvent::Resync);
        if trusted {
            tracing::info!("store change feed is live: grant cache in use");
        } else {
            tracing::warn!(
                bound_ms = TRUST_BOUND.as_millis() as u64,
                "store change feed not heard from: every decision asks the store"
            );
        }
    }

    fn invalidate_all(&self, sessions_too: bool) {
        {
            let mut grants = write(&self.grants);
            grants.generation += 1;
            grants.map.clear();
        }
        if sessions_too {
            let mut sessions = write(&self.sessions);
            sessions.generation += 1;
            sessions.map.clear();
            let mut tokens = write(&self.tokens);
            tokens.generation += 1;
            tokens.map.clear();
        }
    }

    fn feed_lost(&self) {
        self.connected.store(false, Ordering::Release);
        self.trusted_until_ms.store(0, Ordering::Release);
        self.invalidate_all(false);
        self.trust_changed(false);
    }

    fn feed_restored(&self) {
        // Anything cached before the feed (re)started may have missed events. Trust comes
        // with the first heartbeat heard on the new feed.
        self.invalidate_all(true);
        self.connected.store(true, Ordering::Release);
    }

    /// Drops sessions and grants that have ended by `now`. Correctness never depends on it
    /// (every lookup compares expiry with the clock); memory does.
    pub fn prune(&self, now: Timestamp) {
        write(&self.sessions).map.retain(|keyed| keyed.0.is_valid_at(now));
        write(&self.tokens).map.retain(|_, token| now < token.expires_at);
        write(&self.grants).map.retain(|_, by_resource| {
            by_resource.retain(|_, expires_at| expires_at.is_none_or(|at| now < at));
            !by_resource.is_empty()
        });
    }

    /// How many sessions and users with grant entries are held.
    pub fn entries(&self) -> (usize, usize) {
        (read(&self.sessions).map.len(), read(&self.grants).map.len())
    }

    /// Prunes every minute for as long as the process runs.
    pub async fn prune_forever(self: Arc<Self>, clock: Arc<dyn Clock>) {
        loop {
            tokio::time::sleep(PRUNE_INTERVAL).await;
            self.prune(clock.now());
        }
    }

    /// Sends one heartbeat through the store; a failure to send is a missed beat.
    async fn beat(&self) {
        let beat = self.next_beat.fetch_add(1, Ordering::AcqRel);
        {
            let mut beats = self.beats.lock().unwrap_or_else(|p| p.into_inner());
            beats.push_back((beat, Instant::now()));
            // Beats that never come back are forgotten after a while.
            while beats.len() > 64 {
                beats.pop_front();
            }
        }
        if let Err(error) = self.store.publish_heartbeat(&self.instance, beat).await {
            tracing::debug!(%error, "heartbeat not sent");
        }
    }

    /// Probes the feed every [`HEARTBEAT_EVERY`], and notices within [`TRUST_CHECK_EVERY`]
    /// when trust lapses, for as long as the process runs.
    async fn heartbeat_forever(self: Arc<Self>) {
        let mut trusted = false;
        let mut ticks = tokio::time::interval(TRUST_CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_beat = (HEARTBEAT_EVERY.as_millis() / TRUST_CHECK_EVERY.as_millis()).max(1);
        for tick in 0u128.. {
            ticks.tick().await;
            if tick % per_beat == 0 {
                // On a task of its own, bounded: a hung store delays neither the next beat
                // nor noticing the lapse.
                let cache = self.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(TRUST_BOUND, cache.beat()).await;
                });
            }
            let now_trusted = self.is_live();
            if trusted && !now_trusted {
                self.trust_changed(false);
            }
            trusted = now_trusted;
        }
    }

    /// Follows the store's change feed for as long as the process runs, resubscribing with
    /// backoff whenever it is lost, and probes it with heartbeats.
    pub async fn follow_changes(self: Arc<Self>) {
        tokio::spawn(self.clone().heartbeat_forever());
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.subscribe().await {
                Ok(mut feed) => {
                    self.feed_restored();
                    backoff = Duration::from_millis(100);
                    tracing::info!("following store changes");
                    self.beat().await;
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
mod tests;
