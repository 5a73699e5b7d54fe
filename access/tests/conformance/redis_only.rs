//! What only the Redis backend has: key expiry in Redis itself, outages and reconnection.

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, ManualClock};
use jitgate_access::store::{RedisStore, Store, StoreError};

use crate::fixture::*;
use jitgate_testkit::RedisServer;

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
