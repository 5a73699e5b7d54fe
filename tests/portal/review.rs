//! Reviewers' decisions end to end, seen from both sides: what the reviewer's dashboard shows,
//! what the requester's status page shows, and whether the proxy lets the requester through to
//! the real upstream. Deny with a note, revoke, a two-reviewer threshold. (Decisions refused
//! for their CSRF token or as self-review are request-level: `portal/tests/router/review.rs`.)

use jitgate_testkit::html::{dashboard_row as row, pill};
use reqwest::Client;
use serde_json::{Value, json};

use crate::site::{self, Site, csrf_of};

/// Where a browser ends up when it opens a resource's host.
#[derive(Debug, PartialEq)]
enum Visit {
    /// The upstream answered: its JSON echo of what the proxy forwarded.
    Upstream(Value),
    /// Sent to the portal instead: the path it landed on.
    Portal(String),
}

async fn visit(site: &Site, browser: &Client, host: &str) -> Visit {
    let response = browser.get(site.url(host, "/")).send().await.unwrap();
    let url = response.url().clone();
    let status = response.status();
    match url.host_str() {
        Some(h) if h == format!("{host}.localhost") => {
            assert_eq!(status, 200, "{url}");
            Visit::Upstream(response.json().await.unwrap())
        }
        Some("access.localhost") => {
            assert_eq!(status, 200, "{url}");
            Visit::Portal(url.path().to_owned())
        }
        _ => panic!("{host} led to {url}"),
    }
}

/// Asserts that `browser` reaches `host`'s upstream as `email`.
async fn reaches_as(site: &Site, browser: &Client, host: &str, email: &str) {
    match visit(site, browser, host).await {
        Visit::Upstream(echo) => {
            assert_eq!(echo["headers"]["x-jitgate-email"], json!([email]), "{echo}");
            assert_eq!(echo["path"], json!("/"));
        }
        other => panic!("{email} should reach {host}, got {other:?}"),
    }
}

/// Asserts that `browser` is sent to the portal's request form for `host` instead.
async fn locked_out(site: &Site, browser: &Client, host: &str) {
    assert_eq!(
        visit(site, browser, host).await,
        Visit::Portal(format!("/request/{host}")),
        "{host} is locked: sent to the portal to ask for it"
    );
}

async fn page(site: &Site, browser: &Client, path: &str) -> String {
    let response = browser.get(site.url("access", path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The CSRF token on `reviewer`'s dashboard.
async fn token(site: &Site, reviewer: &Client) -> String {
    csrf_of(&page(site, reviewer, "/review").await)
}

/// POSTs `action` on request `id` as the dashboard's forms do (deny and revoke from inside
/// their confirmation, `confirm=yes`), with `csrf` if given.
async fn decide(
    site: &Site,
    reviewer: &Client,
    id: &str,
    action: &str,
    csrf: Option<&str>,
    note: &str,
) -> reqwest::Response {
    let mut fields =
        vec![("duration", "3600"), ("note", note), ("back", "/review"), ("confirm", "yes")];
    if let Some(csrf) = csrf {
        fields.push(("csrf", csrf));
    }
    reviewer
        .post(site.url("access", &format!("/review/{id}/{action}")))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_with_a_note_reaches_the_requester_escaped_and_the_app_stays_locked() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let carol = site.signed_in("carol@example.com").await;
    let dashboard = page(&site, &carol, "/review").await;
    let pending = row(&dashboard, &id).expect("alice's request is pending");
    assert!(pending.contains(&format!("/review/{id}/deny")), "a deny form: {pending}");

    let note = "<b>change freeze</b> until Monday";
    let denied = decide(&site, &carol, &id, "deny", Some(&csrf_of(&dashboard)), note).await;
    assert_eq!(denied.status(), 200);
    assert_eq!(denied.url().path(), "/review", "back on the dashboard");
    let after = denied.text().await.unwrap();
    assert!(row(&after, &id).is_none(), "no longer in the Pending tab");
    assert!(!after.contains("data-bell>"), "nothing left on carol's bell: {after}");

    let status = page(&site, &alice, &format!("/requests/{id}")).await;
    assert!(status.contains("Request denied"), "{status}");
    assert!(status.contains(&pill("denied")));
    assert!(status.contains("Denied by carol@example.com: "), "who denied it: {status}");
    assert!(site::escaped(&status, "<b>change freeze") && !status.contains("<b>"), "{status}");
    assert!(!status.contains("Cancel request"), "nothing left to cancel");
    assert!(!status.contains(r#"http-equiv="refresh""#), "the page stops refreshing");

    locked_out(&site, &alice, "app").await;

    let tab = page(&site, &carol, "/review?tab=denied").await;
    let listed = row(&tab, &id).expect("listed under Denied");
    assert!(listed.contains(&pill("denied")) && listed.contains("carol@example.com"), "{listed}");
    assert!(!listed.contains("/approve") && !listed.contains("/revoke"), "nothing to decide");

    // A denial is not a lock-out: alice may ask again, and that is a new request.
    let again = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    assert_ne!(again, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_stops_the_very_next_request_and_is_listed_as_revoked() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    locked_out(&site, &alice, "app").await;
    let carol = site.signed_in("carol@example.com").await;
    let csrf = token(&site, &carol).await;
    assert_eq!(decide(&site, &carol, &id, "approve", Some(&csrf), "").await.status(), 200);
    reaches_as(&site, &alice, "app", "alice@example.com").await;

    let active = page(&site, &carol, "/review?tab=active").await;
    let listed = row(&active, &id).expect("listed under Approved / Active");
    assert!(listed.contains(&pill("active")) && listed.contains("carol@example.com"), "{listed}");
    assert!(listed.contains(&format!("/review/{id}/revoke")), "a revoke button: {listed}");

    // Reach the app once more right before the revocation, then right after: no waiting.
    reaches_as(&site, &alice, "app", "alice@example.com").await;
    let revoked = decide(&site, &carol, &id, "revoke", Some(&csrf), "incident closed").await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.url().path(), "/review");
    locked_out(&site, &alice, "app").await;

    let ended = page(&site, &carol, "/review?tab=ended").await;
    let listed = row(&ended, &id).expect("listed under Expired / Revoked");
    assert!(listed.contains(&pill("revoked")), "{listed}");
    assert!(listed.contains("revoked by carol@example.com"), "who ended it: {listed}");
    assert!(!listed.contains("/revoke"), "nothing left to revoke: {listed}");
    let active = page(&site, &carol, "/review?tab=active").await;
    assert!(row(&active, &id).is_none(), "gone from the Active tab");
    let status = page(&site, &alice, &format!("/requests/{id}")).await;
    assert!(status.contains("Access revoked") && status.contains(&pill("revoked")), "{status}");

    let twice = decide(&site, &carol, &id, "revoke", Some(&csrf), "").await;
    assert_eq!(twice.status(), 400, "an ended grant cannot be revoked again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_opens_only_after_two_different_reviewers_approve() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let form = page(&site, &alice, "/request/vault").await;
    assert!(form.contains("2 reviewers must approve your request"), "{form}");
    let id = site.ask(&alice, "vault", "rotate the INC-42 credentials").await;

    let carol = site.signed_in("carol@example.com").await;
    let csrf = token(&site, &carol).await;
    let first = decide(&site, &carol, &id, "approve", Some(&csrf), "").await;
    assert_eq!(first.status(), 200);
    let after = first.text().await.unwrap();
    let listed = row(&after, &id).expect("one approval of two: still in the Pending tab");
    assert!(listed.contains(&pill("pending")), "{listed}");
    assert!(listed.contains("approved by carol@example.com (1 of 2)"), "progress: {listed}");
    assert!(!listed.contains(&format!("/review/{id}/approve")), "no second approve for carol");

    let status = page(&site, &alice, &format!("/requests/{id}")).await;
    assert!(status.contains("Waiting for approval") && status.contains(&pill("pending")));
    assert!(status.contains("<dt>Approved by</dt><dd>carol@example.com</dd>"), "{status}");
    locked_out(&site, &alice, "vault").await;

    let twice = decide(&site, &carol, &id, "approve", Some(&csrf), "").await;
    assert_eq!(twice.status(), 400, "the same reviewer does not count twice");
    assert!(twice.text().await.unwrap().contains("already approved"));
    let status = page(&site, &alice, &format!("/requests/{id}")).await;
    assert!(status.contains(&pill("pending")), "still pending after the repeat: {status}");
    assert!(status.contains("<dt>Approved by</dt><dd>carol@example.com</dd>"), "counted once");
    locked_out(&site, &alice, "vault").await;

    let dave = site.signed_in("dave@example.com").await;
    let dashboard = page(&site, &dave, "/review").await;
    let listed = row(&dashboard, &id).expect("pending on dave's dashboard too");
    assert!(listed.contains(&pill("pending")), "{listed}");
    assert!(listed.contains(&format!("/review/{id}/approve")), "dave may add the second");
    assert!(listed.contains("(1 of 2)"), "{listed}");
    let second = decide(&site, &dave, &id, "approve", Some(&csrf_of(&dashboard)), "").await;
    assert_eq!(second.status(), 200);
    assert!(row(&second.text().await.unwrap(), &id).is_none(), "no longer pending");

    reaches_as(&site, &alice, "vault", "alice@example.com").await;
    let status = page(&site, &alice, &format!("/requests/{id}")).await;
    assert!(status.contains("Access granted") && status.contains(&pill("active")), "{status}");
    assert!(status.contains("<dd>carol@example.com, dave@example.com</dd>"), "{status}");
    let active = page(&site, &dave, "/review?tab=active").await;
    let listed = row(&active, &id).expect("listed under Approved / Active");
    assert!(listed.contains("carol@example.com, dave@example.com"), "{listed}");
}
