//! Scenario 5: the README's quickstart in a browser, on `config/quickstart.toml` as shipped
//! (moved to free ports and a scratch store): a newcomer visits the demo app, signs in,
//! asks for access; the reviewer approves in their own browser; the newcomer's waiting page
//! moves on to the demo app by itself. Its screenshots illustrate the README.

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT};

use crate::flows::{Asking, ask, expect_locked, expect_waiting, sign_in_locally};

const ALICE: &str = "alice@example.com";
const REVIEWER: &str = "reviewer@example.com";
const REASON: &str = "Trying jitgate for the first time";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_asks_a_reviewer_approves_and_the_demo_app_opens() {
    let shots = crate::screenshots("quickstart");
    let (_deployment, port) = crate::deployment::quickstart().await;
    let url = |host: &str, path: &str| format!("http://{host}.localhost:{port}{path}");

    // Alice, new here, opens the app and is sent to sign in.
    let alice = Browser::start("alice", &shots).await;
    alice.goto(&url("app", "/")).await;
    let form = alice.wait_for_text("access.localhost", &["Sign in", "Email", "Password"]).await;
    assert_eq!(form.path(), "/auth/sign-in", "{form}");
    sign_in_locally(&alice, ALICE, "alice-demo-pass").await;
    let locked = expect_locked(&alice, "demo").await;
    assert!(locked.shows("A reviewer approves or denies your request"), "{locked}");
    alice.screenshot("locked").await;
    ask(&alice, Asking::Preset("1h"), REASON).await;
    let id = expect_waiting(&alice, REASON).await;
    alice.screenshot("waiting").await;

    // The reviewer signs in, in another browser, and approves.
    let reviewer = Browser::start("reviewer", &shots).await;
    reviewer.goto(&url("access", "/review")).await;
    sign_in_locally(&reviewer, REVIEWER, "reviewer-demo-pass").await;
    reviewer.wait_for_text("access.localhost", &["Requests", ALICE, REASON]).await;
    let row = reviewer.text_of(Locator::Id(&format!("r-{id}"))).await;
    assert!(row.contains("pending") && row.contains("for 1h"), "alice's request: {row}");
    reviewer.screenshot("review").await;
    reviewer
        .click(Locator::Css(&format!("form[action='/review/{id}/approve'] button[type=submit]")))
        .await;
    reviewer
        .wait_for_page("the dashboard after approving", PAGE_LIMIT, |page| {
            page.path() == "/review" && page.shows("Nothing here.")
        })
        .await;
    reviewer.screenshot("review-after-approve").await;
    reviewer.goto(&url("access", "/review?tab=active")).await;
    let active = reviewer.wait_for_text("access.localhost", &["Approved / Active", ALICE]).await;
    assert!(active.shows(REVIEWER) && active.shows("Revoke"), "approved by the reviewer: {active}");
    reviewer.screenshot("review-approved").await;

    // Alice's waiting page moves on by itself: the demo app, and who jitgate let in.
    let app = alice.wait_for_text("app.localhost", &["Demo app", "You are in.", ALICE]).await;
    assert!(app.shows("engineering"), "her groups: {app}");
    assert!(app.shows("x-jitgate-assertion"), "the headers the app received: {app}");
    alice.screenshot("demo-app").await;

    alice.goto(&url("access", "/")).await;
    let home = alice.wait_for_text("access.localhost", &["My access", "demo", "Active"]).await;
    assert!(home.shows("End access now"), "she can end it early: {home}");
    alice.screenshot("my-access").await;
    alice.close().await;
    reviewer.close().await;
}
