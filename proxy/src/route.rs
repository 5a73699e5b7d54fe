//! Which resource a request is for: by Host, then by the longest path prefix that matches the
//! canonical path (see [`crate::request_path`]) on whole segments; and
//! which of its upstreams gets the request: round-robin over the healthy ones.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jitgate_access::config::{Resource, Upstream};
use jitgate_access::ids::ResourceName;

use crate::request_path::{CanonicalPath, PathRefusal, PrefixMatch, match_prefix};

/// One configured resource as the proxy serves it.
#[derive(Debug)]
pub struct Route {
    pub resource: Resource,
    next_upstream: AtomicUsize,
    /// Per upstream: answered its last check (active) and its last connection (passive).
    healthy: Vec<AtomicBool>,
    /// Per upstream: the addresses its name resolved to at the last check (IP literals once,
    /// at start), so no request waits on DNS; taken in turn.
    addresses: Vec<RwLock<Arc<[SocketAddr]>>>,
    next_address: AtomicUsize,
}

impl Route {
    /// Round-robin over the healthy upstreams; when none is healthy, over all of them (a check
    /// may be stale, and trying beats refusing). Returns the upstream and its index.
    pub fn next_upstream(&self) -> (usize, &Upstream) {
        let count = self.resource.upstreams.len();
        let start = self.next_upstream.fetch_add(1, Ordering::Relaxed);
        let pick = (0..count)
            .map(|offset| (start + offset) % count)
            .find(|i| self.healthy[*i].load(Ordering::Relaxed))
            .unwrap_or(start % count);
        (pick, &self.resource.upstreams[pick])
    }

    /// One of the addresses upstream `upstream` resolved to, in turn; resolved now if the
    /// background check has not resolved it yet.
    pub async fn address(&self, upstream: usize) -> Option<SocketAddr> {
        let known = self.addresses.get(upstream)?.read().unwrap_or_else(|p| p.into_inner()).clone();
        let known = if known.is_empty() { self.resolve(upstream).await } else { known };
        let turn = self.next_address.fetch_add(1, Ordering::Relaxed);
        (!known.is_empty()).then(|| known[turn % known.len()])
    }

    /// Resolves upstream `upstream` again, keeping what it resolved to before if it now fails.
    async fn resolve(&self, upstream: usize) -> Arc<[SocketAddr]> {
        let name = &self.resource.upstreams[upstream].address;
        let lookup =
            tokio::time::timeout(HEALTH_CHECK_TIMEOUT, tokio::net::lookup_host(name)).await;
        let mut slot = self.addresses[upstream].write().unwrap_or_else(|p| p.into_inner());
        match lookup {
            Ok(Ok(found)) => {
                let found: Arc<[SocketAddr]> = found.collect();
                if !found.is_empty() {
                    *slot = found;
                }
            }
            _ => tracing::warn!(resource = %self.resource.name, %name, "cannot resolve upstream"),
        }
        slot.clone()
    }

    pub fn set_healthy(&self, upstream: usize, healthy: bool) {
        if let Some(flag) = self.healthy.get(upstream)
            && flag.swap(healthy, Ordering::Relaxed) != healthy
        {
            let address = &self.resource.upstreams[upstream].address;
            if healthy {
                tracing::info!(resource = %self.resource.name, %address, "upstream is back");
            } else {
                tracing::warn!(resource = %self.resource.name, %address, "upstream is down");
            }
        }
    }
}

/// How often every upstream is checked.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(5);
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

async fn answers(address: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(HEALTH_CHECK_TIMEOUT, tokio::net::TcpStream::connect(address)).await,
        Ok(Ok(_))
    )
}

#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
    /// Host → indexes into `routes`, longest prefix first.
    by_host: HashMap<String, Vec<usize>>,
}

/// `Host` as routed: lower-case, without the scheme's default port.
pub fn normalize_host(host: &str, tls: bool) -> String {
    let host = host.trim().to_ascii_lowercase();
    let default_port = if tls { ":443" } else { ":80" };
    host.strip_suffix(default_port).map(str::to_owned).unwrap_or(host)
}

impl Router {
    pub fn new(resources: &[Resource]) -> Self {
        let mut router = Router::default();
        for resource in resources.iter().filter(|r| !r.upstreams.is_empty()) {
            router.by_host.entry(resource.host.clone()).or_default().push(router.routes.len());
            let healthy = resource.upstreams.iter().map(|_| AtomicBool::new(true)).collect();
            let addresses = resource
                .upstreams
                .iter()
                .map(|u| {
                    let literal: Arc<[SocketAddr]> = u.address.parse().into_iter().collect();
                    RwLock::new(literal)
                })
                .collect();
            let next_upstream = AtomicUsize::new(0);
            let next_address = AtomicUsize::new(0);
            router.routes.push(Route {
                resource: resource.clone(),
                next_upstream,
                healthy,
                addresses,
                next_address,
            });
        }
        for indexes in router.by_host.values_mut() {
            indexes
                .sort_by_key(|i| std::cmp::Reverse(router.routes[*i].resource.path_prefix.len()));
        }
        router
    }

    /// The route for a normalised host and a canonical request path, as an index for
    /// [`Router::get`]: the longest prefix that matches on whole segments. A path that a
    /// longer prefix matches only loosely (`/Admin`, `/admin;x`) is refused rather than given
    /// to a shorter prefix, since a lenient upstream would serve the longer prefix's content.
    pub fn find(&self, host: &str, path: &CanonicalPath<'_>) -> Result<Option<usize>, PathRefusal> {
        let Some(indexes) = self.by_host.get(host) else { return Ok(None) };
        for index in indexes.iter().copied() {
            match match_prefix(&self.routes[index].resource.path_prefix, path) {
                PrefixMatch::Exact => return Ok(Some(index)),
                PrefixMatch::Loose => return Err(PathRefusal::AmbiguousPrefix),
                PrefixMatch::No => {}
            }
        }
        Ok(None)
    }

    /// Whether some resource is served on `host` (normalised), whatever its path.
    pub fn serves_host(&self, host: &str) -> bool {
        self.by_host.contains_key(host)
    }

    pub fn get(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route of the resource named `name`, if it is configured.
    pub fn named(&self, name: &ResourceName) -> Option<&Route> {
        self.routes.iter().find(|route| &route.resource.name == name)
    }

    /// Resolves every upstream's name again (so DNS changes are followed within
    /// [`HEALTH_CHECK_INTERVAL`]) and checks it answers (a TCP connect to any of its
    /// addresses). [`crate::LiveConfig`] runs it on the routes in force.
    pub async fn check_upstreams(&self) {
        for route in &self.routes {
            for index in 0..route.resource.upstreams.len() {
                let mut up = false;
                for address in route.resolve(index).await.iter() {
                    if answers(*address).await {
                        up = true;
                        break;
                    }
                }
                route.set_healthy(index, up);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_access::policy::ResourcePolicy;

    fn resource(name: &str, host: &str, prefix: &str) -> Resource {
        let name = ResourceName::parse(name).unwrap();
        Resource {
            policy: ResourcePolicy { resource: name.clone(), assignments: vec![] },
            name,
            host: host.into(),
            path_prefix: prefix.into(),
            allow_encoded_slashes: false,
            accept_bearer: true,
            websocket_origins: vec![],
            upstreams: vec![
                Upstream {
                    address: "10.0.0.1:80".into(),
                    tls: false,
                    sni: "a".into(),
                    verify_cert: true,
                },
                Upstream {
                    address: "10.0.0.2:80".into(),
                    tls: false,
                    sni: "b".into(),
                    verify_cert: true,
                },
            ],
        }
    }

    #[test]
    fn longest_prefix_wins_and_prefixes_respect_segments() {
        let router = Router::new(&[
            resource("site", "db.example.com", "/"),
            resource("admin", "db.example.com", "/admin"),
        ]);
        let find = |host: &str, path: &str| {
            let path = crate::request_path::canonicalize(path).unwrap();
            router.find(host, &path).map(|i| i.map(|i| router.get(i).resource.name.to_string()))
        };
        let name = |path: &str| find("db.example.com", path).unwrap();
        assert_eq!(name("/admin").as_deref(), Some("admin"));
        assert_eq!(name("/admin/users").as_deref(), Some("admin"));
        assert_eq!(name("/%61dmin/users").as_deref(), Some("admin"));
        assert_eq!(name("//admin/users").as_deref(), Some("admin"));
        assert_eq!(name("/x/../admin").as_deref(), Some("admin"));
        assert_eq!(name("/administrator").as_deref(), Some("site"));
        assert_eq!(name("/").as_deref(), Some("site"));
        assert_eq!(find("db.example.com", "/ADMIN/users"), Err(PathRefusal::AmbiguousPrefix));
        assert_eq!(find("db.example.com", "/admin;x/users"), Err(PathRefusal::AmbiguousPrefix));
        assert_eq!(find("other.example.com", "/"), Ok(None));
        assert!(router.serves_host("db.example.com") && !router.serves_host("x.example.com"));
    }

    #[test]
    fn hosts_lose_default_ports_only() {
        assert_eq!(normalize_host("App.Example.com:80", false), "app.example.com");
        assert_eq!(normalize_host("app.example.com:443", true), "app.example.com");
        assert_eq!(normalize_host("app.localhost:8080", false), "app.localhost:8080");
    }

    #[test]
    fn upstreams_take_turns() {
        let router = Router::new(&[resource("site", "x", "/")]);
        let route = router.get(0);
        let picks: Vec<&str> = (0..4).map(|_| route.next_upstream().1.address.as_str()).collect();
        assert_eq!(picks, ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.1:80", "10.0.0.2:80"]);
    }

    #[test]
    fn unhealthy_upstreams_are_skipped_until_none_is_left() {
        let router = Router::new(&[resource("site", "x", "/")]);
        let route = router.get(0);
        route.set_healthy(0, false);
        assert!((0..4).all(|_| route.next_upstream().0 == 1));
        route.set_healthy(1, false);
        let picks: Vec<usize> = (0..4).map(|_| route.next_upstream().0).collect();
        assert!(
            picks.contains(&0) && picks.contains(&1),
            "with all down, all are tried: {picks:?}"
        );
    }

    #[tokio::test]
    async fn names_are_resolved_once_and_taken_in_turn() {
        let mut named = resource("site", "x", "/");
        named.upstreams[0].address = "localhost:9".into();
        let router = Router::new(&[named]);
        let route = router.get(0);
        let first = route.address(0).await.expect("localhost resolves");
        assert!(first.ip().is_loopback() && first.port() == 9, "{first}");
        let known = route.addresses[0].read().unwrap().clone();
        assert!(!known.is_empty(), "the resolution is kept for later requests");
        let literal = route.address(1).await.unwrap();
        assert_eq!(literal, "10.0.0.2:80".parse().unwrap(), "IP literals need no lookup");
    }
}
