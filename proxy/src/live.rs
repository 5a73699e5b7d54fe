//! The part of the config the proxy serves by, which a reload replaces while connections stay
//! open: the routes (resources and their upstreams), the global roles the policies resolve
//! against, and the identity and forwarding headers.
//!
//! One owner, [`LiveConfig`], holds the snapshot in force. Every request loads it once, in
//! `request_filter`, and keeps it in its context: every later phase of that request (the
//! upstream it connects to, the headers it sends, its log line) reads the same snapshot, so no
//! request is ever decided by one config and forwarded by another. A reload builds a whole new
//! [`ProxyConfig`] from one validated `Config` and swaps it in with one pointer store; then it
//! tells the supervisors of open connections ([`crate::in_flight`], [`crate::lease`]), which
//! decide each again against the new snapshot ([`ProxyConfig::still_allows`]).
//!
//! What cannot change live (listeners, the store, the session secret, the identity provider,
//! the portal's URL) is not in here: the process keeps what it started with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use jitgate_access::config::Config;
use jitgate_access::ids::ResourceName;
use jitgate_access::policy::{Access, Identity, Roles};
use tokio::sync::watch;

use crate::route::{HEALTH_CHECK_INTERVAL, Router};
use crate::upstream_headers::UpstreamHeaders;

/// Everything per-request decisions read from the config, built together from one `Config`.
pub struct ProxyConfig {
    /// Counts the configs this process has served: 1 at the start, one more per reload.
    pub generation: u64,
    pub router: Router,
    /// The global roles (admins, reviewers) the resources' policies resolve against.
    pub roles: Roles,
    /// Identity and forwarding headers as the upstream gets them.
    pub headers: UpstreamHeaders,
}

impl ProxyConfig {
    pub fn new(config: &Config, generation: u64) -> Self {
        Self {
            generation,
            router: Router::new(&config.resources),
            roles: config.roles.clone(),
            headers: UpstreamHeaders::new(
                &config.server.headers,
                config.server.trusted_proxies.clone(),
            ),
        }
    }

    /// Whether a connection `identity` opened to `resource` may stay open under this config:
    /// the resource still exists, and its policy still gives `identity` access — standing
    /// access, or just-in-time access when the connection runs under a grant (`under_grant`;
    /// the grant itself is watched by the connection's supervisor as before). A resource whose
    /// upstreams, host or path changed keeps its open connections: only access is re-decided.
    pub fn still_allows(
        &self,
        identity: &Identity,
        resource: &ResourceName,
        under_grant: bool,
    ) -> bool {
        let Some(route) = self.router.named(resource) else { return false };
        match route.resource.policy.resolve(&self.roles, identity) {
            Access::NoAccess => false,
            Access::Standing { .. } => true,
            Access::Jit { .. } => under_grant,
        }
    }
}

/// The proxy config in force, and the news that it changed.
pub struct LiveConfig {
    current: ArcSwap<ProxyConfig>,
    /// `current`'s generation, to compare with a request's without loading the snapshot.
    generation: AtomicU64,
    /// The generation in force; the supervisors of open connections wait on it.
    swapped: watch::Sender<u64>,
}

impl LiveConfig {
    pub fn new(first: ProxyConfig) -> Self {
        let (swapped, _) = watch::channel(first.generation);
        let generation = AtomicU64::new(first.generation);
        Self { current: ArcSwap::from_pointee(first), generation, swapped }
    }

    /// The generation in force (as [`LiveConfig::load`] would find it).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The snapshot in force. A request loads it once and keeps it (see the module docs).
    pub fn load(&self) -> Arc<ProxyConfig> {
        self.current.load_full()
    }

    /// Puts `next` in force for every request decided from now on, then wakes the
    /// supervisors of open connections to decide them again.
    pub fn swap(&self, next: ProxyConfig) {
        let generation = next.generation;
        self.current.store(Arc::new(next));
        self.generation.store(generation, Ordering::Release);
        self.swapped.send_replace(generation);
    }

    /// Changes each time a new snapshot is put in force.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.swapped.subscribe()
    }

    /// Every [`HEALTH_CHECK_INTERVAL`], for as long as the process runs, checks the upstreams
    /// of the routes in force (see [`Router::check_upstreams`]): after a reload, the new ones.
    pub async fn check_upstreams_forever(self: Arc<Self>) {
        loop {
            self.load().router.check_upstreams().await;
            tokio::time::sleep(HEALTH_CHECK_INTERVAL).await;
        }
    }
}

impl std::fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConfig").field("generation", &self.generation()).finish()
    }
}

#[cfg(test)]
mod tests {
    use jitgate_access::config::{IdentityHeaders, Resource, Upstream};
    use jitgate_access::policy::{AccessMode, Assignment, Audience, ResourcePolicy};

    use super::*;

    fn standing_for_sre(name: &str) -> Resource {
        let name = ResourceName::parse(name).unwrap();
        let sre = Assignment {
            audience: Audience::Group("sre".parse().unwrap()),
            mode: AccessMode::Standing,
        };
        Resource {
            policy: ResourcePolicy { resource: name.clone(), assignments: vec![sre] },
            name,
            host: "wiki.example.com".into(),
            path_prefix: "/".into(),
            allow_encoded_slashes: false,
            accept_bearer: false,
            websocket_origins: vec![],
            upstreams: vec![Upstream {
                address: "10.0.0.1:80".into(),
                tls: false,
                sni: String::new(),
                verify_cert: true,
            }],
        }
    }

    fn person(groups: &[&str]) -> Identity {
        let groups = groups.iter().map(|g| g.parse().unwrap());
        Identity::new("bob@example.com".parse().unwrap(), groups)
    }

    #[test]
    fn open_connections_stay_only_while_the_new_config_lets_them_in() {
        let config = ProxyConfig {
            generation: 2,
            router: Router::new(&[standing_for_sre("wiki")]),
            roles: Roles::default(),
            headers: UpstreamHeaders::new(&IdentityHeaders::default(), vec![]),
        };
        let wiki = ResourceName::parse("wiki").unwrap();
        assert!(config.still_allows(&person(&["sre"]), &wiki, false), "standing access stays");
        assert!(!config.still_allows(&person(&["dev"]), &wiki, true), "no group, no access");
        let gone = ResourceName::parse("app").unwrap();
        assert!(!config.still_allows(&person(&["sre"]), &gone, true), "a removed resource");
    }

    #[test]
    fn a_swap_is_seen_by_loads_and_subscribers() {
        let config = |generation| ProxyConfig {
            generation,
            router: Router::new(&[]),
            roles: Roles::default(),
            headers: UpstreamHeaders::new(&IdentityHeaders::default(), vec![]),
        };
        let live = LiveConfig::new(config(1));
        let reloads = live.subscribe();
        let before = live.load();
        live.swap(config(2));
        assert!(reloads.has_changed().unwrap(), "subscribers are told");
        assert_eq!((before.generation, live.load().generation, live.generation()), (1, 2, 2));
    }
}
