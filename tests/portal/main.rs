//! The portal end to end with the `local` provider: the real `jitgate serve` binary (proxy and
//! portal in one process), its embedded store, a real upstream, and an HTTP client that keeps
//! cookies per host the way a browser does. Request-level behaviour (CSRF refusals, 403s,
//! status codes for bad input, the sign-in throttle) is tested in-process in
//! `portal/tests/router/`.

mod api;
mod notify;
mod oidc;
mod review;
mod sessions;
mod site;
mod tokens;

use site::{Site, csrf_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_then_an_auto_approved_request_leads_back_to_the_app() {
    let site = Site::start().await;
    let bob = site.browser();
    let app = site.url("app", "/report?x=1");
    let form = bob.get(&app).send().await.unwrap();
    assert_eq!(form.url().host_str(), Some("access.localhost"), "sent to the portal");
    assert_eq!(form.url().path(), "/auth/sign-in");
    let html = form.text().await.unwrap();
    let rd = site::field(&html, "rd");
    assert_eq!(rd, app, "the original URL travels along");

    let locked = site.sign_in(&bob, "bob@example.com", &html).await;
    assert_eq!(locked.url().path(), "/request/app", "signed in, the app is still locked");
    let html = locked.text().await.unwrap();
    assert!(html.contains("granted as soon as you submit"), "{html}");
    let reason = "<script>alert(1)</script> deploy fix";
    let granted = bob
        .post(site.url("access", "/request/app"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("rd", rd.as_str()),
            ("duration", "3600"),
            ("reason", reason),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    assert_eq!(granted.url().as_str(), app, "straight back to where the user was going");
    let echo: serde_json::Value = granted.json().await.unwrap();
    assert_eq!(echo["headers"]["x-jitgate-email"], serde_json::json!(["bob@example.com"]));

    let home = site.page(&bob, "/").await;
    assert!(home.contains("Active") && home.contains("End access now"), "{home}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_request_waits_for_a_reviewer_who_cannot_review_their_own() {
    let site = Site::start().await;
    let alice = site.browser();
    let html = site.page(&alice, "/auth/sign-in").await;
    site.sign_in(&alice, "alice@example.com", &html).await;
    let form = site.page(&alice, "/request/app").await;
    let reason = "<script>alert('x')</script> =cmd|' /C calc'!A0";
    let pending = alice
        .post(site.url("access", "/request/app"))
        .form(&[
            ("csrf", csrf_of(&form).as_str()),
            ("rd", &site.url("app", "/")),
            ("duration", "3600"),
            ("reason", reason),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), 200);
    let status_url = pending.url().clone();
    assert!(status_url.path().starts_with("/requests/"), "{status_url}");
    let page = pending.text().await.unwrap();
    assert!(page.contains("Waiting for approval"));
    assert!(page.contains(r#"http-equiv="refresh""#), "moves on by itself without JavaScript");
    assert!(!page.contains("<script>alert"), "the reason is escaped");
    assert!(site::escaped(&page, "<script>alert"), "and shown as text");
    let id = status_url.path().trim_start_matches("/requests/").to_owned();

    // Carol reviews, and has a pending request of her own.
    let carol = site.browser();
    let html = site.page(&carol, "/auth/sign-in").await;
    site.sign_in(&carol, "carol@example.com", &html).await;
    let form = site.page(&carol, "/request/app").await;
    let own = carol
        .post(site.url("access", "/request/app"))
        .form(&[
            ("csrf", csrf_of(&form).as_str()),
            ("rd", ""),
            ("duration", "3600"),
            ("reason", "mine"),
        ])
        .send()
        .await
        .unwrap();
    let own_id = own.url().path().trim_start_matches("/requests/").to_owned();
    let dashboard = site.page(&carol, "/review").await;
    assert!(
        dashboard.contains(&format!("/review/{id}/approve")),
        "alice's request can be approved"
    );
    assert!(!dashboard.contains(&format!("/review/{own_id}/approve")), "no button on her own");
    assert!(site::escaped(&dashboard, "<script>alert") && !dashboard.contains("<script>alert"));
    assert!(
        dashboard.contains(r#"class="badge" data-bell>1<"#),
        "the bell counts what she may decide: {dashboard}"
    );
    let token = csrf_of(&dashboard);

    let self_review = carol
        .post(site.url("access", &format!("/review/{own_id}/approve")))
        .form(&[("csrf", token.as_str()), ("duration", "3600")])
        .send()
        .await
        .unwrap();
    assert_eq!(self_review.status(), 403, "the server refuses self-review too");
    let forged = carol
        .post(site.url("access", &format!("/review/{id}/approve")))
        .form(&[("duration", "3600")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "no CSRF token, no change");
    let approved = carol
        .post(site.url("access", &format!("/review/{id}/approve")))
        .form(&[("csrf", token.as_str()), ("duration", "3600")])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);

    // Alice's waiting page now takes her to the app.
    let moved_on = alice.get(status_url.as_str()).send().await.unwrap();
    assert_eq!(moved_on.url().host_str(), Some("app.localhost"), "{}", moved_on.url());
    assert_eq!(moved_on.status(), 200);
}
