//! The requester's pages, finished (issue 14), at a laptop's and at a phone's size: the request
//! form says why the app is locked, shows the custom duration only when chosen, counts the
//! reason, marks and focuses the field in error and never resubmits on reload; the waiting
//! page names the reviewers and who was told, and counts down live; the bell lists what
//! happened; a decision leads on to the app, or to "Request again" with the reason; sign-out
//! ends the IdP session too. Every page is checked for sideways scrolling.

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, Screenshots, VIEWPORTS, Viewport};
use serde_json::json;

use crate::deployment::{ALICE, DAVE, Stack};
use crate::flows::{Asking, ask, expect_echo_app, expect_locked, expect_waiting, sign_in_at_idp};

/// Alice, new in a browser of `viewport`'s size, opens the app at `path`, signs in at the
/// IdP and lands on the locked app's request form.
async fn alice_at(stack: &Stack, shots: &Screenshots, viewport: Viewport, path: &str) -> Browser {
    let alice = Browser::start_at(&format!("alice-{}", viewport.label()), shots, viewport).await;
    alice.goto(&stack.url("app", path)).await;
    sign_in_at_idp(&alice, ALICE).await;
    expect_locked(&alice, "app").await;
    alice
}

/// Dave, the reviewer, signed in on a laptop.
async fn dave(stack: &Stack, shots: &Screenshots) -> Browser {
    let dave = Browser::start("dave", shots).await;
    dave.goto(&stack.url("access", "/")).await;
    sign_in_at_idp(&dave, DAVE).await;
    dave.wait_for_text("access.localhost", &["My access"]).await;
    dave
}

/// The page fits its width, then a screenshot of it.
async fn fits(browser: &Browser, step: &str) {
    browser.assert_no_horizontal_overflow().await;
    browser.screenshot(step).await;
}

/// The id of the element that has the keyboard focus.
async fn focused(browser: &Browser) -> serde_json::Value {
    browser.execute("return document.activeElement ? document.activeElement.id : '';", vec![]).await
}

/// Dave opens request `id` and approves it for what was asked.
async fn approve(dave: &Browser, stack: &Stack, id: &str) {
    dave.goto(&stack.url("access", &format!("/requests/{id}"))).await;
    dave.click(Locator::Css(&format!("form[action='/review/{id}/approve'] button[type=submit]")))
        .await;
    dave.wait_for_text("access.localhost", &[&format!("Approved {ALICE}'s request")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_form_explains_counts_marks_errors_and_never_resubmits() {
    let shots = crate::screenshots("requester_form");
    let stack = Stack::start().await;
    for viewport in VIEWPORTS {
        let alice = alice_at(&stack, &shots, viewport, "/admin").await;
        let form = alice.page().await;
        assert!(form.shows("needs time-limited access"), "why alice is here: {form}");
        assert!(form.shows("/admin"), "where she continues to: {form}");
        let custom_shown = "return document.getElementById('custom').offsetParent !== null;";
        assert_eq!(alice.execute(custom_shown, vec![]).await, json!(false), "hidden until chosen");
        assert!(form.shows("0 / 2000 characters"), "the counter: {form}");
        fits(&alice, "request-form").await;

        // Typing counts at once; picking "Custom…" shows the box and a hint within her max.
        alice.fill(Locator::Id("reason"), "CHG-1").await;
        alice
            .wait_for_script(
                "the counter to count",
                PAGE_LIMIT,
                "return document.getElementById('reason-count').textContent === '5 / 2000 characters';",
            )
            .await;
        alice.click(Locator::Css("input[name=duration][value=custom]")).await;
        assert_eq!(
            alice.execute(custom_shown, vec![]).await,
            json!(true),
            "{}",
            alice.page().await
        );
        let custom = alice.page().await;
        assert!(custom.shows("Custom duration (up to 8h, e.g. 1h 30m or 4h)"), "{custom}");
        alice.fill(Locator::Id("custom"), "9h").await;
        alice.click(Locator::XPath("//button[normalize-space()='Request access']")).await;

        // Refused: back on the form (a GET page), the field marked and focused, text kept.
        let refused = alice.wait_for_text("access.localhost", &["is longer than the 8h"]).await;
        assert_eq!(refused.path(), "/request/app", "{refused}");
        assert!(refused.url.query().unwrap_or("").contains("rd="), "still on her way: {refused}");
        assert_eq!(focused(&alice).await, json!("custom"), "the field in error has the focus");
        let invalid = "return document.getElementById('custom').getAttribute('aria-invalid');";
        assert_eq!(alice.execute(invalid, vec![]).await, json!("true"));
        let reason = "return document.getElementById('reason').value;";
        assert_eq!(alice.execute(reason, vec![]).await, json!("CHG-1"), "the reason is kept");
        fits(&alice, "request-form-refused").await;
        alice.refresh().await;
        let reloaded = alice.page().await;
        assert_eq!(reloaded.path(), "/request/app", "a reload stays on the form: {reloaded}");
        assert!(!reloaded.shows("is longer than"), "nothing was resubmitted: {reloaded}");
        assert!(!reloaded.shows("Waiting for approval"), "{reloaded}");

        // Over the limit: counted, refused whole, focused.
        let long = "const r = document.getElementById('reason'); r.value = 'x'.repeat(2001); \
                    r.dispatchEvent(new Event('input')); return true;";
        alice.execute(long, vec![]).await;
        let counter = alice.text_of(Locator::Id("reason-count")).await;
        assert_eq!(counter, "2001 / 2000 characters: 1 too many");
        alice.screenshot("request-form-over-long").await;
        alice.click(Locator::XPath("//button[normalize-space()='Request access']")).await;
        alice.wait_for_text("access.localhost", &["Your reason is 2001 characters long"]).await;
        assert_eq!(focused(&alice).await, json!("reason"));
        let kept = "return document.getElementById('reason').value.length;";
        assert_eq!(alice.execute(kept, vec![]).await, json!(2001), "never cut");
        fits(&alice, "request-form-too-long").await;
        alice.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_names_reviewers_counts_down_and_a_grant_continues_to_the_app() {
    let shots = crate::screenshots("requester_waiting");
    let stack = Stack::start().await;
    let dave = dave(&stack, &shots).await;
    for viewport in VIEWPORTS {
        let alice = alice_at(&stack, &shots, viewport, "/").await;
        // Asked from My access: no return URL, so the way on is the app's own address.
        alice.goto(&stack.url("access", "/")).await;
        let home = alice.wait_for_text("access.localhost", &["My access", "Locked"]).await;
        assert!(home.shows("Request access"), "{home}");
        fits(&alice, "my-access-locked").await;
        alice.click(Locator::Css("a.button.primary[href='/request/app']")).await;
        expect_locked(&alice, "app").await;
        let reason = format!("CHG-2: from My access at {}", viewport.label());
        ask(&alice, Asking::Preset("15m"), &reason).await;
        let id = expect_waiting(&alice, &reason).await;
        let waiting = alice.page().await;
        assert!(
            waiting.shows("Reviewed by dave@example.com or anyone in security."),
            "who decides: {waiting}"
        );
        assert!(waiting.shows("mailed dave@example.com"), "who was told: {waiting}");
        assert!(waiting.shows("times out in"), "{waiting}");
        fits(&alice, "waiting").await;

        // The countdown moves on its own: the same document, a new time left.
        let before = alice.text_of(Locator::Css("time[data-countdown]")).await;
        alice.execute("window.stillThisPage = true; return true;", vec![]).await;
        let script = format!(
            "return window.stillThisPage === true && \
             document.querySelector('time[data-countdown]').textContent !== {before:?};"
        );
        alice.wait_for_script("the countdown to tick without a reload", PAGE_LIMIT, &script).await;

        // The reviewer's bell lists the request.
        dave.goto(&stack.url("access", "/")).await;
        dave.click(Locator::Css("details.bell > summary")).await;
        let bell = dave.text_of(Locator::Css("details.bell .menu")).await;
        assert!(bell.contains(&format!("{ALICE} asks for app (15m)")), "{bell}");
        dave.screenshot("bell").await;
        approve(&dave, &stack, &id).await;

        let granted = alice.wait_for_text("access.localhost", &["Access granted"]).await;
        assert!(granted.shows("Your access ends in"), "{granted}");
        let href = "return document.querySelector('a.button.primary').href;";
        let continue_to = alice.execute(href, vec![]).await;
        assert_eq!(continue_to, json!(stack.url("app", "/")), "to the app, not the portal");
        fits(&alice, "granted").await;

        // The requester's bell: the grant is ending soon (15m).
        alice.goto(&stack.url("access", "/")).await;
        alice.click(Locator::Css("details.bell > summary")).await;
        let bell = alice.text_of(Locator::Css("details.bell .menu")).await;
        assert!(bell.contains("Your access to app ends soon"), "{bell}");
        fits(&alice, "my-access-bell").await;
        let left = alice.text_of(Locator::Css("td time[data-countdown]")).await;
        alice.execute("window.stillThisPage = true; return true;", vec![]).await;
        let script = format!(
            "return window.stillThisPage === true && \
             document.querySelector('td time[data-countdown]').textContent !== {left:?};"
        );
        alice.wait_for_script("My access to count down", PAGE_LIMIT, &script).await;

        alice.goto(&stack.url("access", &format!("/requests/{id}"))).await;
        alice.click(Locator::XPath("//a[normalize-space()='Continue to app']")).await;
        expect_echo_app(&alice, ALICE).await;
        // Done: end the grant so the next size starts locked.
        alice.goto(&stack.url("access", "/")).await;
        let row = format!("tr:has(form[action='/requests/{id}/end'])");
        alice.click(Locator::Css(&format!("{row} details.confirm summary"))).await;
        alice.click(Locator::Css(&format!("form[action='/requests/{id}/end'] button"))).await;
        alice.wait_for_text("access.localhost", &["Ended your access to app.", "Locked"]).await;
        alice.close().await;
    }
    dave.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_and_a_revocation_offer_request_again_with_the_reason() {
    let shots = crate::screenshots("requester_again");
    let stack = Stack::start().await;
    let dave = dave(&stack, &shots).await;
    for viewport in VIEWPORTS {
        let alice = alice_at(&stack, &shots, viewport, "/").await;
        let reason = format!("INC-3: read the logs ({})", viewport.label());
        ask(&alice, Asking::Preset("15m"), &reason).await;
        let id = expect_waiting(&alice, &reason).await;

        dave.goto(&stack.url("access", &format!("/requests/{id}"))).await;
        dave.click(Locator::XPath("//summary[normalize-space()='Deny…']")).await;
        dave.fill(Locator::Id(&format!("n-{id}")), "use the staging copy").await;
        dave.click(Locator::XPath("//button[normalize-space()='Deny request']")).await;
        dave.wait_for_text("access.localhost", &[&format!("Denied {ALICE}'s request")]).await;

        let denied = alice.wait_for_text("access.localhost", &["Request denied"]).await;
        assert!(denied.shows("Denied by dave@example.com: use the staging copy"), "{denied}");
        fits(&alice, "denied").await;
        alice.click(Locator::XPath("//a[normalize-space()='Request again']")).await;
        let form = alice.wait_for_text("access.localhost", &["Request access to app"]).await;
        assert!(form.shows("Your last request was denied by dave@example.com at"), "{form}");
        let typed = "return document.getElementById('reason').value;";
        assert_eq!(alice.execute(typed, vec![]).await, json!(reason), "the reason, filled in");
        fits(&alice, "request-again").await;
        alice.click(Locator::XPath("//button[normalize-space()='Request access']")).await;
        let second = expect_waiting(&alice, &reason).await;
        approve(&dave, &stack, &second).await;
        alice.wait_for_text("access.localhost", &["Access granted"]).await;

        dave.goto(&stack.url("access", &format!("/requests/{second}"))).await;
        dave.click(Locator::XPath("//summary[normalize-space()='Revoke…']")).await;
        dave.fill(Locator::Id(&format!("rn-{second}")), "incident closed").await;
        dave.click(Locator::XPath("//button[normalize-space()='Revoke access']")).await;
        dave.wait_for_text("access.localhost", &[&format!("Revoked {ALICE}'s access")]).await;

        // Back at the app: locked, and the form says by whom and why.
        alice.goto(&stack.url("app", "/")).await;
        let locked = expect_locked(&alice, "app").await;
        assert!(locked.shows("was revoked by dave@example.com at"), "{locked}");
        assert!(locked.shows(": incident closed"), "{locked}");
        assert_eq!(alice.execute(typed, vec![]).await, json!(reason), "{locked}");
        fits(&alice, "revoked").await;
        alice.close().await;
    }
    dave.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_idp_session_so_the_next_visit_asks_to_sign_in() {
    let shots = crate::screenshots("requester_sign_out");
    let stack = Stack::start().await;
    for viewport in VIEWPORTS {
        let alice = alice_at(&stack, &shots, viewport, "/").await;
        alice.goto(&stack.url("access", "/")).await;
        alice.wait_for_text("access.localhost", &["My access"]).await;
        alice.click(Locator::Css("details.more > summary")).await;
        alice.screenshot("account-menu").await;
        alice.click(Locator::XPath("//button[normalize-space()='Sign out']")).await;
        // The IdP asks to confirm its own sign-out.
        alice
            .wait_for_page("the IdP's sign-out question", PAGE_LIMIT, |page| {
                page.host() == "127.0.0.1" && page.shows("Do you want to sign-out")
            })
            .await;
        alice.click(Locator::Css("button[name=logout][value=yes]")).await;
        let out = alice.wait_for_text("access.localhost", &["Signed out"]).await;
        assert_eq!(out.path(), "/auth/signed-out", "{out}");
        assert!(out.shows("and of 127.0.0.1"), "the IdP session ended too: {out}");
        fits(&alice, "signed-out").await;

        // The next visit asks for the IdP's login again instead of signing straight back in.
        alice.goto(&stack.url("app", "/")).await;
        let login = alice
            .wait_for_page("the IdP's login", PAGE_LIMIT, |page| page.host() != "access.localhost")
            .await;
        assert_eq!(login.host(), "127.0.0.1", "signed out at the IdP: {login}");
        assert!(login.shows("Sign-in"), "{login}");
        alice.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_sign_in_form_comes_back_marked_and_admin_pages_fit() {
    let shots = crate::screenshots("requester_sign_in");
    let (_deployment, port) = crate::deployment::quickstart().await;
    for viewport in VIEWPORTS {
        let admin =
            Browser::start_at(&format!("admin-{}", viewport.label()), &shots, viewport).await;
        admin.goto(&format!("http://app.localhost:{port}/")).await;
        admin.wait_for_text("access.localhost", &["Sign in", "Password"]).await;
        fits(&admin, "sign-in").await;
        admin.fill(Locator::Id("email"), "admin@example.com").await;
        admin.fill(Locator::Id("password"), "not the password").await;
        admin.click(Locator::Css("form[action='/auth/sign-in'] button[type=submit]")).await;
        let refused = admin.wait_for_text("access.localhost", &["do not match"]).await;
        assert_eq!(refused.path(), "/auth/sign-in", "a GET page: {refused}");
        assert_eq!(focused(&admin).await, json!("password"), "the password has the focus");
        let invalid = "return document.getElementById('password').getAttribute('aria-invalid');";
        assert_eq!(admin.execute(invalid, vec![]).await, json!("true"));
        let email = "return document.getElementById('email').value;";
        assert_eq!(admin.execute(email, vec![]).await, json!("admin@example.com"), "kept");
        fits(&admin, "sign-in-refused").await;
        admin.refresh().await;
        let reloaded = admin.page().await;
        assert!(!reloaded.shows("do not match"), "nothing resubmitted: {reloaded}");
        admin.fill(Locator::Id("email"), "admin@example.com").await;
        admin.fill(Locator::Id("password"), "admin-demo-pass").await;
        admin.click(Locator::Css("form[action='/auth/sign-in'] button[type=submit]")).await;
        admin
            .wait_for_page("the demo app", PAGE_LIMIT, |page| page.host() == "app.localhost")
            .await;
        admin.goto(&format!("http://access.localhost:{port}/notifications")).await;
        admin.wait_for_text("access.localhost", &["Failed notifications"]).await;
        fits(&admin, "notifications").await;
        admin.goto(&format!("http://access.localhost:{port}/")).await;
        admin.wait_for_text("access.localhost", &["My access"]).await;
        admin.click(Locator::Css("details.more > summary")).await;
        fits(&admin, "account-menu").await;
        admin.click(Locator::XPath("//button[normalize-space()='Sign out']")).await;
        let out = admin.wait_for_text("access.localhost", &["Signed out"]).await;
        assert!(out.shows("You are signed out of jitgate and of every app"), "{out}");
        fits(&admin, "signed-out").await;
        admin.close().await;
    }
}
