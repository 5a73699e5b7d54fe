//! Redis high availability: jitgate on a Sentinel-monitored primary and two replicas
//! (`redis+sentinel://`, `store.wait_for_replicas = 1`). The primary is killed under traffic;
//! the sentinels promote the replica; jitgate follows without a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::request::Status;
use jitgate_access::store::AuditQuery;
use jitgate_testkit::http::get;
use jitgate_testkit::wait_until;

use crate::stack::{Stack, person};

/// What one client saw: (when, HTTP status).
type Seen = Arc<Mutex<Vec<(Instant, u16)>>>;

/// Sends `cookie`'s requests to the app every 20 ms until the returned flag is set.
fn traffic(port: u16, host: String, cookie: String) -> (Seen, Arc<Mutex<bool>>) {
    let seen: Seen = Arc::default();
    let stop = Arc::new(Mutex::new(false));
    let (log, done) = (seen.clone(), stop.clone());
    tokio::spawn(async move {
        while !*done.lock().unwrap() {
            let status = get(port, &host, "/", &[("cookie", &cookie)]).await.status;
            log.lock().unwrap().push((Instant::now(), status));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (seen, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_fails_closed_then_recovers_without_losing_a_commit() {
    let mut stack = Stack::start_sentinel(1).await;
    let (port, host) = (stack.port(), stack.host("app"));
    let bob = person("bob@example.com", &["sre"]);
    let granted = stack.grant_app(&bob).await;
    let (_, bob_cookie) = stack.sign_in(&bob, "app").await;
    // Dave asks for nothing: whatever happens to Redis, he must never get in.
    let (_, dave_cookie) = stack.sign_in(&person("dave@example.com", &["dev"]), "app").await;
    assert_eq!(get(port, &host, "/", &[("cookie", &bob_cookie)]).await.status, 200);
    let audit_query =
        AuditQuery { request_id: Some(granted.id), limit: 50, ..AuditQuery::default() };
    let audit_before = stack.store.list_audit(&audit_query).await.unwrap().items.len();
    assert!(audit_before > 0, "the grant is audited");

    let (bob_saw, bob_stop) = traffic(port, host.clone(), bob_cookie.clone());
    let (dave_saw, dave_stop) = traffic(port, host.clone(), dave_cookie);
    wait_until("traffic to flow", Duration::from_secs(10), || async {
        bob_saw.lock().unwrap().len() > 5
    })
    .await;

    let replica_ports: Vec<u16> =
        stack.sentinels.as_ref().unwrap().replicas.iter().map(|r| r.port).collect();
    let killed = Instant::now();
    stack.redis.stop().await;
    let group = stack.sentinels.as_ref().unwrap();
    wait_until("the sentinels to promote a replica", Duration::from_secs(30), || async {
        group.primary_port().await.is_some_and(|port| replica_ports.contains(&port))
    })
    .await;
    let promoted = killed.elapsed();

    // Recovered: new commits land on the new primary, and jitgate decides on it again.
    let carol = person("carol@example.com", &["sre"]);
    let carol_session = Arc::new(Mutex::new(None));
    wait_until("a session to be stored on the new primary", Duration::from_secs(30), || {
        let (stack, carol, slot) = (&stack, &carol, carol_session.clone());
        async move {
            let session = stack.try_sign_in(carol, "app").await;
            let stored = session.is_some();
            *slot.lock().unwrap() = session;
            stored
        }
    })
    .await;
    let (_, carol_cookie) = carol_session.lock().unwrap().take().unwrap();
    let app = "app".parse().unwrap();
    wait_until("a grant to commit on the new primary", Duration::from_secs(30), || {
        let (service, carol, app) = (&stack.service, &carol, &app);
        async move {
            service
                .request_access(carol, app, "after failover", Duration::from_secs(3600))
                .await
                .is_ok()
        }
    })
    .await;
    wait_until("carol's new grant to let her in", Duration::from_secs(30), || {
        let (host, cookie) = (&host, &carol_cookie);
        async move { get(port, host, "/", &[("cookie", cookie)]).await.status == 200 }
    })
    .await;
    let carol_in = Instant::now();
    wait_until("bob to be let in again", Duration::from_secs(30), || async {
        let seen = bob_saw.lock().unwrap();
        let recent: Vec<_> = seen.iter().filter(|(at, _)| *at > carol_in).collect();
        recent.len() >= 3 && recent.iter().rev().take(3).all(|(_, status)| *status == 200)
    })
    .await;
    let recovered = killed.elapsed();
    *bob_stop.lock().unwrap() = true;
    *dave_stop.lock().unwrap() = true;

    // Fail closed throughout: dave never got in; bob got in or was refused as unavailable.
    let dave_statuses: Vec<u16> = dave_saw.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert!(!dave_statuses.contains(&200), "someone without a grant got in: {dave_statuses:?}");
    let bob_statuses: Vec<u16> = bob_saw.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert!(bob_statuses.iter().all(|s| [200, 503].contains(s)), "{bob_statuses:?}");

    // Nothing committed before the failover is lost.
    let request = stack.store.request(granted.id).await.unwrap().expect("the request survived");
    assert_eq!(request.status_at(SystemClock.now()), Status::Active);
    let grant = stack.store.active_grant(&bob.user, &app, SystemClock.now()).await.unwrap();
    assert!(grant.is_some(), "the grant survived");
    let audit_after = stack.store.list_audit(&audit_query).await.unwrap().items.len();
    assert_eq!(audit_after, audit_before, "the audit trail survived");

    // The change feed follows the new primary: a revocation reaches the proxy.
    let admin = person("admin@example.com", &["admins"]);
    stack.service.revoke(&admin, granted.id, "after failover").await.unwrap();
    let revoked = Instant::now();
    wait_until("the revocation to reach the proxy", Duration::from_secs(5), || {
        let (host, cookie) = (&host, &bob_cookie);
        async move { get(port, host, "/", &[("cookie", cookie)]).await.status == 403 }
    })
    .await;
    eprintln!(
        "failover: promoted {promoted:?} after the kill, jitgate serving from the new primary \
         {recovered:?} after it, revocation seen in {:?}; bob's statuses {bob_statuses:?}",
        revoked.elapsed()
    );
}
