//! Scenario: the command line signs in through the browser (issue 16), at a laptop's and a
//! phone's size. Alice runs `jitgate login --browser`; it prints an address and a code and
//! waits on 127.0.0.1. She opens the address, signs in at the IdP, sees the same code on the
//! portal and allows it; the portal's page hands a new personal API token to the waiting
//! command, which saves it and can then use the API. A stranger's answer to the waiting port
//! is refused without ending the wait.

use std::process::Stdio;
use std::time::Duration;

use jitgate_access::cli_sign_in::TOKEN_NAME;
use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, VIEWPORTS};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::deployment::{ALICE, Stack};
use crate::flows::sign_in_at_idp;

/// The address and code a waiting `jitgate login --browser` printed on its standard error.
async fn address_and_code(
    stderr: tokio::process::ChildStderr,
) -> (String, String, tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) {
    let mut lines = BufReader::new(stderr).lines();
    let (mut address, mut code) = (None, None);
    while address.is_none() || code.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("the command prints where to sign in")
            .unwrap()
            .expect("the command is still running");
        if line.trim().starts_with("http") {
            address = Some(line.trim().to_owned());
        }
        if let Some(at) = line.find("the code ") {
            code = Some(line[at + "the code ".len()..].trim_end_matches('.').to_owned());
        }
    }
    (address.unwrap(), code.unwrap(), lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_signs_in_through_the_browser_and_the_idp() {
    let shots = crate::screenshots("cli_sign_in");
    let stack = Stack::start().await;
    let portal = stack.url("access", "");
    for viewport in VIEWPORTS {
        let size = viewport.label();
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("cli.json");
        let mut login = Command::new(env!("CARGO_BIN_EXE_jitgate"))
            .args(["login", "--portal", &portal, "--browser", "--no-open"])
            .env("JITGATE_CLI_CONFIG", &saved)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (address, code, _rest) = address_and_code(login.stderr.take().unwrap()).await;
        assert!(address.starts_with(&format!("{portal}/cli/sign-in?port=")), "{address}");
        let port: u16 =
            address.split("port=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();

        // Someone else's answer on the waiting port: refused, and the wait goes on.
        let stranger = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/callback"))
            .form(&[("state", "not-the-state"), ("token", "jgt_forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(stranger.status(), 400);
        assert!(login.try_wait().unwrap().is_none(), "a wrong answer does not end the wait");

        let alice = Browser::start_at(&format!("alice-{size}"), &shots, viewport).await;
        alice.goto(&address).await;
        sign_in_at_idp(&alice, ALICE).await;
        let allow = alice.wait_for_text("access.localhost", &["Sign in the command line"]).await;
        assert!(allow.shows(&code), "the terminal's code {code} on the page: {allow}");
        assert!(allow.shows(ALICE), "who it will act as: {allow}");
        alice.assert_no_horizontal_overflow().await;
        alice.screenshot("allow").await;
        alice.click(Locator::XPath("//button[normalize-space()='Allow']")).await;
        let done = alice
            .wait_for_page("the command line's answer", PAGE_LIMIT, |page| {
                page.host() == "127.0.0.1" && page.shows("The command line is signed in")
            })
            .await;
        assert!(!done.shows("jgt_"), "the token is not shown to the page: {done}");
        alice.screenshot("signed-in").await;

        let output = tokio::time::timeout(Duration::from_secs(30), login.wait_with_output())
            .await
            .expect("the command ends once it has its token")
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(stdout.contains(&format!("as {ALICE}")), "{stdout}");
        let text = std::fs::read_to_string(&saved).unwrap();
        assert!(text.contains("\"token\": \"jgt_"), "the token is saved: {text}");

        // The saved login drives the API.
        let requests = Command::new(env!("CARGO_BIN_EXE_jitgate"))
            .args(["requests", "--json"])
            .env("JITGATE_CLI_CONFIG", &saved)
            .output()
            .await
            .unwrap();
        assert!(requests.status.success(), "{}", String::from_utf8_lossy(&requests.stderr));
        // And the token is hers to see and revoke, named for how it was made.
        alice.goto(&stack.url("access", "/tokens")).await;
        alice.wait_for_text("access.localhost", &["API tokens", TOKEN_NAME]).await;
        alice.assert_no_horizontal_overflow().await;
        alice.screenshot("tokens").await;
    }
}
