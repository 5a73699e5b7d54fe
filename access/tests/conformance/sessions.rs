//! Sessions and single-use claims, against the backend under test.

use std::time::Duration;

use jitgate_access::audit::{Actor, AuditAction};
use jitgate_access::clock::Clock;
use jitgate_access::service::ServiceError;
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{AuditQuery, ChangeEvent};
use jitgate_access::time::Timestamp;

use crate::fixture::*;

fn session_of(f: &Fixture, who: jitgate_access::policy::Identity, lasts: Duration) -> Session {
    let now = f.clock.now();
    Session { id: SessionId::random(), identity: who, created_at: now, expires_at: now.plus(lasts) }
}

pub async fn sessions_live_until_they_expire_or_end(f: Fixture) {
    let session = session_of(&f, alice(), hours(12));
    f.store.create_session(&session).await.unwrap();
    let now = f.clock.now();
    assert_eq!(f.store.session(&session.id, now).await.unwrap(), Some(session.clone()));
    let just_before = Timestamp::from_millis(session.expires_at.as_millis() - 1);
    assert!(f.store.session(&session.id, just_before).await.unwrap().is_some());
    assert!(f.store.session(&session.id, session.expires_at).await.unwrap().is_none());
    assert!(f.store.session(&SessionId::random(), now).await.unwrap().is_none());

    let mut feed = f.store.subscribe().await.unwrap();
    f.store.end_session(&session.id).await.unwrap();
    assert!(f.store.session(&session.id, now).await.unwrap().is_none());
    let event = tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.unwrap();
    assert_eq!(event, Some(ChangeEvent::SessionEnded { session: session.id.clone() }));
    // Ending it again is harmless.
    f.store.end_session(&session.id).await.unwrap();
}

pub async fn signing_out_everywhere_ends_only_that_users_sessions(f: Fixture) {
    let laptop = session_of(&f, alice(), hours(12));
    let phone = session_of(&f, alice(), hours(12));
    let someone_else = session_of(&f, bob(), hours(12));
    for session in [&laptop, &phone, &someone_else] {
        f.store.create_session(session).await.unwrap();
    }
    let mut feed = f.store.subscribe().await.unwrap();
    assert_eq!(f.store.end_sessions_of(&alice().user).await.unwrap(), 2);
    let now = f.clock.now();
    assert!(f.store.session(&laptop.id, now).await.unwrap().is_none());
    assert!(f.store.session(&phone.id, now).await.unwrap().is_none());
    assert!(f.store.session(&someone_else.id, now).await.unwrap().is_some());
    let event = tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.unwrap();
    assert_eq!(event, Some(ChangeEvent::SessionsEndedFor { user: alice().user }));
}

pub async fn signing_out_and_ending_sessions_are_audited_for_admins_only(f: Fixture) {
    let laptop = session_of(&f, alice(), hours(12));
    let phone = session_of(&f, alice(), hours(12));
    for session in [&laptop, &phone] {
        f.store.create_session(session).await.unwrap();
    }
    let refused = f.service.end_sessions_of(&reviewer(), &alice().user).await;
    assert!(matches!(refused, Err(ServiceError::Forbidden(_))), "{refused:?}");
    assert!(f.store.session(&laptop.id, f.clock.now()).await.unwrap().is_some());

    f.service.sign_out(&laptop).await.unwrap();
    assert!(f.store.session(&laptop.id, f.clock.now()).await.unwrap().is_none());
    assert_eq!(f.service.end_sessions_of(&admin(), &alice().user).await.unwrap(), 1);
    assert!(f.store.session(&phone.id, f.clock.now()).await.unwrap().is_none());

    let all = AuditQuery { limit: 10, ..AuditQuery::default() };
    let trail = f.store.list_audit(&all).await.unwrap().items;
    let seen: Vec<_> = trail
        .iter()
        .map(|e| (e.action, e.actor.clone(), e.subject.clone(), e.note.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                AuditAction::SessionsEnded,
                Actor::User(admin().user),
                alice().user,
                "ended 1 session"
            ),
            (AuditAction::SignedOut, Actor::User(alice().user), alice().user, ""),
        ]
    );
    assert!(trail.iter().all(|e| e.resource.is_none() && e.request_id.is_none()));
    let by_admin = AuditQuery { actor: Some(admin().user.to_string()), ..all.clone() };
    assert_eq!(f.store.list_audit(&by_admin).await.unwrap().items.len(), 1);
    // A reviewer's view is always narrowed to a resource: session events stay out of it.
    let by_resource = AuditQuery { resource: Some(resource("db")), ..all.clone() };
    assert!(f.store.list_audit(&by_resource).await.unwrap().items.is_empty());
    let f = f.reopen().await;
    assert_eq!(f.store.list_audit(&all).await.unwrap().items, trail, "stored as written");
}

pub async fn sessions_survive_a_restart(f: Fixture) {
    let session = session_of(&f, carol(), hours(1));
    f.store.create_session(&session).await.unwrap();
    let f = f.reopen().await;
    assert_eq!(f.store.session(&session.id, f.clock.now()).await.unwrap(), Some(session));
}

pub async fn a_claim_holds_once_across_instances(f: Fixture) {
    let other = f.second_handle().await;
    let now = f.clock.now();
    let until = now.plus(Duration::from_secs(60));
    assert!(f.store.claim_once("token-1", until, now).await.unwrap());
    assert!(!f.store.claim_once("token-1", until, now).await.unwrap(), "a replay is refused");
    assert!(!other.claim_once("token-1", until, now).await.unwrap(), "on every instance");
    assert!(other.claim_once("token-2", until, now).await.unwrap());
}

/// The proxy trusts its cache only while its heartbeat comes back through the feed, which
/// proves nothing unless a beat arrives after the changes published before it.
pub async fn a_heartbeat_comes_back_through_the_feed_after_earlier_changes(f: Fixture) {
    let session = session_of(&f, alice(), hours(1));
    f.store.create_session(&session).await.unwrap();
    let mut feed = f.store.subscribe().await.unwrap();
    f.store.end_session(&session.id).await.unwrap();
    f.store.publish_heartbeat("proxy-a", 7).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.unwrap();
    assert_eq!(first, Some(ChangeEvent::SessionEnded { session: session.id.clone() }));
    let beat = tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.unwrap();
    assert_eq!(beat, Some(ChangeEvent::Heartbeat { instance: "proxy-a".into(), beat: 7 }));
}
