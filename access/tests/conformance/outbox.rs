//! The notification outbox against the backend under test: items commit with their change,
//! leases keep two workers off one item, retries wait, giving up is audited, and nothing is
//! lost across a restart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jitgate_access::audit::{Actor, AuditAction, AuditEvent};
use jitgate_access::clock::Clock;
use jitgate_access::ids::{AuditId, IdGenerator};
use jitgate_access::outbox::{
    EventKind, Notification, NotificationEvent, Outcome, Routing, Target,
};
use jitgate_access::request::Status;
use jitgate_access::service::AccessService;
use jitgate_access::store::{AuditQuery, Store};

use crate::fixture::*;

const LEASE: Duration = Duration::from_secs(60);

/// Reviewers hear of new requests by email and the SIEM hears everything; requesters hear
/// of decisions.
struct TestRouting;

impl Routing for TestRouting {
    fn targets(&self, event: &NotificationEvent) -> Vec<Target> {
        let mut targets = vec![Target::Webhook("siem".into())];
        match event.kind {
            EventKind::RequestCreated => targets.push(Target::Email(reviewer().user)),
            _ => targets.push(Target::Email(event.request.requester.clone())),
        }
        targets
    }
}

fn notifying(f: &Fixture, store: Arc<dyn Store>) -> AccessService {
    AccessService::new(store, f.clock.clone(), Arc::new(policies()))
        .with_routing(Arc::new(TestRouting))
}

fn summary(items: &[Notification]) -> BTreeSet<(String, String)> {
    items.iter().map(|n| (n.event.kind.as_str().to_owned(), format!("{:?}", n.target))).collect()
}

fn gave_up(f: &Fixture, item: &Notification) -> Outcome {
    let now = f.clock.now();
    Outcome::GaveUp {
        at: now,
        error: "550 mailbox unavailable".into(),
        audit: AuditEvent::notification_failed(
            AuditId::from(IdGenerator::new().next(now)),
            now,
            item,
            item.attempts + 1,
            "550 mailbox unavailable",
        ),
    }
}

pub async fn notifications_commit_with_their_change(f: Fixture) {
    let service = notifying(&f, f.store.clone());
    let db = resource("db");
    let request = service.request_access(&alice(), &db, "slow queries", hours(1)).await.unwrap();
    assert_eq!(f.store.pending_notifications(100).await.unwrap(), 2);
    let claimed = f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    assert_eq!(
        summary(&claimed),
        BTreeSet::from([
            ("request.created".into(), format!("{:?}", Target::Email(reviewer().user))),
            ("request.created".into(), format!("{:?}", Target::Webhook("siem".into()))),
        ])
    );
    assert!(claimed.iter().all(|n| n.event.request.id == request.id));
    assert!(claimed.iter().all(|n| n.event.request.status_at(f.clock.now()) == Status::Pending));
    assert_ne!(claimed[0].id, claimed[1].id, "each target has its own idempotency key");
    for item in &claimed {
        f.store.finish_notification(item, &Outcome::Delivered).await.unwrap();
    }
    assert_eq!(f.store.pending_notifications(100).await.unwrap(), 0);

    service.approve(&reviewer(), request.id, None, "ok").await.unwrap();
    let claimed = f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    assert_eq!(
        summary(&claimed),
        BTreeSet::from([
            ("request.approved".into(), format!("{:?}", Target::Email(alice().user))),
            ("request.approved".into(), format!("{:?}", Target::Webhook("siem".into()))),
        ])
    );
    let snapshot = &claimed[0].event.request;
    assert_eq!(snapshot.status_at(f.clock.now()), Status::Active, "the state right after");
    assert_eq!(claimed[0].event.actor, Actor::User(reviewer().user));
    assert!(claimed[0].event.note.starts_with("ok"), "the reviewer's note travels along");

    // A refused change records no notification.
    let refused = service.approve(&reviewer(), request.id, None, "again").await;
    assert!(refused.is_err());
    assert_eq!(f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap(), vec![]);
}

pub async fn a_lease_keeps_other_workers_off_until_it_ends(f: Fixture) {
    let service = notifying(&f, f.store.clone());
    service.request_access(&alice(), &resource("db"), "x", hours(1)).await.unwrap();
    let other = f.second_handle().await;
    let first = f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 2);
    let second = other.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    assert!(second.is_empty(), "leased to the first worker");
    // The first worker died: after the lease, another takes the items over.
    f.clock.advance(LEASE);
    let retaken = other.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    assert_eq!(summary(&retaken), summary(&first));
}

pub async fn concurrent_workers_never_share_an_item(f: Fixture) {
    let service = notifying(&f, f.store.clone());
    for i in 0..20 {
        let who = person(&format!("user{i}@example.com"), &["dev"]);
        service.request_access(&who, &resource("db"), "x", hours(1)).await.unwrap();
    }
    let now = f.clock.now();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = f.second_handle().await;
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_notifications(now, LEASE, 3).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|n| n.id));
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let distinct: BTreeSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40, "every item claimed");
    assert_eq!(distinct.len(), 40, "and none twice");
}

pub async fn retries_wait_and_giving_up_is_audited(f: Fixture) {
    let service = notifying(&f, f.store.clone());
    let request = service.request_access(&alice(), &resource("db"), "x", hours(1)).await.unwrap();
    let claimed = f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    let email = claimed.iter().find(|n| matches!(n.target, Target::Email(_))).unwrap().clone();
    let retry_at = f.clock.now().plus(Duration::from_secs(5));
    let retry = Outcome::RetryAt { at: retry_at, error: "connection refused".into() };
    f.store.finish_notification(&email, &retry).await.unwrap();
    let webhook = claimed.iter().find(|n| matches!(n.target, Target::Webhook(_))).unwrap();
    f.store.finish_notification(webhook, &Outcome::Delivered).await.unwrap();

    f.clock.advance(Duration::from_secs(4));
    assert!(f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(1));
    let again = f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1, "only the failed target is retried");
    assert_eq!(again[0].id, email.id, "under the same idempotency key");
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));

    f.store.finish_notification(&again[0], &gave_up(&f, &again[0])).await.unwrap();
    assert_eq!(f.store.pending_notifications(10).await.unwrap(), 0);
    f.clock.advance(hours(1));
    assert!(f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap().is_empty());
    let failed = f.store.failed_notifications(10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, email.id);
    assert_eq!(failed[0].attempts, 2);
    let trail = f
        .store
        .list_audit(&AuditQuery {
            request_id: Some(request.id),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(trail.items[0].action, AuditAction::NotificationFailed);
}

pub async fn undelivered_notifications_survive_a_restart(f: Fixture) {
    let service = notifying(&f, f.store.clone());
    service.request_access(&alice(), &resource("db"), "x", hours(1)).await.unwrap();
    let leased = f.store.claim_notifications(f.clock.now(), LEASE, 1).await.unwrap();
    assert_eq!(leased.len(), 1);
    drop(service);
    let f = f.reopen().await;
    assert_eq!(f.store.pending_notifications(10).await.unwrap(), 2);
    f.clock.advance(LEASE / 2);
    let untouched = f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap();
    assert_eq!(untouched.len(), 1, "the item nobody held is delivered at once");
    assert_ne!(untouched[0].id, leased[0].id);
    f.clock.advance(LEASE / 2);
    assert_eq!(
        f.store.claim_notifications(f.clock.now(), LEASE, 10).await.unwrap().len(),
        1,
        "the item leased before the restart comes back when its lease ends"
    );
}
