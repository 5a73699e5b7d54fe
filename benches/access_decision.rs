//! The per-request access decision, measured without a network around it: the whole decision
//! the proxy makes on a warm cache (cookie verification, session, policy, grant), and its
//! parts: policy resolution for a user in 200 groups, and an uncached grant lookup in the
//! embedded store (what a cache miss costs).

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jitgate_access::clock::{Clock, ManualClock};
use jitgate_access::config::Resource;
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
    Access, AccessCache, Credential, Decision, Gate, InFlight, Metrics, Principal,
};

fn group(name: &str) -> GroupName {
    GroupName::parse(name).unwrap()
}

fn jit(approval: Approval) -> AccessMode {
    AccessMode::Jit(JitPolicy {
        durations: vec![Duration::from_secs(3600)],
        allow_custom_duration: true,
        max_duration: Duration::from_secs(8 * 3600),
        approval,
        reviewers: Principals::default(),
        reason_required: true,
        pending_timeout: Duration::from_secs(24 * 3600),
        allow_pause: false,
        allow_extension: false,
        max_total: None,
        break_glass: None,
        schedule_ahead: Some(std::time::Duration::from_secs(14 * 24 * 3600)),
        starts: Default::default(),
    })
}

fn policy() -> ResourcePolicy {
    let manual = Approval::Manual { approvals_needed: NonZeroU32::new(1).unwrap() };
    let mut assignments: Vec<Assignment> = (0..20)
        .map(|i| Assignment {
            audience: Audience::Group(group(&format!("team-{i}"))),
            mode: jit(manual),
        })
        .collect();
    assignments
        .push(Assignment { audience: Audience::Group(group("team-7")), mode: jit(Approval::Auto) });
    ResourcePolicy { resource: ResourceName::parse("db").unwrap(), assignments }
}

/// A user in 200 groups, three of which have assignments on the resource.
fn big_identity() -> Identity {
    let mut groups: Vec<GroupName> =
        (0..197).map(|i| group(&format!("directory-group-{i}"))).collect();
    groups.extend([group("team-3"), group("team-7"), group("team-19")]);
    Identity::new(UserId::parse("alice@example.com").unwrap(), groups)
}

fn resolve(c: &mut Criterion) {
    let policy = policy();
    let roles = Roles::default();
    let identity = big_identity();
    c.bench_function("policy_resolve_200_groups", |b| {
        b.iter(|| std::hint::black_box(policy.resolve(&roles, std::hint::black_box(&identity))))
    });
}

fn embedded_lookup(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path().join("bench.db")).unwrap());
    let clock = Arc::new(ManualClock::starting_now());
    let policies = PolicySet {
        roles: Roles::default(),
        resources: BTreeMap::from([(ResourceName::parse("db").unwrap(), policy())]),
    };
    let service = AccessService::new(store.clone(), clock.clone(), Arc::new(policies));
    let identity = big_identity();
    let resource = ResourceName::parse("db").unwrap();
    runtime
        .block_on(service.request_access(
            &identity,
            &resource,
            "benchmark",
            Duration::from_secs(3600),
        ))
        .unwrap();
    let now = clock.now();
    c.bench_function("embedded_active_grant_uncached", |b| {
        b.to_async(&runtime).iter(|| async {
            let grant = store.active_grant(&identity.user, &resource, now).await.unwrap();
            assert!(grant.is_some());
        })
    });
}

/// What the proxy does per request once its cache is warm: verify the session cookie, find
/// the session, resolve the policy, find the grant and compare its expiry with the clock.
fn proxy_decision_cache_hit(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path().join("bench.db")).unwrap());
    let cache = Arc::new(AccessCache::new(store.clone(), Arc::new(Metrics::new())));
    runtime.spawn(cache.clone().follow_changes());
    while !cache.is_live() {
        std::thread::yield_now();
    }
    let clock = Arc::new(ManualClock::starting_now());
    let resource = Resource {
        name: ResourceName::parse("db").unwrap(),
        host: "db.localhost".into(),
        path_prefix: "/".into(),
        upstreams: vec![],
        policy: policy(),
        allow_encoded_slashes: false,
        accept_bearer: true,
        websocket_origins: vec![],
    };
    let policies = PolicySet {
        roles: Roles::default(),
        resources: BTreeMap::from([(resource.name.clone(), resource.policy.clone())]),
    };
    let service = AccessService::new(store.clone(), clock.clone(), Arc::new(policies));
    let identity = big_identity();
    runtime
        .block_on(service.request_access(
            &identity,
            &resource.name,
            "benchmark",
            Duration::from_secs(3600),
        ))
        .unwrap();
    let now = clock.now();
    let session = Session {
        id: SessionId::random(),
        identity,
        created_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
    };
    runtime.block_on(store.create_session(&session)).unwrap();
    let keys = TokenKeys::new(b"benchmark-secret-benchmark-secret-benchmark");
    let cookie = keys.session_cookie(&session.id, "db.localhost", session.expires_at);
    let gate = Gate::new(keys, cache, None);
    let roles = Roles::default();
    let first = runtime.block_on(gate.check(
        Credential::Cookie(&cookie),
        "db.localhost",
        &resource,
        &roles,
        now,
    ));
    assert_eq!(first.decision, Decision::AllowGrant);
    c.bench_function("session_cookie_verify", |b| {
        b.iter(|| {
            gate.keys()
                .verify_session_cookie(std::hint::black_box(&cookie), "db.localhost", now)
                .unwrap()
        })
    });
    c.bench_function("proxy_decision_cache_hit", |b| {
        b.to_async(&runtime).iter(|| async {
            let verdict = gate
                .check(
                    Credential::Cookie(std::hint::black_box(&cookie)),
                    "db.localhost",
                    &resource,
                    &roles,
                    now,
                )
                .await;
            assert_eq!(verdict.decision, Decision::AllowGrant);
        })
    });
}

/// The upstream assertion a request needs when the proxy's memo of it has none (a user's first
/// request, then every 30 s): one ES256 signature.
fn assertion_sign(c: &mut Criterion) {
    let signer = jitgate_access::assertion::AssertionSigner::from_secret(
        b"benchmark-secret-benchmark-secret-benchmark",
        "https://access.example.com",
    );
    let identity = Identity::new(UserId::parse("ada@example.com").unwrap(), [group("ops")]);
    let now = ManualClock::starting_now().now();
    c.bench_function("assertion_sign", |b| {
        b.iter(|| signer.sign(std::hint::black_box(&identity), "db.localhost", now))
    });
}

/// What registering a response in flight adds to each request allowed by a grant or session
/// (duplicating the upstream socket's descriptor, one map insert) and dropping it at the end
/// (closing the duplicate, one map removal): `proxy/src/in_flight.rs`.
fn in_flight_registration(c: &mut Criterion) {
    use std::os::fd::AsRawFd;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path().join("bench.db")).unwrap());
    let cache = Arc::new(AccessCache::new(store, Arc::new(Metrics::new())));
    let registry = Arc::new(InFlight::new(cache, Arc::new(ManualClock::starting_now())));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let principal = Principal::Bearer {
        identity: Arc::new(Identity::new(UserId::parse("ada@example.com").unwrap(), [])),
        token: Arc::from("token"),
    };
    let resource = ResourceName::parse("db").unwrap();
    let session = SessionId::random();
    let until = ManualClock::starting_now().now().plus(Duration::from_secs(3600));
    let _guard = runtime.enter();
    c.bench_function("in_flight_track_and_drop", |b| {
        b.iter(|| {
            let access = Access {
                principal: &principal,
                resource: &resource,
                grant_ends: Some(until),
                session: Some((&session, until)),
                token: None,
            };
            drop(registry.track(upstream.as_raw_fd(), access));
        });
    });
}

criterion_group!(
    benches,
    resolve,
    embedded_lookup,
    proxy_decision_cache_hit,
    assertion_sign,
    in_flight_registration
);
criterion_main!(benches);
