//! The reviewers' dashboard with 100 000 requests in the store.
//!
//! The issue asks that "a dashboard page with 100 000 stored requests renders", and a page
//! that is fast with the few hundred requests of the tests can still fall over once a
//! deployment has a year of history: every dashboard page counts four tabs, counts the bell
//! in the navigation and lists one page of rows, and any of those queries that scans instead
//! of seeking grows with the history. So this bench seeds an embedded store once with
//! 100 000 requests (mostly expired, revoked, denied, cancelled and timed-out history, a few
//! hundred pending and active; 1% of the reasons carry a rare word) and measures whole page
//! renders through the portal's router (no network): the session cookie is verified, the
//! session read, the queries run and the HTML rendered, exactly as for a browser.
//!
//! - `dashboard_pending_first_page_100k`: `GET /review`, the page reviewers live on.
//! - `dashboard_ended_first_page_100k`: `GET /review?tab=ended`, the tab holding the history.
//! - `dashboard_deep_page_100k`: a page of that tab reached by a `before=` cursor 90% of the
//!   way down the history.
//! - `dashboard_search_100k`: a search of the history for a word in 1% of the reasons.
//!
//! Each page is fetched and checked once before it is measured (status 200, exactly the
//! expected rows in order), so a broken page cannot be benchmarked as a fast one.
//!
//! What to expect: the tab pages stay in the low milliseconds because every tab count stops
//! at the dashboard's cap (10 000) and lists seek the `(status, id)` index. A search has no
//! index: each of the four tab counts and the page itself test every row of their statuses
//! (a rare word never reaches the cap), so its cost grows with the whole history.
//!
//! The requests are written straight through [`Store::commit`] in batches, each request with
//! the whole history the transition functions produce for it (open, then approve, deny,
//! cancel, revoke or expire), folded into one write, so seeding takes seconds rather than the
//! minutes 300 000 single commits would.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use jitgate_access::clock::ManualClock;
use jitgate_access::config::{Config, StoreConfig};
use jitgate_access::ids::{GroupName, IdGenerator, RequestId, UserId};
use jitgate_access::policy::{Access, Identity};
const SESSION_COOKIE: &str = "jitgate_session";
use jitgate_access::service::AccessService;
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{EmbeddedStore, Store};
use jitgate_access::time::Timestamp;
use jitgate_access::token::TokenKeys;
use jitgate_access::transition::{self, Change, Context, NewRequest, RequestWrite};
use jitgate_portal::{Portal, PortalSettings};
use jitgate_testkit::config::{ConfigBuilder, Resource};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// Requests seeded when benchmarking (`cargo bench`).
const BENCH_REQUESTS: usize = 100_000;
/// Requests seeded when `cargo test --all-targets` runs this bench once in test mode: enough
/// to exercise every page and check, quick enough not to slow the test suite down.
const TEST_REQUESTS: usize = 2_000;
/// Requests per seeding commit.
const BATCH: usize = 1_000;
/// Time between two requests of the history.
const SPACING: Duration = Duration::from_secs(20);
/// In 1% of the reasons, and nowhere else: what the search benchmark looks for.
const RARE: &str = "quokka";
/// Rows per dashboard page (the portal's `PAGE_SIZE`).
const PAGE: usize = 50;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// What became of a seeded request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    Pending,
    Active,
    Denied,
    TimedOut,
    Cancelled,
    Revoked,
    Expired,
}

impl Fate {
    /// The dashboard tab that lists a request with this fate.
    fn tab(self) -> &'static str {
        match self {
            Fate::Pending => "pending",
            Fate::Active => "active",
            Fate::Denied | Fate::TimedOut | Fate::Cancelled => "denied",
            Fate::Revoked | Fate::Expired => "ended",
        }
    }
}

/// The most recent 1% of the requests are undecided or active; the rest is history, most of
/// it expired.
fn fate(i: usize, count: usize) -> Fate {
    if i >= count - recent(count) {
        return if i.is_multiple_of(2) { Fate::Pending } else { Fate::Active };
    }
    match i % 20 {
        0 => Fate::Denied,
        1 => Fate::TimedOut,
        2 => Fate::Cancelled,
        3 => Fate::Revoked,
        _ => Fate::Expired,
    }
}

fn recent(count: usize) -> usize {
    (count / 100).max(20)
}

fn reason(i: usize) -> String {
    if i % 100 == 7 {
        format!("Incident {i}: {RARE} outage on the primary")
    } else {
        format!("Routine maintenance, ticket OPS-{i}")
    }
}

/// A deployment as `jitgate serve` loads it: config and users file in a directory, the
/// store the config names.
fn write_config(dir: &Path) -> Config {
    // Only the prefix is checked at load; nobody signs in with a password here.
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$bench";
    let users: String = [("admin@example.com", "admins"), ("reviewer@example.com", "security")]
        .iter()
        .map(|(email, group)| {
            format!("[[user]]\nemail = \"{email}\"\npassword_hash = \"{hash}\"\ngroups = [\"{group}\"]\n\n")
        })
        .collect();
    std::fs::write(dir.join("users.toml"), users).unwrap();
    std::fs::write(dir.join("secret"), "dashboard-bench-secret-0123456789abcdefghij").unwrap();
    // Nothing listens: the bench drives the portal's router in-process, on the portal's host.
    let mut config = ConfigBuilder::new()
        .server("listen_http = \"127.0.0.1:1\"\nportal_url = \"http://access.localhost\"")
        .session_secret_file("secret");
    for name in ["app", "db", "vault", "billing"] {
        config = config.resource(
            Resource::new(name, &format!("{name}.localhost"))
                .upstream("http://127.0.0.1:9")
                .policy(r#"durations = ["1h", "4h"]"#)
                .policy("allow_custom_duration = true")
                .policy(r#"max_duration = "8h""#)
                .policy(r#"approval = "manual""#)
                .group("dev"),
        );
    }
    let config = config.build();
    let path = dir.join("jitgate.toml");
    std::fs::write(&path, config).unwrap();
    jitgate_access::config::load(&path).unwrap()
}

/// Writes `count` requests, oldest first, the newest created an hour before `now`; returns
/// their ids and fates in creation (= id) order.
async fn seed(
    store: &dyn Store,
    config: &Config,
    count: usize,
    now: Timestamp,
) -> Vec<(RequestId, Fate)> {
    let request_ids = IdGenerator::new();
    let reviewer = UserId::parse("reviewer@example.com").unwrap();
    let dev = GroupName::parse("dev").unwrap();
    let mut seeded = Vec::with_capacity(count);
    let mut batch = Change::default();
    for i in 0..count {
        let fate = fate(i, count);
        // History ends two days ago, so even its timeouts lie in the past.
        let gap = if matches!(fate, Fate::Pending | Fate::Active) { HOUR } else { 48 * HOUR };
        let ago = SPACING * u32::try_from(count - i).unwrap() + gap;
        let created = Timestamp::from_millis(now.as_millis() - ago.as_millis() as i64);
        let resource = &config.resources[i % config.resources.len()];
        let requester = Identity::new(
            UserId::parse(&format!("user{}@example.com", i % 3000)).unwrap(),
            [dev.clone()],
        );
        let Access::Jit { policy, .. } = resource.policy.resolve(&config.roles, &requester) else {
            panic!("dev has just-in-time access to {}", resource.name);
        };
        // Audit ids of one request only: a shared generator would keep its ids monotonic and
        // so pull later requests' times forward.
        let audit_ids = IdGenerator::new();
        let at = |offset: Duration| Context { now: created.plus(offset), ids: &audit_ids };
        let id = RequestId::from(request_ids.next(created));
        let new = NewRequest {
            requester,
            resource: resource.name.clone(),
            reason: reason(i),
            duration: HOUR,
        };
        let opened = transition::open(&at(Duration::ZERO), new, id, policy, None).unwrap();
        let request = opened.requests[0].request.clone();
        let mut steps = vec![opened];
        let approve = |offset, duration| {
            transition::approve(&at(offset), &request, &reviewer, duration, "", policy, None)
                .unwrap()
        };
        match fate {
            Fate::Pending => {}
            Fate::Active => steps.push(approve(MINUTE, Some(8 * HOUR))),
            Fate::Denied => steps.push(
                transition::deny(&at(5 * MINUTE), &request, &reviewer, "not needed").unwrap(),
            ),
            Fate::TimedOut => steps
                .push(transition::expire(&at(policy.pending_timeout + MINUTE), &request).unwrap()),
            Fate::Cancelled => steps.push(
                transition::cancel(&at(MINUTE), &request, &request.requester.clone()).unwrap(),
            ),
            Fate::Revoked | Fate::Expired => {
                let approved = approve(2 * MINUTE, None);
                let granted = approved.requests[0].request.clone();
                steps.push(approved);
                steps.push(if fate == Fate::Revoked {
                    transition::revoke(&at(30 * MINUTE), &granted, &reviewer, "done").unwrap()
                } else {
                    transition::expire(&at(2 * MINUTE + HOUR + MINUTE), &granted).unwrap()
                });
            }
        }
        // One write of the request as its history left it, with every audit event on the way.
        let last = steps.last().unwrap().requests[0].request.clone();
        assert_eq!(last.id, id);
        let write = RequestWrite { request: last, expected_version: None };
        let audit = steps.iter().flat_map(|step| step.audit.iter().cloned());
        if fate == Fate::Active {
            // Its grant pointer too, which a batch (one pointer per change) cannot carry.
            let pointer = steps.last().unwrap().grant_pointer.clone();
            let change = Change {
                requests: vec![write],
                grant_pointer: pointer,
                audit: audit.collect(),
                ..Change::default()
            };
            store.commit(&change).await.unwrap();
        } else {
            batch.requests.push(write);
            batch.audit.extend(audit);
            if batch.requests.len() == BATCH {
                store.commit(&std::mem::take(&mut batch)).await.unwrap();
            }
        }
        seeded.push((id, fate));
    }
    if !batch.requests.is_empty() {
        store.commit(&batch).await.unwrap();
    }
    seeded
}

/// A seeded store behind a portal, and an admin's session cookie for it.
struct Dashboard {
    router: Router,
    host: String,
    cookie: String,
    seeded: Vec<(RequestId, Fate)>,
    _dir: tempfile::TempDir,
}

impl Dashboard {
    async fn new(count: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path());
        let StoreConfig::Embedded { path } = &config.store else {
            panic!("the bench config names the embedded store");
        };
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(path).unwrap());
        let clock = Arc::new(ManualClock::starting_now());
        let now = jitgate_access::clock::Clock::now(clock.as_ref());

        let started = Instant::now();
        let seeded = seed(store.as_ref(), &config, count, now).await;
        eprintln!("seeded {count} requests in {:.1?}", started.elapsed());

        let admin = Identity::new(
            UserId::parse("admin@example.com").unwrap(),
            [GroupName::parse("admins").unwrap()],
        );
        let session = Session {
            id: SessionId::random(),
            identity: admin,
            created_at: now,
            expires_at: now.plus(12 * HOUR),
        };
        store.create_session(&session).await.unwrap();
        let keys = TokenKeys::new(config.session.secret.expose().as_bytes());
        let host = config.server.portal_host.clone();
        let cookie = format!(
            "{SESSION_COOKIE}={}",
            keys.session_cookie(&session.id, &host, session.expires_at)
        );

        let config = Arc::new(config);
        let service = AccessService::new(store, clock.clone(), Arc::new(config.policy_set()));
        let portal = Portal::new(PortalSettings {
            config,
            service: Arc::new(service),
            clock,
            assertion_jwks: serde_json::json!({ "keys": [] }),
            bearer: None,
        })
        .await
        .unwrap();
        Self { router: portal.router(), host, cookie, seeded, _dir: dir }
    }

    /// The page at `path`, which must render.
    async fn get(&self, path: &str) -> String {
        let request = Request::get(path)
            .header(header::HOST, &self.host)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// The newest ids, newest first, of the requests older than `before` that `keep` selects.
    fn newest(&self, before: usize, keep: impl Fn(usize, Fate) -> bool) -> Vec<RequestId> {
        self.seeded[..before]
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, (_, fate))| keep(*i, *fate))
            .map(|(_, (id, _))| *id)
            .take(PAGE)
            .collect()
    }
}

/// Checks that `html` lists exactly the rows `expected`, in that order.
fn assert_rows(html: &str, expected: &[RequestId], page: &str) {
    let rows: Vec<&str> =
        html.split(r#"<tr id="r-"#).skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
    assert!(!expected.is_empty(), "{page}: the seed puts rows on this page");
    assert_eq!(rows, expected, "{page}: the rows, newest first");
}

fn dashboard(c: &mut Criterion) {
    // `cargo bench` passes `--bench`; in test mode (`cargo test --all-targets`) criterion runs
    // each benchmark once, and seeding 100 000 requests for that would only slow the tests.
    let count =
        if std::env::args().any(|a| a == "--bench") { BENCH_REQUESTS } else { TEST_REQUESTS };
    let runtime: Runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dashboard = runtime.block_on(Dashboard::new(count));
    let label = if count == BENCH_REQUESTS { "100k".to_owned() } else { count.to_string() };

    let all = dashboard.seeded.len();
    let deep = dashboard.seeded[all / 10].0;
    let pages = [
        (
            "pending_first_page",
            "/review".to_owned(),
            dashboard.newest(all, |_, f| f.tab() == "pending"),
        ),
        (
            "ended_first_page",
            "/review?tab=ended".to_owned(),
            dashboard.newest(all, |_, f| f.tab() == "ended"),
        ),
        (
            "deep_page",
            format!("/review?tab=ended&before={deep}"),
            dashboard.newest(all / 10, |_, f| f.tab() == "ended"),
        ),
        (
            "search",
            format!("/review?tab=ended&q={RARE}"),
            dashboard.newest(all, |i, f| f.tab() == "ended" && reason(i).contains(RARE)),
        ),
    ];

    let mut group = c.benchmark_group("dashboard");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, path, expected) in &pages {
        let html = runtime.block_on(dashboard.get(path));
        assert_rows(&html, expected, path);
        group.bench_function(format!("dashboard_{name}_{label}"), |b| {
            b.to_async(&runtime).iter(|| async {
                std::hint::black_box(dashboard.get(std::hint::black_box(path)).await.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dashboard);
criterion_main!(benches);
