//! Revocations under faults (issue 13): a frozen Redis, a proxy partitioned from Redis while
//! the revocation goes through another path, and a change feed killed just before a
//! revocation. The proxy must stop honouring what it cached within its trust bound (2 s, the
//! heartbeat's; see `proxy/src/cache.rs`) plus the store's response timeout, and an open
//! WebSocket under a revoked grant must close.

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_testkit::http::{Connection, open_websocket};
use jitgate_testkit::relay::Relay;
use jitgate_testkit::{free_port, wait_until};

use super::stack::{Stack, config_text, person};
use super::{closes_after, echoes};

/// The proxy's trust bound (2 s after the newest heartbeat it heard was sent) plus one
/// heartbeat interval of slack.
const STOPS_TRUSTING_WITHIN: Duration = Duration::from_millis(2_600);
/// How long the Redis store waits for an answer before it counts as unavailable.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends requests on one kept-alive connection until one is not 200; returns how long after
/// `since` the last 200 was answered (`None` if there was none) and the first other status.
async fn last_allowed(
    connection: &mut Connection,
    host: &str,
    cookie: &str,
    since: Instant,
    limit: Duration,
) -> (Option<Duration>, u16) {
    let mut last = None;
    loop {
        let status = connection.send("GET", host, "/", &[("cookie", cookie)]).await.unwrap().status;
        if status != 200 {
            return (last, status);
        }
        last = Some(since.elapsed());
        assert!(since.elapsed() < limit, "still allowed {:?} later", since.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_fails_closed_within_the_trust_bound_and_recovers() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    stack.grant_app(&bob).await;
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    let host = stack.host("app");
    let mut connection = Connection::open(stack.port()).await.unwrap();
    assert_eq!(
        connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status,
        200
    );

    stack.redis.freeze();
    let frozen = Instant::now();
    let (last, status) =
        last_allowed(&mut connection, &host, &cookie, frozen, STOPS_TRUSTING_WITHIN).await;
    eprintln!("frozen store: last 200 {last:?} after the freeze, then {status}");
    assert_eq!(status, 503, "a store that does not answer means 503 for JIT access");

    stack.redis.thaw();
    wait_until("access to work again after the thaw", Duration::from_secs(10), || async {
        let mut fresh = Connection::open(stack.port()).await.unwrap();
        fresh.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_proxy_stops_honouring_a_grant_revoked_elsewhere() {
    let stack = Stack::start(0).await;
    let relay = Relay::start(stack.redis.port).await;
    std::fs::write(stack.dir.path().join("relay.url"), format!("redis://127.0.0.1:{}", relay.port))
        .unwrap();
    let (port, ops_port) = (free_port(), free_port());
    let config = config_text(port, ops_port, &stack.upstream.url(), None)
        .replace("\"redis.url\"", "\"relay.url\"");
    let _jitgate = stack.serve("partitioned.toml", &config, port).await;
    let host = format!("app.localhost:{port}");

    let bob = person("bob@example.com", &["sre"]);
    let request = stack.grant_app(&bob).await;
    let (_, cookie) = stack.sign_in_on(&bob, &host).await;
    let mut connection = Connection::open(port).await.unwrap();
    assert_eq!(
        connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status,
        200
    );
    let mut socket = open_websocket(port, &host, "/ws", &[("cookie", &cookie)]).await.unwrap();
    echoes(&mut socket).await;

    relay.pause();
    let admin = person("admin@example.com", &["admins"]);
    let revoked_at = SystemClock.now();
    stack.service.revoke(&admin, request.id, "incident").await.unwrap();
    let revoked = Instant::now();
    let closing = tokio::spawn(closes_after(socket, revoked_at));
    let (last, status) =
        last_allowed(&mut connection, &host, &cookie, revoked, STOPS_TRUSTING_WITHIN).await;
    eprintln!("partitioned proxy: last 200 {last:?} after the revocation, then {status}");
    assert_eq!(status, 503, "the partitioned proxy cannot verify access: 503");
    let late = closing.await.unwrap();
    eprintln!("partitioned proxy: WebSocket closed {late:?} after the revocation");
    // Trust lapses, then the lease asks the silent store, which fails closed at its timeout.
    let bound = STOPS_TRUSTING_WITHIN + STORE_TIMEOUT + Duration::from_millis(500);
    assert!(late < bound, "closed {late:?} after the revocation (bound {bound:?})");

    relay.resume();
    wait_until("the healed proxy to see the revocation", Duration::from_secs(10), || async {
        let mut fresh = Connection::open(port).await.unwrap();
        fresh.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status == 403
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_when_revoked_while_the_feed_reconnects() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let request = stack.grant_app(&bob).await;
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    let mut socket =
        open_websocket(stack.port(), &stack.host("app"), "/ws", &[("cookie", &cookie)])
            .await
            .unwrap();
    echoes(&mut socket).await;

    let client = redis::Client::open(stack.redis.url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(killed >= 1, "the proxy's change feed was connected");
    let admin = person("admin@example.com", &["admins"]);
    let revoked_at = SystemClock.now();
    stack.service.revoke(&admin, request.id, "incident").await.unwrap();
    let late = closes_after(socket, revoked_at).await;
    eprintln!("feed reconnecting: WebSocket closed {late:?} after the revocation");
    assert!(late < Duration::from_secs(1), "closed {late:?} after the revocation");
}

/// Reads a raw HTTP/1.1 response until the connection closes or `limit` passes; returns what
/// came and when the close happened.
pub(super) async fn read_until_closed(
    socket: &mut tokio::net::TcpStream,
    limit: Duration,
) -> (String, Option<Instant>) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok();
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

/// Sends `GET path` with `cookie` on a fresh connection and waits for `first` in the body.
pub(super) async fn start_response(
    port: u16,
    host: &str,
    path: &str,
    cookie: &str,
    first: &str,
) -> tokio::net::TcpStream {
    start_response_with(port, host, path, ("cookie", cookie), first).await
}

/// [`start_response`] with any one credential header (`authorization` for a token).
pub(super) async fn start_response_with(
    port: u16,
    host: &str,
    path: &str,
    (name, value): (&str, &str),
    first: &str,
) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{name}: {value}\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains(first) {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
            .await
            .expect("the response starts")
            .unwrap();
        assert!(n > 0, "closed before {first:?}: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    socket
}

/// Plain responses (no upgrade, no event stream) allowed by a grant stop at its revocation:
/// a chunked stream that keeps sending, and a long poll that sends nothing meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_responses_in_flight_are_cut_at_revocation() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let request = stack.grant_app(&bob).await;
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    let host = stack.host("app");
    // A response that completes under the grant is untouched, and its connection serves on.
    let mut connection = Connection::open(stack.port()).await.unwrap();
    let short =
        connection.send("GET", &host, "/stream?ticks=3", &[("cookie", &cookie)]).await.unwrap();
    assert_eq!(short.status, 200);
    assert!(short.body.contains("tick 2"), "{}", short.body);
    assert_eq!(
        connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status,
        200
    );

    let mut stream =
        start_response(stack.port(), &host, "/stream?ticks=300", &cookie, "tick 2").await;
    let mut poll = start_response(stack.port(), &host, "/hold?seconds=30", &cookie, "held").await;
    let admin = person("admin@example.com", &["admins"]);
    stack.service.revoke(&admin, request.id, "incident").await.unwrap();
    let revoked = Instant::now();
    for (what, socket) in [("chunked stream", &mut stream), ("long poll", &mut poll)] {
        let (text, closed) = read_until_closed(socket, Duration::from_secs(5)).await;
        let closed = closed.unwrap_or_else(|| panic!("the {what} still ran 5 s after revocation"));
        let late = closed.duration_since(revoked);
        eprintln!("{what} cut {late:?} after the revocation");
        assert!(late < Duration::from_secs(1), "{what} cut {late:?} after the revocation");
        assert!(
            !text.contains("0\r\n\r\n") && !text.contains("done"),
            "the {what} completed: {text}"
        );
    }
}

/// A plain response on a standing resource (no grant) ends with its session: at sign-out and
/// when an admin ends the user's sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_responses_in_flight_end_with_their_session() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let host = stack.host("wiki");
    let (signed_out, cookie) = stack.sign_in(&bob, "wiki").await;
    let (_, other) = stack.sign_in(&bob, "wiki").await;
    let mut stream =
        start_response(stack.port(), &host, "/stream?ticks=300", &cookie, "tick 2").await;
    stack.store.end_session(&signed_out).await.unwrap();
    let ended = Instant::now();
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("the stream still ran 5 s after sign-out");
    eprintln!("standing stream cut {:?} after sign-out", closed.duration_since(ended));
    assert!(closed.duration_since(ended) < Duration::from_secs(1));
    assert!(!text.contains("0\r\n\r\n"), "the stream completed: {text}");

    let mut poll = start_response(stack.port(), &host, "/hold?seconds=30", &other, "held").await;
    stack.store.end_sessions_of(&bob.user).await.unwrap();
    let ended = Instant::now();
    let (text, closed) = read_until_closed(&mut poll, Duration::from_secs(5)).await;
    let closed = closed.expect("the long poll still ran 5 s after the sessions ended");
    eprintln!("standing long poll cut {:?} after the sessions ended", closed.duration_since(ended));
    assert!(closed.duration_since(ended) < Duration::from_secs(1));
    assert!(!text.contains("done"), "the long poll completed: {text}");
}

/// A request cut before its upstream answered at all is not retried: Pingora would resend a
/// request whose pooled connection failed, to the upstream, after the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cut_before_its_answer_is_refused_and_never_resent() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let request = stack.grant_app(&bob).await;
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    let host = stack.host("app");
    let mut connection = Connection::open(stack.port()).await.unwrap();
    // Warm the proxy's upstream pool, so the slow request goes out on a reused connection.
    for _ in 0..3 {
        assert_eq!(
            connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status,
            200
        );
    }
    let slow = {
        let (host, cookie) = (host.clone(), cookie.clone());
        let port = stack.port();
        tokio::spawn(async move {
            let mut connection = Connection::open(port).await.unwrap();
            let headers = [("cookie", cookie.as_str())];
            let sent = connection.send("GET", &host, "/delay?id=cut&seconds=4", &headers).await;
            (sent, Instant::now())
        })
    };
    let upstream = stack.upstream.port;
    wait_until("the slow request to reach the upstream", Duration::from_secs(5), || async {
        let hits = jitgate_testkit::http::get(upstream, "127.0.0.1", "/hits?id=cut", &[]).await;
        hits.body.contains("\"hits\": 1")
    })
    .await;
    let admin = person("admin@example.com", &["admins"]);
    stack.service.revoke(&admin, request.id, "incident").await.unwrap();
    let revoked = Instant::now();
    let (answer, at) = slow.await.unwrap();
    let late = at.duration_since(revoked);
    eprintln!("unanswered request ended {late:?} after the revocation: {answer:?}");
    assert!(late < Duration::from_secs(1), "ended {late:?} after the revocation");
    if let Ok(response) = answer {
        assert_eq!(response.status, 403, "refused, not a 502 or the upstream's answer");
    }
    let hits = jitgate_testkit::http::get(upstream, "127.0.0.1", "/hits?id=cut", &[]).await;
    assert!(hits.body.contains("\"hits\": 1"), "the request was resent: {}", hits.body);
}
