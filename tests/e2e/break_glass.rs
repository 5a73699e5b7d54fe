//! Scenario: break glass (issue 15), at a laptop's and a phone's size. `ops` needs a
//! reviewer's approval, but Alice's group may break glass on it: she ticks Break glass, gives
//! her reason and is in the app at once. Dave, a reviewer, finds the grant flagged on his
//! dashboard and acknowledges it; the flag gives way to who acknowledged it.

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, VIEWPORTS};

use crate::deployment::{ALICE, DAVE, Stack};
use crate::flows::{expect_locked, mail, sign_in_at_idp};

const REASON: &str = "INC-404: the payment queue is stuck";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_breaks_glass_reaches_the_app_at_once_and_a_reviewer_acknowledges_it() {
    let shots = crate::screenshots("break_glass");
    for viewport in VIEWPORTS {
        let glass = r#"break_glass = { groups = ["dev"], max_duration = "1h" }"#;
        let stack = Stack::start_with_ops(&[glass]).await;
        let size = viewport.label();

        let alice = Browser::start_at(&format!("alice-{size}"), &shots, viewport).await;
        alice.goto(&stack.url("ops", "/")).await;
        sign_in_at_idp(&alice, ALICE).await;
        let form = expect_locked(&alice, "ops").await;
        assert!(form.shows("Break glass: grant it to me now"), "offered to her group: {form}");
        alice.click(Locator::Css("input[name=break_glass][value=yes]")).await;
        alice.fill(Locator::Id("reason"), REASON).await;
        alice.assert_no_horizontal_overflow().await;
        alice.screenshot("break-glass-form").await;
        alice.click(Locator::XPath("//button[normalize-space()='Request access']")).await;
        // In the app at once: jitgate let her through as herself.
        let app = alice
            .wait_for_page("ops, as alice", PAGE_LIMIT, |page| {
                page.host() == "ops.localhost" && page.shows("x-jitgate-email")
            })
            .await;
        assert!(app.shows(ALICE), "{app}");
        alice.screenshot("in-the-app").await;
        alice.goto(&stack.url("access", "/")).await;
        let home = alice.wait_for_text("access.localhost", &["My access", "Break glass"]).await;
        assert!(home.shows("unreviewed") && !home.shows("Acknowledge"), "{home}");
        alice.assert_no_horizontal_overflow().await;
        alice.screenshot("my-access-flagged").await;
        let told = mail(&stack.peers.smtp, DAVE, &["Break glass", REASON]).await;
        assert!(told.contains(ALICE), "{told}");

        let dave = Browser::start_at(&format!("dave-{size}"), &shots, viewport).await;
        dave.goto(&stack.url("access", "/review?tab=active")).await;
        sign_in_at_idp(&dave, DAVE).await;
        let dashboard =
            dave.wait_for_text("access.localhost", &[ALICE, "Break glass · unreviewed"]).await;
        assert!(dashboard.shows("Revoke") && dashboard.shows("Acknowledge"), "{dashboard}");
        assert!(
            dashboard.shows("self-granted") && !dashboard.shows("auto-approved"),
            "{dashboard}"
        );
        dave.assert_no_horizontal_overflow().await;
        dave.screenshot("review-flagged").await;
        dave.click(Locator::XPath("//form[contains(@action,'/acknowledge')]/button")).await;
        let page =
            dave.wait_for_text("access.localhost", &[&format!("acknowledged by {DAVE}")]).await;
        assert!(page.path().starts_with("/requests/"), "the grant's own page: {page}");
        assert!(
            page.shows(&format!("Acknowledged {ALICE}'s break-glass access to ops.")),
            "{page}"
        );
        assert!(!page.shows("unreviewed"), "{page}");
        dave.assert_no_horizontal_overflow().await;
        dave.screenshot("acknowledged").await;
        let reviewed = mail(&stack.peers.smtp, ALICE, &["Reviewed: your break-glass access"]).await;
        assert!(reviewed.contains(DAVE), "{reviewed}");
        alice.close().await;
        dave.close().await;
    }
}
