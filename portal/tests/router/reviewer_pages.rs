//! The reviewer's pages at the request level: the home page's queue, the resource page's
//! policy, the audit log's wording, and hostile query strings answered with a 4xx.

use crate::harness::{Browser, Site, csrf_of};

async fn page(browser: &Browser, path: &str) -> String {
    let reply = browser.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewers_home_leads_with_their_queue_and_nobody_elses_does() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let dave = site.signed_in("dave@example.com").await;
    let home = page(&dave, "/").await;
    let queue = home.find("Waiting for your review").expect("a queue");
    assert!(queue < home.find("My access</h1>").unwrap(), "the queue comes first");
    assert!(home.contains(&format!(r#"id="q-{id}""#)), "alice's request: {home}");
    assert!(home.contains(&format!(r#"href="/requests/{id}""#)), "a way to it: {home}");

    for (who, email) in [(&alice, "alice"), (&site.signed_in("bob@example.com").await, "bob")] {
        let home = page(who, "/").await;
        assert!(!home.contains("Waiting for your review"), "{email} reviews nothing: {home}");
    }
    // Decided requests leave the queue.
    let csrf = csrf_of(&home);
    let approved = dave
        .post_form(&format!("/review/{id}/approve"), &[("csrf", &csrf), ("duration", "3600")])
        .await;
    assert_eq!(approved.status, 303, "{approved:?}");
    let home = page(&dave, "/").await;
    assert!(home.contains("Nothing waits for you"), "{home}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_page_shows_its_policy_per_group() {
    let site = Site::start().await;
    let erin = site.signed_in("erin@example.com").await;
    let app = page(&erin, "/access/resources/app").await;
    let policy = &app[app.find(r#"class="list stack policy""#).expect("a policy table")..];
    let policy = &policy[..policy.find("</table>").unwrap()];
    for fact in ["dev", "sre", "Just-in-time", "1h, 4h, custom up to 8h", "1 reviewer", "automatic"]
    {
        assert!(policy.contains(fact), "{fact:?} in {policy}");
    }
    let vault = page(&erin, "/access/resources/vault").await;
    assert!(vault.contains("2 reviewers"), "{vault}");
    let group = page(&erin, "/access/groups/dev").await;
    assert!(!group.contains(r#"class="list stack policy""#), "policies are on resource pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_reads_as_sentences_with_short_ids_and_exact_times_on_hover() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the INC-42 credentials").await;
    let dave = site.signed_in("dave@example.com").await;
    let csrf = csrf_of(&page(&dave, "/review").await);
    let approved = dave
        .post_form(
            &format!("/review/{id}/approve"),
            &[("csrf", &csrf), ("duration", "3600"), ("note", "go ahead")],
        )
        .await;
    assert_eq!(approved.status, 303, "{approved:?}");
    site.clock.advance(std::time::Duration::from_secs(300));
    let audit = page(&dave, "/audit").await;
    assert!(!audit.contains("request_approved") && !audit.contains("request_created"), "{audit}");
    assert!(audit.contains("</a> approved <a"), "{audit}");
    assert!(audit.contains("&#39;s request for app (granted 1h)"), "{audit}");
    assert!(audit.contains("</a> asked for access to app"), "{audit}");
    let short = format!("<code>#{}</code>", &id[id.len() - 6..]);
    assert!(audit.contains(&short), "short ids: {audit}");
    assert!(audit.contains(&format!(r#"title="{id}""#)), "the whole id on hover");
    assert!(audit.contains("go ahead"), "the reviewer's note, without the summary");
    assert!(
        audit.contains("<time datetime=\"20") && audit.contains(" UTC\">5m ago</time>"),
        "{audit}"
    );
    // The exports keep the machine form.
    let csv = dave.get("/audit?format=csv").await;
    assert!(csv.body.contains("request_approved"), "{csv:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_queries_on_the_reviewer_pages_get_clear_4xx() {
    let site = Site::start().await;
    let dave = site.signed_in("dave@example.com").await;
    for (path, status, says) in [
        ("/audit?request=%3Cscript%3E", 400, "is not a request id"),
        ("/audit?from=yesterday", 400, "is not a date"),
        ("/audit?format=xml", 400, "is not an export format"),
        ("/audit?resource=payroll", 403, "you do not review that resource"),
        ("/access/resources/..%2Fetc", 404, "does not exist"),
        ("/access/users/not-an-email", 404, "does not exist"),
        ("/review?before=%00", 400, "bad page cursor"),
        ("/review?resource=UPPER%20case", 400, "not a resource name"),
    ] {
        let reply = dave.get(path).await;
        assert_eq!(reply.status, status, "{path}: {reply:?}");
        // Error pages start with a capital letter (`pages::capitalise`), wherever `says` is.
        assert!(reply.body.to_lowercase().contains(says), "{path} says why: {reply:?}");
    }
    let odd_tab = page(&dave, "/review?tab=%3Cscript%3E").await;
    assert!(odd_tab.contains(r#"aria-current="page" class="current">Pending"#), "{odd_tab}");
    let bob = site.signed_in("bob@example.com").await;
    assert_eq!(bob.get("/audit").await.status, 403, "only reviewers see the audit log");
    assert_eq!(bob.get("/access/resources/app").await.status, 403);
}
