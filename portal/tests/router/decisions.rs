//! What a reviewer's decision does at the request level: deny and revoke need a deliberate
//! second step, every decision redirects back with a signed, read-once flash message, and a
//! revocation's note is kept and shown.

use jitgate_testkit::html::{dashboard_row as row, pill};

use crate::harness::{Browser, Reply, Site, csrf_of};

const FLASH: &str = "jitgate_flash";

async fn page(browser: &Browser, path: &str) -> String {
    let reply = browser.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
    reply.body
}

async fn decide(reviewer: &Browser, id: &str, action: &str, fields: &[(&str, &str)]) -> Reply {
    let csrf = csrf_of(&page(reviewer, "/review").await);
    let mut all = vec![("csrf", csrf.as_str())];
    if !fields.iter().any(|(key, _)| *key == "back") {
        all.push(("back", "/review"));
    }
    all.extend_from_slice(fields);
    reviewer.post_form(&format!("/review/{id}/{action}"), &all).await
}

/// The flash banner's text in `html`, if any.
fn flash(html: &str) -> Option<&str> {
    let start = html.find(r#"class="flash "#)?;
    let rest = &html[start..];
    let text = &rest[rest.find('>')? + 1..];
    Some(&text[..text.find("</p>")?])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_redirects_with_a_message_shown_once() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let dave = site.signed_in("dave@example.com").await;

    let approved = decide(&dave, &id, "approve", &[("duration", "3600")]).await;
    assert_eq!(approved.status, 303, "post/redirect/get: {approved:?}");
    assert_eq!(approved.location(), "/review");
    let token = dave.cookie(FLASH).expect("the message travels in a cookie");
    assert!(!token.contains("alice"), "signed, not plain text: {token}");
    // Responses that are not pages (the status poll's JSON) leave it for the next page.
    let json = dave.get(&format!("/requests/{id}?format=json")).await;
    assert_eq!(json.status, 200, "{json:?}");
    assert_eq!(dave.cookie(FLASH).as_deref(), Some(token.as_str()));

    let landed = page(&dave, "/review").await;
    assert_eq!(
        flash(&landed),
        Some("Approved alice@example.com&#39;s request for app: access for 1h."),
        "{landed}"
    );
    assert_eq!(dave.cookie(FLASH), None, "the page that shows it clears it");
    let again = page(&dave, "/review").await;
    assert_eq!(flash(&again), None, "read once: {again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_expired_message_is_never_shown() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let dave = site.signed_in("dave@example.com").await;

    dave.set_cookie(FLASH, "eyJhbGciOiJIUzI1NiJ9.eyJ0b25lIjoiZG9uZSJ9.forged");
    let forged = page(&dave, "/review").await;
    assert_eq!(flash(&forged), None, "{forged}");
    assert_eq!(dave.cookie(FLASH), None, "a bad cookie is cleared");
    dave.set_cookie(FLASH, "%%%not-a-token");
    assert_eq!(flash(&page(&dave, "/review").await), None);

    // A real message that nobody looked at within its minute is dropped.
    let approved = decide(&dave, &id, "approve", &[("duration", "3600")]).await;
    assert_eq!(approved.status, 303, "{approved:?}");
    let token = dave.cookie(FLASH).expect("a message");
    site.clock.advance(std::time::Duration::from_secs(61));
    dave.set_cookie(FLASH, &token);
    assert_eq!(flash(&page(&dave, "/review").await), None, "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_does_not_deny_the_confirmed_form_does() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let dave = site.signed_in("dave@example.com").await;

    let asked = decide(&dave, &id, "deny", &[("note", "use the runbook")]).await;
    assert_eq!(asked.status, 200, "a confirmation page, not a decision: {asked:?}");
    assert!(asked.body.contains("Deny alice@example.com&#39;s request for app?"), "{asked:?}");
    assert!(asked.body.contains(r#"name="confirm" value="yes""#), "{asked:?}");
    assert!(asked.body.contains(">use the runbook</textarea>"), "the note is kept: {asked:?}");
    let dashboard = page(&dave, "/review").await;
    assert!(row(&dashboard, &id).unwrap().contains(&pill("pending")), "still pending");

    let wrong = decide(&dave, &id, "deny", &[("confirm", "maybe")]).await;
    assert_eq!(wrong.status, 200, "only confirm=yes decides: {wrong:?}");

    let denied =
        decide(&dave, &id, "deny", &[("note", "use the runbook"), ("confirm", "yes")]).await;
    assert_eq!(denied.status, 303, "{denied:?}");
    let landed = page(&dave, "/review?tab=denied").await;
    assert_eq!(flash(&landed), Some("Denied alice@example.com&#39;s request for app."));
    let listed = row(&landed, &id).expect("in the Denied tab");
    assert!(listed.contains("use the runbook"), "the denial note: {listed}");
    assert!(listed.contains("ended <time datetime="), "when: {listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_needs_confirming_and_keeps_its_note() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let dave = site.signed_in("dave@example.com").await;
    let approved = decide(&dave, &id, "approve", &[("duration", "3600")]).await;
    assert_eq!(approved.status, 303, "{approved:?}");

    let asked = decide(&dave, &id, "revoke", &[]).await;
    assert_eq!(asked.status, 200, "{asked:?}");
    assert!(asked.body.contains("Revoke access"), "{asked:?}");
    let status = page(&alice, &format!("/requests/{id}")).await;
    assert!(status.contains(&pill("active")), "one click revokes nothing: {status}");

    let note = "the incident is closed";
    let revoked = decide(&dave, &id, "revoke", &[("note", note), ("confirm", "yes")]).await;
    assert_eq!(revoked.status, 303, "{revoked:?}");
    let landed = page(&dave, "/review?tab=ended").await;
    assert_eq!(flash(&landed), Some("Revoked alice@example.com&#39;s access to app."));
    assert!(row(&landed, &id).unwrap().contains(note), "the note on the row");
    let status = page(&alice, &format!("/requests/{id}")).await;
    assert!(status.contains(note), "the requester reads why: {status}");
    let audit = page(&dave, &format!("/audit?request={id}")).await;
    assert!(audit.contains(note), "audited: {audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_decisions_get_clear_4xx() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let dave = site.signed_in("dave@example.com").await;
    let missing = decide(&dave, "01J0000000000000000000000A", "deny", &[]).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    let garbage = decide(&dave, "..%2F..", "revoke", &[("confirm", "yes")]).await;
    assert_eq!(garbage.status, 404, "{garbage:?}");
    let long = "x".repeat(5000);
    let too_long = decide(&dave, &id, "deny", &[("note", &long), ("confirm", "yes")]).await;
    assert_eq!(too_long.status, 400, "{too_long:?}");
    assert!(too_long.body.contains("too long"), "{too_long:?}");
    let not_active = decide(&dave, &id, "revoke", &[]).await;
    assert_eq!(not_active.status, 400, "nothing to revoke yet: {not_active:?}");
    let away = decide(&dave, &id, "approve", &[("back", "https://evil.example/")]).await;
    assert_eq!(away.status, 303, "{away:?}");
    assert!(away.location().starts_with('/'), "stays on the portal: {away:?}");
}
