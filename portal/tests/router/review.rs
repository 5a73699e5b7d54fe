//! Decisions refused before they change anything: without the session's CSRF token, or on the
//! reviewer's own request.

use jitgate_testkit::html::{dashboard_row as row, pill};

use crate::harness::{Browser, Site, csrf_of};

/// POSTs `action` on request `id` as the dashboard's forms do, with `csrf` if given.
async fn decide(
    reviewer: &Browser,
    id: &str,
    action: &str,
    csrf: Option<&str>,
) -> crate::harness::Reply {
    let mut fields = vec![("duration", "3600"), ("note", ""), ("back", "/review")];
    if let Some(csrf) = csrf {
        fields.push(("csrf", csrf));
    }
    reviewer.post_form(&format!("/review/{id}/{action}"), &fields).await
}

/// The page at `path`, which must render.
async fn page(browser: &Browser, path: &str) -> String {
    let reply = browser.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
    reply.body
}

/// Asserts request `id` is still pending, as its requester and a reviewer see it.
async fn still_pending(requester: &Browser, reviewer: &Browser, id: &str) {
    let status = page(requester, &format!("/requests/{id}")).await;
    assert!(
        status.contains("Waiting for approval") && status.contains(&pill("pending")),
        "{status}"
    );
    assert!(!status.contains("Approved by"), "no approval was recorded: {status}");
    let dashboard = page(reviewer, "/review").await;
    let listed = row(&dashboard, id).expect("still listed");
    assert!(listed.contains(&pill("pending")), "{listed}");
}

/// Asserts request `id` was approved, as its requester sees it.
async fn approved(requester: &Browser, id: &str) {
    let status = page(requester, &format!("/requests/{id}")).await;
    assert!(!status.contains("Waiting for approval"), "{status}");
    assert!(status.contains("Approved by"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let carol = site.signed_in("carol@example.com").await;
    let dave = site.signed_in("dave@example.com").await;
    let carols = csrf_of(&page(&carol, "/review").await);
    let daves = csrf_of(&page(&dave, "/review").await);
    assert_ne!(carols, daves, "tokens are bound to the session");
    let garbled = format!("{}x", &carols[..carols.len() - 1]);

    let attempts = [
        ("approve", None, "no token"),
        ("approve", Some(""), "an empty token"),
        ("approve", Some("forged"), "a made-up token"),
        ("approve", Some(garbled.as_str()), "a tampered token"),
        ("approve", Some(daves.as_str()), "another session's token"),
        ("deny", None, "no token"),
        ("deny", Some(daves.as_str()), "another session's token"),
    ];
    for (action, csrf, what) in attempts {
        let refused = decide(&carol, &id, action, csrf).await;
        assert_eq!(refused.status, 403, "{action} with {what}: {refused:?}");
        assert!(!refused.headers.contains_key("location"), "no redirect: {refused:?}");
        assert!(
            refused.body.contains("did not come from jitgate"),
            "{action} with {what}: {refused:?}"
        );
    }
    still_pending(&alice, &carol, &id).await;
    let dashboard = page(&carol, "/review").await;
    let listed = row(&dashboard, &id).expect("still pending");
    assert!(listed.contains(&format!("/review/{id}/approve")), "{listed}");

    // The same form with carol's own token goes through.
    let done = decide(&carol, &id, "approve", Some(&carols)).await;
    assert!((300..400).contains(&done.status), "approved, back to the dashboard: {done:?}");
    approved(&alice, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_cannot_decide_her_own_request() {
    let site = Site::start().await;
    let carol = site.signed_in("carol@example.com").await;
    let own = site.ask(&carol, "app", "rotate the INC-42 credentials").await;
    let dashboard = page(&carol, "/review").await;
    let listed = row(&dashboard, &own).expect("her own request is listed");
    assert!(listed.contains("Your request") && listed.contains(&pill("pending")), "{listed}");
    assert!(!listed.contains("/approve") && !listed.contains("/deny"), "no buttons: {listed}");
    assert!(!dashboard.contains("data-bell>"), "her own request is not on her bell");

    let csrf = csrf_of(&dashboard);
    let approve = decide(&carol, &own, "approve", Some(&csrf)).await;
    assert_eq!(approve.status, 403, "the server refuses self-approval: {approve:?}");
    assert!(approve.body.contains("your own request"), "{approve:?}");
    let deny = decide(&carol, &own, "deny", Some(&csrf)).await;
    assert_eq!(deny.status, 403, "and self-denial: {deny:?}");
    still_pending(&carol, &carol, &own).await;

    // Another reviewer may.
    let dave = site.signed_in("dave@example.com").await;
    let daves = csrf_of(&page(&dave, "/review").await);
    let done = decide(&dave, &own, "approve", Some(&daves)).await;
    assert!((300..400).contains(&done.status), "approved: {done:?}");
    approved(&carol, &own).await;
}
