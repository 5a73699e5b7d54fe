//! The requester's forms at request level: post/redirect/get with the typed values and the
//! errors carried across the redirect, a typed custom duration that wins, an over-long reason
//! refused whole, a stale sign-in form sent to a fresh one, and what the form says after a
//! revocation.

use crate::harness::{Browser, PASSWORD, Site, csrf_of, field};

const RD: &str = "http://app.localhost:8080/admin?tab=1";

/// `alice`'s request form for `app`, on her way to `RD`; its CSRF token.
async fn form(alice: &Browser) -> String {
    let page = alice.get(&format!("/request/app?rd={}", urlencoding(RD))).await;
    assert_eq!(page.status, 200, "{page:?}");
    csrf_of(&page.body)
}

fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_redirects_to_the_form_with_the_values_and_marked_fields() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let csrf = form(&alice).await;
    let refused = alice
        .post_form(
            "/request/app",
            &[
                ("csrf", &csrf),
                ("rd", RD),
                ("duration", "custom"),
                ("custom", "9h"),
                ("reason", "CHG-7: keep what I typed"),
            ],
        )
        .await;
    assert_eq!(refused.status, 303, "post/redirect/get, never a page from the POST: {refused:?}");
    let back = refused.location();
    assert!(back.starts_with("/request/app?rd="), "back to the form, on the way to RD: {back}");

    let page = alice.get(&back).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("9h is longer than the 8h you may ask for here."), "{page:?}");
    assert!(page.body.contains("CHG-7: keep what I typed"), "the reason typed is kept: {page:?}");
    assert!(page.body.contains("name=\"custom\" maxlength=\"32\" value=\"9h\""), "kept: {page:?}");
    let custom = page.body.split("id=\"custom\"").nth(1).unwrap_or_default();
    let custom = custom.split('>').next().unwrap_or_default();
    assert!(custom.contains("aria-invalid=\"true\""), "the field in error is marked: {custom}");
    assert!(custom.contains("aria-describedby=\"custom-error\""), "{custom}");
    assert!(custom.contains("autofocus"), "and focused: {custom}");
    assert!(page.body.contains("id=\"custom-error\""), "{page:?}");

    // The draft shows once: reloading the form (a GET) is a clean form, never a resubmit.
    let again = alice.get(&back).await;
    assert!(!again.body.contains("is longer than"), "read once: {again:?}");
    assert!(!again.body.contains("aria-invalid"), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_custom_duration_wins_over_the_ticked_preset() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let csrf = form(&alice).await;
    let asked = alice
        .post_form(
            "/request/app",
            &[("csrf", &csrf), ("duration", "3600"), ("custom", "30m"), ("reason", "typed")],
        )
        .await;
    assert_eq!(asked.status, 303, "{asked:?}");
    let status = alice.get(&asked.location()).await;
    assert!(status.body.contains("<dt>Duration asked</dt><dd>30m</dd>"), "30m, not 1h: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_reason_is_refused_whole_with_its_length() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let csrf = form(&alice).await;
    let reason = format!("{}END", "x".repeat(1_998));
    let refused = alice
        .post_form("/request/app", &[("csrf", &csrf), ("duration", "3600"), ("reason", &reason)])
        .await;
    assert_eq!(refused.status, 303, "{refused:?}");
    let page = alice.get(&refused.location()).await;
    let expected = "Your reason is 2001 characters long; the limit is 2000. Shorten it by 1.";
    assert!(page.body.contains(expected), "{page:?}");
    assert!(page.body.contains(&format!(">{reason}</textarea>")), "never cut: {page:?}");
    assert!(page.body.contains("2001 / 2000 characters"), "the counter: {page:?}");
    assert!(!page.body.contains("maxlength=\"2000\""), "the browser does not cut it either");
    let textarea = page.body.split("<textarea").nth(1).unwrap_or_default();
    assert!(textarea.contains("aria-invalid=\"true\"") && textarea.contains("autofocus"));

    // Too large to carry in a cookie (4000 bytes of "é"): the form answers the POST itself,
    // with the whole reason, rather than lose it.
    let wide = format!("{}END", "é".repeat(1_998));
    let refused = alice
        .post_form("/request/app", &[("csrf", &csrf), ("duration", "3600"), ("reason", &wide)])
        .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(refused.body.contains(expected), "{refused:?}");
    assert!(refused.body.contains(&format!(">{wide}</textarea>")), "never cut: {refused:?}");
    let nothing = alice.get("/").await;
    assert!(nothing.body.contains("Request access"), "no request was made: {nothing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_sign_in_form_goes_to_a_fresh_one_and_a_wrong_password_redirects() {
    let site = Site::start().await;
    let browser = site.browser();
    let page = browser.get("/auth/sign-in?rd=%2Frequest%2Fapp").await;
    // The form sat open while its pre-session cookie went (expired, cleared).
    let stale = site.browser();
    let fields = [
        ("csrf", csrf_of(&page.body)),
        ("rd", field(&page.body, "rd")),
        ("email", "alice@example.com".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sent_back = stale.post_form("/auth/sign-in", &fields).await;
    assert_eq!(sent_back.status, 303, "not a 403 dead end: {sent_back:?}");
    assert!(sent_back.location().starts_with("/auth/sign-in?rd="), "{sent_back:?}");
    let fresh = stale.get(&sent_back.location()).await;
    assert!(fresh.body.contains("Your sign-in form expired, try again."), "{fresh:?}");
    assert!(fresh.body.contains("value=\"alice@example.com\""), "the email is kept: {fresh:?}");
    assert!(fresh.body.contains("/request/app"), "still on the way to the form: {fresh:?}");
    let signed_in = stale.sign_in("alice@example.com", PASSWORD, &fresh.body).await;
    assert_eq!(signed_in.location(), "/request/app", "the fresh form works: {signed_in:?}");

    let wrong = browser.sign_in("alice@example.com", "wrong", &page.body).await;
    assert_eq!(wrong.status, 303, "post/redirect/get: {wrong:?}");
    let again = browser.get(&wrong.location()).await;
    assert!(again.body.contains("That email and password do not match."), "{again:?}");
    let password = again.body.split("id=\"password\"").nth(1).unwrap_or_default();
    assert!(password.split('>').next().unwrap_or_default().contains("aria-invalid=\"true\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_draft_or_a_foreign_again_is_ignored() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    alice.set_cookie("jitgate_draft", "eyJhbGciOiJIUzI1NiJ9.eyJwYWdlIjoiL3JlcXVlc3QvYXBwIn0.x");
    let page = alice.get("/request/app?again=not-an-id").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(!page.body.contains("aria-invalid"), "{page:?}");
    // Carol's request is not alice's to copy.
    let carol = site.signed_in("carol@example.com").await;
    let id = site.ask(&carol, "app", "carol's secret reason").await;
    let page = alice.get(&format!("/request/app?again={id}")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(!page.body.contains("carol's secret reason"), "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_revocation_the_form_says_by_whom_and_request_again_fills_the_reason() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "INC-42: look at the logs").await;
    let dave = site.signed_in("dave@example.com").await;
    let review = dave.get("/review").await;
    let csrf = csrf_of(&review.body);
    let approved = dave
        .post_form(&format!("/review/{id}/approve"), &[("csrf", &csrf), ("duration", "3600")])
        .await;
    assert!((300..400).contains(&approved.status), "{approved:?}");
    let granted = alice.get(&format!("/requests/{id}")).await;
    assert!(granted.body.contains("Continue to app"), "{granted:?}");
    assert!(
        granted.body.contains("href=\"http://app.localhost:8080/\""),
        "continue to the app, not the portal: {granted:?}"
    );
    assert!(granted.body.contains("data-countdown"), "a live countdown: {granted:?}");
    let revoked = dave
        .post_form(
            &format!("/review/{id}/revoke"),
            &[("csrf", &csrf), ("note", "done here"), ("confirm", "yes")],
        )
        .await;
    assert!((300..400).contains(&revoked.status), "{revoked:?}");

    let status = alice.get(&format!("/requests/{id}")).await;
    assert!(status.body.contains("Revoked by dave@example.com: done here"), "{status:?}");
    let again = format!("/request/app?again={id}");
    assert!(status.body.contains(&again), "Request again: {status:?}");
    let form = alice.get(&again).await;
    assert!(form.body.contains("was revoked by dave@example.com at"), "{form:?}");
    assert!(form.body.contains(": done here"), "{form:?}");
    assert!(form.body.contains(">INC-42: look at the logs</textarea>"), "{form:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_and_signed_out_pages_keep_the_header_and_start_in_capitals() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let missing = alice.get("/requests/not-a-request").await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(missing.body.contains("<p>This page does not exist</p>"), "{missing:?}");
    assert!(missing.body.contains("class=\"main-nav\""), "the header's navigation: {missing:?}");
    let forged = alice.post_form("/requests/not-a-request/cancel", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(forged.body.contains("<p>This form has expired"), "{forged:?}");

    let home = alice.get("/").await;
    let out = alice.post_form("/auth/sign-out", &[("csrf", &csrf_of(&home.body))]).await;
    assert_eq!(out.status, 303, "post/redirect/get: {out:?}");
    assert_eq!(out.location(), "/auth/signed-out");
    let page = alice.get("/auth/signed-out").await;
    assert!(page.body.contains("<h1>Signed out</h1>"), "{page:?}");
    assert!(page.body.contains("You are signed out of jitgate and of every app"), "{page:?}");
    assert!(page.body.contains("class=\"main-nav\"") && page.body.contains("Sign in again"));
    let after = alice.get("/").await;
    assert_eq!(after.status, 303, "signed out for real: {after:?}");
}
