//! Scenario: scheduled access (issue 15), at a laptop's and a phone's size. Alice asks for
//! `ops` from a little in the future (the form's start field, in UTC), Dave approves it ahead
//! of the start, and until then Alice's My access and the locked page say when it starts;
//! once the start passes she is in the app.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, VIEWPORTS};

use crate::deployment::{ALICE, DAVE, Stack};
use crate::flows::{expect_locked, expect_waiting, sign_in_at_idp};

const REASON: &str = "CHG-88: the Saturday migration";

/// The start Alice asks for: a whole minute (the field's resolution as the browser sends it)
/// between one and two minutes ahead, long enough for Dave to sign in and approve under load.
fn a_minute_or_two_ahead() -> SystemTime {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    UNIX_EPOCH + Duration::from_secs((now + 60) / 60 * 60 + 60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_approved_ahead_says_starts_in_then_lets_the_requester_in() {
    let shots = crate::screenshots("scheduled");
    for viewport in VIEWPORTS {
        let stack = Stack::start_with_ops(&[]).await;
        let size = viewport.label();
        let ops = stack.url("ops", "/");

        let alice = Browser::start_at(&format!("alice-{size}"), &shots, viewport).await;
        alice.goto(&ops).await;
        sign_in_at_idp(&alice, ALICE).await;
        let form = expect_locked(&alice, "ops").await;
        assert!(form.shows("Start (optional, UTC)"), "the zone beside the field: {form}");
        assert!(form.shows("In UTC, not your local time"), "{form}");
        // A datetime-local field takes keys in the browser's locale; its value is not.
        let start = a_minute_or_two_ahead();
        let value = humantime::format_rfc3339_seconds(start).to_string()[..16].to_owned();
        let script = "document.getElementById('starts_at').value = arguments[0];";
        alice.execute(script, vec![serde_json::json!(value)]).await;
        let typed = alice.execute("return document.getElementById('starts_at').value;", vec![]);
        assert_eq!(typed.await, serde_json::json!(value), "the field holds the start in UTC");
        alice.fill(Locator::Id("reason"), REASON).await;
        alice.assert_no_horizontal_overflow().await;
        alice.screenshot("scheduled-form").await;
        alice.click(Locator::XPath("//button[normalize-space()='Request access']")).await;
        let id = expect_waiting(&alice, REASON).await;
        let waiting = alice.page().await;
        assert!(waiting.shows("Starts"), "the start on the waiting page: {waiting}");

        let dave = Browser::start_at(&format!("dave-{size}"), &shots, viewport).await;
        dave.goto(&stack.url("access", "/review")).await;
        sign_in_at_idp(&dave, DAVE).await;
        let dashboard = dave.wait_for_text("access.localhost", &[ALICE, REASON]).await;
        let row = dave.text_of(Locator::Id(&format!("r-{id}"))).await;
        assert!(row.contains("for 1h from") && row.contains("UTC"), "from when: {row}");
        assert!(dashboard.shows("Approve"), "{dashboard}");
        dave.assert_no_horizontal_overflow().await;
        dave.screenshot("approve-ahead").await;
        let approve = format!("form[action='/review/{id}/approve'] button[type=submit]");
        dave.click(Locator::Css(&approve)).await;
        dave.wait_for_page("the dashboard after approving", PAGE_LIMIT, |page| {
            page.path() == "/review" && !page.shows(REASON)
        })
        .await;

        // Before the start: My access and the locked page say when it starts.
        alice.goto(&stack.url("access", "/")).await;
        let home = alice.wait_for_text("access.localhost", &["My access", "Scheduled"]).await;
        assert!(home.shows("starts in"), "{home}");
        assert!(SystemTime::now() < start, "approved ahead of the start, as it must be");
        alice.assert_no_horizontal_overflow().await;
        alice.screenshot("my-access-scheduled").await;
        alice.goto(&ops).await;
        let locked = alice
            .wait_for_text("access.localhost", &["Your access to ops is scheduled", "starts in"])
            .await;
        assert!(locked.path().starts_with("/request/ops"), "the locked page: {locked}");
        alice.assert_no_horizontal_overflow().await;
        alice.screenshot("locked-until-start").await;

        // Once the start passes, the app lets her in.
        let limit = start.duration_since(SystemTime::now()).unwrap_or_default() + PAGE_LIMIT;
        let app = alice
            .reload_until(&ops, "ops to open at the start", limit, |page| {
                page.host() == "ops.localhost"
            })
            .await;
        assert!(SystemTime::now() >= start, "let in before the start: {app}");
        assert!(app.shows(ALICE), "jitgate let her through as herself: {app}");
        alice.screenshot("in-the-app").await;
        alice.close().await;
        dave.close().await;
    }
}
