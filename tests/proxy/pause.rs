//! Pausing a grant (issue 15) goes the revocation's way: the holder is refused at once, an
//! open WebSocket and a streaming response under the grant are cut within 1 s, and resuming
//! lets them in again at once while the window is open.

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_testkit::http::{Connection, open_websocket};

use super::revocation::{read_until_closed, start_response};
use super::stack::{Stack, person};
use super::{closes_after, echoes};

/// How soon after the change every proxy must act on it.
const WITHIN: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_cuts_open_connections_and_resuming_lets_the_holder_in_again() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let request = stack.grant_app(&bob).await;
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    let host = stack.host("app");
    let mut socket =
        open_websocket(stack.port(), &host, "/ws", &[("cookie", &cookie)]).await.unwrap();
    echoes(&mut socket).await;
    let mut stream =
        start_response(stack.port(), &host, "/stream?ticks=300", &cookie, "tick 2").await;

    let paused_at = SystemClock.now();
    let paused = Instant::now();
    stack.service.pause(&bob, request.id, "stepping away").await.unwrap();
    let closing = tokio::spawn(closes_after(socket, paused_at));
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("the stream still ran 5 s after the pause");
    let late = closed.duration_since(paused);
    eprintln!("stream cut {late:?} after the pause");
    assert!(late < WITHIN, "stream cut {late:?} after the pause");
    assert!(!text.contains("0\r\n\r\n"), "the stream completed: {text}");
    let late = closing.await.unwrap();
    eprintln!("WebSocket closed {late:?} after the pause");
    assert!(late < WITHIN, "WebSocket closed {late:?} after the pause");
    let mut connection = Connection::open(stack.port()).await.unwrap();
    let refused = connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap();
    assert_eq!(refused.status, 403, "paused means locked");

    let resumed = Instant::now();
    stack.service.resume(&bob, request.id, "").await.unwrap();
    loop {
        let mut fresh = Connection::open(stack.port()).await.unwrap();
        let status = fresh.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status;
        if status == 200 {
            break;
        }
        assert!(
            resumed.elapsed() < WITHIN,
            "still {status} {:?} after resuming",
            resumed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("allowed again {:?} after resuming", resumed.elapsed());
    let mut socket =
        open_websocket(stack.port(), &host, "/ws", &[("cookie", &cookie)]).await.unwrap();
    echoes(&mut socket).await;
}
