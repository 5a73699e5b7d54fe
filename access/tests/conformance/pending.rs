//! One pending request per user and resource, decided in the store's commit: racing submits
//! open one request and mail reviewers once, the slot frees on every way out of pending, and
//! a store holding duplicates from before still opens.

use std::sync::Arc;
use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::Clock;
use jitgate_access::ids::{IdGenerator, RequestId};
use jitgate_access::outbox::{EventKind, NotificationEvent, Routing, Target};
use jitgate_access::policy::{Access, Identity, JitPolicy};
use jitgate_access::request::{AccessRequest, Status};
use jitgate_access::service::{AccessService, ServiceError};
use jitgate_access::store::{AuditQuery, RequestQuery};
use jitgate_access::transition::{self, Context, NewRequest};
use tokio::sync::Barrier;

use crate::fixture::*;

const SUBMITS: usize = 20;
/// Store handles the submits are spread over: separate connections, as separate instances.
const INSTANCES: usize = 4;

/// Reviewers are mailed about new requests, and nobody about anything else.
struct ReviewersByMail;

impl Routing for ReviewersByMail {
    fn targets(&self, event: &NotificationEvent) -> Vec<Target> {
        match event.kind {
            EventKind::RequestCreated => vec![Target::Email(reviewer().user)],
            _ => Vec::new(),
        }
    }
}

fn already_pending(outcome: Result<AccessRequest, ServiceError>) -> RequestId {
    match outcome {
        Err(ServiceError::AlreadyPending { id, resource: r }) if r == resource("db") => id,
        other => panic!("expected AlreadyPending for db, got {other:?}"),
    }
}

/// The manual one-approval policy alice asks `db` under.
fn manual_policy() -> JitPolicy {
    let policies = policies();
    match policies.resources[&resource("db")].resolve(&policies.roles, &alice()) {
        Access::Jit { policy, .. } => policy.clone(),
        _ => panic!("alice asks db just in time"),
    }
}

/// Opens a pending request for `who` on `db` under [`manual_policy`], whatever `who`'s own
/// policy; `with_pointer: false` commits it as a jitgate before pending pointers did (no
/// pointer taken, no check made).
async fn pending_under_manual_policy(
    f: &Fixture,
    who: &Identity,
    reason: &str,
    with_pointer: bool,
) -> AccessRequest {
    let ids = IdGenerator::new();
    let ctx = Context { now: f.clock.now(), ids: &ids };
    let new = NewRequest {
        requester: who.clone(),
        resource: resource("db"),
        reason: reason.into(),
        duration: hours(1),
    };
    let id = RequestId::from(ids.next(ctx.now));
    let mut change = transition::open(&ctx, new, id, &manual_policy(), None).unwrap();
    if !with_pointer {
        change.pending_pointer = None;
    }
    f.store.commit(&change).await.unwrap();
    change.requests.remove(0).request
}

async fn pending_of(f: &Fixture, who: &Identity) -> Vec<RequestId> {
    let query = RequestQuery {
        statuses: vec![Status::Pending],
        requester: Some(who.user.clone()),
        resources: vec![resource("db")],
        limit: 100,
        ..RequestQuery::default()
    };
    f.store.list_requests(&query).await.unwrap().items.iter().map(|r| r.id).collect()
}

pub async fn concurrent_submits_open_one_request_and_mail_reviewers_once(f: Fixture) {
    let db = resource("db");
    let mut instances = Vec::new();
    for i in 0..INSTANCES {
        let store = if i == 0 { f.store.clone() } else { f.second_handle().await };
        let service = AccessService::new(store, f.clock.clone(), Arc::new(policies()))
            .with_routing(Arc::new(ReviewersByMail));
        instances.push(Arc::new(service));
    }
    let start = Arc::new(Barrier::new(SUBMITS));
    let submits: Vec<_> = (0..SUBMITS)
        .map(|i| {
            let (service, start, db) =
                (instances[i % INSTANCES].clone(), start.clone(), db.clone());
            tokio::spawn(async move {
                start.wait().await;
                service.request_access(&alice(), &db, "double click", hours(1)).await
            })
        })
        .collect();
    let mut opened = Vec::new();
    let mut refused = Vec::new();
    for submit in submits {
        match submit.await.unwrap() {
            Ok(request) => opened.push(request),
            Err(error) => refused.push(error),
        }
    }
    assert_eq!(opened.len(), 1, "exactly one submit opens a request; refused: {refused:?}");
    let request = opened.remove(0);
    assert_eq!(refused.len(), SUBMITS - 1);
    for error in refused {
        assert_eq!(already_pending(Err(error)), request.id, "the others are told which");
    }
    assert_eq!(pending_of(&f, &alice()).await, vec![request.id]);
    let everything = RequestQuery { limit: 100, ..RequestQuery::default() };
    assert_eq!(f.store.list_requests(&everything).await.unwrap().items.len(), 1);

    let queued =
        f.store.claim_notifications(f.clock.now(), Duration::from_secs(60), 100).await.unwrap();
    assert_eq!(queued.len(), 1, "one reviewer mail: {queued:?}");
    assert_eq!(queued[0].target, Target::Email(reviewer().user));
    assert_eq!(queued[0].event.request.id, request.id);
    let trail = f
        .store
        .list_audit(&AuditQuery { resource: Some(db), limit: 100, ..AuditQuery::default() })
        .await
        .unwrap()
        .items;
    let created = trail.iter().filter(|e| e.action == AuditAction::RequestCreated).count();
    assert_eq!(created, 1, "{trail:?}");
}

pub async fn the_pending_slot_frees_on_every_way_out_of_pending(f: Fixture) {
    let db = resource("db");
    let alice = alice();
    let ask = |reason: &'static str| f.service.request_access(&alice, &db, reason, hours(1));
    let first = ask("first").await.unwrap();
    assert_eq!(already_pending(ask("again").await), first.id);
    // Only the pair is held: another requester of the same resource is not.
    f.service.request_access(&carol(), &db, "mine", hours(1)).await.unwrap();

    f.service.cancel(&alice, first.id).await.unwrap();
    let second = ask("after cancelling").await.unwrap();
    f.service.deny(&reviewer(), second.id, "no").await.unwrap();
    let third = ask("after a denial").await.unwrap();
    f.service.approve(&reviewer(), third.id, None, "").await.unwrap();
    // A grant in force does not hold the slot: asking to extend it is a new pending request.
    let fourth = ask("extend").await.unwrap();
    assert_eq!(already_pending(ask("again").await), fourth.id);

    // Timed out by the clock is no longer pending, swept or not.
    f.clock.set(fourth.pending_until);
    let fifth = ask("after the timeout").await.unwrap();
    assert!(f.service.sweep(100).await.unwrap() >= 1);
    let swept = f.store.request(fourth.id).await.unwrap().unwrap();
    assert_eq!(swept.recorded_status(), Status::TimedOut);
    assert_eq!(already_pending(ask("again").await), fifth.id, "the sweep freed nothing of fifth's");
    assert_eq!(pending_of(&f, &alice).await, vec![fifth.id]);

    // Automatic approval never pends, but does not pass a pending request either: one bob
    // opened while his policy was still manual.
    let held = pending_under_manual_policy(&f, &bob(), "manual back then", true).await;
    let auto = f.service.request_access(&bob(), &db, "now automatic", hours(1)).await;
    assert_eq!(already_pending(auto), held.id);
    assert!(f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().is_none());
    f.service.cancel(&bob(), held.id).await.unwrap();
    let granted = f.service.request_access(&bob(), &db, "now automatic", hours(1)).await.unwrap();
    assert_eq!(granted.status_at(f.clock.now()), Status::Active);
}

pub async fn a_pointer_nobody_cleared_holds_nothing(f: Fixture) {
    let db = resource("db");
    let first = f.service.request_access(&alice(), &db, "first", hours(1)).await.unwrap();
    // Denied by a writer that leaves the pointer in place (a jitgate before pointers, in a
    // rolling upgrade): the pointer still names the request, which is no longer pending.
    let ids = IdGenerator::new();
    let ctx = Context { now: f.clock.now(), ids: &ids };
    let mut denial = transition::deny(&ctx, &first, &reviewer().user, "no").unwrap();
    denial.pending_pointer = None;
    f.store.commit(&denial).await.unwrap();
    let second = f.service.request_access(&alice(), &db, "second", hours(1)).await.unwrap();
    let third = f.service.request_access(&alice(), &db, "third", hours(1)).await;
    assert_eq!(already_pending(third), second.id, "the new request holds the pair");
    // Reopening (the migration on a file, the pass over pending requests on Redis) keeps it.
    let f = f.reopen().await;
    let again = f.service.request_access(&alice(), &db, "again", hours(1)).await;
    assert_eq!(already_pending(again), second.id);
}

pub async fn pending_duplicates_from_before_the_pointer_still_open(f: Fixture) {
    let older = pending_under_manual_policy(&f, &alice(), "first click", false).await;
    f.clock.advance(mins(1));
    let newer = pending_under_manual_policy(&f, &alice(), "second click", false).await;
    if let Some(path) = f.embedded_path() {
        // The file as a jitgate before pending pointers left it: schema 1, no such table rows.
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("DELETE FROM pending_requests; PRAGMA user_version = 1").unwrap();
    }
    let f = f.reopen().await;

    // Opening pointed the pair at its newest pending request; both stay pending.
    let db = resource("db");
    let alice = alice();
    let ask = |reason: &'static str| f.service.request_access(&alice, &db, reason, hours(1));
    assert_eq!(already_pending(ask("third click").await), newer.id);
    assert_eq!(pending_of(&f, &alice).await, vec![newer.id, older.id]);
    // Both are reviewable as before.
    f.service.approve(&reviewer(), newer.id, None, "").await.unwrap();
    // With the newer one decided, the older no longer holds the pair (it never had the
    // pointer): a new request opens beside it, and the older one is reviewed or times out.
    let next = ask("after the approval").await.unwrap();
    assert_eq!(already_pending(ask("again").await), next.id);
    f.service.deny(&reviewer(), older.id, "duplicate").await.unwrap();
    assert_eq!(pending_of(&f, &alice).await, vec![next.id]);
}
