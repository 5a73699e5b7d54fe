//! Scenario: extending a grant from the expiry reminder (issue 15), at a laptop's and a phone's
//! size. The reminder is due three seconds after each approval (`remind_before` is the grant's
//! 15 minutes less 3 s). Bob (auto-approved) opens the mail's link in a browser that is not
//! signed in: after sign-in he is on the Extend form of his grant, filled in; he submits it and
//! My access shows the later end. Alice's extension waits for Dave, the reviewer; her app
//! answers every request meanwhile and after, and My access shows the later end.

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, Screenshots, VIEWPORTS, Viewport};
use serde_json::json;

use crate::deployment::{ALICE, BOB, DAVE, Stack};
use crate::flows::{Asking, ask, expect_app_as, expect_locked, link, mail, sign_in_at_idp};

const BOB_REASON: &str = "INC-812: draining the old queue";
const ALICE_REASON: &str = "CHG-77: migrating the billing tables";

/// Asks the app page the browser is on for `/` four times a second, keeping every status in
/// `window.seen` (0 for a network error or a redirect away).
const POLL_APP: &str = r#"
window.seen = [];
window.poll = setInterval(() => {
  fetch('/?poll=' + Date.now(), { redirect: 'manual', headers: { accept: 'text/html' } })
    .then((r) => window.seen.push(r.status), () => window.seen.push(0));
}, 250);
"#;

/// `ops`: 15-minute grants, extendable up to an hour from now; automatic for `sre`, a
/// reviewer's approval for `dev`.
async fn stack() -> Stack {
    Stack::with_app(
        "ops",
        |ops| {
            let ops = ops.policy(r#"durations = ["15m"]"#).policy(r#"max_duration = "1h""#);
            let ops = ops.policy(r#"approval = "manual""#).policy("allow_extension = true");
            ops.group("dev").assignment("group = \"sre\"\napproval = \"auto\"")
        },
        |config| config.section("[notifications]\nremind_before = \"14m57s\""),
    )
    .await
}

/// The page fits its width, then a screenshot of it.
async fn fits(browser: &Browser, step: &str) {
    browser.assert_no_horizontal_overflow().await;
    browser.screenshot(step).await;
}

/// When `ops`'s grant ends, as My access shows it (the `datetime` of its countdown).
async fn end_on_my_access(browser: &Browser, stack: &Stack) -> String {
    browser.goto(&stack.url("access", "/")).await;
    browser.wait_for_text("access.localhost", &["My access", "Active"]).await;
    let end = browser
        .execute(
            "const row = document.evaluate(\"//tr[td/a[normalize-space()='ops']]\", document, null, 9, null).singleNodeValue; \
             const time = row && row.querySelector('time[datetime]'); return time ? time.getAttribute('datetime') : null;",
            vec![],
        )
        .await;
    end.as_str().unwrap_or_else(|| panic!("ops's end on My access: {end}")).to_owned()
}

/// The reminder's link for `who`, which must lead to the Extend form of a grant.
async fn reminder_link(stack: &Stack, who: &str) -> String {
    let reminder = mail(&stack.peers.smtp, who, &["Ending soon: your access to ops"]).await;
    assert!(reminder.contains("Extend your access"), "{reminder}");
    let url = link(&reminder, &stack.url("access", "/requests/"));
    assert!(url.ends_with("/extend"), "straight to the Extend form: {url}");
    url
}

/// On the Extend form: it is filled in with the grant's 15m and `reason`; the grant's end.
async fn expect_filled_in(browser: &Browser, reason: &str) -> String {
    let page = browser.wait_for_text("access.localhost", &["Extend your access to ops"]).await;
    assert!(page.path().ends_with("/extend"), "{page}");
    let form = browser
        .execute(
            "return [document.getElementById('duration').value, document.getElementById('reason').value, \
             document.querySelector('[data-ends] time').getAttribute('datetime')];",
            vec![],
        )
        .await;
    assert_eq!(form[0], json!("15m"), "as long again: {form}");
    assert_eq!(form[1], json!(reason), "the grant's reason: {form}");
    form[2].as_str().unwrap().to_owned()
}

async fn extends_at_once_from_the_reminder(stack: &Stack, shots: &Screenshots, viewport: Viewport) {
    let size = viewport.label();
    let bob = Browser::start_at(&format!("bob-{size}"), shots, viewport).await;
    bob.goto(&stack.url("ops", "/")).await;
    sign_in_at_idp(&bob, BOB).await;
    expect_locked(&bob, "ops").await;
    ask(&bob, Asking::Preset("15m"), BOB_REASON).await;
    expect_app_as(&bob, "ops", BOB).await;
    let was = end_on_my_access(&bob, stack).await;
    bob.close().await;

    // The reminder, opened in a browser that is not signed in to the portal.
    let url = reminder_link(stack, BOB).await;
    let mailbox = Browser::start_at(&format!("bob-{size}-from-mail"), shots, viewport).await;
    mailbox.goto(&url).await;
    sign_in_at_idp(&mailbox, BOB).await;
    let ends = expect_filled_in(&mailbox, BOB_REASON).await;
    assert_eq!(ends, was, "the form is for this grant");
    assert_eq!(mailbox.page().await.url.as_str(), url, "back on the mail's link");
    fits(&mailbox, "extend-form").await;
    mailbox.click(Locator::XPath("//button[normalize-space()='Extend']")).await;
    let extended = mailbox
        .wait_for_page("the extension's page", PAGE_LIMIT, |page| {
            page.host() == "access.localhost" && !page.path().ends_with("/extend")
        })
        .await;
    assert!(extended.path().starts_with("/requests/"), "{extended}");
    fits(&mailbox, "extended").await;
    let now = end_on_my_access(&mailbox, stack).await;
    assert!(now > was, "My access shows the later end: {now} after {was}");
    fits(&mailbox, "my-access-extended").await;
    mailbox.close().await;
}

async fn waits_for_a_reviewer_without_interrupting_access(
    stack: &Stack,
    shots: &Screenshots,
    viewport: Viewport,
) {
    let size = viewport.label();
    let alice = Browser::start_at(&format!("alice-{size}"), shots, viewport).await;
    alice.goto(&stack.url("ops", "/")).await;
    sign_in_at_idp(&alice, ALICE).await;
    expect_locked(&alice, "ops").await;
    ask(&alice, Asking::Preset("15m"), ALICE_REASON).await;
    let waiting = alice.wait_for_text("access.localhost", &["Waiting for approval"]).await;
    let id = waiting.path().trim_start_matches("/requests/").to_owned();

    let dave = Browser::start_at(&format!("dave-{size}"), shots, viewport).await;
    dave.goto(&stack.url("access", &format!("/requests/{id}"))).await;
    sign_in_at_idp(&dave, DAVE).await;
    let approve = |id: &str| format!("form[action='/review/{id}/approve'] button[type=submit]");
    dave.click(Locator::Css(&approve(&id))).await;
    dave.wait_for_text("access.localhost", &[&format!("Approved {ALICE}'s request")]).await;
    expect_app_as(&alice, "ops", ALICE).await;
    let was = end_on_my_access(&alice, stack).await;

    alice.goto(&reminder_link(stack, ALICE).await).await;
    expect_filled_in(&alice, ALICE_REASON).await;
    fits(&alice, "extend-form").await;
    alice.click(Locator::XPath("//button[normalize-space()='Extend']")).await;
    let asked = alice.wait_for_text("access.localhost", &["Waiting for approval"]).await;
    let extension = asked.path().trim_start_matches("/requests/").to_owned();
    assert_ne!(extension, id, "the extension is a request of its own");
    fits(&alice, "extension-waiting").await;

    // While it waits, and as Dave approves it, the app answers her.
    alice.goto(&stack.url("ops", "/")).await;
    expect_app_as(&alice, "ops", ALICE).await;
    alice.execute(POLL_APP, vec![]).await;
    alice
        .wait_for_script("the app to be polled", PAGE_LIMIT, "return window.seen.length >= 4;")
        .await;
    dave.goto(&stack.url("access", &format!("/requests/{extension}"))).await;
    let review = dave.wait_for_text("access.localhost", &[ALICE, "pending"]).await;
    assert!(review.shows(ALICE_REASON), "the original reason: {review}");
    fits(&dave, "review-extension").await;
    dave.click(Locator::Css(&approve(&extension))).await;
    dave.wait_for_text("access.localhost", &[&format!("Approved {ALICE}'s request")]).await;
    mail(&stack.peers.smtp, ALICE, &["Extended: your access to ops"]).await;
    alice
        .wait_for_script(
            "the app to be polled after the approval",
            PAGE_LIMIT,
            "const n = window.seen.length; window.mark = window.mark || n; return n >= window.mark + 4;",
        )
        .await;
    let seen = alice.execute("clearInterval(window.poll); return window.seen;", vec![]).await;
    let statuses = seen.as_array().unwrap_or_else(|| panic!("statuses: {seen}"));
    assert!(statuses.len() >= 8, "{seen}");
    assert!(statuses.iter().all(|s| s == &json!(200)), "never interrupted: {seen}");
    fits(&alice, "app-throughout").await;

    let now = end_on_my_access(&alice, stack).await;
    assert!(now > was, "My access shows the later end: {now} after {was}");
    fits(&alice, "my-access-extended").await;
    alice.close().await;
    dave.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reminder_leads_to_a_filled_in_extend_form_auto_and_manual() {
    let shots = crate::screenshots("extend");
    for viewport in VIEWPORTS {
        let stack = stack().await;
        extends_at_once_from_the_reminder(&stack, &shots, viewport).await;
        waits_for_a_reviewer_without_interrupting_access(&stack, &shots, viewport).await;
    }
}
