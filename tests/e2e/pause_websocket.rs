//! Scenario: pausing a grant while the holder's page holds a WebSocket to the app (issue 15), at
//! a laptop's and a phone's size. Bob has the app open in one tab with a WebSocket through
//! jitgate, and My access in another. He presses Pause: the socket closes within a second of
//! the Pause button's response, and the app is locked. He presses Resume: the app answers
//! again and a new WebSocket echoes.

use std::time::{Duration, Instant};

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, VIEWPORTS};

use crate::deployment::{BOB, Stack};
use crate::flows::{Asking, ask, expect_app_as, expect_locked, open_socket, sign_in_at_idp};

/// How soon after the pause's response the browser's socket must close.
const WITHIN: Duration = Duration::from_secs(1);

/// When the response to the form just submitted arrived (epoch ms): the end of the redirect
/// that the POST answered with, or, if the browser does not say, when the POST started, which
/// only makes the measured delay longer.
const FORM_ANSWERED_AT: &str = r#"
const nav = performance.getEntriesByType('navigation')[0];
return performance.timeOrigin + (nav && nav.redirectEnd > 0 ? nav.redirectEnd : 0);
"#;

/// Presses the button of `action` (`pause` or `resume`) on My access; when it was answered.
async fn press(browser: &Browser, action: &str, step: &str) -> f64 {
    let button = format!("form[action$='/{action}'] button[type=submit]");
    browser.click(Locator::Css(&button)).await;
    browser.wait_for_text("access.localhost", &["My access"]).await;
    browser.assert_no_horizontal_overflow().await;
    browser.screenshot(step).await;
    let at = browser.execute(FORM_ANSWERED_AT, vec![]).await;
    at.as_f64().unwrap_or_else(|| panic!("the response's time: {at}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_closes_the_browsers_websocket_and_resuming_lets_a_new_one_echo() {
    let shots = crate::screenshots("pause_websocket");
    for viewport in VIEWPORTS {
        let stack = Stack::with_app(
            "ops",
            |ops| {
                let ops = ops.policy(r#"durations = ["1h"]"#).policy(r#"approval = "auto""#);
                ops.policy("allow_pause = true").group("sre")
            },
            |config| config,
        )
        .await;
        let bob = Browser::start_at(&format!("bob-{}", viewport.label()), &shots, viewport).await;
        bob.goto(&stack.url("ops", "/live")).await;
        sign_in_at_idp(&bob, BOB).await;
        expect_locked(&bob, "ops").await;
        ask(&bob, Asking::Preset("1h"), "INC-6100: watching the deploy").await;
        expect_app_as(&bob, "ops", BOB).await;
        let socket_url = format!("ws://ops.localhost:{}/frames", stack.port);
        open_socket(&bob, &socket_url).await;
        bob.screenshot("websocket-open").await;
        let app_tab = bob.client().window().await.unwrap();

        // My access in a second tab; the Pause button there.
        let portal_tab = bob.client().new_window(true).await.unwrap().handle;
        bob.client().switch_to_window(portal_tab.clone()).await.unwrap();
        bob.goto(&stack.url("access", "/")).await;
        let home = bob.wait_for_text("access.localhost", &["My access", "Active"]).await;
        assert!(home.shows("Pause"), "the policy allows pausing: {home}");
        bob.assert_no_horizontal_overflow().await;
        bob.screenshot("my-access-active").await;
        let paused_at = press(&bob, "pause", "my-access-paused").await;
        let home = bob.page().await;
        assert!(home.shows("Paused") && home.shows("Resume"), "{home}");

        bob.client().switch_to_window(app_tab.clone()).await.unwrap();
        bob.wait_for_script(
            "the WebSocket to close after the pause",
            Duration::from_secs(5),
            "return window.socket.closed;",
        )
        .await;
        let state = bob.execute("return window.socket;", vec![]).await;
        let closed_at = state["closedAt"].as_f64().unwrap_or_else(|| panic!("{state}"));
        let late = Duration::from_secs_f64((closed_at - paused_at).max(0.0) / 1000.0);
        eprintln!("{}: the WebSocket closed {late:?} after the pause's response", viewport.label());
        assert!(late < WITHIN, "the WebSocket closed {late:?} after the pause's response");
        bob.screenshot("websocket-closed").await;
        bob.refresh().await;
        let locked = bob
            .wait_for_page("the app to be locked", PAGE_LIMIT, |page| {
                page.host() == "access.localhost"
            })
            .await;
        assert!(!locked.shows("x-jitgate-email"), "not the app: {locked}");
        assert!(locked.shows("paused") || locked.shows("Paused"), "it says why: {locked}");
        bob.assert_no_horizontal_overflow().await;
        bob.screenshot("app-locked").await;

        bob.client().switch_to_window(portal_tab).await.unwrap();
        bob.goto(&stack.url("access", "/")).await;
        press(&bob, "resume", "my-access-resumed").await;
        let home = bob.page().await;
        assert!(!home.shows("Paused") && home.shows("Pause"), "on again: {home}");

        bob.client().switch_to_window(app_tab).await.unwrap();
        let resumed = Instant::now();
        let app = bob
            .reload_until(
                &stack.url("ops", "/live"),
                "the app after resuming",
                PAGE_LIMIT,
                |page| page.host() == "ops.localhost" && page.shows("x-jitgate-email"),
            )
            .await;
        assert!(app.shows(BOB), "{app}");
        eprintln!("{}: in the app {:?} after resuming", viewport.label(), resumed.elapsed());
        open_socket(&bob, &socket_url).await;
        bob.screenshot("websocket-again").await;
        bob.close().await;
    }
}
