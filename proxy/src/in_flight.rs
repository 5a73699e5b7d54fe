//! Cutting ordinary responses that outlive their access.
//!
//! WebSockets and event streams get a leased socket of their own (see [`crate::lease`]). Every
//! other response — a large download, a long poll, a chunked stream — runs on Pingora's pooled
//! connections, which must stay unwrapped to stay cheap. So such a request is only
//! *registered* here while its response is in flight: its session or API token, its grant
//! (JIT access), their deadlines, and a duplicate of its upstream socket's descriptor. One supervisor task per
//! process cuts it when a change event ends its session (sign-out, an admin), when its session
//! expires, and re-checks its grant whenever a change event names it, whenever the cache's
//! trust is lost or regained, and when its deadline passes (every [`SWEEP_EVERY`]); if the
//! grant is gone, or cannot be verified, it shuts the upstream socket down. Pingora's pending read then fails,
//! and it ends the response to the client unfinished (a chunked response without its
//! terminator, a short body): the client can tell it was cut.
//!
//! A config reload wakes the supervisor too: it decides every registered response again
//! against the new config ([`crate::ProxyConfig::still_allows`]) and cuts those whose access
//! the new config removed (the resource is gone, or its policy no longer lets the principal
//! in, or now needs a grant the response does not run under).
//!
//! The registration is dropped as the response's last chunk passes `response_body_filter`,
//! before Pingora returns the connection to its pool, so a connection serving someone else is
//! never shut down. The duplicate descriptor is owned here, so the socket it names cannot be
//! closed and its number reused underneath the supervisor.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jitgate_access::clock::Clock;
use jitgate_access::ids::{ResourceName, TokenId, UserId};
use jitgate_access::session::SessionId;
use jitgate_access::time::Timestamp;
use tokio::sync::broadcast::error::RecvError;

use crate::cache::{AccessCache, LeaseEvent};
use crate::gate::Principal;
use crate::live::{LiveConfig, ProxyConfig};

/// How often deadlines are compared with the clock: the most an idle response can outlive
/// the expiry of its grant, plus one lookup.
pub const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// An upstream socket that can be shut down until it is disarmed.
struct Armed {
    armed: AtomicBool,
    /// Set once the supervisor shut the socket down: the request must not be retried.
    cut: AtomicBool,
    /// A duplicate of Pingora's descriptor: shutting it down shuts the shared socket down.
    socket: TcpStream,
}

impl Armed {
    fn cut(&self) -> bool {
        if !self.armed.swap(false, Ordering::AcqRel) {
            return false;
        }
        self.cut.store(true, Ordering::Release);
        self.socket.shutdown(Shutdown::Both).is_ok()
    }
}

struct Entry {
    /// Who the response is for (shared with the request, not copied).
    principal: Principal,
    resource: ResourceName,
    /// When the grant ends; `None` for standing access.
    deadline: Option<Timestamp>,
    /// The browser session it runs under (`None` for a bearer token) and when that expires.
    session: Option<(SessionId, Timestamp)>,
    /// The personal API token it runs under, likewise.
    token: Option<(TokenId, Timestamp)>,
    socket: Arc<Armed>,
}

impl Entry {
    fn user(&self) -> &UserId {
        &self.principal.identity().user
    }
}

/// What a response runs under, for [`InFlight::track`].
pub struct Access<'a> {
    pub principal: &'a Principal,
    pub resource: &'a ResourceName,
    pub grant_ends: Option<Timestamp>,
    pub session: Option<(&'a SessionId, Timestamp)>,
    pub token: Option<(TokenId, Timestamp)>,
}

/// The responses in flight under a grant, and the task that cuts them.
pub struct InFlight {
    entries: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
    cache: Arc<AccessCache>,
    clock: Arc<dyn Clock>,
}

/// A registered response; dropping it (the response is complete) disarms and forgets it.
pub struct Tracked {
    id: u64,
    socket: Arc<Armed>,
    registry: Arc<InFlight>,
}

impl Tracked {
    /// Whether the supervisor cut this response because its access ended. Pingora would
    /// retry a request whose pooled connection failed before any answer; this one must be
    /// refused instead, never sent again.
    pub fn was_cut(&self) -> bool {
        self.socket.cut.load(Ordering::Acquire)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.socket.armed.store(false, Ordering::Release);
        self.registry.lock().remove(&self.id);
    }
}

impl InFlight {
    pub fn new(cache: Arc<AccessCache>, clock: Arc<dyn Clock>) -> Self {
        Self { entries: Mutex::default(), next: AtomicU64::new(0), cache, clock }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers the response on upstream socket `fd` under `access`. `None` (nothing to cut
    /// with) only if the descriptor cannot be duplicated.
    pub fn track(self: &Arc<Self>, fd: RawFd, access: Access<'_>) -> Option<Tracked> {
        // SAFETY: Pingora hands `fd` to `connected_to_upstream` while it holds the connection
        // open, and it is only borrowed for the duplication below.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let duplicate = match borrowed.try_clone_to_owned() {
            Ok(owned) => owned,
            Err(error) => {
                tracing::error!(%error, "cannot register a response to cut at the grant's end");
                return None;
            }
        };
        let socket = Arc::new(Armed {
            armed: AtomicBool::new(true),
            cut: AtomicBool::new(false),
            socket: TcpStream::from(duplicate),
        });
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            principal: access.principal.clone(),
            resource: access.resource.clone(),
            deadline: access.grant_ends,
            session: access.session.map(|(id, expires_at)| (id.clone(), expires_at)),
            token: access.token,
            socket: socket.clone(),
        };
        self.lock().insert(id, entry);
        Some(Tracked { id, socket, registry: self.clone() })
    }

    /// Cuts every registered response `select` picks; how many were cut.
    fn cut(&self, why: &str, select: impl Fn(&Entry) -> bool) {
        let cut = self.lock().values().filter(|entry| select(entry) && entry.socket.cut()).count();
        if cut > 0 {
            tracing::info!(cut, "{why}: cutting responses in flight");
        }
    }

    /// The distinct grants among the registered responses that `select` picks.
    fn grants(&self, select: impl Fn(&Entry) -> bool) -> Vec<(UserId, ResourceName)> {
        let mut grants: Vec<(UserId, ResourceName)> = self
            .lock()
            .values()
            .filter(|entry| entry.deadline.is_some() && select(entry))
            .map(|entry| (entry.user().clone(), entry.resource.clone()))
            .collect();
        grants.sort();
        grants.dedup();
        grants
    }

    /// Looks `user`'s grant on `resource` up again: cuts its responses if it is gone or
    /// cannot be verified, else moves their deadline to the grant's expiry.
    async fn recheck(&self, user: &UserId, resource: &ResourceName) {
        let now = self.clock.now();
        let expiry = self.cache.grant_expiry(user, resource, now).await;
        let mut entries = self.lock();
        let ours = entries.values_mut().filter(|e| e.user() == user && &e.resource == resource);
        match expiry {
            Ok(Some(expires_at)) if now < expires_at => {
                ours.for_each(|entry| entry.deadline = Some(expires_at));
            }
            _ => {
                let cut = ours.filter(|entry| entry.socket.cut()).count();
                if cut > 0 {
                    tracing::info!(%user, %resource, cut, "grant ended: cutting responses in flight");
                }
            }
        }
    }

    /// Cuts every registered response `config` no longer allows.
    fn reconfigured(&self, config: &ProxyConfig) {
        let why = format!("config reload (generation {})", config.generation);
        self.cut(&why, |entry| {
            !config.still_allows(
                entry.principal.identity(),
                &entry.resource,
                entry.deadline.is_some(),
            )
        });
    }

    /// Watches for as long as the process runs, the config in force in `config`.
    pub async fn supervise_forever(self: Arc<Self>, config: Arc<LiveConfig>) {
        let mut changes = self.cache.changes();
        let mut reloads = config.subscribe();
        reloads.mark_unchanged();
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = tokio::select! {
                _ = sweep.tick() => {
                    let now = self.clock.now();
                    self.cut("session expired", |e| e.session.as_ref().is_some_and(|(_, at)| *at <= now));
                    self.cut("API token expired", |e| e.token.is_some_and(|(_, at)| at <= now));
                    self.grants(|entry| entry.deadline.is_some_and(|at| at <= now))
                }
                event = changes.recv() => match event {
                    Ok(LeaseEvent::GrantChanged { user, resource }) => {
                        self.grants(|entry| *entry.user() == user && entry.resource == resource)
                    }
                    Ok(LeaseEvent::SessionEnded(id)) => {
                        self.cut("session ended", |e| e.session.as_ref().is_some_and(|(s, _)| *s == id));
                        continue;
                    }
                    Ok(LeaseEvent::SessionsEndedFor(user)) => {
                        self.cut("sessions ended", |e| e.session.is_some() && *e.user() == user);
                        continue;
                    }
                    Ok(LeaseEvent::ApiTokenRevoked(id)) => {
                        self.cut("API token revoked", |e| e.token.is_some_and(|(t, _)| t == id));
                        continue;
                    }
                    Ok(LeaseEvent::Resync) | Err(RecvError::Lagged(_)) => self.grants(|_| true),
                    Err(RecvError::Closed) => return,
                },
                reloaded = reloads.changed() => {
                    if reloaded.is_ok() {
                        self.reconfigured(&config.load());
                    }
                    continue;
                }
            };
            for (user, resource) in due {
                self.recheck(&user, &resource).await;
            }
        }
    }
}
