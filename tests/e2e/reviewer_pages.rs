//! Scenario: the reviewer's and admin's side of the portal, walked at a laptop's and a phone's
//! size (issue 14). A request with a 2000-character reason waits; the reviewer's home leads with
//! it; every reviewer page fits a 390 px phone; the reason is clamped with the whole text a
//! click away; the audit log reads as sentences with short ids and hoverable times; the
//! resource page shows its policy per group; an app the reviewer may not use explains who to
//! ask. Then the reviewer approves for less than asked from the request's own page, revokes
//! with a note from the directory (one click does not revoke), and every page says what
//! happened.

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, VIEWPORTS, Viewport};
use serde_json::json;

use crate::deployment::{ALICE, DAVE, Stack};
use crate::flows::{
    Asking, Undo, ask, confirm, expect_flash, expect_locked, expect_waiting, mail,
    open_confirmation, sign_in_at_idp,
};

const END: &str = "END-OF-THE-LONG-REASON";
const NOTE: &str = "INC-77 is closed, thanks";

/// A 2000-character reason (the most jitgate takes) that ends in [`END`].
fn long_reason() -> String {
    let mut reason = String::from("CHG-2000: ");
    let filler = "migrating the ledger ";
    while reason.len() + filler.len() + END.len() <= 2000 {
        reason.push_str(filler);
    }
    reason.push_str(END);
    assert!(reason.len() <= 2000 && reason.len() > 1950, "{}", reason.len());
    reason
}

/// The rendered height of what `css` finds, in CSS pixels.
async fn height(browser: &Browser, css: &str) -> f64 {
    let found = browser
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.getBoundingClientRect().height : -1;",
            vec![json!(css)],
        )
        .await;
    let height = found.as_f64().unwrap_or(-1.0);
    assert!(height >= 0.0, "{css} is on the page: {found}");
    height
}

/// Opens `path` on the portal, waits for `texts`, checks it fits the viewport, screenshots it.
async fn visit(browser: &Browser, stack: &Stack, path: &str, texts: &[&str], shot: &str) {
    browser.goto(&stack.url("access", path)).await;
    browser.wait_for_text("access.localhost", texts).await;
    browser.assert_no_horizontal_overflow().await;
    browser.screenshot(shot).await;
}

/// Every reviewer page with alice's request pending, as dave sees it (at his browser's size).
async fn walk_pending(dave: &Browser, stack: &Stack, id: &str) {
    let short = format!("#{}", &id[id.len() - 6..]);

    // Home leads with the queue.
    visit(dave, stack, "/", &["Waiting for your review", ALICE], "home").await;
    let queue = dave.text_of(Locator::Id(&format!("q-{id}"))).await;
    assert!(queue.contains("app") && queue.contains("for 1h"), "alice's request: {queue}");
    assert!(!queue.contains(END), "the reason is clamped here too: {queue}");

    // The dashboard: a short row, the whole reason on demand.
    visit(dave, stack, "/review", &["Requests", ALICE], "review").await;
    let row = format!("#r-{id}");
    let reason_cell = height(dave, &format!("{row} td.reason")).await;
    assert!(reason_cell < 250.0, "a 2000-character reason stays short: {reason_cell}px");
    let whole = dave.text_of(Locator::Css(&format!("{row} td.reason"))).await;
    assert!(!whole.contains(END), "clamped: {whole}");
    dave.click(Locator::Css(&format!("{row} details.clamp > summary"))).await;
    let opened = dave.text_of(Locator::Css(&format!("{row} details.clamp .full"))).await;
    assert!(opened.contains(END), "the whole reason, one click away: {opened}");
    dave.assert_no_horizontal_overflow().await;
    dave.screenshot("review-reason-open").await;

    // One click on Deny only opens the confirmation.
    open_confirmation(dave, id, Undo::Deny).await;
    dave.assert_no_horizontal_overflow().await;
    dave.screenshot("review-deny-confirmation").await;
    dave.refresh().await;
    let still = dave.text_of(Locator::Css(&row)).await;
    assert!(still.contains("pending"), "nothing was denied: {still}");

    // The request's own page: the reviewer's actions, not the requester's waiting text.
    let page = format!("/requests/{id}");
    visit(dave, stack, &page, &[&format!("{ALICE} asks for app")], "request").await;
    let request = dave.page().await;
    assert!(!request.shows("Waiting for approval"), "{request}");
    assert!(request.shows("Approve") && request.shows("Deny"), "{request}");

    // The audit log in words.
    visit(
        dave,
        stack,
        "/audit",
        &["Audit log", &format!("{ALICE} asked for access to app")],
        "audit",
    )
    .await;
    let audit = dave.page().await;
    assert!(!audit.shows("request_created"), "no machine names: {audit}");
    assert!(!audit.shows(id) && audit.shows(&short), "a short id: {audit}");
    let link = format!("table.audit a[href='/requests/{id}']");
    assert_eq!(dave.text_of(Locator::Css(&link)).await, short, "linking to the request");
    let time = dave
        .execute(
            "const t = document.querySelector('table.audit time'); return [t.getAttribute('datetime'), t.title, t.textContent];",
            vec![],
        )
        .await;
    let (iso, exact, shown) = (time[0].as_str(), time[1].as_str(), time[2].as_str());
    assert!(iso.is_some_and(|t| t.len() == 24 && t.ends_with('Z')), "machine time: {time}");
    assert!(exact.is_some_and(|t| t.ends_with(" UTC") && t.len() == 20), "hover: {time}");
    assert!(shown.is_some_and(|t| t.ends_with("ago")), "relative: {time}");

    // The directory: the resource's policy, and the user page with the request to act on.
    visit(dave, stack, "/access", &["Directory", "app"], "directory").await;
    visit(dave, stack, "/access/resources/app", &["Policy", "Who has access"], "resource").await;
    let policy = dave.text_of(Locator::Css("table.policy")).await;
    for fact in [
        "dev",
        "Just-in-time",
        "15m, 1h, custom up to 8h",
        "1 reviewer",
        "group security, dave@example.com; admins",
        "sre",
        "automatic",
        "required",
    ] {
        assert!(policy.contains(fact), "the policy says {fact:?}: {policy}");
    }
    let user = format!("/access/users/{ALICE}");
    visit(dave, stack, &user, &[ALICE, "pending"], "user").await;
    assert!(dave.page().await.shows("Approve"), "act from the user page");
    visit(dave, stack, "/access/groups/dev", &["dev", ALICE], "group").await;

    // An app dave may not use says who he is and whom to ask.
    dave.goto(&stack.url("app", "/")).await;
    let refused = dave
        .wait_for_page("the no-access page", PAGE_LIMIT, |page| {
            page.host() == "app.localhost" && page.shows("You don't have access to app")
        })
        .await;
    assert!(refused.shows(&format!("You are signed in as {DAVE}")), "{refused}");
    assert!(
        refused.shows("Access to app is reviewed by group security, dave@example.com."),
        "{refused}"
    );
    let ask = dave.find(Locator::Css("a.button")).await.attr("href").await.ok().flatten();
    let ask = ask.unwrap_or_default();
    assert!(ask.starts_with(&stack.url("access", "/request/app")), "ask for it: {ask}");
    let portal = dave.find(Locator::LinkText("Open the portal")).await.attr("href").await;
    assert_eq!(portal.ok().flatten(), Some(stack.url("access", "/")), "switch accounts there");
    dave.assert_no_horizontal_overflow().await;
    dave.screenshot("no-access").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_and_admin_pages_fit_both_viewports_and_say_what_happened() {
    let shots = crate::screenshots("reviewer_pages");
    let stack = Stack::start().await;
    let reason = long_reason();
    let alice = Browser::start("alice", &shots).await;
    alice.goto(&stack.url("app", "/")).await;
    sign_in_at_idp(&alice, ALICE).await;
    expect_locked(&alice, "app").await;
    ask(&alice, Asking::Preset("1h"), &reason).await;
    let id = expect_waiting(&alice, END).await;

    for viewport in VIEWPORTS {
        let dave = Browser::start_at(&format!("dave-{}", viewport.label()), &shots, viewport).await;
        dave.goto(&stack.url("access", "/")).await;
        sign_in_at_idp(&dave, DAVE).await;
        walk_pending(&dave, &stack, &id).await;
        dave.close().await;
    }

    // Approve for less than asked, from the request's own page.
    let dave = Browser::start_at("dave", &shots, Viewport::Desktop).await;
    dave.goto(&stack.url("access", &format!("/requests/{id}"))).await;
    sign_in_at_idp(&dave, DAVE).await;
    dave.wait_for_text("access.localhost", &[&format!("{ALICE} asks for app")]).await;
    dave.click(Locator::Css(&format!("#d-{id} option[value='900']"))).await;
    dave.click(Locator::Css(&format!("form[action='/review/{id}/approve'] button[type=submit]")))
        .await;
    let approved = expect_flash(
        &dave,
        &format!("Approved {ALICE}'s request for app: access for 15m (asked 1h)."),
    )
    .await;
    assert_eq!(approved.path(), format!("/requests/{id}"), "back where the reviewer acted");
    let granted = dave.text_of(Locator::Css("dl.facts")).await;
    assert!(granted.contains("Granted") && granted.contains("15m (asked 1h)"), "{granted}");
    dave.screenshot("approved-for-less").await;
    dave.refresh().await;
    assert!(!dave.page().await.shows("access for 15m (asked 1h)."), "the message shows once");
    let approval = mail(&stack.peers.smtp, ALICE, &["Approved", "Granted: 15m (asked 1h)"]).await;
    assert!(approval.contains(DAVE), "{approval}");
    dave.goto(&stack.url("access", "/review?tab=active")).await;
    let active = dave.text_of(Locator::Id(&format!("r-{id}"))).await;
    assert!(active.contains("granted 15m (asked 1h)"), "on the dashboard too: {active}");

    // Revoke with a note from the user's directory page; one click revokes nothing.
    let user = stack.url("access", &format!("/access/users/{ALICE}"));
    dave.goto(&user).await;
    dave.wait_for_text("access.localhost", &[ALICE, "active", "granted 15m (asked 1h)"]).await;
    open_confirmation(&dave, &id, Undo::Revoke).await;
    dave.screenshot("revoke-confirmation").await;
    dave.refresh().await;
    dave.wait_for_text("access.localhost", &[ALICE, "active"]).await;
    confirm(&dave, &id, Undo::Revoke, NOTE).await;
    let revoked = expect_flash(&dave, &format!("Revoked {ALICE}'s access to app.")).await;
    assert!(revoked.path().starts_with("/access/users/alice"), "back on the user page: {revoked}");
    dave.screenshot("revoked").await;
    let revocation = mail(&stack.peers.smtp, ALICE, &["Revoked", NOTE]).await;
    assert!(revocation.contains(DAVE), "{revocation}");
    alice.goto(&stack.url("access", &format!("/requests/{id}"))).await;
    let alices = alice.wait_for_text("access.localhost", &["Access revoked"]).await;
    assert!(alices.shows(&format!("Revoked by {DAVE}: {NOTE}")), "alice reads why: {alices}");

    // Ended rows say when and why; the audit log says who did what.
    for viewport in VIEWPORTS {
        let name = format!("dave-after-{}", viewport.label());
        let browser = Browser::start_at(&name, &shots, viewport).await;
        browser.goto(&stack.url("access", "/review?tab=ended")).await;
        sign_in_at_idp(&browser, DAVE).await;
        browser.wait_for_text("access.localhost", &["Expired / Revoked", ALICE]).await;
        let row = browser.text_of(Locator::Id(&format!("r-{id}"))).await;
        for fact in ["revoked", NOTE, "ended", "ago", "granted 15m (asked 1h)"] {
            assert!(row.contains(fact), "the ended row says {fact:?}: {row}");
        }
        browser.assert_no_horizontal_overflow().await;
        browser.screenshot("review-ended").await;
        let approved = format!("{DAVE} approved {ALICE}'s request for app (granted 15m)");
        let revoked = format!("{DAVE} revoked {ALICE}'s access to app");
        visit(&browser, &stack, "/audit", &[&approved, &revoked, NOTE], "audit-after").await;
        browser.close().await;
    }
    alice.close().await;
    dave.close().await;
}
