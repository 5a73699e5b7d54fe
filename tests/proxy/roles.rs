//! How jitgate runs as a service: split into proxy and portal roles on one Redis, and stopped
//! by SIGTERM without cutting requests in flight.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jitgate_testkit::{Jitgate, free_port, listening};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::short_grant;
use crate::stack::{Stack, config_text, person};

/// A client that reaches every `*.localhost` host through one proxy, as a load balancer in
/// front of several would: the `Host` stays the public one, the connection goes to `port`.
fn client_via(port: u16) -> reqwest::Client {
    let proxy = SocketAddr::from(([127, 0, 0, 1], port));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("access.localhost", proxy)
        .resolve("app.localhost", proxy)
        .build()
        .unwrap()
}

/// The portal's API as `cookie`'s holder, through `client`: the CSRF token, then a POST.
async fn api_post(
    client: &reqwest::Client,
    public: u16,
    cookie: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let base = format!("http://access.localhost:{public}/api/v1");
    let me: Value = client
        .get(format!("{base}/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().expect("the portal answers through the proxy").to_owned();
    let response = client
        .post(format!("{base}{path}"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn app_status(client: &reqwest::Client, public: u16, cookie: &str) -> u16 {
    let url = format!("http://app.localhost:{public}/");
    client.get(url).header("cookie", cookie).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_and_one_portal_share_one_redis() {
    let stack = Stack::start(0).await;
    // One public name for everything (`*.localhost:public`), served by two proxies on their
    // own ports; the portal listens apart, reached only through them.
    let (public, second, portal_port, unused) =
        (free_port(), free_port(), free_port(), free_port());
    let jitgate = env!("CARGO_BIN_EXE_jitgate");
    let start = |name: &str, config: String| {
        let path = stack.dir.path().join(name);
        std::fs::write(&path, config).unwrap();
        path
    };
    let base = config_text(public, free_port(), &stack.upstream.url(), None);
    let portal_config = base
        .replace(
            &format!("listen_http = \"127.0.0.1:{public}\""),
            &format!("listen_http = \"127.0.0.1:{unused}\""),
        )
        .replace("[server]\n", &format!("[server]\nportal_listen = \"127.0.0.1:{portal_port}\"\n"));
    let portal_path = start("portal.toml", portal_config);
    let portal = Jitgate::serve(jitgate, &portal_path, &["--role", "portal"], portal_port).await;
    let mut proxies = Vec::new();
    for (index, port) in [public, second].into_iter().enumerate() {
        let config = config_text(public, free_port(), &stack.upstream.url(), None)
            .replace(
                &format!("listen_http = \"127.0.0.1:{public}\""),
                &format!("listen_http = \"127.0.0.1:{port}\""),
            )
            .replace(
                "[server]\n",
                &format!("[server]\nportal_upstream = \"127.0.0.1:{portal_port}\"\n"),
            );
        let path = start(&format!("proxy-{index}.toml"), config);
        proxies.push((port, Jitgate::serve(jitgate, &path, &["--role", "proxy"], port).await));
    }
    assert!(!listening(unused).await, "the portal role opens no proxy listener");

    // Bob asks through one proxy; the SRE policy approves at once.
    let bob = person("bob@example.com", &["sre"]);
    let portal_host = format!("access.localhost:{public}");
    let (_, bob_portal) = stack.sign_in_on(&bob, &portal_host).await;
    let ask = json!({ "resource": "app", "reason": "deploy", "duration": "1h" });
    let (status, created) =
        api_post(&client_via(second), public, &bob_portal, "/requests", ask).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "active", "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // The grant opens the app on both proxies.
    let (_, bob_app) = stack.sign_in_on(&bob, &format!("app.localhost:{public}")).await;
    let clients: Vec<_> = [public, second].into_iter().map(client_via).collect();
    for client in &clients {
        assert_eq!(app_status(client, public, &bob_app).await, 200);
    }

    // An admin revokes through the portal; both proxies lock within 100 ms of the answer.
    let erin = person("erin@example.com", &["admins"]);
    let (_, erin_portal) = stack.sign_in_on(&erin, &portal_host).await;
    let path = format!("/requests/{id}/revoke");
    let (status, revoked) =
        api_post(&clients[0], public, &erin_portal, &path, json!({ "note": "done" })).await;
    assert_eq!(status, 200, "{revoked}");
    let revoked_at = Instant::now();
    for (client, port) in clients.iter().zip([public, second]) {
        while app_status(client, public, &bob_app).await != 403 {
            assert!(
                revoked_at.elapsed() < Duration::from_millis(100),
                "the proxy on {port} still allowed bob {:?} after the revocation",
                revoked_at.elapsed()
            );
        }
        eprintln!("proxy on {port} locked {:?} after the revocation", revoked_at.elapsed());
    }

    // Each role stops cleanly on SIGTERM.
    for (_, mut proxy) in proxies {
        assert!(proxy.terminate(Duration::from_secs(15)).await.success());
    }
    let mut portal = portal;
    assert!(portal.terminate(Duration::from_secs(15)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_roles_refuse_what_they_cannot_serve() {
    let stack = Stack::start(0).await;
    let port = free_port();
    let base = config_text(port, free_port(), &stack.upstream.url(), None);
    let cases = [
        ("proxy", base.clone(), "--role proxy forwards the portal's host"),
        ("portal", base.clone(), "--role portal serves the portal on server.portal_listen"),
        (
            "proxy",
            base.replace("backend = \"redis\"", "backend = \"embedded\"\npath = \"x.db\"")
                .replace("url = { file = \"redis.url\" }\nprefix = \"proxytest\"\n", ""),
            "[store] backend is \"embedded\", which serves one process",
        ),
    ];
    for (role, config, expected) in cases {
        let path = stack.dir.path().join("refused.toml");
        std::fs::write(&path, config).unwrap();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_jitgate"))
            .args(["serve", "--role", role, "--config"])
            .arg(&path)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--role {role} started anyway");
        assert!(stderr.contains(expected), "--role {role}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!listening(port).await, "nothing listens after a refused start");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish_and_exits_cleanly() {
    let mut stack = Stack::start(1).await;
    let alice = person("alice@example.com", &["dev"]);
    let (_, cookie) = stack.sign_in(&alice, "app").await;
    short_grant(&stack, &alice, Duration::from_secs(120)).await;
    let port = stack.port();
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "GET /stream?ticks=15 HTTP/1.1\r\nHost: {}\r\ncookie: {cookie}\r\n\r\n",
        stack.host("app")
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("tick 0") {
        let n = socket.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the stream started");
        received.extend_from_slice(&buffer[..n]);
    }

    let jitgate = &mut stack.instances[0].jitgate;
    jitgate.sigterm();
    let signalled = Instant::now();
    while listening(port).await {
        assert!(signalled.elapsed() < Duration::from_secs(5), "still accepting 5 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
            if received.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(finished.is_ok(), "the stream neither finished nor ended");
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("tick 14"), "the request in flight was cut: {text}");
    assert!(text.ends_with("0\r\n\r\n"), "the response ended properly: {text}");
    let status = jitgate.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(jitgate.log().contains("SIGTERM received"), "{}", jitgate.log());
}
