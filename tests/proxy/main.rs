//! The proxy end to end: the real `jitgate serve` binary in front of a real upstream, with
//! real Redis behind it. The portal is not built yet, so the tests sign users in and grant
//! access through the store and token keys, exactly as the portal will.

mod api_tokens;
mod bearer;
mod edge_headers;
mod edge_paths;
mod edge_sessions;
mod extend;
mod failover;
mod first_use;
mod pause;
mod post_race;
mod reload;
mod revocation;
mod roles;
mod schedule;
mod stack;
mod tls;

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::routes::handoff_url;
use jitgate_access::token::TokenKeys;
use jitgate_testkit::http::{Connection, get};
use serde_json::Value;
use stack::{Stack, person};

const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

fn upstream_saw(body: &str) -> Value {
    serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("the upstream's echo is JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_browsers_go_to_sign_in_and_scripts_get_401() {
    let stack = Stack::start(1).await;
    let host = stack.host("app");
    let browser = get(stack.port(), &host, "/dash?tab=2", &[BROWSER]).await;
    assert_eq!(browser.status, 302);
    let expected = format!(
        "http://access.localhost:{}/auth/sign-in?rd=http%3A%2F%2Fapp%2Elocalhost%3A{}%2Fdash%3Ftab%3D2&state=",
        stack.port(),
        stack.port()
    );
    let location = browser.header("location").unwrap();
    assert!(location.starts_with(&expected), "{location}");
    let state = browser.header("set-cookie").unwrap().split(';').next().unwrap();
    let state = state.strip_prefix("jitgate_state=").unwrap();
    let digest =
        percent_encoding::percent_decode_str(&location[expected.len()..]).decode_utf8().unwrap();
    assert_eq!(digest, jitgate_access::token::state_digest(state));

    let api = get(stack.port(), &host, "/api/items", &[("accept", "application/json")]).await;
    assert_eq!(api.status, 401);
    assert_eq!(api.header("content-type"), Some("application/json"));
    assert_eq!(upstream_saw(&api.body)["error"], "unauthenticated");

    let websocket =
        get(stack.port(), &host, "/ws", &[("upgrade", "websocket"), ("connection", "upgrade")])
            .await;
    assert_eq!(websocket.status, 401, "a WebSocket handshake is never redirected");

    let unknown =
        get(stack.port(), &format!("nope.localhost:{}", stack.port()), "/", &[BROWSER]).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_tampered_and_foreign_cookies_count_as_no_session() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let (sid, good) = stack.sign_in(&bob, "wiki").await;
    let host = stack.host("wiki");
    assert_eq!(get(stack.port(), &host, "/", &[BROWSER, ("cookie", &good)]).await.status, 200);

    let now = SystemClock.now();
    let forged = TokenKeys::new(b"not-the-secret-not-the-secret-not-the-secret").session_cookie(
        &sid,
        &host,
        now.plus(Duration::from_secs(600)),
    );
    let expired = stack.keys.session_cookie(&sid, &host, now);
    let foreign =
        stack.keys.session_cookie(&sid, &stack.host("app"), now.plus(Duration::from_secs(600)));
    let mut tampered = good.clone();
    tampered.replace_range(30..31, if &good[30..31] == "A" { "B" } else { "A" });
    for (what, cookie) in [
        ("forged", format!("jitgate_session={forged}")),
        ("expired", format!("jitgate_session={expired}")),
        ("foreign", format!("jitgate_session={foreign}")),
        ("tampered", tampered),
        ("garbage", "jitgate_session=garbage".to_owned()),
    ] {
        let response = get(stack.port(), &host, "/", &[BROWSER, ("cookie", &cookie)]).await;
        assert_eq!(response.status, 302, "{what} cookie");
        assert!(response.header("location").unwrap().contains("/auth/sign-in"), "{what} cookie");
    }
    // Signing out ends the session on every host at once.
    stack.store.end_session(&sid).await.unwrap();
    jitgate_testkit::wait_until("sign-out to reach the proxy", Duration::from_secs(2), || async {
        get(stack.port(), &host, "/", &[BROWSER, ("cookie", &good)]).await.status == 302
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_sets_a_host_cookie_once() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let (sid, _) = stack.sign_in(&bob, "wiki").await;
    let host = stack.host("wiki");
    let now = SystemClock.now();
    let state = jitgate_access::token::new_sign_in_state();
    let digest = jitgate_access::token::state_digest(&state);
    let state_cookie = format!("jitgate_state={state}");
    let browser = [BROWSER, ("cookie", state_cookie.as_str())];
    let token = stack.keys.handoff(&sid, &host, "/pages?id=7", &digest, now);
    let url = handoff_url("http", &host, &token);
    let path = &url[url.find("/.jitgate").unwrap()..];

    let handoff = get(stack.port(), &host, path, &browser).await;
    assert_eq!(handoff.status, 302);
    assert_eq!(handoff.header("location"), Some("/pages?id=7"));
    let set_cookie =
        handoff.headers_named("set-cookie").find(|c| c.starts_with("jitgate_session=")).unwrap();
    for attribute in ["jitgate_session=", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing from {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: no Secure flag");
    assert!(!set_cookie.contains("Domain"), "host-only cookie");
    let cookie = set_cookie.split(';').next().unwrap();
    let page = get(stack.port(), &host, "/pages?id=7", &[BROWSER, ("cookie", cookie)]).await;
    assert_eq!(page.status, 200);

    let replay = get(stack.port(), &host, path, &browser).await;
    assert_eq!(replay.status, 400, "a handoff token works once");
    let for_app = stack.keys.handoff(&sid, &stack.host("app"), "/", &digest, now);
    let foreign = handoff_url("http", &host, &for_app);
    let foreign =
        get(stack.port(), &host, &foreign[foreign.find("/.jitgate").unwrap()..], &browser).await;
    assert_eq!(foreign.status, 400, "a token for another host is refused");
    let hostile = stack.keys.handoff(&sid, &host, "//evil.example/", &digest, now);
    let hostile = handoff_url("http", &host, &hostile);
    let hostile =
        get(stack.port(), &host, &hostile[hostile.find("/.jitgate").unwrap()..], &browser).await;
    assert_eq!(hostile.header("location"), Some("/"), "no open redirect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_until_granted_then_the_upstream_learns_who_it_is() {
    let stack = Stack::start(1).await;
    let host = stack.host("app");
    let alice = person("alice@example.com", &["dev"]);
    let (_, alice_cookie) = stack.sign_in(&alice, "app").await;
    let locked = get(stack.port(), &host, "/report", &[BROWSER, ("cookie", &alice_cookie)]).await;
    assert_eq!(locked.status, 302);
    let expected = format!("http://access.localhost:{}/request/app?rd=", stack.port());
    assert!(
        locked.header("location").unwrap().starts_with(&expected),
        "{:?}",
        locked.header("location")
    );
    let api = get(stack.port(), &host, "/report", &[("cookie", &alice_cookie)]).await;
    assert_eq!(api.status, 403);
    let body = upstream_saw(&api.body);
    assert_eq!(body["error"], "locked");
    assert!(body["request_url"].as_str().unwrap().starts_with(&expected));

    let mallory = person("mallory@example.com", &["contractors"]);
    let (_, mallory_cookie) = stack.sign_in(&mallory, "app").await;
    let refused = get(stack.port(), &host, "/", &[BROWSER, ("cookie", &mallory_cookie)]).await;
    assert_eq!(refused.status, 403, "no assignment: no access and nothing to request");
    assert!(refused.body.contains("don&#39;t have access") || refused.body.contains("have access"));

    let bob = person("bob@example.com", &["sre", "on-call"]);
    stack
        .service
        .request_access(&bob, &"app".parse().unwrap(), "deploy", Duration::from_secs(3600))
        .await
        .unwrap();
    let (_, bob_cookie) = stack.sign_in(&bob, "app").await;
    let cookies = format!("theme=dark; {bob_cookie}; lang=en");
    let allowed = get(
        stack.port(),
        &host,
        "/report?q=1",
        &[
            BROWSER,
            ("cookie", &cookies),
            ("x-jitgate-user", "root@example.com"),
            ("x-forwarded-for", "6.6.6.6"),
        ],
    )
    .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let seen = upstream_saw(&allowed.body);
    assert_eq!(seen["path"], "/report?q=1");
    assert_eq!(
        seen["headers"]["x-jitgate-user"],
        serde_json::json!(["bob@example.com"]),
        "spoofed identity replaced"
    );
    assert_eq!(seen["headers"]["x-jitgate-groups"], serde_json::json!(["on-call,sre"]));
    assert_eq!(seen["headers"]["x-forwarded-for"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(seen["headers"]["x-forwarded-host"], serde_json::json!([host.clone()]));
    assert_eq!(
        seen["headers"]["cookie"],
        serde_json::json!(["theme=dark; lang=en"]),
        "jitgate's cookie stays at the edge"
    );

    // The signed assertion verifies against the JWKS the portal host publishes.
    let portal = format!("access.localhost:{}", stack.port());
    let jwks = get(stack.port(), &portal, "/.well-known/jitgate/jwks.json", &[]).await;
    assert_eq!(jwks.status, 200);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks.body).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[host.as_str()]);
    validation.set_issuer(&[format!("http://{portal}")]);
    let assertion =
        seen["headers"]["x-jitgate-assertion"][0].as_str().expect("an assertion header");
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation).unwrap().claims;
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["on-call", "sre"]));
    let forged = get(
        stack.port(),
        &host,
        "/",
        &[("cookie", &bob_cookie), ("x-jitgate-assertion", "forged")],
    )
    .await;
    let forged_seen = upstream_saw(&forged.body);
    assert_ne!(
        forged_seen["headers"]["x-jitgate-assertion"],
        serde_json::json!(["forged"]),
        "a client cannot supply an assertion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_ends_at_its_expiry_even_on_an_open_connection() {
    let stack = Stack::start(1).await;
    let alice = person("alice@example.com", &["dev"]);
    let (_, cookie) = stack.sign_in(&alice, "app").await;
    let expires_at = short_grant(&stack, &alice, Duration::from_secs(2)).await;

    let host = stack.host("app");
    let mut connection = Connection::open(stack.port()).await.unwrap();
    let before = connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap();
    assert_eq!(before.status, 200);
    // Wait for the wall clock to pass the expiry, then ask again on the same connection.
    let remaining = SystemClock.now().until(expires_at) + Duration::from_millis(1);
    tokio::time::sleep(remaining).await;
    let after = connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap();
    assert_eq!(
        after.status, 403,
        "locked one millisecond after expiry, on a kept-alive connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_every_instance_within_100ms() {
    let mut stack = Stack::start(1).await;
    stack.add_instance().await;
    let bob = person("bob@example.com", &["sre"]);
    let request = stack
        .service
        .request_access(&bob, &"app".parse().unwrap(), "r", Duration::from_secs(3600))
        .await
        .unwrap();
    let (sid, _) = stack.sign_in(&bob, "app").await;
    let now = SystemClock.now();
    let mut connections = Vec::new();
    for instance in &stack.instances {
        let host = format!("app.localhost:{}", instance.port);
        let cookie = format!(
            "jitgate_session={}",
            stack.keys.session_cookie(&sid, &host, now.plus(Duration::from_secs(600)))
        );
        let mut connection = Connection::open(instance.port).await.unwrap();
        assert_eq!(
            connection.send("GET", &host, "/", &[("cookie", &cookie)]).await.unwrap().status,
            200
        );
        connections.push((connection, host, cookie));
    }
    let admin = person("admin@example.com", &["admins"]);
    stack.service.revoke(&admin, request.id, "incident over").await.unwrap();
    let revoked_at = Instant::now();
    for (connection, host, cookie) in &mut connections {
        loop {
            let status =
                connection.send("GET", host, "/", &[("cookie", cookie)]).await.unwrap().status;
            if status == 403 {
                eprintln!("revocation seen by {host} {:?} after the commit", revoked_at.elapsed());
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_millis(100),
                "{host} still allowed {:?} after revocation",
                revoked_at.elapsed()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_fails_closed_for_jit_only_and_recovers() {
    let mut stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    stack
        .service
        .request_access(&bob, &"app".parse().unwrap(), "r", Duration::from_secs(3600))
        .await
        .unwrap();
    let (_, app_cookie) = stack.sign_in(&bob, "app").await;
    let (_, wiki_cookie) = stack.sign_in(&bob, "wiki").await;
    let (app, wiki) = (stack.host("app"), stack.host("wiki"));
    assert_eq!(get(stack.port(), &app, "/", &[BROWSER, ("cookie", &app_cookie)]).await.status, 200);
    assert_eq!(
        get(stack.port(), &wiki, "/", &[BROWSER, ("cookie", &wiki_cookie)]).await.status,
        200
    );

    stack.redis.stop().await;
    let down = get(stack.port(), &app, "/", &[BROWSER, ("cookie", &app_cookie)]).await;
    assert_eq!(down.status, 503, "a JIT resource fails closed");
    assert!(down.body.contains("could not be verified"), "{}", down.body);
    let api = get(stack.port(), &app, "/", &[("cookie", &app_cookie)]).await;
    assert_eq!(
        (api.status, upstream_saw(&api.body)["error"].clone()),
        (503, Value::from("unavailable"))
    );
    assert_eq!(
        get(stack.port(), &wiki, "/", &[BROWSER, ("cookie", &wiki_cookie)]).await.status,
        200,
        "standing access keeps working"
    );

    // Redis comes back (empty: the test server keeps nothing on disk); access works again
    // as soon as the state is there.
    stack.redis.restart().await;
    jitgate_testkit::wait_until(
        "the proxy to reach the store again",
        Duration::from_secs(10),
        || async {
            get(stack.port(), &app, "/", &[BROWSER, ("cookie", &app_cookie)]).await.status != 503
        },
    )
    .await;
    let store_back =
        jitgate_access::store::RedisStore::connect(&stack.redis.url(), "proxytest").await.unwrap();
    let service = jitgate_access::service::AccessService::new(
        std::sync::Arc::new(store_back.clone()),
        std::sync::Arc::new(SystemClock),
        std::sync::Arc::new(
            jitgate_access::config::load(&stack.dir.path().join("jitgate-0.toml"))
                .unwrap()
                .policy_set(),
        ),
    );
    service
        .request_access(&bob, &"app".parse().unwrap(), "again", Duration::from_secs(3600))
        .await
        .unwrap();
    stack.store = std::sync::Arc::new(store_back);
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    jitgate_testkit::wait_until("access to work again", Duration::from_secs(10), || async {
        get(stack.port(), &app, "/", &[BROWSER, ("cookie", &cookie)]).await.status == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_already_in_use_is_a_one_line_error() {
    let stack = Stack::start(1).await;
    let started = Instant::now();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(["serve", "--config"])
        .arg(stack.dir.path().join("jitgate-0.toml"))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "jitgate: cannot listen on 127.0.0.1:{}: Address already in use (os error 98)",
            stack.port()
        )
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Writes a grant for `who` on `app` straight into the store, as short as a test needs (shorter
/// than any policy allows), and returns its expiry.
async fn short_grant(
    stack: &Stack,
    who: &jitgate_access::policy::Identity,
    lasts: Duration,
) -> jitgate_access::time::Timestamp {
    grant_in_store(stack, who, Duration::ZERO, lasts, None).await
}

/// [`short_grant`], scheduled: its window opens `starts_in` from now (now when zero).
async fn window_grant(
    stack: &Stack,
    who: &jitgate_access::policy::Identity,
    starts_in: Duration,
    lasts: Duration,
) -> jitgate_access::time::Timestamp {
    grant_in_store(stack, who, starts_in, lasts, None).await
}

/// [`short_grant`] opening `starts_in` from now, with `claim` for a grant that waits for
/// first use (`lasts` is then its claim deadline).
async fn grant_in_store(
    stack: &Stack,
    who: &jitgate_access::policy::Identity,
    starts_in: Duration,
    lasts: Duration,
    claim: Option<jitgate_access::request::Claim>,
) -> jitgate_access::time::Timestamp {
    use jitgate_access::ids::IdGenerator;
    use jitgate_access::request::{AccessRequest, Grant, RequestState};
    use jitgate_access::transition::{Change, GrantPointerUpdate, RequestWrite};

    let now = SystemClock.now();
    let id = IdGenerator::new().next(now).into();
    let starts_at = (!starts_in.is_zero()).then(|| now.plus(starts_in));
    let grant = Grant {
        user: who.user.clone(),
        resource: "app".parse().unwrap(),
        request_id: id,
        granted_at: now,
        expires_at: now.plus(starts_in + lasts),
        end: None,
        paused: None,
        starts_at,
        claim,
    };
    let request = AccessRequest {
        id,
        version: 1,
        requester: who.user.clone(),
        requester_groups: who.groups.clone(),
        resource: grant.resource.clone(),
        reason: "short".into(),
        requested_duration: lasts,
        created_at: now,
        pending_until: now.plus(Duration::from_secs(60)),
        approvals: vec![],
        state: RequestState::Approved { grant: grant.clone() },
        extends: None,
        break_glass: None,
        starts_at,
    };
    let change = Change {
        requests: vec![RequestWrite { request, expected_version: None }],
        grant_pointer: Some(GrantPointerUpdate::Set { grant: grant.clone(), expected: None }),
        ..Change::default()
    };
    stack.store.commit(&change).await.unwrap();
    grant.expires_at
}

/// Checks an open WebSocket carries data while the grant holds.
async fn echoes(socket: &mut tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    socket.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    socket.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping", "the WebSocket works while the grant holds");
}

/// Waits (up to 5 s) for the proxy to close an open WebSocket; returns how long after `since`
/// the close came.
async fn closes_after(
    mut socket: tokio::net::TcpStream,
    since: jitgate_access::time::Timestamp,
) -> Duration {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was still open 5 s later");
    let now = SystemClock.now();
    assert!(now >= since, "closed before the grant ended");
    since.until(now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_closes_within_a_second_of_expiry() {
    let stack = Stack::start(1).await;
    let alice = person("alice@example.com", &["dev"]);
    let (_, cookie) = stack.sign_in(&alice, "app").await;
    let expires_at = short_grant(&stack, &alice, Duration::from_secs(2)).await;
    let mut socket = jitgate_testkit::http::open_websocket(
        stack.port(),
        &stack.host("app"),
        "/ws",
        &[("cookie", &cookie)],
    )
    .await
    .unwrap();
    echoes(&mut socket).await;
    let late = closes_after(socket, expires_at).await;
    eprintln!("WebSocket closed {late:?} after the grant expired");
    assert!(late < Duration::from_secs(1), "closed {late:?} after expiry");
    // And a new handshake is refused plainly, without a redirect.
    let refused = jitgate_testkit::http::open_websocket(
        stack.port(),
        &stack.host("app"),
        "/ws",
        &[("cookie", &cookie)],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_closes_within_a_second_of_revocation() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let request = stack
        .service
        .request_access(&bob, &"app".parse().unwrap(), "r", Duration::from_secs(3600))
        .await
        .unwrap();
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    let mut socket = jitgate_testkit::http::open_websocket(
        stack.port(),
        &stack.host("app"),
        "/ws",
        &[("cookie", &cookie)],
    )
    .await
    .unwrap();
    echoes(&mut socket).await;
    let admin = person("admin@example.com", &["admins"]);
    let revoked_at = SystemClock.now();
    stack.service.revoke(&admin, request.id, "incident").await.unwrap();
    let late = closes_after(socket, revoked_at).await;
    eprintln!("WebSocket closed {late:?} after the revocation");
    assert!(late < Duration::from_secs(1), "closed {late:?} after revocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_response_ends_with_the_grant() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::start(1).await;
    let alice = person("alice@example.com", &["dev"]);
    let (_, cookie) = stack.sign_in(&alice, "app").await;
    let expires_at = short_grant(&stack, &alice, Duration::from_secs(2)).await;
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", stack.port())).await.unwrap();
    let request =
        format!("GET /stream HTTP/1.1\r\nHost: {}\r\ncookie: {cookie}\r\n\r\n", stack.host("app"));
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream was still flowing 10 s later");
    let late = expires_at.until(SystemClock.now());
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("tick 5"), "the stream flowed while the grant held");
    assert!(!text.contains("tick 40"), "the stream went on well past the grant: {text}");
    eprintln!("stream cut {late:?} after the grant expired");
    assert!(late < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_health_readiness_and_metrics() {
    let mut stack = Stack::start(1).await;
    let ops = stack.instances[0].ops_port;
    assert_eq!(get(ops, "localhost", "/healthz", &[]).await.status, 200);
    assert_eq!(get(ops, "localhost", "/readyz", &[]).await.status, 200);

    let bob = person("bob@example.com", &["sre"]);
    stack
        .service
        .request_access(&bob, &"app".parse().unwrap(), "r", Duration::from_secs(3600))
        .await
        .unwrap();
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    for _ in 0..3 {
        assert_eq!(
            get(stack.port(), &stack.host("app"), "/", &[("cookie", &cookie)]).await.status,
            200
        );
    }
    let _socket = jitgate_testkit::http::open_websocket(
        stack.port(),
        &stack.host("app"),
        "/ws",
        &[("cookie", &cookie)],
    )
    .await
    .unwrap();
    let metrics = get(ops, "localhost", "/metrics", &[]).await.body;
    for line in [
        "jitgate_requests_total{decision=\"AllowGrant\"} 3",
        "jitgate_cache_lookups_total{kind=\"grant\",result=\"hit\"} 3",
        "jitgate_change_feed_up 1",
        "jitgate_open_leased_connections 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line:?} missing from:\n{metrics}");
    }

    stack.redis.stop().await;
    let not_ready = get(ops, "localhost", "/readyz", &[]).await;
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    assert_eq!(get(ops, "localhost", "/healthz", &[]).await.status, 200, "alive, just not ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_upstream_costs_no_request() {
    let stack = Stack::start(1).await;
    let (port, ops_port, dead) =
        (jitgate_testkit::free_port(), jitgate_testkit::free_port(), jitgate_testkit::free_port());
    let upstream = stack.upstream.url();
    let config = stack::config_text(port, ops_port, &upstream, None).replacen(
        &format!("upstreams = [\"{upstream}\"]"),
        &format!("upstreams = [\"http://127.0.0.1:{dead}\", \"{upstream}\"]"),
        1,
    );
    let _jitgate = stack.serve("two-upstreams.toml", &config, port).await;
    let bob = person("bob@example.com", &["sre"]);
    stack
        .service
        .request_access(&bob, &"app".parse().unwrap(), "r", Duration::from_secs(3600))
        .await
        .unwrap();
    let host = format!("app.localhost:{port}");
    let (sid, _) = stack.sign_in(&bob, "app").await;
    let cookie = format!(
        "jitgate_session={}",
        stack.keys.session_cookie(&sid, &host, SystemClock.now().plus(Duration::from_secs(600)))
    );
    for attempt in 0..6 {
        let response = get(port, &host, "/", &[("cookie", &cookie)]).await;
        assert_eq!(
            response.status, 200,
            "request {attempt} through one dead and one live upstream: {}",
            response.body
        );
    }
}

/// WebSockets on a standing resource (no grant, so no lease) work too, many at once. (The JIT
/// WebSocket tests above are the ones that caught cloudflare/pingora#946 — a tunnel torn down
/// right after its `101` — which `proxy/src/lease.rs` works around.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_on_a_standing_resource_work_many_at_once() {
    let stack = std::sync::Arc::new(Stack::start(1).await);
    let (_, cookie) = stack.sign_in(&person("bob@example.com", &["sre"]), "wiki").await;
    let mut handshakes = tokio::task::JoinSet::new();
    for attempt in 0..50 {
        let (stack, cookie) = (stack.clone(), cookie.clone());
        handshakes.spawn(async move {
            let mut socket = jitgate_testkit::http::open_websocket(
                stack.port(),
                &stack.host("wiki"),
                "/ws",
                &[("cookie", &cookie)],
            )
            .await
            .unwrap_or_else(|refused| panic!("handshake {attempt} refused: {}", refused.status));
            echoes(&mut socket).await;
        });
    }
    while let Some(outcome) = handshakes.join_next().await {
        outcome.expect("every tunnel carries data");
    }
}
