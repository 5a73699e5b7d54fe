//! Break glass through the pages: the form offers it only to members of the policy's
//! break_glass groups and refuses hostile submissions with 4xx; the grant is marked on the
//! request page, My access and the dashboard until a reviewer other than its holder
//! acknowledges it with the button beside Revoke.

use crate::harness::Site;
use crate::harness::{Browser, csrf_of};

/// Alice (dev) breaks glass on vault (two approvals) through the form: she lands on the app.
async fn broken(site: &Site, alice: &Browser) -> String {
    let form = alice.get("/request/vault").await;
    assert!(form.body.contains("name=\"break_glass\""), "{}", form.body);
    let csrf = csrf_of(&form.body);
    let fields = [
        ("csrf", csrf.as_str()),
        ("duration", "3600"),
        ("reason", "vault sealed"),
        ("break_glass", "yes"),
    ];
    let reply = alice.post_form("/request/vault", &fields).await;
    assert!(reply.status == 303 || reply.status == 302, "{reply:?}");
    let mine = alice.get("/api/v1/requests?mine=true").await.json();
    let request = &mine["items"][0];
    assert_eq!(request["status"], "active", "at once, no reviewer: {mine}");
    assert_eq!(request["decision"]["outcome"], "break_glass");
    let _ = site;
    request["id"].as_str().unwrap().to_owned()
}

/// Posts `fields` to the form at `path`, which refuses them: back to the form (post/redirect/
/// get with a draft); the form as it then reads.
async fn refused(who: &Browser, path: &str, fields: &[(&str, &str)]) -> String {
    let reply = who.post_form(path, fields).await;
    assert_eq!((reply.status, reply.location()), (303, path.to_owned()), "{reply:?}");
    let form = who.get(path).await;
    assert_eq!(form.status, 200, "{form:?}");
    form.body
}

#[tokio::test]
async fn the_form_offers_break_glass_to_members_only_and_refuses_hostile_input() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let app = alice.get("/request/app").await;
    assert!(!app.body.contains("name=\"break_glass\""), "app has no break glass: {}", app.body);
    let bob = site.signed_in("bob@example.com").await;
    let csrf_bob = csrf_of(&bob.get("/request/app").await.body);
    let not_member =
        [("csrf", csrf_bob.as_str()), ("duration", "900"), ("reason", "x"), ("break_glass", "yes")];
    let body = refused(&bob, "/request/app", &not_member).await;
    assert!(body.contains("You may not break glass on this resource"), "{body}");

    let csrf = csrf_of(&alice.get("/request/vault").await.body);
    let forged =
        [("csrf", "forged"), ("duration", "3600"), ("reason", "x"), ("break_glass", "yes")];
    assert_eq!(alice.post_form("/request/vault", &forged).await.status, 403);
    let odd =
        [("csrf", csrf.as_str()), ("duration", "3600"), ("reason", "x"), ("break_glass", "maybe")];
    let reply = alice.post_form("/request/vault", &odd).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let blank =
        [("csrf", csrf.as_str()), ("duration", "3600"), ("reason", "  "), ("break_glass", "yes")];
    let body = refused(&alice, "/request/vault", &blank).await;
    assert!(body.contains("Give a reason"), "{body}");
    assert!(body.contains("name=\"break_glass\" value=\"yes\" checked"), "kept chosen: {body}");
    let huge = "x".repeat(5000);
    let long = [
        ("csrf", csrf.as_str()),
        ("duration", "3600"),
        ("reason", huge.as_str()),
        ("break_glass", "yes"),
    ];
    // Too large for a draft cookie: the form comes back at once, 422.
    let reply = alice.post_form("/request/vault", &long).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert!(reply.body.contains("the limit is 2000"), "{}", reply.body);
    let grants = alice.get("/api/v1/grants").await.json();
    assert_eq!(grants["items"].as_array().map(Vec::len), Some(0), "nothing granted: {grants}");
}

#[tokio::test]
async fn the_grant_is_flagged_until_another_reviewer_acknowledges_it() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = broken(&site, &alice).await;
    let acknowledge = format!("/requests/{id}/acknowledge");

    let home = alice.get("/").await;
    assert!(home.body.contains("Break glass · unreviewed"), "{}", home.body);
    assert!(!home.body.contains(&acknowledge), "the holder is offered no Acknowledge");
    let page = alice.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("Break glass · unreviewed"), "{}", page.body);
    let own = alice.post_form(&acknowledge, &[("csrf", &csrf_of(&home.body))]).await;
    assert_eq!(own.status, 403, "{own:?}");

    let dave = site.signed_in("dave@example.com").await;
    let dashboard = dave.get("/review?tab=active").await;
    assert!(dashboard.body.contains("Break glass · unreviewed"), "{}", dashboard.body);
    assert!(dashboard.body.contains(&format!("action=\"{acknowledge}\"")), "{}", dashboard.body);
    let forged = dave.post_form(&acknowledge, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403);
    let done = dave.post_form(&acknowledge, &[("csrf", &csrf_of(&dashboard.body))]).await;
    assert_eq!(done.location(), format!("/requests/{id}"), "{done:?}");
    let dashboard = dave.get("/review?tab=active").await;
    assert!(!dashboard.body.contains("Break glass · unreviewed"), "{}", dashboard.body);
    assert!(dashboard.body.contains("acknowledged by dave@example.com"), "{}", dashboard.body);
    let again = dave.post_form(&acknowledge, &[("csrf", &csrf_of(&dashboard.body))]).await;
    assert_eq!(again.status, 400, "already acknowledged: {again:?}");

    // The audit export flags every line about the grant, and only those (a minute later:
    // the export runs up to now, exclusive).
    site.clock.advance(std::time::Duration::from_secs(60));
    let erin = site.signed_in("erin@example.com").await;
    let csv = erin.get("/audit?format=csv").await.body;
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",note,break_glass"), "{csv}");
    let ours: Vec<&str> = csv.lines().filter(|l| l.contains(&id)).collect();
    assert_eq!(ours.len(), 2, "{id}: {csv}");
    assert!(ours.iter().any(|l| l.contains(",grant_break_glass,")), "{csv}");
    assert!(ours.iter().any(|l| l.contains(",break_glass_acknowledged,")), "{csv}");
    assert!(ours.iter().all(|l| l.ends_with(",yes")), "{csv}");
    let json = erin.get("/audit?format=json").await.json();
    let flagged = json.as_array().unwrap().iter().filter(|e| e["break_glass"] == "yes").count();
    assert_eq!(flagged, 2, "{json}");
}
