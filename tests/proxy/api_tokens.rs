//! Personal API tokens at the proxy (issue 16): where a resource accepts bearer tokens, a
//! `jgt_…` token made in the portal stands in for a session, as its owner with the groups it
//! was created with. JIT resources still need a grant; the upstream never sees the token; and
//! revoking the token refuses it at every proxy and cuts what it opened (a WebSocket, a
//! streaming response) within a second, as a revocation of access does.

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_testkit::config::{ConfigBuilder, Resource};
use jitgate_testkit::http::{get, open_websocket};
use jitgate_testkit::{free_port, wait_until};
use serde_json::{Value, json};

use super::revocation::{read_until_closed, start_response_with};
use super::stack::{Stack, person};
use super::{closes_after, echoes};

const WITHIN: Duration = Duration::from_secs(1);

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_stands_in_for_a_session_until_it_is_revoked_at_every_proxy() {
    // Two proxies on one Redis: the revocation reaches the one that did not make it.
    let stack = Stack::start(2).await;
    let ports = [stack.instances[0].port, stack.instances[1].port];
    let bob = person("bob@example.com", &["sre"]);
    let (token, shown) =
        stack.service.create_api_token(&bob, "ci", Duration::from_secs(3600)).await.unwrap();
    let auth = format!("Bearer {shown}");
    // Even a client that looks like a browser gets JSON, never a redirect.
    let browserish = ("accept", "text/html");

    for port in ports {
        let wiki = format!("wiki.localhost:{port}");
        let standing = get(port, &wiki, "/", &[("authorization", &auth), browserish]).await;
        assert_eq!(standing.status, 200, "{}", standing.body);
        let seen = parse(&standing.body)["headers"].clone();
        assert_eq!(seen["x-jitgate-email"], json!(["bob@example.com"]));
        assert_eq!(seen["x-jitgate-groups"], json!(["sre"]));
        assert!(seen.get("authorization").is_none(), "the token stays with jitgate: {seen}");

        let app = format!("app.localhost:{port}");
        let locked = get(port, &app, "/", &[("authorization", &auth), browserish]).await;
        assert_eq!(locked.status, 403, "a token is identity, not access: {}", locked.body);
        assert_eq!(parse(&locked.body)["error"], "locked");
    }

    let _grant = stack.grant_app(&bob).await;
    for port in ports {
        let app = format!("app.localhost:{port}");
        wait_until("the grant to reach the proxy", Duration::from_secs(2), || async {
            get(port, &app, "/", &[("authorization", &auth)]).await.status == 200
        })
        .await;
    }

    // Malformed, unknown and wrong-secret tokens get one answer, with a challenge.
    let (_, other) =
        stack.service.create_api_token(&bob, "other", Duration::from_secs(3600)).await.unwrap();
    let mut wrong_secret = shown.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == 'A' { 'B' } else { 'A' });
    let unknown = format!("jgt_{}_{}", "01JAAAAAAAAAAAAAAAAAAAAAAA", &shown[shown.len() - 43..]);
    let wiki = stack.host("wiki");
    for (what, presented) in [
        ("wrong secret", wrong_secret.as_str()),
        ("unknown id", unknown.as_str()),
        ("malformed", "jgt_x"),
        (
            "another token's secret",
            &format!("{}{}", &shown[..shown.len() - 43], &other[other.len() - 43..]),
        ),
    ] {
        let refused =
            get(stack.port(), &wiki, "/", &[("authorization", &format!("Bearer {presented}"))])
                .await;
        assert_eq!(refused.status, 401, "{what}: {}", refused.body);
        assert_eq!(parse(&refused.body)["error"], "invalid_token", "{what}");
        let challenge = refused.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{what}: {challenge}");
    }

    // What the token opened on the second proxy: a WebSocket and a streaming response.
    let (port, app) = (ports[1], format!("app.localhost:{}", ports[1]));
    let mut socket = open_websocket(port, &app, "/ws", &[("authorization", &auth)]).await.unwrap();
    echoes(&mut socket).await;
    let mut stream =
        start_response_with(port, &app, "/stream?ticks=300", ("authorization", &auth), "tick 2")
            .await;
    let mut standing_socket =
        open_websocket(port, &format!("wiki.localhost:{port}"), "/ws", &[("authorization", &auth)])
            .await
            .unwrap();
    echoes(&mut standing_socket).await;

    // Revoked by its owner (the service writes to Redis; no proxy is told directly).
    let revoked_at = SystemClock.now();
    let revoked = Instant::now();
    stack.service.revoke_api_token(&bob, token.id).await.unwrap();
    let closing = tokio::spawn(closes_after(socket, revoked_at));
    let closing_standing = tokio::spawn(closes_after(standing_socket, revoked_at));
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("the stream still ran 5 s after the revocation");
    let late = closed.duration_since(revoked);
    eprintln!("stream cut {late:?} after the token's revocation");
    assert!(late < WITHIN, "stream cut {late:?} after the revocation");
    assert!(!text.contains("0\r\n\r\n"), "the stream completed: {text}");
    for (what, closing) in [("JIT", closing), ("standing", closing_standing)] {
        let late = closing.await.unwrap();
        eprintln!("{what} WebSocket closed {late:?} after the token's revocation");
        assert!(late < WITHIN, "{what} WebSocket closed {late:?} after the revocation");
    }
    for port in ports {
        let refused =
            get(port, &format!("wiki.localhost:{port}"), "/", &[("authorization", &auth)]).await;
        assert_eq!(refused.status, 401, "revoked at every proxy: {}", refused.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_that_refuses_tokens_ignores_api_tokens_too() {
    let stack = Stack::start(0).await;
    let port = free_port();
    let config = ConfigBuilder::new()
        .listen_http(port)
        .ops(free_port())
        .redis_url_file("redis.url", "proxytest")
        .resource(
            Resource::local("wiki", port)
                .upstream(&stack.upstream.url())
                .line("accept_bearer = false")
                .standing()
                .group("*"),
        )
        .build();
    let _jitgate = stack.serve("no-tokens.toml", &config, port).await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, shown) =
        stack.service.create_api_token(&bob, "ci", Duration::from_secs(3600)).await.unwrap();
    let wiki = format!("wiki.localhost:{port}");
    let script = get(port, &wiki, "/", &[("authorization", &format!("Bearer {shown}"))]).await;
    assert_eq!(script.status, 401, "no session, and tokens are not accepted here: {}", script.body);
    assert_eq!(parse(&script.body)["error"], "unauthenticated");
}
