//! Scenario 1: a first visit to the app, sign-in at the IdP, the locked page, an
//! automatically approved request, and the app.

use jitgate_testkit::browser::Browser;

use crate::deployment::{BOB, Stack};
use crate::flows::{Asking, ask, expect_echo_app, expect_locked, sign_in_at_idp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_visit_signs_in_at_the_idp_and_an_auto_approved_request_opens_the_app() {
    let shots = crate::screenshots("auto_approval");
    let stack = Stack::start().await;
    let bob = Browser::start("bob", &shots).await;

    bob.goto(&stack.url("app", "/reports?week=12")).await;
    sign_in_at_idp(&bob, BOB).await;

    let locked = expect_locked(&bob, "app").await;
    assert!(locked.shows("Access is granted as soon as you submit."), "{locked}");
    assert!(locked.shows(BOB), "signed in as bob: {locked}");
    bob.screenshot("locked").await;

    ask(&bob, Asking::Preset("15m"), "INC-4711: checking the weekly report").await;
    let headers = expect_echo_app(&bob, BOB).await;
    assert_eq!(headers["x-jitgate-groups"], serde_json::json!(["sre"]));
    let page = bob.page().await;
    assert_eq!(page.path(), "/reports", "back where bob was going: {page}");
    assert!(
        page.shows("\"path\": \"/reports?week=12\""),
        "the app got the original request: {page}"
    );
    bob.screenshot("app").await;

    bob.goto(&stack.url("access", "/")).await;
    let home =
        bob.wait_for_text("access.localhost", &["My access", "Active", "End access now"]).await;
    assert!(home.shows("left"), "how long the grant lasts: {home}");
    bob.screenshot("my-access").await;
    bob.close().await;
}
