//! What every conformance test starts from: a store of the backend under test, a manual clock,
//! the workflow service over both, and a fixed policy with one user per interesting case.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use jitgate_access::clock::ManualClock;
use jitgate_access::ids::{GroupName, ResourceName, UserId};
use jitgate_access::policy::{
    AccessMode, Approval, Assignment, Audience, BreakGlass, Identity, JitPolicy, PolicySet,
    Principals, ResourcePolicy, Roles, Starts,
};
use jitgate_access::service::AccessService;
use jitgate_access::store::{EmbeddedStore, RedisStore, Store};
use tempfile::TempDir;

use jitgate_testkit::RedisServer;

pub fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

pub fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

pub fn resource(name: &str) -> ResourceName {
    ResourceName::parse(name).unwrap()
}

pub fn group(name: &str) -> GroupName {
    GroupName::parse(name).unwrap()
}

pub fn person(email: &str, groups: &[&str]) -> Identity {
    Identity::new(UserId::parse(email).unwrap(), groups.iter().map(|g| group(g)))
}

/// Requests `db` with manual approval by one reviewer.
pub fn alice() -> Identity {
    person("alice@example.com", &["dev"])
}
/// Gets `db` automatically, and may pause it and extend it (to 10h in all).
pub fn bob() -> Identity {
    person("bob@example.com", &["sre"])
}
/// Needs two approvals for `db`, and as many for an extension.
pub fn carol() -> Identity {
    person("carol@example.com", &["dba"])
}
pub fn reviewer() -> Identity {
    person("rev1@example.com", &["security"])
}
pub fn second_reviewer() -> Identity {
    person("rev2@example.com", &["security"])
}
pub fn admin() -> Identity {
    person("root@example.com", &["admins"])
}
/// A developer on call: may break glass on `db` (for up to 1h) where Alice must ask.
pub fn dora() -> Identity {
    person("dora@example.com", &["dev", "oncall"])
}
/// On call and a reviewer: may break glass, and may never review having done so.
pub fn victor() -> Identity {
    person("victor@example.com", &["dev", "oncall", "security"])
}
/// An operator: `db` with one approval, starting on first use (claim within 2h).
pub fn fern() -> Identity {
    person("fern@example.com", &["ops"])
}
/// In no group that has access to anything but the wiki.
pub fn mallory() -> Identity {
    person("mallory@example.com", &["contractors"])
}

fn jit(approval: Approval) -> AccessMode {
    AccessMode::Jit(JitPolicy {
        durations: vec![hours(1), hours(8)],
        allow_custom_duration: true,
        max_duration: hours(8),
        approval,
        reviewers: Principals::default(),
        reason_required: true,
        pending_timeout: hours(24),
        allow_pause: false,
        allow_extension: false,
        max_total: None,
        break_glass: None,
        schedule_ahead: Some(hours(14 * 24)),
        starts: Default::default(),
    })
}

/// `mode` with extensions allowed, up to `max_total` in all.
fn extendable(mut mode: AccessMode, max_total: Option<Duration>) -> AccessMode {
    if let AccessMode::Jit(policy) = &mut mode {
        policy.allow_extension = true;
        policy.max_total = max_total;
    }
    mode
}

/// `mode` letting members of `groups` break glass for up to `max_duration`.
fn breakable(mut mode: AccessMode, groups: &[&str], max_duration: Duration) -> AccessMode {
    if let AccessMode::Jit(policy) = &mut mode {
        let groups = groups.iter().map(|g| group(g)).collect();
        policy.break_glass = Some(BreakGlass { groups, max_duration });
    }
    mode
}

/// `mode` starting on first use, claimed within `claim_within`.
fn first_use(mut mode: AccessMode, claim_within: Duration) -> AccessMode {
    if let AccessMode::Jit(policy) = &mut mode {
        policy.starts = Starts::OnFirstUse { claim_within };
    }
    mode
}

/// `mode` with pausing allowed.
fn pausable(mut mode: AccessMode) -> AccessMode {
    if let AccessMode::Jit(policy) = &mut mode {
        policy.allow_pause = true;
    }
    mode
}

fn manual(n: u32) -> Approval {
    Approval::Manual { approvals_needed: NonZeroU32::new(n).unwrap() }
}

pub fn policies() -> PolicySet {
    let db = ResourcePolicy {
        resource: resource("db"),
        assignments: vec![
            Assignment {
                audience: Audience::Group(group("dev")),
                mode: breakable(jit(manual(1)), &["oncall"], hours(1)),
            },
            Assignment {
                audience: Audience::Group(group("sre")),
                mode: extendable(pausable(jit(Approval::Auto)), Some(hours(10))),
            },
            Assignment {
                audience: Audience::Group(group("dba")),
                mode: extendable(jit(manual(2)), None),
            },
            Assignment {
                audience: Audience::Group(group("ops")),
                mode: pausable(first_use(extendable(jit(manual(1)), None), hours(2))),
            },
        ],
    };
    let wiki = ResourcePolicy {
        resource: resource("wiki"),
        assignments: vec![Assignment { audience: Audience::Everyone, mode: AccessMode::Standing }],
    };
    PolicySet {
        roles: Roles {
            admins: Principals { groups: [group("admins")].into(), ..Principals::default() },
            reviewers: Principals { groups: [group("security")].into(), ..Principals::default() },
            admins_bypass_jit: true,
        },
        resources: BTreeMap::from([(resource("db"), db), (resource("wiki"), wiki)]),
    }
}

enum Backend {
    Embedded {
        _dir: TempDir,
        path: std::path::PathBuf,
    },
    Redis {
        server: Box<RedisServer>,
        prefix: String,
    },
    /// Redis on a server that the test itself holds.
    Borrowed {
        url: String,
        prefix: String,
    },
}

impl Backend {
    fn redis_url(&self) -> Option<(String, &str)> {
        match self {
            Backend::Redis { server, prefix } => Some((server.url(), prefix)),
            Backend::Borrowed { url, prefix } => Some((url.clone(), prefix)),
            _ => None,
        }
    }
}

pub struct Fixture {
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub service: AccessService,
    backend: Backend,
}

impl Fixture {
    pub async fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/jitgate.db");
        let store = EmbeddedStore::open(&path).unwrap();
        Self::assemble(Arc::new(store), Backend::Embedded { _dir: dir, path })
    }

    pub async fn redis() -> Self {
        let server = RedisServer::start().await;
        let prefix = "jg-test".to_owned();
        let store = RedisStore::connect(&server.url(), &prefix).await.unwrap();
        Self::assemble(Arc::new(store), Backend::Redis { server: Box::new(server), prefix })
    }

    /// A fixture on a server the test owns, under its own key prefix.
    pub async fn over_redis(server: &RedisServer, prefix: &str) -> Self {
        let store = RedisStore::connect(&server.url(), prefix).await.unwrap();
        let backend = Backend::Borrowed { url: server.url(), prefix: prefix.to_owned() };
        Self::assemble(Arc::new(store), backend)
    }

    fn assemble(store: Arc<dyn Store>, backend: Backend) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let service = AccessService::new(store.clone(), clock.clone(), Arc::new(policies()));
        Self { clock, store, service, backend }
    }

    /// Closes every handle on the store and opens it again: what a process restart does.
    pub async fn reopen(self) -> Self {
        let Fixture { clock, store, service, backend } = self;
        drop(service);
        drop(store);
        let store = open_again(&backend).await;
        let service = AccessService::new(store.clone(), clock.clone(), Arc::new(policies()));
        Fixture { clock, store, service, backend }
    }

    /// A second, independent handle on the same data (another instance or process).
    pub async fn second_handle(&self) -> Arc<dyn Store> {
        open_again(&self.backend).await
    }
}

async fn open_again(backend: &Backend) -> Arc<dyn Store> {
    if let Backend::Embedded { path, .. } = backend {
        return Arc::new(EmbeddedStore::open(path).unwrap());
    }
    let (url, prefix) = backend.redis_url().expect("a redis backend");
    Arc::new(RedisStore::connect(&url, prefix).await.unwrap())
}

impl Fixture {
    /// The embedded store's file, for tests that edit it as an older jitgate left it.
    pub fn embedded_path(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Embedded { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Whether change events published through one handle reach subscribers of another
    /// (true for Redis pub/sub; the embedded store serves one process).
    pub fn shares_events_across_handles(&self) -> bool {
        self.backend.redis_url().is_some()
    }
}

/// The audit actions recorded about `request`, oldest first.
pub async fn actions_of(
    f: &Fixture,
    request: jitgate_access::ids::RequestId,
) -> Vec<jitgate_access::audit::AuditAction> {
    use jitgate_access::store::AuditQuery;
    let query = AuditQuery { request_id: Some(request), limit: 100, ..AuditQuery::default() };
    let page = f.store.list_audit(&query).await.unwrap();
    page.items.iter().rev().map(|e| e.action).collect()
}

/// The state machine's refusal inside `error`.
pub fn refusal(
    error: jitgate_access::service::ServiceError,
) -> jitgate_access::transition::TransitionError {
    match error {
        jitgate_access::service::ServiceError::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
