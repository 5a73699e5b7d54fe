//! The keep-alive race: an upstream closes an idle pooled connection at the moment the proxy
//! takes it for the next request. Pingora retries an idempotent request on another connection;
//! a POST must not be retried blindly (the upstream may have acted on it), so it must never be
//! put on a connection the upstream may be closing in the first place. Before that rule a POST
//! that lost the race was a 502.

use std::process::Stdio;
use std::time::Duration;

use jitgate_testkit::config::ConfigBuilder;
use jitgate_testkit::http::Connection;
use jitgate_testkit::{free_port, listening, wait_until};
use tokio::process::{Child, Command};

use crate::stack::{Stack, config, person};

/// How long the upstream keeps an idle keep-alive connection open.
const IDLE_MS: u64 = 60;
/// GET-then-POST rounds: enough for the race to show a handful of times on a 2-core machine.
const ROUNDS: u64 = 300;

/// An HTTP/1.1 upstream that closes a keep-alive connection once it has been idle for
/// `IDLE_MS`, without announcing it (no `Connection: close`, no `Keep-Alive: timeout`), as
/// servers with a short keep-alive timeout do. It answers `METHOD body-length`.
const UPSTREAM: &str = r#"
import asyncio, sys

IDLE = int(sys.argv[2]) / 1000

async def serve(reader, writer):
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE)
            except asyncio.TimeoutError:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            answer = head.split(b" ", 1)[0] + b" " + str(len(body)).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                         + str(len(answer)).encode() + b"\r\n\r\n" + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

asyncio.run(main())
"#;

struct ShortKeepAlive {
    port: u16,
    _child: Child,
}

impl ShortKeepAlive {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-c", UPSTREAM, &port.to_string(), &IDLE_MS.to_string()])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the upstream");
        wait_until("the upstream to listen", Duration::from_secs(10), || listening(port)).await;
        Self { port, _child: child }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_never_lands_on_a_pooled_connection_the_upstream_is_closing() {
    let stack = Stack::start(0).await;
    let upstream = ShortKeepAlive::start().await;
    let (port, ops_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{}", upstream.port);
    let text = config(ConfigBuilder::new().listen_http(port), port, ops_port, &url).build();
    let _jitgate = stack.serve("post-race.toml", &text, port).await;
    let host = format!("wiki.localhost:{port}");
    let (_, cookie) = stack.sign_in_on(&person("bob@example.com", &["dev"]), &host).await;
    let body = "x".repeat(100);
    let length = body.len().to_string();
    let post = [("cookie", cookie.as_str()), ("content-length", length.as_str())];

    let mut failed = Vec::new();
    for round in 0..ROUNDS {
        // A connection of its own each round: a 502 may close the client's connection.
        let mut client = Connection::open(port).await.unwrap();
        let got = client.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap();
        assert_eq!((got.status, got.body.as_str()), (200, "GET 0"), "round {round}");
        // Wake up around the moment the upstream gives up on the connection the GET left in
        // the pool: a few milliseconds either side, so some rounds meet the close head on.
        tokio::time::sleep(Duration::from_millis(IDLE_MS - 3 + round % 6)).await;
        let mut request = format!("POST /orders HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in post {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let posted = client.send_raw(request.as_bytes()).await.unwrap();
        if posted.status != 200 || posted.body != "POST 100" {
            failed.push((round, posted.status));
        }
    }
    eprintln!("{} of {ROUNDS} POSTs failed: {failed:?}", failed.len());
    assert!(failed.is_empty(), "{} of {ROUNDS} POSTs failed: {failed:?}", failed.len());
}
