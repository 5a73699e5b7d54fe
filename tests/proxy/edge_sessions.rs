//! Sessions at the edge: the sign-in handoff bound to the browser that started it (no login
//! CSRF), WebSocket handshakes only from the app's own pages (or listed origins), open
//! connections ended with the session that opened them, and host-prefixed cookies on HTTPS.

use std::time::Duration;

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::routes::{handoff_url, sign_in_url};
use jitgate_access::session::{Session, SessionId};
use jitgate_access::time::Timestamp;
use jitgate_access::token::state_digest;
use jitgate_testkit::config::ConfigBuilder;
use jitgate_testkit::http::{Response, get, open_websocket};
use jitgate_testkit::{free_port, tls};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::edge_paths::{Site, site_config};
use crate::stack::{Stack, person};
use crate::{BROWSER, echoes, upstream_saw};

/// The `Set-Cookie` header that sets `name`, if any.
fn set_cookie<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers_named("set-cookie").find(|value| {
        value
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .is_some_and(|(n, _)| n.trim() == name)
    })
}

/// The value a `Set-Cookie` header sets.
fn value_of(set_cookie: &str) -> &str {
    set_cookie.split(';').next().and_then(|pair| pair.split_once('=')).map_or("", |(_, v)| v.trim())
}

/// The attributes a `Set-Cookie` header carries, as written (`HttpOnly`, `Path=/`...).
fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie.split(';').skip(1).map(|a| a.trim().to_owned()).collect()
}

fn assert_attributes(set_cookie: &str, secure: bool) {
    let attributes = attributes(set_cookie);
    let has = |wanted: &str| attributes.iter().any(|a| a.eq_ignore_ascii_case(wanted));
    for wanted in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(has(wanted), "{wanted} missing from {set_cookie}");
    }
    assert_eq!(has("Secure"), secure, "Secure exactly on HTTPS: {set_cookie}");
    assert!(
        !attributes.iter().any(|a| a.to_ascii_lowercase().starts_with("domain")),
        "host-only: {set_cookie}"
    );
}

/// A query parameter of `url`, percent-decoded (the sign-in URL escapes every byte but
/// letters and digits, so a state's `-` and `_` travel as `%2D` and `%5F`).
fn param(url: &str, name: &str) -> Option<String> {
    let raw = url
        .split_once('?')?
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    let mut bytes = Vec::new();
    let mut rest = raw.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(decoded) => {
                bytes.push(decoded);
                rest = &tail[2..];
            }
            None => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    Some(String::from_utf8(bytes).expect("a UTF-8 parameter"))
}

/// The path and query of a handoff URL for `host` carrying `token`.
fn handoff_path(host: &str, token: &str) -> String {
    let url = handoff_url("http", host, token);
    url[url.find("/.jitgate").unwrap()..].to_owned()
}

/// The sign-in state cookie a browser gets on its first visit to `host` (asserted well-formed).
async fn fresh_state(port: u16, host: &str, path: &str) -> String {
    let response = get(port, host, path, &[BROWSER]).await;
    assert_eq!(response.status, 302, "{}", response.body);
    let set = set_cookie(&response, "jitgate_state").expect("a sign-in state cookie");
    value_of(set).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_redirect_binds_the_browser_with_a_state_cookie() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let portal = format!("http://access.localhost:{}", site.port);
    let back = format!("http://{}/dash?tab=2", site.host);

    let first = get(site.port, &site.host, "/dash?tab=2", &[BROWSER]).await;
    assert_eq!(first.status, 302, "{}", first.body);
    let set = set_cookie(&first, "jitgate_state").expect("a sign-in state cookie");
    assert_attributes(set, false);
    let value = value_of(set);
    assert!(value.len() >= 32, "a state worth binding to: {set}");
    let location = first.header("location").unwrap();
    let state = param(location, "state").expect("the redirect carries the state");
    assert_eq!(state.len(), 43, "{location}");
    assert!(state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(state, state_digest(value), "the portal gets the digest, never the cookie");
    assert_eq!(location, sign_in_url(&portal, &back, Some(&state)));

    // The same browser again (a second tab): its state is reused, so both tabs' sign-ins land.
    let cookie = format!("jitgate_state={value}");
    let again = get(site.port, &site.host, "/dash?tab=2", &[BROWSER, ("cookie", &cookie)]).await;
    assert_eq!(again.status, 302);
    if let Some(set) = set_cookie(&again, "jitgate_state") {
        assert_eq!(value_of(set), value, "reused, not replaced: {set}");
    }
    assert_eq!(again.header("location"), Some(sign_in_url(&portal, &back, Some(&state)).as_str()));

    // A short (planted or broken) state is not reused; every fresh browser gets its own.
    let short =
        get(site.port, &site.host, "/", &[BROWSER, ("cookie", "jitgate_state=short")]).await;
    let replaced = value_of(set_cookie(&short, "jitgate_state").expect("a new state")).to_owned();
    assert!(replaced != "short" && replaced.len() >= 32, "{replaced}");
    let replaced_location = short.header("location").unwrap();
    assert_eq!(param(replaced_location, "state"), Some(state_digest(&replaced)));
    let other_browser = fresh_state(site.port, &site.host, "/").await;
    assert_ne!(other_browser, value, "states are random per browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_is_redeemed_only_by_the_browser_that_started_the_sign_in() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let (port, host) = (site.port, site.host.as_str());
    let victim_state = fresh_state(port, host, "/").await;

    // Login CSRF: mallory signs in, mints a handoff for her own session bound to her own
    // browser, and gets the victim's browser to open it.
    let mallory = person("mallory@example.com", &["contractors"]);
    let (mallory_sid, _) = stack.sign_in_on(&mallory, host).await;
    let mallory_state = fresh_state(port, host, "/").await;
    let token = stack.keys.handoff(
        &mallory_sid,
        host,
        "/",
        &state_digest(&mallory_state),
        SystemClock.now(),
    );
    let victim_cookie = format!("jitgate_state={victim_state}");
    let attack =
        get(port, host, &handoff_path(host, &token), &[BROWSER, ("cookie", &victim_cookie)]).await;
    assert_eq!(attack.status, 400, "another browser's handoff is refused: {}", attack.body);
    assert!(set_cookie(&attack, "jitgate_session").is_none(), "no session planted");

    let bob = person("bob@example.com", &["sre"]);
    let (sid, _) = stack.sign_in_on(&bob, host).await;
    let bound = state_digest(&victim_state);
    let refused_with = [
        ("no state cookie", None),
        ("another browser's state", Some(format!("jitgate_state={mallory_state}"))),
        ("the digest passed off as the state", Some(format!("jitgate_state={bound}"))),
        (
            "the state under the HTTPS-only name",
            Some(format!("__Host-jitgate_state={victim_state}")),
        ),
        ("an empty state", Some("jitgate_state=".to_owned())),
    ];
    for (what, cookie) in refused_with {
        // A fresh token each time: whether a refused attempt uses one up is not the question.
        let token = stack.keys.handoff(&sid, host, "/after?x=1", &bound, SystemClock.now());
        let mut headers = vec![BROWSER];
        if let Some(cookie) = &cookie {
            headers.push(("cookie", cookie));
        }
        let refused = get(port, host, &handoff_path(host, &token), &headers).await;
        assert_eq!(refused.status, 400, "{what}: {}", refused.body);
        assert!(set_cookie(&refused, "jitgate_session").is_none(), "{what}: no session cookie");
    }

    let token = stack.keys.handoff(&sid, host, "/after?x=1", &bound, SystemClock.now());
    let accepted =
        get(port, host, &handoff_path(host, &token), &[BROWSER, ("cookie", &victim_cookie)]).await;
    assert_eq!(accepted.status, 302, "{}", accepted.body);
    assert_eq!(accepted.header("location"), Some("/after?x=1"));
    let session = set_cookie(&accepted, "jitgate_session").expect("the session cookie");
    assert_attributes(session, false);
    let cleared = set_cookie(&accepted, "jitgate_state").expect("the state cookie is cleared");
    assert_eq!(value_of(cleared), "", "{cleared}");
    assert!(attributes(cleared).iter().any(|a| a == "Max-Age=0"), "{cleared}");

    let cookie = format!("jitgate_session={}", value_of(session));
    let page = get(port, host, "/after?x=1", &[BROWSER, ("cookie", &cookie)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        upstream_saw(&page.body)["headers"]["x-jitgate-user"],
        serde_json::json!(["bob@example.com"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handoff_is_answered_on_a_host_without_a_root_resource() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let (port, tools) = (site.port, site.tools_host());
    assert_eq!(
        get(port, &tools, "/elsewhere", &[BROWSER]).await.status,
        404,
        "only /admin is served"
    );
    let state = fresh_state(port, &tools, "/admin/x").await;
    let bob = person("bob@example.com", &["sre"]);
    let (sid, _) = stack.sign_in_on(&bob, &tools).await;

    let token =
        stack.keys.handoff(&sid, &tools, "/admin/x", &state_digest(&state), SystemClock.now());
    let unbound = get(port, &tools, &handoff_path(&tools, &token), &[BROWSER]).await;
    assert_eq!(unbound.status, 400, "refused as a handoff, not a 404: {}", unbound.body);

    let token =
        stack.keys.handoff(&sid, &tools, "/admin/x", &state_digest(&state), SystemClock.now());
    let cookie = format!("jitgate_state={state}");
    let handoff =
        get(port, &tools, &handoff_path(&tools, &token), &[BROWSER, ("cookie", &cookie)]).await;
    assert_eq!(handoff.status, 302, "{}", handoff.body);
    assert_eq!(handoff.header("location"), Some("/admin/x"));
    let session = set_cookie(&handoff, "jitgate_session").expect("the session cookie");
    let cookie = format!("jitgate_session={}", value_of(session));
    let page = get(port, &tools, "/admin/x", &[BROWSER, ("cookie", &cookie)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(upstream_saw(&page.body)["path"], "/admin/x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_handshakes_from_foreign_pages_are_refused() {
    let stack = Stack::start(0).await;
    let site = Site::start(
        &stack,
        &stack.upstream.url(),
        "",
        "websocket_origins = [\"http://other.localhost:1234\"]",
    )
    .await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in_on(&bob, &site.host).await;
    let own = format!("http://{}", site.host);
    let lookalike = format!("http://{}.evil.localhost", site.host);
    let prefixed = format!("http://evil-{}", site.host);
    for (path, origin, allowed) in [
        ("/ws", Some(own.as_str()), true),
        ("/ws", None, true),
        ("/ws", Some("http://other.localhost:1234"), true),
        ("/ws", Some("http://evil.localhost"), false),
        ("/ws", Some("null"), false),
        ("/ws", Some(lookalike.as_str()), false),
        ("/ws", Some(prefixed.as_str()), false),
        ("/ws", Some("http://other.localhost:1235"), false),
        // Listed on `site` only: `files` (same host) accepts its own origin and no other.
        ("/files/ws", Some(own.as_str()), true),
        ("/files/ws", Some("http://other.localhost:1234"), false),
    ] {
        let mut headers = vec![("cookie", cookie.as_str())];
        if let Some(origin) = origin {
            headers.push(("origin", origin));
        }
        match open_websocket(site.port, &site.host, path, &headers).await {
            Ok(mut socket) => {
                assert!(allowed, "{path} from {origin:?} was let in");
                echoes(&mut socket).await;
            }
            Err(refused) => {
                assert!(
                    !allowed,
                    "{path} from {origin:?} refused: {} {}",
                    refused.status, refused.body
                );
                assert_eq!(refused.status, 403, "{path} from {origin:?}: {}", refused.body);
            }
        }
    }
}

/// Waits (up to `limit`) for the proxy to close `socket`; returns when it did.
async fn closed_at(mut socket: TcpStream, limit: Duration) -> Timestamp {
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the WebSocket was still open {limit:?} later");
    SystemClock.now()
}

async fn open_socket(site: &Site, cookie: &str) -> TcpStream {
    let mut socket = open_websocket(site.port, &site.host, "/ws", &[("cookie", cookie)])
        .await
        .unwrap_or_else(|refused| panic!("handshake refused: {} {}", refused.status, refused.body));
    echoes(&mut socket).await;
    socket
}

/// Standing access has no grant to end, but the session it rides on does: signing out closes
/// the WebSockets it opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_on_a_standing_resource_closes_at_sign_out() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let bob = person("bob@example.com", &["sre"]);
    let (sid, cookie) = stack.sign_in_on(&bob, &site.host).await;
    let (_, other_cookie) = stack.sign_in_on(&bob, &site.host).await;
    let socket = open_socket(&site, &cookie).await;
    let mut other = open_socket(&site, &other_cookie).await;

    let ended = SystemClock.now();
    stack.store.end_session(&sid).await.unwrap();
    let closed = closed_at(socket, Duration::from_secs(5)).await;
    let late = ended.until(closed);
    eprintln!("WebSocket closed {late:?} after sign-out");
    assert!(late < Duration::from_secs(1), "closed {late:?} after sign-out");
    echoes(&mut other).await; // The user's other session is untouched.
    let refused = open_websocket(site.port, &site.host, "/ws", &[("cookie", &cookie)]).await;
    assert_eq!(refused.map(|_| 101).unwrap_or_else(|r| r.status), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_websockets_close_when_an_admin_ends_every_session_of_the_user() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, first) = stack.sign_in_on(&bob, &site.host).await;
    let (_, second) = stack.sign_in_on(&bob, &site.host).await;
    let alice = person("alice@example.com", &["dev"]);
    let (_, bystander) = stack.sign_in_on(&alice, &site.host).await;
    let sockets = [open_socket(&site, &first).await, open_socket(&site, &second).await];
    let mut untouched = open_socket(&site, &bystander).await;

    let ended = SystemClock.now();
    assert_eq!(stack.store.end_sessions_of(&bob.user).await.unwrap(), 2);
    for socket in sockets {
        let late = ended.until(closed_at(socket, Duration::from_secs(5)).await);
        eprintln!("WebSocket closed {late:?} after the admin ended the user's sessions");
        assert!(late < Duration::from_secs(1), "closed {late:?} after the sessions ended");
    }
    echoes(&mut untouched).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_closes_at_the_session_s_expiry() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let bob = person("bob@example.com", &["sre"]);
    let now = SystemClock.now();
    // On a whole second, 2 to 3 s away: the cookie's expiry (whole seconds) is the session's.
    let expires_at = Timestamp::from_millis((now.as_millis() / 1000 + 3) * 1000);
    let session = Session { id: SessionId::random(), identity: bob, created_at: now, expires_at };
    stack.store.create_session(&session).await.unwrap();
    let cookie = format!(
        "jitgate_session={}",
        stack.keys.session_cookie(&session.id, &site.host, expires_at)
    );
    let socket = open_socket(&site, &cookie).await;
    let closed = closed_at(socket, Duration::from_secs(6)).await;
    assert!(
        closed >= expires_at,
        "closed {:?} before the session expired",
        closed.until(expires_at)
    );
    let late = expires_at.until(closed);
    eprintln!("WebSocket closed {late:?} after the session expired");
    assert!(late < Duration::from_secs(1), "closed {late:?} after expiry");
}

/// `curl` (a real TLS client) to `url`, connecting to 127.0.0.1:`port`: the parsed response.
async fn curl(url: &str, port: u16, cacert: &str, headers: &[&str]) -> Response {
    let host = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap();
    let name = host.split(':').next().unwrap();
    let mut command = tokio::process::Command::new("curl");
    command.args(["-s", "-D", "-", "-o", "/dev/null", "--max-time", "10", "--cacert", cacert]);
    command.arg("--resolve").arg(format!("{name}:{port}:127.0.0.1"));
    for header in headers {
        command.arg("-H").arg(header);
    }
    let output = command.arg(url).output().await.expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("curl {url}: no response: {text}"));
    let headers = lines
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response { status, headers, body: String::new() }
}

/// On HTTPS every cookie is `__Host-` prefixed (`Secure`, `Path=/`, no `Domain`), so neither a
/// sibling subdomain nor a plain-HTTP attacker can plant one; the unprefixed names do not
/// count there. The plain-HTTP listener only redirects, the portal's host included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_cookies_are_host_prefixed_and_plain_http_redirects_the_portal_too() {
    let stack = Stack::start(0).await;
    let certificate = tls::self_signed(stack.dir.path(), "edge", tls::LOCAL_NAMES);
    let (cert, key) = (certificate.cert_str(), certificate.key_str());
    let (https_port, http_port) = (free_port(), free_port());
    let listeners = ConfigBuilder::new().listen_https(http_port, https_port, &cert, &key);
    let config = site_config(listeners, https_port, free_port(), &stack.upstream.url(), "", "");
    let site = Site::serve(&stack, &config, https_port).await;
    let host = site.host.clone();
    let portal = format!("https://access.localhost:{https_port}");

    let first =
        curl(&format!("https://{host}/dash"), https_port, &cert, &["Accept: text/html"]).await;
    assert_eq!(first.status, 302);
    assert!(set_cookie(&first, "jitgate_state").is_none(), "no unprefixed cookie on HTTPS");
    let set = set_cookie(&first, "__Host-jitgate_state").expect("a __Host- state cookie");
    assert_attributes(set, true);
    let state = value_of(set).to_owned();
    assert_eq!(
        first.header("location"),
        Some(
            sign_in_url(&portal, &format!("https://{host}/dash"), Some(&state_digest(&state)))
                .as_str()
        )
    );

    let bob = person("bob@example.com", &["sre"]);
    let (sid, _) = stack.sign_in_on(&bob, &host).await;
    let handoff = |cookie: String| {
        let token = stack.keys.handoff(&sid, &host, "/", &state_digest(&state), SystemClock.now());
        (handoff_url("https", &host, &token), cookie)
    };
    let (url, cookie) = handoff(format!("Cookie: jitgate_state={state}"));
    let planted = curl(&url, https_port, &cert, &[&cookie]).await;
    assert_eq!(planted.status, 400, "the unprefixed (plantable) state does not count on HTTPS");
    let (url, cookie) = handoff(format!("Cookie: __Host-jitgate_state={state}"));
    let accepted = curl(&url, https_port, &cert, &[&cookie]).await;
    assert_eq!(accepted.status, 302);
    assert!(set_cookie(&accepted, "jitgate_session").is_none(), "no unprefixed session cookie");
    let session =
        set_cookie(&accepted, "__Host-jitgate_session").expect("a __Host- session cookie");
    assert_attributes(session, true);
    let cleared = set_cookie(&accepted, "__Host-jitgate_state").expect("the state is cleared");
    assert!(attributes(cleared).iter().any(|a| a == "Max-Age=0"), "{cleared}");
    let token = value_of(session).to_owned();

    let page = format!("https://{host}/");
    let signed_in =
        curl(&page, https_port, &cert, &[&format!("Cookie: __Host-jitgate_session={token}")]).await;
    assert_eq!(signed_in.status, 200);
    let unprefixed = curl(
        &page,
        https_port,
        &cert,
        &["Accept: text/html", &format!("Cookie: jitgate_session={token}")],
    )
    .await;
    assert_eq!(unprefixed.status, 302, "the unprefixed session name does not count on HTTPS");

    for (url, expected) in [
        (
            format!("http://access.localhost:{http_port}/auth/sign-in?rd=x"),
            Some(format!("{portal}/auth/sign-in?rd=x")),
        ),
        (format!("http://access.localhost:{http_port}/"), Some(format!("{portal}/"))),
        (format!("http://site.localhost:{http_port}/a?b=1"), Some(format!("https://{host}/a?b=1"))),
        (format!("http://evil.localhost:{http_port}/"), None),
    ] {
        let response = curl(&url, http_port, &cert, &[]).await;
        match expected {
            Some(location) => {
                assert_eq!(response.status, 308, "{url}");
                assert_eq!(response.header("location"), Some(location.as_str()), "{url}");
            }
            None => assert_eq!(response.status, 404, "only served hosts are redirected: {url}"),
        }
    }
}
