//! Grants that start on first use (issue 15), through the real binary and a real upstream:
//! the first request claims the grant and passes, its window runs from that request on every
//! instance, an open connection is cut at its real end; a grant nobody uses lapses at
//! `claim_within` and lets nobody in.

use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::request::{AccessRequest, Claim, Status};
use jitgate_access::store::AuditQuery;
use jitgate_testkit::http::{Connection, get, open_websocket};
use jitgate_testkit::wait_until;

use super::stack::{Stack, person};
use super::{closes_after, echoes, grant_in_store};

/// How soon after the grant's end an open connection must be cut.
const WITHIN: Duration = Duration::from_secs(1);

async fn actions(stack: &Stack, request: &AccessRequest) -> Vec<AuditAction> {
    let query = AuditQuery { request_id: Some(request.id), limit: 50, ..AuditQuery::default() };
    let page = stack.store.list_audit(&query).await.unwrap();
    page.items.iter().rev().map(|event| event.action).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_claims_the_grant_and_its_window_runs_from_there() {
    let stack = Stack::start(2).await;
    let alice = person("alice@example.com", &["dev"]);
    // Approved for 3 s of access, to be claimed within a minute.
    let lasts = Duration::from_secs(3);
    let approved_at = SystemClock.now();
    let claim = Claim { duration: lasts, claimed_at: None };
    grant_in_store(&stack, &alice, Duration::ZERO, Duration::from_secs(60), Some(claim)).await;
    let (_, cookie) = stack.sign_in(&alice, "app").await;
    let host = stack.host("app");
    let app = "app".parse().unwrap();
    let grant = stack.store.active_grant(&alice.user, &app, approved_at).await.unwrap();
    let grant = grant.expect("approved");
    assert!(grant.awaits_claim());
    let request = stack.store.request(grant.request_id).await.unwrap().unwrap();

    // Longer than its whole duration passes unused: the window has not started.
    tokio::time::sleep(lasts + Duration::from_millis(500)).await;
    let first_use = SystemClock.now();
    let mut socket =
        open_websocket(stack.port(), &host, "/ws", &[("cookie", &cookie)]).await.unwrap();
    echoes(&mut socket).await;
    let claimed = stack.store.request(request.id).await.unwrap().unwrap();
    let grant = claimed.grant().unwrap().clone();
    let claimed_at = grant.claim.as_ref().and_then(|c| c.claimed_at).expect("claimed");
    assert!(claimed_at >= first_use, "claimed by the request, not before it");
    assert_eq!(grant.expires_at, claimed_at.plus(lasts), "the window runs from first use");

    // The other instance lets Alice in on the one claim, and claims nothing more.
    let other_host = format!("app.localhost:{}", stack.instances[1].port);
    let (_, other_cookie) = stack.sign_in_on(&alice, &other_host).await;
    let other = get(stack.instances[1].port, &other_host, "/", &[("cookie", &other_cookie)]).await;
    assert_eq!(other.status, 200);
    let claims = actions(&stack, &request).await;
    assert_eq!(claims.iter().filter(|a| **a == AuditAction::GrantClaimed).count(), 1);

    let late = closes_after(socket, grant.expires_at).await;
    eprintln!("WebSocket closed {late:?} after the claimed grant's end");
    assert!(late < WITHIN, "WebSocket closed {late:?} after the grant's end");
    let mut connection = Connection::open(stack.port()).await.unwrap();
    let after = connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap();
    assert_eq!(after.status, 403, "locked once the claimed window is over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_nobody_uses_lapses_at_claim_within_and_lets_nobody_in() {
    let stack = Stack::start(1).await;
    // `ops` gets `app` automatically, starting on first use, claimed within 2 s.
    let olga = person("olga@example.com", &["ops"]);
    let granted = stack.grant_app(&olga).await;
    let deadline = granted.grant().unwrap().claim_by().expect("waits for first use");
    assert_eq!(deadline, granted.grant().unwrap().granted_at.plus(Duration::from_secs(2)));
    let (_, cookie) = stack.sign_in(&olga, "app").await;

    tokio::time::sleep(SystemClock.now().until(deadline) + Duration::from_millis(1)).await;
    let host = stack.host("app");
    let refused = get(stack.port(), &host, "/", &[("cookie", &cookie)]).await;
    assert_eq!(refused.status, 403, "a lapsed grant cannot be claimed");
    // The binary's sweeper records the lapse as its own outcome.
    let store = stack.store.clone();
    wait_until("the lapse recorded", Duration::from_secs(5), || {
        let store = store.clone();
        async move {
            let request = store.request(granted.id).await.unwrap().unwrap();
            request.recorded_status() == Status::Lapsed
        }
    })
    .await;
    assert_eq!(
        actions(&stack, &granted).await,
        vec![AuditAction::RequestCreated, AuditAction::RequestApproved, AuditAction::GrantLapsed]
    );
    let still = get(stack.port(), &host, "/", &[("cookie", &cookie)]).await;
    assert_eq!(still.status, 403);
}
