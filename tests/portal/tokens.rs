//! Personal API tokens and the `jitgate` CLI client, end to end: a token made on the portal's
//! page drives the JSON API and the CLI (`login`, `request`, `requests`, `wait`), an approval
//! ends `wait`, and a revoked or forged token is refused.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::site::{Site, csrf_of};

/// Makes a token on the tokens page as `browser`; the page's text and the token it showed.
async fn make_token(site: &Site, browser: &reqwest::Client, name: &str) -> (String, String) {
    let page = site.page(browser, "/tokens").await;
    let created = browser
        .post(site.url("access", "/tokens"))
        .form(&[("csrf", csrf_of(&page).as_str()), ("name", name), ("days", "7")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["cache-control"], "no-store", "a secret is never cached");
    let html = created.text().await.unwrap();
    let start = html.find("jgt_").expect("the new token is shown");
    let token: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (html, token)
}

/// `jitgate <args>` with its saved login in `config`; exit code, stdout, stderr.
async fn cli(config: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(args)
        .env("JITGATE_CLI_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

async fn me(site: &Site, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/api/v1/me", site.port))
        .header("host", format!("access.localhost:{}", site.port))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_the_portal_drives_the_api_and_the_cli_until_it_is_revoked() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let (_, token) = make_token(&site, &alice, "laptop CLI").await;
    let listed = site.page(&alice, "/tokens").await;
    assert!(listed.contains("laptop CLI") && !listed.contains(&token), "listed, never shown again");

    let who: serde_json::Value = me(&site, &token).await.json().await.unwrap();
    assert_eq!(who["email"], "alice@example.com");
    assert_eq!(who["groups"], serde_json::json!(["dev"]));
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(me(&site, &forged).await.status(), 401, "a wrong secret is refused");

    // The CLI: log in with the token on standard input, ask, list, wait for a reviewer.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cli.json");
    let portal = format!("http://access.localhost:{}", site.port);
    let (code, out, err) = cli(&config, &["login", "--portal", &portal], &token).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("as alice@example.com"), "{out}");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the saved token is readable by its owner only");

    let args = ["request", "app", "--for", "1h", "--reason", "deploy from the CLI", "--json"];
    let (code, out, err) = cli(&config, &args, "").await;
    assert_eq!(code, 0, "{out}{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["status"], "pending", "alice's requests need a reviewer");
    let id = created["id"].as_str().unwrap().to_owned();
    let (code, out, _) = cli(&config, &["requests", "--mine"], "").await;
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("pending"), "{out}");

    let waiting = {
        let (config, id) = (config.clone(), id.clone());
        tokio::spawn(async move { cli(&config, &["wait", &id, "--timeout", "60s"], "").await })
    };
    let dave = site.signed_in("dave@example.com").await;
    let approved = site.decide(&dave, &id, "approve", "go ahead").await;
    assert!(approved.status().is_success() || approved.status().is_redirection());
    let (code, out, err) = waiting.await.unwrap();
    assert_eq!(code, 0, "wait ends with access granted: {out}{err}");
    assert!(out.contains("active until"), "{out}");

    // Revoked on the page: the API and the CLI refuse it at once.
    let page = site.page(&alice, "/tokens").await;
    let token_id = token.trim_start_matches("jgt_").split('_').next().unwrap().to_owned();
    let revoked = alice
        .post(site.url("access", &format!("/tokens/{token_id}/revoke")))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    assert_eq!(me(&site, &token).await.status(), 401);
    let (code, _, err) = cli(&config, &["requests"], "").await;
    assert_eq!(code, 1);
    assert!(err.contains("run `jitgate login` again"), "{err}");

    let audit = site.page(&site.signed_in("erin@example.com").await, "/audit").await;
    // The notes name the token: once created, once revoked.
    assert_eq!(audit.matches("laptop CLI").count(), 2, "both audited: {audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_form_without_a_name_or_lifetime_is_refused_and_makes_nothing() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let page = site.page(&bob, "/tokens").await;
    for (name, days) in [("", "7"), ("ci", "365"), ("ci", "soon")] {
        let refused = bob
            .post(site.url("access", "/tokens"))
            .form(&[("csrf", csrf_of(&page).as_str()), ("name", name), ("days", days)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{name:?} {days:?}");
        assert!(!refused.text().await.unwrap().contains("jgt_"), "no token made");
    }
    let forged = bob
        .post(site.url("access", "/tokens"))
        .form(&[("csrf", "not-the-token"), ("name", "x"), ("days", "7")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "CSRF checked");
    assert!(!site.page(&bob, "/tokens").await.contains("<td>"), "none listed");
}
