//! The reviewers' dashboard with 100 000 requests in the store: the issue's "the dashboard
//! stays fast" measured rather than asserted. Each benchmark sends one GET through the
//! portal's router (no network), as the admin of the quickstart config, and the page is checked
//! once before measuring so a broken page cannot pass as a fast one.
//!
//! What is measured: the Pending tab (the default view), the Expired/Revoked tab (the
//! biggest), a page deep in history through its cursor, and a search that matches 1% of
//! reasons (no index: SQLite scans). Each page also counts all four tabs and the bell.
//!
//! Seeding writes requests straight through the store in batches of 1 000 (one transaction
//! each). Under `cargo test --all-targets` (benches run once, in test mode) it seeds 2 000 so
//! the suite stays quick; `cargo bench --bench dashboard` seeds the full 100 000.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::ids::{GroupName, IdGenerator, RequestId, ResourceName, UserId};
use jitgate_access::policy::Identity;
use jitgate_access::request::{AccessRequest, Grant, GrantEnd, RequestState};
use jitgate_access::service::AccessService;
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{EmbeddedStore, Store};
use jitgate_access::time::Timestamp;
use jitgate_access::token::TokenKeys;
use jitgate_access::transition::{Change, RequestWrite};
use jitgate_portal::{Portal, PortalSettings};
use tower::ServiceExt;

const BATCH: usize = 1_000;

fn seeded_count() -> usize {
    if std::env::args().any(|arg| arg == "--bench") { 100_000 } else { 2_000 }
}

/// Request `i` of the history: mostly expired grants and denials, some pending and active.
fn historic(i: usize, id: RequestId, now: Timestamp) -> AccessRequest {
    let requester = UserId::parse(&format!("user{}@example.com", i % 5_000)).unwrap();
    let resource = ResourceName::parse("demo").unwrap();
    let created_at = id.timestamp();
    let reason =
        if i % 100 == 50 { format!("incident needle {i}") } else { format!("routine work {i}") };
    let hour = Duration::from_secs(3600);
    let grant = |end: Option<GrantEnd>, expires_at: Timestamp| Grant {
        user: requester.clone(),
        resource: resource.clone(),
        request_id: id,
        granted_at: created_at,
        expires_at,
        end,
    };
    let state = match i % 100 {
        0..=1 => RequestState::Pending,
        2 => RequestState::Approved { grant: grant(None, now.plus(hour)) },
        3..=22 => RequestState::Denied {
            by: UserId::parse("reviewer@example.com").unwrap(),
            at: created_at,
            note: "not now".into(),
        },
        _ => RequestState::Approved {
            grant: grant(
                Some(GrantEnd::Expired { at: created_at.plus(hour) }),
                created_at.plus(hour),
            ),
        },
    };
    AccessRequest {
        id,
        version: 1,
        requester,
        requester_groups: [GroupName::parse("engineering").unwrap()].into(),
        resource,
        reason,
        requested_duration: hour,
        created_at,
        pending_until: now.plus(Duration::from_secs(24 * 3600)),
        approvals: vec![],
        state,
    }
}

struct Fixture {
    portal: Portal,
    cookie: String,
    host: String,
    /// A cursor about four fifths of the way back in history.
    deep: RequestId,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let config =
        Arc::new(jitgate_access::config::load(Path::new("config/quickstart.toml")).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path().join("bench.db")).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let ids = IdGenerator::new();
    let count = seeded_count();
    let started = Instant::now();
    let mut all = Vec::with_capacity(count);
    // Spread over the last 90 days, oldest first, so ids sort like real history.
    let span = 90 * 24 * 3600 * 1000_i64;
    for batch in 0..count.div_ceil(BATCH) {
        let mut change = Change::default();
        for i in batch * BATCH..((batch + 1) * BATCH).min(count) {
            let at =
                Timestamp::from_millis(now.as_millis() - span + span * i as i64 / count as i64);
            let id = RequestId::from(ids.next(at));
            all.push(id);
            change
                .requests
                .push(RequestWrite { request: historic(i, id, now), expected_version: None });
        }
        store.commit(&change).await.unwrap();
    }
    eprintln!("seeded {count} requests in {:.1?}", started.elapsed());

    let admin = Identity::new(
        UserId::parse("admin@example.com").unwrap(),
        [GroupName::parse("admins").unwrap()],
    );
    let session = Session {
        id: SessionId::random(),
        identity: admin,
        created_at: now,
        expires_at: now.plus(Duration::from_secs(24 * 3600)),
    };
    store.create_session(&session).await.unwrap();
    let host = config.server.portal_host.clone();
    let keys = TokenKeys::new(config.session.secret.expose().as_bytes());
    let cookie = keys.session_cookie(&session.id, &host, session.expires_at);
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
    Fixture { portal, cookie, host, deep: all[count / 5], _dir: dir }
}

impl Fixture {
    async fn get(&self, path: &str) -> String {
        let request = Request::get(path)
            .header(header::HOST, &self.host)
            .header(header::COOKIE, format!("jitgate_session={}", self.cookie))
            .body(Body::empty())
            .unwrap();
        let response = self.portal.router().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }
}

fn dashboard(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let f = runtime.block_on(fixture());
    let deep = format!("/review?tab=ended&before={}", f.deep);
    let pages = [
        ("dashboard_pending_first_page", "/review".to_owned(), "Approve"),
        ("dashboard_ended_first_page", "/review?tab=ended".to_owned(), "expired"),
        ("dashboard_deep_page", deep, "expired"),
        ("dashboard_search_1_percent", "/review?tab=ended&q=needle".to_owned(), "incident needle"),
    ];
    for (_, path, expected) in &pages {
        let html = runtime.block_on(f.get(path));
        assert!(html.contains(expected), "{path} shows {expected:?}");
        assert!(html.contains("<tr id=\"r-"), "{path} lists requests");
    }
    let mut group = c.benchmark_group(format!("dashboard_{}_requests", seeded_count()));
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for (name, path, _) in &pages {
        group.bench_function(*name, |b| b.to_async(&runtime).iter(|| f.get(path)));
    }
    group.finish();
}

criterion_group!(benches, dashboard);
criterion_main!(benches);
