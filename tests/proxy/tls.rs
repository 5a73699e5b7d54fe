//! HTTPS: a TLS listener with secure cookies, plain HTTP redirected to it, and a bad
//! certificate refused at start-up. `curl` is the client: a real TLS stack, not ours.

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::routes::handoff_url;
use jitgate_testkit::{free_port, tls};
use tokio::process::Command;

use crate::stack::{Stack, config_text, person};

/// A self-signed certificate for the `*.localhost` names the tests use (named one by one:
/// clients refuse a wildcard over a single-label domain): (certificate, key) paths.
fn certificate(dir: &std::path::Path) -> (String, String) {
    let files = tls::self_signed(dir, "cert", tls::LOCAL_NAMES);
    (files.cert_str(), files.key_str())
}

/// `curl` against 127.0.0.1 for `url`'s host: the status, the headers and the body.
async fn curl(url: &str, port: u16, cacert: &str, headers: &[&str]) -> String {
    let host = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap();
    let name = host.split(':').next().unwrap();
    let mut command = Command::new("curl");
    command.args(["-s", "-D", "-", "--max-time", "10", "--cacert", cacert]);
    command.arg("--resolve").arg(format!("{name}:{port}:127.0.0.1"));
    for header in headers {
        command.arg("-H").arg(header);
    }
    let output = command.arg(url).output().await.expect("curl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_with_secure_cookies_and_http_redirects_to_it() {
    let stack = Stack::start(1).await;
    let (cert, key) = certificate(stack.dir.path());
    let (https_port, http_port, ops_port) = (free_port(), free_port(), free_port());
    let config =
        config_text(https_port, ops_port, &stack.upstream.url(), Some((http_port, &cert, &key)));
    let _jitgate = stack.serve("tls.toml", &config, https_port).await;

    let app = format!("app.localhost:{https_port}");
    let unauthenticated =
        curl(&format!("https://{app}/dash"), https_port, &cert, &["Accept: text/html"]).await;
    assert!(unauthenticated.starts_with("HTTP/1.1 302"), "{unauthenticated}");
    assert!(
        unauthenticated.contains(&format!(
            "location: https://access.localhost:{https_port}/auth/sign-in?rd=https%3A%2F%2F"
        )),
        "{unauthenticated}"
    );

    let bob = person("bob@example.com", &["sre"]);
    let (sid, _) = stack.sign_in(&bob, "wiki").await;
    let wiki = format!("wiki.localhost:{https_port}");
    let state = jitgate_access::token::new_sign_in_state();
    let digest = jitgate_access::token::state_digest(&state);
    let token = stack.keys.handoff(&sid, &wiki, "/", &digest, SystemClock.now());
    let state_cookie = format!("Cookie: __Host-jitgate_state={state}");
    let handoff =
        curl(&handoff_url("https", &wiki, &token), https_port, &cert, &[&state_cookie]).await;
    assert!(handoff.starts_with("HTTP/1.1 302"), "{handoff}");
    let set_cookie =
        handoff.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    assert!(set_cookie.contains("; Secure"), "cookies are Secure over https: {set_cookie}");
    assert!(set_cookie.contains("__Host-jitgate_session="), "host-prefixed: {set_cookie}");

    let portal =
        curl(&format!("http://access.localhost:{http_port}/"), http_port, &cert, &[]).await;
    assert!(portal.starts_with("HTTP/1.1 308"), "the portal's host is redirected too: {portal}");

    let redirected =
        curl(&format!("http://app.localhost:{http_port}/a?b=1"), http_port, &cert, &[]).await;
    assert!(redirected.starts_with("HTTP/1.1 308"), "{redirected}");
    assert!(
        redirected.contains(&format!("location: https://app.localhost:{https_port}/a?b=1")),
        "{redirected}"
    );
    let elsewhere =
        curl(&format!("http://evil.localhost:{http_port}/"), http_port, &cert, &[]).await;
    assert!(elsewhere.starts_with("HTTP/1.1 404"), "only served hosts are redirected: {elsewhere}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_is_a_one_line_error_at_start() {
    let stack = Stack::start(1).await;
    let garbage = stack.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    let path = stack.dir.path().join("bad-tls.toml");
    std::fs::write(
        &path,
        config_text(
            free_port(),
            free_port(),
            &stack.upstream.url(),
            Some((free_port(), &garbage, &garbage)),
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("jitgate: cannot load the TLS certificate"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
