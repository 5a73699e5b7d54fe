//! Scheduled access (issue 15) through the real binary: a grant approved ahead of its start
//! keeps the app locked until the start, lets the holder in from it without any further
//! change being published (the clock opens it, not the sweeper), and an open connection
//! under it is cut at its end.

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::time::Timestamp;
use jitgate_testkit::http::{Connection, open_websocket};

use super::stack::{Stack, person};
use super::{closes_after, echoes, window_grant};

/// How soon after the start (or the end) the proxy must act on it.
const WITHIN: Duration = Duration::from_secs(1);

/// `GET /` on app with `cookie`: its status.
async fn status(stack: &Stack, cookie: &str) -> u16 {
    let mut connection = Connection::open(stack.port()).await.unwrap();
    let host = stack.host("app");
    connection.send("GET", &host, "/", &[("cookie", cookie)]).await.unwrap().status
}

/// Polls until app answers 200 for `cookie`; how long after `start` it first did. Fails
/// if that is more than [`WITHIN`] after the start.
async fn opens_after(stack: &Stack, cookie: &str, start: Timestamp) -> Duration {
    loop {
        let code = status(stack, cookie).await;
        let now = SystemClock.now();
        if code == 200 {
            assert!(now >= start, "let in {:?} before its start", now.until(start));
            return start.until(now);
        }
        assert_eq!(code, 403, "locked, nothing else, until the start");
        assert!(start.until(now) < WITHIN, "still locked {:?} after the start", start.until(now));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_grant_is_locked_before_its_start_open_inside_and_cut_at_its_end() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in(&bob, "app").await;

    // Through the service, as the portal asks: approved at once (bob's approval is
    // automatic), two seconds ahead.
    let app = "app".parse().unwrap();
    let start = SystemClock.now().plus(Duration::from_secs(2));
    let hour = Duration::from_secs(3600);
    let asked = stack.service.request_scheduled_access(&bob, &app, "deploy", hour, start);
    let scheduled = asked.await.unwrap();
    assert!(scheduled.grant().is_some_and(|g| g.starts_at == Some(start)), "{scheduled:?}");
    assert_eq!(status(&stack, &cookie).await, 403, "locked before its start");
    let late = opens_after(&stack, &cookie, start).await;
    eprintln!("let in {late:?} after the start");
    stack.service.revoke(&bob, scheduled.id, "done").await.unwrap();

    // A window shorter than any policy allows, written straight to the store: an open
    // WebSocket under it is cut at its end.
    let end = window_grant(&stack, &bob, Duration::from_secs(2), Duration::from_secs(2)).await;
    let start = Timestamp::from_millis(end.as_millis() - 2_000);
    let host = stack.host("app");
    let early = open_websocket(stack.port(), &host, "/ws", &[("cookie", &cookie)]).await;
    assert!(early.is_err(), "no WebSocket before the start");
    opens_after(&stack, &cookie, start).await;
    let mut socket =
        open_websocket(stack.port(), &host, "/ws", &[("cookie", &cookie)]).await.unwrap();
    echoes(&mut socket).await;
    let watching = Instant::now();
    let late = closes_after(socket, end).await;
    assert!(SystemClock.now() >= end, "cut before its end");
    eprintln!("WebSocket closed {late:?} after the end ({:?} watched)", watching.elapsed());
    assert!(late < WITHIN, "WebSocket closed {late:?} after the end");
    assert_eq!(status(&stack, &cookie).await, 403, "locked again after its end");
}
