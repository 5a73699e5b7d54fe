//! Scenario 3: a reviewer denies a request with a note; the requester's waiting page shows the
//! denial by itself, and the app stays locked.

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT};

use crate::deployment::{ALICE, DAVE, Stack};
use crate::flows::{
    Asking, Undo, ask, expect_flash, expect_locked, expect_waiting, mail, open_confirmation,
    sign_in_at_idp,
};

const REASON: &str = "curious about the billing export";
const NOTE: &str = "Please go through finance for billing data";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_with_a_note_reaches_the_waiting_page_and_the_app_stays_locked() {
    let shots = crate::screenshots("deny");
    let stack = Stack::start().await;
    let alice = Browser::start("alice", &shots).await;
    alice.goto(&stack.url("app", "/billing/export")).await;
    sign_in_at_idp(&alice, ALICE).await;
    expect_locked(&alice, "app").await;
    ask(&alice, Asking::Preset("1h"), REASON).await;
    let id = expect_waiting(&alice, REASON).await;
    alice.screenshot("waiting").await;

    let dave = Browser::start("dave", &shots).await;
    dave.goto(&stack.url("access", "/review")).await;
    sign_in_at_idp(&dave, DAVE).await;
    dave.wait_for_text("access.localhost", &["Requests", ALICE, REASON]).await;
    // Opening the confirmation decides nothing; its second button does.
    open_confirmation(&dave, &id, Undo::Deny).await;
    dave.fill(Locator::Id(&format!("n-{id}")), NOTE).await;
    dave.screenshot("review-deny-with-note").await;
    dave.click(Locator::Css(&format!("form[action='/review/{id}/deny'] button[type=submit]")))
        .await;
    expect_flash(&dave, &format!("Denied {ALICE}'s request for app.")).await;
    dave.wait_for_page("the dashboard after denying", PAGE_LIMIT, |page| {
        page.host() == "access.localhost" && page.path() == "/review" && page.shows("Nothing here.")
    })
    .await;
    dave.screenshot("review-after-deny").await;
    dave.goto(&stack.url("access", "/review?tab=denied")).await;
    dave.wait_for_text("access.localhost", &["Denied", ALICE]).await;
    let row = dave.text_of(Locator::Id(&format!("r-{id}"))).await;
    assert!(row.contains("denied") && row.contains(DAVE), "denied by dave: {row}");
    assert!(row.contains(NOTE), "the denial note, in the Denied tab: {row}");
    assert!(row.contains("ended"), "when it ended: {row}");
    dave.screenshot("review-denied").await;

    // Alice's waiting page shows the decision without a click.
    let denied = alice.wait_for_text("access.localhost", &["Request denied", NOTE]).await;
    assert!(denied.shows(&format!("Denied by {DAVE}: {NOTE}")), "who and why: {denied}");
    assert!(!denied.shows("Continue to"), "no way on to the app: {denied}");
    alice.screenshot("denied").await;

    alice.goto(&stack.url("app", "/billing/export")).await;
    expect_locked(&alice, "app").await;
    alice.screenshot("still-locked").await;

    let denial = mail(&stack.peers.smtp, ALICE, &["Denied", NOTE]).await;
    assert!(denial.contains(DAVE), "the mail names the reviewer: {denial}");
    alice.close().await;
    dave.close().await;
}
