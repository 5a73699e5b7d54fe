//! Reloading the config of a running `jitgate serve` (SIGHUP, `jitgate reload`): what a reload
//! adds and changes applies to the next request, what it removes ends open connections within
//! a second while the others stay open, an invalid file changes nothing, a listener change
//! waits for a restart, and split roles reload one process at a time.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use jitgate_testkit::config::{ConfigBuilder, Resource};
use jitgate_testkit::http::{get, open_websocket};
use jitgate_testkit::{Jitgate, free_port, listening, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::echoes;
use crate::stack::{Stack, config, person};

/// One jitgate on the stack's Redis, started with `--pid-file`, whose config file the test
/// rewrites.
struct Reloadable {
    jitgate: Jitgate,
    path: PathBuf,
    pid_file: PathBuf,
    port: u16,
    ops: u16,
    upstream: String,
}

impl Reloadable {
    async fn start(stack: &Stack) -> Self {
        let (port, ops) = (free_port(), free_port());
        let upstream = stack.upstream.url();
        let pid_file = stack.dir.path().join("jitgate.pid");
        let text = deployment(port, ops, &upstream).build();
        let pid_arg = pid_file.to_str().unwrap();
        let jitgate = stack.serve_with("reload.toml", &text, &["--pid-file", pid_arg], port).await;
        let path = stack.dir.path().join("reload.toml");
        ops_listening(ops).await;
        Self { jitgate, path, pid_file, port, ops, upstream }
    }

    fn host(&self, resource: &str) -> String {
        format!("{resource}.localhost:{}", self.port)
    }

    /// The stack's deployment (`app` JIT, `wiki` standing) as this instance runs it.
    fn base(&self) -> ConfigBuilder {
        deployment(self.port, self.ops, &self.upstream)
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }

    fn hang_up(&self) {
        self.jitgate.sighup();
    }

    async fn generation(&self) -> String {
        metric(self.ops, "jitgate_config_generation").await
    }
}

fn deployment(port: u16, ops: u16, upstream: &str) -> ConfigBuilder {
    config(ConfigBuilder::new().listen_http(port), port, ops, upstream)
}

/// The value of the metric `name` on the ops listener at `ops`.
async fn metric(ops: u16, name: &str) -> String {
    let body = get(ops, "localhost", "/metrics", &[]).await.body;
    let prefix = format!("{name} ");
    let line = body.lines().find(|line| line.starts_with(&prefix));
    line.map(|line| line[prefix.len()..].to_owned()).unwrap_or_default()
}

/// Waits until the ops listener answers (it starts after the proxy's).
async fn ops_listening(ops: u16) {
    wait_until("the ops listener", Duration::from_secs(10), || listening(ops)).await;
}

/// Waits until `ops` reports config generation `generation`.
async fn reaches_generation(ops: u16, generation: u32) {
    let wanted = generation.to_string();
    wait_until("the reload to take", Duration::from_secs(10), || async {
        metric(ops, "jitgate_config_generation").await == wanted
    })
    .await;
}

/// Runs `jitgate reload --config path` with `args`.
async fn reload_command(path: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(["reload", "--config"])
        .arg(path)
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adds_a_resource_and_changes_a_policy_for_the_next_request() {
    let stack = Stack::start(0).await;
    let jitgate = Reloadable::start(&stack).await;
    assert_eq!(jitgate.generation().await, "1");
    let bob = person("bob@example.com", &["sre"]);
    let docs = jitgate.host("docs");
    let (_, docs_cookie) = stack.sign_in_on(&bob, &docs).await;
    let before = get(jitgate.port, &docs, "/", &[("cookie", &docs_cookie)]).await;
    assert_eq!(before.status, 404, "docs is not configured yet");

    let added = Resource::local("docs", jitgate.port).upstream(&jitgate.upstream).standing();
    jitgate.write(&jitgate.base().resource(added.group("*")).build());
    let pid_file = jitgate.pid_file.to_str().unwrap();
    let output = reload_command(&jitgate.path, &["--pid-file", pid_file]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&format!("pid {}", jitgate.jitgate.pid())), "{stdout}");
    reaches_generation(jitgate.ops, 2).await;
    let added = get(jitgate.port, &docs, "/", &[("cookie", &docs_cookie)]).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(jitgate.jitgate.log().contains("config reloaded (generation 2)"));

    // wiki: standing for everyone → just-in-time, on the very next request after the reload.
    let wiki = jitgate.host("wiki");
    let (_, wiki_cookie) = stack.sign_in_on(&bob, &wiki).await;
    assert_eq!(get(jitgate.port, &wiki, "/", &[("cookie", &wiki_cookie)]).await.status, 200);
    let portal = format!("access.localhost:{}", jitgate.port);
    let (_, portal_cookie) = stack.sign_in_on(&bob, &portal).await;
    let form = get(jitgate.port, &portal, "/request/wiki", &[("cookie", &portal_cookie)]).await;
    assert_ne!(form.status, 200, "standing access: nothing to request");
    let jit = "mode = \"jit\"\ndurations = [\"1h\"]\napproval = \"manual\"";
    jitgate.write(&jitgate.base().build().replacen("mode = \"standing\"", jit, 1));
    jitgate.hang_up();
    reaches_generation(jitgate.ops, 3).await;
    let locked = get(jitgate.port, &wiki, "/", &[("cookie", &wiki_cookie)]).await;
    assert_eq!(locked.status, 403, "{}", locked.body);
    assert!(locked.body.contains("locked"), "{}", locked.body);
    let form = get(jitgate.port, &portal, "/request/wiki", &[("cookie", &portal_cookie)]).await;
    assert_eq!(form.status, 200, "the portal's policies reloaded too: {}", form.body);
    assert!(form.body.contains("name=\"reason\""), "{}", form.body);
}

/// Reads from `socket` until the proxy closes it; how long that took after `since`.
async fn closed_within(mut socket: tokio::net::TcpStream, since: Instant) -> Duration {
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(1..) = socket.read(&mut buffer).await {}
    })
    .await;
    assert!(closed.is_ok(), "still open 5 s after the reload");
    since.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_cuts_the_connections_it_removes_and_keeps_the_others() {
    let stack = Stack::start(0).await;
    let jitgate = Reloadable::start(&stack).await;
    let bob = person("bob@example.com", &["sre"]);
    stack.grant_app(&bob).await;
    let (app, wiki) = (jitgate.host("app"), jitgate.host("wiki"));
    let (_, app_cookie) = stack.sign_in_on(&bob, &app).await;
    let (_, wiki_cookie) = stack.sign_in_on(&bob, &wiki).await;
    let app_cookie = [("cookie", app_cookie.as_str())];
    let mut app_socket = open_websocket(jitgate.port, &app, "/ws", &app_cookie).await.unwrap();
    let wiki_cookie = [("cookie", wiki_cookie.as_str())];
    let mut wiki_socket = open_websocket(jitgate.port, &wiki, "/ws", &wiki_cookie).await.unwrap();
    echoes(&mut app_socket).await;
    echoes(&mut wiki_socket).await;
    // An ordinary streaming response on app, under the grant (the in-flight supervisor's).
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", jitgate.port)).await.unwrap();
    let request =
        format!("GET /stream HTTP/1.1\r\nHost: {app}\r\ncookie: {}\r\n\r\n", app_cookie[0].1);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 64];
    assert!(stream.read(&mut first).await.unwrap() > 0, "the stream started");

    // The new config has no `app`; `wiki` is untouched.
    let text = jitgate.base().build();
    let without_app = &text[..text.find("[[resource]]").unwrap()];
    let wiki_part = &text[text.rfind("[[resource]]").unwrap()..];
    jitgate.write(&format!("{without_app}{wiki_part}"));
    let reloaded_at = Instant::now();
    jitgate.hang_up();
    let (socket_late, stream_late) =
        tokio::join!(closed_within(app_socket, reloaded_at), closed_within(stream, reloaded_at));
    eprintln!("after the reload: WebSocket cut in {socket_late:?}, stream in {stream_late:?}");
    assert!(socket_late < Duration::from_secs(1), "WebSocket cut {socket_late:?} after");
    assert!(stream_late < Duration::from_secs(1), "stream cut {stream_late:?} after");
    reaches_generation(jitgate.ops, 2).await;
    echoes(&mut wiki_socket).await;
    assert_eq!(get(jitgate.port, &app, "/", &app_cookie).await.status, 404, "app is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_refused_and_the_old_one_keeps_serving() {
    let stack = Stack::start(0).await;
    let jitgate = Reloadable::start(&stack).await;
    let wiki = jitgate.host("wiki");
    let (_, cookie) = stack.sign_in_on(&person("bob@example.com", &["sre"]), &wiki).await;
    let good = jitgate.base().build();
    let broken = good.replacen("[[resource]]\n", "[[resource]]\ncolour = \"blue\"\n", 1);
    let line = broken[..broken.find("colour").unwrap()].matches('\n').count() + 1;
    jitgate.write(&broken);
    let expected = format!("{}:{line}:", jitgate.path.display());

    // `jitgate reload` says why, exits non-zero, and signals nothing.
    let pid = jitgate.jitgate.pid().to_string();
    let output = reload_command(&jitgate.path, &["--pid", &pid]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.starts_with(&expected) && stderr.contains("colour"), "{stderr}");
    assert!(!jitgate.jitgate.log().contains("reloading the config"), "nothing was signalled");

    // A SIGHUP anyway: the process refuses it with the same error and keeps serving.
    jitgate.hang_up();
    wait_until("the refusal to be counted", Duration::from_secs(10), || async {
        metric(jitgate.ops, "jitgate_config_reload_failures_total").await == "1"
    })
    .await;
    let log = jitgate.jitgate.log();
    let refusal = log.lines().find(|line| line.contains("config reload refused"));
    let refusal = refusal.unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(refusal.contains(&expected) && refusal.contains("colour"), "{refusal}");
    assert_eq!(jitgate.generation().await, "1");
    assert_eq!(get(jitgate.port, &wiki, "/", &[("cookie", &cookie)]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_change_is_applied_only_at_a_restart() {
    let stack = Stack::start(0).await;
    let jitgate = Reloadable::start(&stack).await;
    let moved = free_port();
    let text = jitgate.base().build().replace(
        &format!("listen_http = \"127.0.0.1:{}\"", jitgate.port),
        &format!("listen_http = \"127.0.0.1:{moved}\""),
    );
    jitgate.write(&text);
    jitgate.hang_up();
    reaches_generation(jitgate.ops, 2).await;
    let log = jitgate.jitgate.log();
    let warning = log.lines().find(|line| line.contains("needs a restart"));
    let warning = warning.unwrap_or_else(|| panic!("no restart warning:\n{log}"));
    assert!(warning.contains("server.listen_http"), "{warning}");
    assert!(!listening(moved).await, "the new port waits for a restart");
    let wiki = jitgate.host("wiki");
    let (_, cookie) = stack.sign_in_on(&person("bob@example.com", &["sre"]), &wiki).await;
    assert_eq!(get(jitgate.port, &wiki, "/", &[("cookie", &cookie)]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_roles_reload_one_process_at_a_time() {
    let stack = Stack::start(0).await;
    let (public, portal_port, unused) = (free_port(), free_port(), free_port());
    let (proxy_ops, portal_ops) = (free_port(), free_port());
    let upstream = stack.upstream.url();
    let portal_config = deployment(unused, portal_ops, &upstream)
        .server(&format!("portal_listen = \"127.0.0.1:{portal_port}\""))
        .build();
    let portal =
        stack.serve_with("portal.toml", &portal_config, &["--role", "portal"], portal_port).await;
    let proxy_config = |extra: Option<Resource>| {
        let base = deployment(public, proxy_ops, &upstream)
            .server(&format!("portal_upstream = \"127.0.0.1:{portal_port}\""));
        extra.map_or(base.clone(), |resource| base.resource(resource)).build()
    };
    let proxy =
        stack.serve_with("proxy.toml", &proxy_config(None), &["--role", "proxy"], public).await;
    ops_listening(portal_ops).await;
    let docs = format!("docs.localhost:{public}");
    let (_, cookie) = stack.sign_in_on(&person("bob@example.com", &["sre"]), &docs).await;
    assert_eq!(get(public, &docs, "/", &[("cookie", &cookie)]).await.status, 404);

    let path = stack.dir.path().join("proxy.toml");
    let added = Resource::local("docs", public).upstream(&upstream).standing().group("*");
    std::fs::write(&path, proxy_config(Some(added))).unwrap();
    let output = reload_command(&path, &["--pid", &proxy.pid().to_string()]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    reaches_generation(proxy_ops, 2).await;
    assert_eq!(get(public, &docs, "/", &[("cookie", &cookie)]).await.status, 200);
    assert_eq!(metric(portal_ops, "jitgate_config_generation").await, "1", "the portal is apart");
    assert!(!portal.log().contains("reloading the config"), "{}", portal.log());

    // And the portal on its own signal, the proxy left as it is.
    portal.sighup();
    reaches_generation(portal_ops, 2).await;
    assert_eq!(metric(proxy_ops, "jitgate_config_generation").await, "2");
}
