//! A jitgate proxy as `jitgate serve` builds it, without the network: one JIT resource on
//! `app.localhost:8080`, an embedded store, a cache following its change feed, and users
//! signed in with auto-approved grants. Shared by the `request_filter` and
//! `request_allocations` benchmarks.

// Each benchmark is a crate of its own and uses part of this.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jitgate_access::assertion::AssertionSigner;
use jitgate_access::clock::{Clock, ManualClock};
use jitgate_access::config::{IdentityHeaders, Resource, Upstream};
use jitgate_access::ids::{GroupName, ResourceName, UserId};
use jitgate_access::policy::{
    AccessMode, Approval, Assignment, Audience, Identity, JitPolicy, PolicySet, Principals,
    ResourcePolicy, Roles,
};
use jitgate_access::service::AccessService;
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{EmbeddedStore, Store};
use jitgate_access::token::TokenKeys;
use jitgate_proxy::{
    AccessCache, Assertions, Gate, InFlight, JitgateProxy, LiveConfig, Metrics, ProxyConfig,
    ProxySettings, Router, UpstreamHeaders,
};
use pingora::http::RequestHeader;

pub const HOST: &str = "app.localhost:8080";
const SECRET: &[u8] = b"benchmark-secret-benchmark-secret-benchmark";

pub struct Bench {
    pub runtime: tokio::runtime::Runtime,
    pub proxy: JitgateProxy,
    pub cache: Arc<AccessCache>,
    pub store: Arc<dyn Store>,
    pub service: AccessService,
    pub keys: TokenKeys,
    pub resource: Resource,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn resource() -> Resource {
    let jit = AccessMode::Jit(JitPolicy {
        durations: vec![Duration::from_secs(3600)],
        allow_custom_duration: true,
        max_duration: Duration::from_secs(8 * 3600),
        approval: Approval::Auto,
        reviewers: Principals::default(),
        reason_required: true,
        pending_timeout: Duration::from_secs(24 * 3600),
        allow_pause: false,
        allow_extension: false,
        max_total: None,
        break_glass: None,
        schedule_ahead: Some(std::time::Duration::from_secs(14 * 24 * 3600)),
        starts: Default::default(),
    });
    let name = ResourceName::parse("app").unwrap();
    Resource {
        name: name.clone(),
        host: HOST.into(),
        path_prefix: "/".into(),
        upstreams: vec![Upstream {
            address: "127.0.0.1:8081".into(),
            tls: false,
            sni: String::new(),
            verify_cert: false,
        }],
        policy: ResourcePolicy {
            resource: name,
            assignments: vec![Assignment {
                audience: Audience::Group(GroupName::parse("sre").unwrap()),
                mode: jit,
            }],
        },
        allow_encoded_slashes: false,
        accept_bearer: true,
        websocket_origins: vec![],
    }
}

impl Bench {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(dir.path().join("bench.db")).unwrap());
        let cache = Arc::new(AccessCache::new(store.clone(), Arc::new(Metrics::new())));
        runtime.spawn(cache.clone().follow_changes());
        while !cache.is_live() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let clock = Arc::new(ManualClock::starting_now());
        let resource = resource();
        let policies = PolicySet {
            roles: Roles::default(),
            resources: BTreeMap::from([(resource.name.clone(), resource.policy.clone())]),
        };
        let service = AccessService::new(store.clone(), clock.clone(), Arc::new(policies));
        let gate = Gate::new(TokenKeys::new(SECRET), cache.clone(), None);
        let in_flight = Arc::new(InFlight::new(cache.clone(), clock.clone()));
        let config = ProxyConfig {
            generation: 1,
            router: Router::new(std::slice::from_ref(&resource)),
            roles: Roles::default(),
            headers: UpstreamHeaders::new(&IdentityHeaders::default(), vec![]),
        };
        let settings = ProxySettings {
            config: Arc::new(LiveConfig::new(config)),
            gate,
            portal_url: "http://access.localhost:8080".into(),
            portal_host: "access.localhost:8080".into(),
            assertions: Arc::new(Assertions::new(AssertionSigner::from_secret(
                SECRET,
                "http://access.localhost:8080",
            ))),
            tls: false,
            in_flight,
            portal: None,
        };
        let proxy = JitgateProxy::new(settings, clock.clone());
        Self {
            runtime,
            proxy,
            cache,
            store,
            service,
            keys: TokenKeys::new(SECRET),
            resource,
            clock,
            _dir: dir,
        }
    }

    /// A user `sre{n}@example.com` in group `sre`, signed in, with an auto-approved grant:
    /// their session, and the session cookie for the app's host.
    pub fn signed_in_user(&self, n: usize) -> (Session, String) {
        let now = self.clock.now();
        let identity = Identity::new(
            UserId::parse(&format!("sre{n}@example.com")).unwrap(),
            [GroupName::parse("sre").unwrap()],
        );
        self.runtime
            .block_on(self.service.request_access(
                &identity,
                &self.resource.name,
                "benchmark",
                Duration::from_secs(3600),
            ))
            .unwrap();
        let session = Session {
            id: SessionId::random(),
            identity,
            created_at: now,
            expires_at: now.plus(Duration::from_secs(12 * 3600)),
        };
        self.runtime.block_on(self.store.create_session(&session)).unwrap();
        let cookie = self.keys.session_cookie(&session.id, HOST, session.expires_at);
        (session, cookie)
    }
}

/// The request wrk sends in `benches/load/run`, as Pingora hands it to the proxy.
pub fn request(cookie: &str) -> RequestHeader {
    let mut request = RequestHeader::build("GET", b"/", None).unwrap();
    request.append_header("Host", HOST).unwrap();
    request.append_header("Cookie", format!("jitgate_session={cookie}")).unwrap();
    request
}
