//! Scenario 2: a request a reviewer approves. The reviewer learns of it by email and follows
//! the mail's link in their own browser; the requester's waiting page moves on to the app by
//! itself; the one-minute grant then expires and the app is locked again.

use std::time::{Duration, Instant};

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT};

use crate::deployment::{ALICE, DAVE, Stack};
use crate::flows::{
    Asking, ask, expect_echo_app, expect_locked, expect_waiting, link, mail, sign_in_at_idp,
};

const REASON: &str = "CHG-1234: rotate the database credentials";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_approves_from_the_mail_the_waiting_page_moves_on_and_the_grant_expires() {
    let shots = crate::screenshots("manual_approval");
    let stack = Stack::start().await;
    let alice = Browser::start("alice", &shots).await;
    let app = stack.url("app", "/admin/users");
    alice.goto(&app).await;
    sign_in_at_idp(&alice, ALICE).await;
    let locked = expect_locked(&alice, "app").await;
    assert!(locked.shows("A reviewer approves or denies your request"), "{locked}");
    let source = alice.source().await;
    assert!(source.contains("Custom duration (up to 8h"), "a custom duration is offered: {locked}");
    ask(&alice, Asking::Custom("1m"), REASON).await;
    let id = expect_waiting(&alice, REASON).await;
    let waiting = alice.page().await;
    assert!(waiting.shows("1m"), "the duration asked for: {waiting}");
    alice.screenshot("waiting").await;

    // The reviewer's mail links straight to the request on the dashboard.
    let mail = mail(&stack.peers.smtp, DAVE, &["Access request: alice@example.com", REASON]).await;
    let review_link = link(&mail, &stack.url("access", "/review"));
    assert!(review_link.ends_with(&format!("#r-{id}")), "a link to this request: {review_link}");

    let dave = Browser::start("dave", &shots).await;
    dave.goto(&review_link).await;
    sign_in_at_idp(&dave, DAVE).await;
    let dashboard = dave.wait_for_text("access.localhost", &["Requests", ALICE, REASON]).await;
    assert!(
        dashboard.shows("For resource app"),
        "signed in, still on the mail's link: {dashboard}"
    );
    let row = dave.text_of(Locator::Id(&format!("r-{id}"))).await;
    assert!(row.contains(ALICE) && row.contains("for 1m") && row.contains("pending"), "{row}");
    dave.screenshot("review-from-mail").await;
    let still = alice.page().await;
    assert!(still.shows("Waiting for approval"), "nobody has decided yet: {still}");

    let approved_at = Instant::now();
    dave.click(Locator::Css(&format!("form[action='/review/{id}/approve'] button[type=submit]")))
        .await;
    let after = dave
        .wait_for_page("the dashboard after approving", PAGE_LIMIT, |page| {
            page.host() == "access.localhost" && page.path() == "/review" && !page.shows(REASON)
        })
        .await;
    assert!(after.shows("Nothing here."), "no request is left pending: {after}");
    dave.screenshot("review-after-approve").await;

    // Alice's waiting page takes her to the app without a click.
    let page = alice
        .wait_for_page("alice's waiting page to move on to the app", PAGE_LIMIT, |page| {
            page.host() == "app.localhost"
        })
        .await;
    assert_eq!(page.url.as_str(), app, "where alice was going: {page}");
    expect_echo_app(&alice, ALICE).await;
    alice.screenshot("app").await;

    // The grant lasts a minute: the app answers until then, and is locked after.
    let deadline = approved_at + Duration::from_secs(60) + PAGE_LIMIT * 2;
    let mut visits = 0;
    loop {
        alice.goto(&app).await;
        visits += 1;
        let page = alice.page().await;
        if page.host() == "access.localhost" {
            break;
        }
        assert!(page.shows(ALICE), "the app, while the grant lasts: {page}");
        assert!(Instant::now() < deadline, "the grant did not expire: {page}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let lasted = approved_at.elapsed();
    assert!(
        lasted >= Duration::from_secs(59),
        "the one-minute grant ended after {lasted:?}, at visit {visits}"
    );
    expect_locked(&alice, "app").await;
    alice.screenshot("locked-again").await;

    // The dashboard files the grant under Expired once jitgate has recorded the expiry.
    let ended = stack.url("access", "/review?tab=ended");
    dave.reload_until(&ended, "the expiry on the dashboard", PAGE_LIMIT, |page| page.shows(ALICE))
        .await;
    let row = dave.text_of(Locator::Id(&format!("r-{id}"))).await;
    assert!(row.contains("expired") && row.contains(DAVE), "expired, approved by dave: {row}");
    dave.screenshot("review-expired").await;
    alice.close().await;
    dave.close().await;
}
