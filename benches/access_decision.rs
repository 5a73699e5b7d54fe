//! The per-request access decision's building blocks, measured without a proxy around them:
//! resolving a user's policy on a resource (a user in 200 groups against a resource with many
//! assignments), and looking a grant up in the embedded store, uncached. The proxy's own
//! benchmark (cookie verification + cached grant) builds on these.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jitgate_access::clock::{Clock, ManualClock};
use jitgate_access::ids::{GroupName, ResourceName, UserId};
use jitgate_access::policy::{
    AccessMode, Approval, Assignment, Audience, Identity, JitPolicy, PolicySet, Principals,
    ResourcePolicy, Roles,
};
use jitgate_access::service::AccessService;
use jitgate_access::store::{EmbeddedStore, Store};

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

criterion_group!(benches, resolve, embedded_lookup);
criterion_main!(benches);
