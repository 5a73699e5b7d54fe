//! What only the Redis backend has: key expiry in Redis itself, outages and reconnection.

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, ManualClock, SystemClock};
use jitgate_access::policy::Identity;
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{RedisStore, Store, StoreError};

use crate::fixture::*;
use jitgate_testkit::{RedisServer, wait_until};

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

#[tokio::test]
async fn grant_keys_expire_in_redis_at_the_grant_expiry() {
    let server = RedisServer::start().await;
    let f = Fixture::over_redis(&server, "expiry").await;
    let request = f.service.request_access(&bob(), &resource("db"), "r", hours(1)).await.unwrap();
    let expires_at = request.grant().unwrap().expires_at.as_millis();
    let mut conn = raw(&server).await;
    let key = "{expiry}:grant:db:bob@example.com";
    let pexpiretime: i64 = redis::cmd("PEXPIRETIME").arg(key).query_async(&mut conn).await.unwrap();
    assert_eq!(pexpiretime, expires_at, "the pointer key expires exactly with the grant");
    // Every key of this store shares one hash tag, so one Cluster slot.
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert!(keys.len() > 5);
    assert!(keys.iter().all(|k| k.starts_with("{expiry}:")), "{keys:?}");
}

#[tokio::test]
async fn prefixes_keep_deployments_apart() {
    let server = RedisServer::start().await;
    let staging = Fixture::over_redis(&server, "staging").await;
    let production = Fixture::over_redis(&server, "production").await;
    staging.service.request_access(&bob(), &resource("db"), "r", hours(1)).await.unwrap();
    let now = production.clock.now();
    assert!(
        production.store.active_grant(&bob().user, &resource("db"), now).await.unwrap().is_none()
    );
}

#[tokio::test]
async fn an_outage_is_unavailable_within_seconds_and_recovers() {
    let mut server = RedisServer::start().await;
    let store = RedisStore::connect(&server.url(), "outage").await.unwrap();
    let mut feed = store.subscribe().await.unwrap();
    server.stop().await;

    let started = Instant::now();
    let refused = store.ping().await.unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
    let now = ManualClock::starting_now().now();
    let lookup = store.active_grant(&bob().user, &resource("db"), now).await.unwrap_err();
    assert!(matches!(lookup, StoreError::Unavailable(_)), "{lookup:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    // The lost connection ends the change feed, so a cache knows to stop trusting itself.
    let ended =
        tokio::time::timeout(Duration::from_secs(10), feed.recv()).await.expect("the feed ends");
    assert_eq!(ended, None);

    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "the store did not reconnect by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.subscribe().await.expect("a new feed after recovery");
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_with_the_address_and_no_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let url = format!("redis://jitgate:hunter2@127.0.0.1:{port}");
    let error = RedisStore::connect(&url, "x").await.err().expect("nothing listens there");
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// A session of `who` lasting `lasts` from now on the wall clock, which Redis expires keys by.
fn session_lasting(who: Identity, lasts: Duration) -> Session {
    let now = SystemClock.now();
    Session { id: SessionId::random(), identity: who, created_at: now, expires_at: now.plus(lasts) }
}

async fn members(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = redis::cmd("SMEMBERS").arg(key).query_async(conn).await.unwrap();
    ids.sort();
    ids
}

async fn gone(server: &RedisServer, key: &str) -> bool {
    let exists: bool =
        redis::cmd("EXISTS").arg(key).query_async(&mut raw(server).await).await.unwrap();
    !exists
}

fn ids(sessions: &[&Session]) -> Vec<String> {
    let mut ids: Vec<String> = sessions.iter().map(|s| s.id.as_str().to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_users_session_index_holds_only_live_sessions() {
    let server = RedisServer::start().await;
    let f = Fixture::over_redis(&server, "idx").await;
    let mut conn = raw(&server).await;
    let index = "{idx}:usessions:alice@example.com";

    // Sign in twelve times, and out again from all but every third.
    let mut kept = Vec::new();
    let mut longest = 0;
    for i in 0..12 {
        let session = session_lasting(alice(), hours(12));
        f.store.create_session(&session).await.unwrap();
        longest = longest.max(session.expires_at.as_millis());
        if i % 3 == 0 {
            kept.push(session);
        } else {
            f.store.end_session(&session.id).await.unwrap();
        }
    }
    assert_eq!(members(&mut conn, index).await, ids(&kept.iter().collect::<Vec<_>>()));

    // A session that expires by itself is pruned at the next sign-in, and the index expires
    // with the longest-lived session it was given (its expiry only ever grows).
    let brief = session_lasting(alice(), Duration::from_millis(300));
    f.store.create_session(&brief).await.unwrap();
    let brief_key = format!("{{idx}}:session:{}", brief.id.as_str());
    wait_until("the brief session to expire", Duration::from_secs(10), || {
        gone(&server, &brief_key)
    })
    .await;
    let shorter = session_lasting(alice(), hours(1));
    f.store.create_session(&shorter).await.unwrap();
    let mut live: Vec<&Session> = kept.iter().collect();
    live.push(&shorter);
    assert_eq!(members(&mut conn, index).await, ids(&live));
    let expiry: i64 = redis::cmd("PEXPIRETIME").arg(index).query_async(&mut conn).await.unwrap();
    assert_eq!(expiry, longest, "a shorter session does not cut the index short");
    assert!(live.iter().all(|s| s.expires_at.as_millis() <= expiry));
    assert!(shorter.expires_at.as_millis() < expiry);

    // An index whose sessions have all expired expires with them.
    let bobs = "{idx}:usessions:bob@example.com";
    f.store.create_session(&session_lasting(bob(), Duration::from_millis(300))).await.unwrap();
    assert_eq!(members(&mut conn, bobs).await.len(), 1);
    wait_until("bob's index to expire", Duration::from_secs(10), || gone(&server, bobs)).await;

    // Signing out everywhere ends the live ones and leaves no index behind.
    assert_eq!(f.store.end_sessions_of(&alice().user).await.unwrap(), live.len());
    assert!(gone(&server, index).await);
    let now = SystemClock.now();
    for session in live {
        assert!(f.store.session(&session.id, now).await.unwrap().is_none());
    }
}
