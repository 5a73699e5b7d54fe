//! Reviewers' decisions through the dashboard's forms, as a browser sends them: deny with a
//! note, revoke an active grant (the very next request is locked), and a resource that needs
//! two distinct reviewers.

use reqwest::Client;

use crate::site::{self, Site, csrf_of};

/// Alice asks for `resource` through the form; the new request's id.
async fn request(site: &Site, alice: &Client, resource: &str) -> String {
    let path = format!("/request/{resource}");
    let form = alice.get(site.url("access", &path)).send().await.unwrap().text().await.unwrap();
    let pending = alice
        .post(site.url("access", &path))
        .form(&[
            ("csrf", csrf_of(&form).as_str()),
            ("rd", ""),
            ("duration", "3600"),
            ("reason", "investigate INC-7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), 200);
    let path = pending.url().path().to_owned();
    assert!(path.starts_with("/requests/"), "a waiting page: {path}");
    path.trim_start_matches("/requests/").to_owned()
}

/// Posts a decision from the dashboard; the page the browser ends on.
async fn decide(
    site: &Site,
    reviewer: &Client,
    id: &str,
    action: &str,
    note: &str,
) -> reqwest::Response {
    let dashboard =
        reviewer.get(site.url("access", "/review")).send().await.unwrap().text().await.unwrap();
    reviewer
        .post(site.url("access", &format!("/review/{id}/{action}")))
        .form(&[("csrf", csrf_of(&dashboard).as_str()), ("duration", "3600"), ("note", note)])
        .send()
        .await
        .unwrap()
}

async fn page(site: &Site, browser: &Client, path: &str) -> String {
    browser.get(site.url("access", path)).send().await.unwrap().text().await.unwrap()
}

/// Whether `browser` reaches the upstream behind `host` (rather than the portal).
async fn reaches(site: &Site, browser: &Client, host: &str) -> bool {
    let response = browser.get(site.url(host, "/")).send().await.unwrap();
    response.url().host_str() == Some(&format!("{host}.localhost")) && response.status() == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_shows_the_note_and_the_app_stays_locked() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = request(&site, &alice, "app").await;
    let carol = site.signed_in("carol@example.com").await;
    let note = "<i>not during the freeze</i>";
    let denied = decide(&site, &carol, &id, "deny", note).await;
    assert_eq!(denied.status(), 200);
    assert_eq!(denied.url().path(), "/review", "back to the dashboard");

    let status = page(&site, &alice, &format!("/requests/{id}")).await;
    assert!(status.contains("carol@example.com"), "who denied it: {status}");
    assert!(site::escaped(&status, note) && !status.contains(note), "the note, escaped");
    assert!(!reaches(&site, &alice, "app").await, "still locked");
    let tab = page(&site, &carol, "/review?tab=denied").await;
    assert!(tab.contains(&format!("id=\"r-{id}\"")), "listed under Denied");
    let again = decide(&site, &carol, &id, "approve", "").await;
    assert_eq!(again.status(), 400, "a denial is final");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_locks_the_very_next_request() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = request(&site, &alice, "app").await;
    let carol = site.signed_in("carol@example.com").await;
    assert_eq!(decide(&site, &carol, &id, "approve", "").await.status(), 200);
    assert!(reaches(&site, &alice, "app").await, "approved: the app answers");

    let active = page(&site, &carol, "/review?tab=active").await;
    assert!(active.contains(&format!("/review/{id}/revoke")), "a revoke button on the row");
    assert_eq!(decide(&site, &carol, &id, "revoke", "done").await.status(), 200);
    assert!(!reaches(&site, &alice, "app").await, "locked on the next request");
    let ended = page(&site, &carol, "/review?tab=ended").await;
    assert!(ended.contains(&format!("id=\"r-{id}\"")) && ended.contains("revoked"), "{ended}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_distinct_reviewers_must_approve_the_vault() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = request(&site, &alice, "vault").await;
    let carol = site.signed_in("carol@example.com").await;
    assert_eq!(decide(&site, &carol, &id, "approve", "").await.status(), 200);
    let status = page(&site, &alice, &format!("/requests/{id}")).await;
    assert!(status.contains("Waiting for approval"), "one approval of two: still pending");
    assert!(!reaches(&site, &alice, "vault").await);
    let twice = decide(&site, &carol, &id, "approve", "").await;
    assert_eq!(twice.status(), 400, "the same reviewer cannot count twice");
    assert!(twice.text().await.unwrap().contains("already approved"));

    let dave = site.signed_in("dave@example.com").await;
    let pending = page(&site, &dave, "/review").await;
    assert!(pending.contains(&format!("/review/{id}/approve")), "dave can add the second");
    assert_eq!(decide(&site, &dave, &id, "approve", "").await.status(), 200);
    assert!(reaches(&site, &alice, "vault").await, "two approvals: the vault opens");
    let active = page(&site, &dave, "/review?tab=active").await;
    assert!(active.contains("carol@example.com, dave@example.com"), "managed by both: {active}");
}
