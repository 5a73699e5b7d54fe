//! Scenario 4: a reviewer revokes a grant while the user's page holds a WebSocket to the app
//! through jitgate; the browser sees the socket close, and the app is locked again.

use std::time::Duration;

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT};
use serde_json::json;

use crate::deployment::{BOB, DAVE, Stack};
use crate::flows::{
    Asking, Undo, ask, confirm, expect_echo_app, expect_flash, expect_locked, open_socket,
    sign_in_at_idp,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_closes_the_browsers_websocket_and_locks_the_app() {
    let shots = crate::screenshots("revoke_websocket");
    let stack = Stack::start().await;
    let bob = Browser::start("bob", &shots).await;
    bob.goto(&stack.url("app", "/live")).await;
    sign_in_at_idp(&bob, BOB).await;
    expect_locked(&bob, "app").await;
    ask(&bob, Asking::Preset("1h"), "INC-5000: tailing the live log").await;
    expect_echo_app(&bob, BOB).await;

    // `/frames`: the echo upstream's WebSocket echo that speaks RFC 6455 frames to a browser.
    let socket_url = format!("ws://app.localhost:{}/frames", stack.port);
    open_socket(&bob, &socket_url).await;
    bob.screenshot("websocket-open").await;

    // The reviewer revokes bob's grant from the dashboard's Approved / Active tab.
    let dave = Browser::start("dave", &shots).await;
    dave.goto(&stack.url("access", "/review?tab=active")).await;
    sign_in_at_idp(&dave, DAVE).await;
    let dashboard = dave.wait_for_text("access.localhost", &["Requests", BOB, "active"]).await;
    assert!(dashboard.shows("INC-5000: tailing the live log"), "bob's reason: {dashboard}");
    dave.screenshot("review-active").await;
    let state = bob.execute("return window.socket;", vec![]).await;
    assert_eq!(state["closed"], json!(false), "open until the revocation: {state}");
    let row = format!("//tr[td[normalize-space()='{BOB}']]");
    let id = dave.execute(
        "return document.evaluate(arguments[0], document, null, 9, null).singleNodeValue.id.slice(2);",
        vec![json!(row)],
    )
    .await;
    let id = id.as_str().unwrap_or_else(|| panic!("bob's row's id: {id}")).to_owned();
    bob.execute("window.note('the reviewer revokes the grant');", vec![]).await;
    confirm(&dave, &id, Undo::Revoke, "the incident is over").await;
    expect_flash(&dave, &format!("Revoked {BOB}'s access to app.")).await;
    let revoked = dave
        .wait_for_page("the dashboard after the revocation", PAGE_LIMIT, |page| {
            page.host() == "access.localhost"
                && page.path() == "/review"
                && page.shows("Nothing here.")
        })
        .await;
    assert!(revoked.shows("Nothing here."), "no active grant is left: {revoked}");
    dave.screenshot("review-after-revoke").await;
    dave.goto(&stack.url("access", "/review?tab=ended")).await;
    dave.wait_for_text("access.localhost", &["Expired / Revoked", BOB]).await;
    let row = dave.text_of(Locator::XPath(&format!("//tr[td[normalize-space()='{BOB}']]"))).await;
    assert!(row.contains("revoked") && row.contains("INC-5000"), "bob's grant, revoked: {row}");
    dave.screenshot("review-revoked").await;

    // The browser's socket closes by itself, soon.
    bob.wait_for_script(
        "the WebSocket to close after the revocation",
        Duration::from_secs(10),
        "return window.socket.closed;",
    )
    .await;
    bob.screenshot("websocket-closed").await;
    bob.refresh().await;
    expect_locked(&bob, "app").await;
    bob.screenshot("locked-again").await;
    bob.close().await;
    dave.close().await;
}
