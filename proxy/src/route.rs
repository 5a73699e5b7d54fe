//! Which resource a request is for: by Host, then by the longest matching path prefix.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use jitgate_access::config::{Resource, Upstream};

/// One configured resource as the proxy serves it.
#[derive(Debug)]
pub struct Route {
    pub resource: Resource,
    next_upstream: AtomicUsize,
}

impl Route {
    /// Round-robin over the resource's upstreams.
    pub fn next_upstream(&self) -> &Upstream {
        let n = self.next_upstream.fetch_add(1, Ordering::Relaxed);
        &self.resource.upstreams[n % self.resource.upstreams.len()]
    }
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

fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path == prefix
        || path.strip_prefix(prefix).is_some_and(|rest| {
            prefix.ends_with('/') || rest.starts_with('/') || rest.starts_with('?')
        })
}

impl Router {
    pub fn new(resources: &[Resource]) -> Self {
        let mut router = Router::default();
        for resource in resources.iter().filter(|r| !r.upstreams.is_empty()) {
            router.by_host.entry(resource.host.clone()).or_default().push(router.routes.len());
            router
                .routes
                .push(Route { resource: resource.clone(), next_upstream: AtomicUsize::new(0) });
        }
        for indexes in router.by_host.values_mut() {
            indexes
                .sort_by_key(|i| std::cmp::Reverse(router.routes[*i].resource.path_prefix.len()));
        }
        router
    }

    /// The route for a normalised host and a request path, as an index for [`Router::get`].
    pub fn find(&self, host: &str, path: &str) -> Option<usize> {
        self.by_host
            .get(host)?
            .iter()
            .copied()
            .find(|i| prefix_matches(&self.routes[*i].resource.path_prefix, path))
    }

    pub fn get(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_access::ids::ResourceName;
    use jitgate_access::policy::ResourcePolicy;

    fn resource(name: &str, host: &str, prefix: &str) -> Resource {
        let name = ResourceName::parse(name).unwrap();
        Resource {
            policy: ResourcePolicy { resource: name.clone(), assignments: vec![] },
            name,
            host: host.into(),
            path_prefix: prefix.into(),
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
        let name = |path: &str| {
            router.find("db.example.com", path).map(|i| router.get(i).resource.name.to_string())
        };
        assert_eq!(name("/admin").as_deref(), Some("admin"));
        assert_eq!(name("/admin/users?x=1").as_deref(), Some("admin"));
        assert_eq!(name("/administrator").as_deref(), Some("site"));
        assert_eq!(name("/").as_deref(), Some("site"));
        assert_eq!(router.find("other.example.com", "/"), None);
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
        let picks: Vec<&str> = (0..4).map(|_| route.next_upstream().address.as_str()).collect();
        assert_eq!(picks, ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.1:80", "10.0.0.2:80"]);
    }
}
