//! Grants that start on first use, through the pages and the API: approved, the grant reads
//! "waiting for first use — claim by …" on My access, the request page and the dashboard;
//! once its first request (the proxy's claim) starts it, it counts down like any grant;
//! unused past `claim_within`, it says it lapsed unclaimed.

use std::time::Duration;

use jitgate_access::ids::RequestId;

use crate::harness::{Browser, Site, csrf_of};

const WAITING: &str = "waiting for first use — claim by";

/// Fay (ops: vault, one approval, starts on first use within 2h) asks and Dave approves.
async fn approved(site: &Site) -> (Browser, Browser, String) {
    let fay = site.signed_in("fay@example.com").await;
    let id = site.ask(&fay, "vault", "rotate the root token").await;
    let dave = site.signed_in("dave@example.com").await;
    let csrf = csrf_of(&dave.get("/review").await.body);
    let fields = [("csrf", csrf.as_str()), ("back", "/review"), ("duration", "3600")];
    let reply = dave.post_form(&format!("/review/{id}/approve"), &fields).await;
    assert_eq!(reply.status, 303, "{reply:?}");
    (fay, dave, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_grant_waits_for_first_use_on_every_page_then_counts_down() {
    let site = Site::start().await;
    let (fay, dave, id) = approved(&site).await;
    let home = fay.get("/").await.body;
    assert!(home.contains(WAITING), "My access: {home}");
    let page = fay.get(&format!("/requests/{id}")).await.body;
    assert!(page.contains("Approved: waiting for first use"), "{page}");
    assert!(page.contains(WAITING), "the request page: {page}");
    let dashboard = dave.get("/review?tab=active").await.body;
    assert!(dashboard.contains(WAITING), "the dashboard: {dashboard}");
    let api = fay.get(&format!("/api/v1/requests/{id}")).await.json();
    let first_use = &api["grant"]["first_use"];
    assert_eq!(first_use["duration_seconds"], 3600, "{api}");
    assert!(first_use["claimed_at"].is_null(), "{api}");
    assert_eq!(first_use["claim_by"], api["grant"]["expires_at"], "{api}");
    assert_eq!(api["status"], "active", "{api}");

    // Twenty minutes later the proxy sees her first request and claims it.
    site.clock.advance(Duration::from_secs(20 * 60));
    let request: RequestId = id.parse().unwrap();
    let claimed = site.service.claim_first_use(request).await.unwrap().expect("in force");
    let home = fay.get("/").await.body;
    assert!(!home.contains(WAITING), "started: {home}");
    assert!(home.contains(">1h</time> left"), "the hour runs from its first use: {home}");
    let api = fay.get(&format!("/api/v1/requests/{id}")).await.json();
    assert!(api["grant"]["first_use"]["claim_by"].is_null(), "{api}");
    assert_eq!(
        api["grant"]["first_use"]["claimed_at"],
        claimed.claim.unwrap().claimed_at.unwrap().to_string()
    );
    let dashboard = dave.get("/review?tab=active").await.body;
    assert!(!dashboard.contains(WAITING), "{dashboard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_grant_says_it_lapsed_unclaimed() {
    let site = Site::start().await;
    let (fay, dave, id) = approved(&site).await;
    site.clock.advance(Duration::from_secs(2 * 3600));
    let page = fay.get(&format!("/requests/{id}")).await.body;
    assert!(page.contains("Access lapsed unclaimed"), "{page}");
    let api = fay.get(&format!("/api/v1/requests/{id}")).await.json();
    assert_eq!(api["status"], "lapsed", "the clock decides, before the sweeper: {api}");
    assert_eq!(site.service.sweep(10).await.unwrap(), 1);
    let api = fay.get(&format!("/api/v1/requests/{id}")).await.json();
    assert_eq!(api["grant"]["ended"]["reason"], "lapsed", "{api}");
    let home = fay.get("/").await.body;
    assert!(!home.contains(WAITING) && home.contains("Request access"), "{home}");
    let ended = dave.get("/review?tab=ended").await.body;
    assert!(ended.contains(&format!("/requests/{id}")), "on the ended tab: {ended}");
    let audit = dave.get(&format!("/api/v1/audit?resource=vault&request={id}")).await.json();
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"grant_lapsed"), "{audit}");
}
