//! A grant's lifecycle through the API and the pages, on the manual clock: pausing keeps the
//! window running and a grant whose window closed while paused cannot be switched back on;
//! My access offers Pause/Resume where the policy allows it; reviewers see an extension as
//! one, with the original reason.

use std::time::Duration;

use axum::body::Body;
use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::{Browser, Site};

async fn csrf(who: &Browser) -> String {
    who.get("/api/v1/me").await.json()["csrf_token"].as_str().unwrap().to_owned()
}

async fn post(who: &Browser, token: &str, path: &str, body: Value) -> (u16, Value) {
    let headers = [("content-type", "application/json"), ("x-csrf-token", token)];
    let reply = who.send(Method::POST, path, &headers, Body::from(body.to_string())).await;
    (reply.status, reply.json())
}

#[tokio::test]
async fn a_paused_grant_reads_inactive_keeps_its_end_and_cannot_outlive_its_window() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let token = csrf(&bob).await;
    let ask = json!({ "resource": "app", "reason": "deploy", "duration": "1h" });
    let (status, granted) = post(&bob, &token, "/api/v1/requests", ask).await;
    assert_eq!(status, 201, "{granted}");
    let id = granted["id"].as_str().unwrap().to_owned();
    let ends = granted["grant"]["expires_at"].clone();

    site.clock.advance(Duration::from_secs(600));
    let pause = format!("/api/v1/requests/{id}/pause");
    let (status, paused) = post(&bob, &token, &pause, json!({ "note": "lunch" })).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "active", "paused is not ended");
    assert_eq!(paused["grant"]["active"], false, "but lets nobody in");
    assert_eq!(paused["grant"]["paused"]["by"], "bob@example.com");
    assert_eq!(paused["grant"]["paused"]["note"], "lunch");
    assert_eq!(paused["grant"]["expires_at"], ends, "pausing never lengthens access");
    let grants = bob.get("/api/v1/grants").await.json();
    assert_eq!(grants["items"][0]["active"], false, "{grants}");

    let resume = format!("/api/v1/requests/{id}/resume");
    let (status, resumed) = post(&bob, &token, &resume, json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["grant"]["active"], true);
    assert_eq!(resumed["grant"]["paused"], Value::Null);
    assert_eq!(resumed["grant"]["expires_at"], ends);

    let (status, _) = post(&bob, &token, &pause, json!({})).await;
    assert_eq!(status, 200);
    site.clock.advance(Duration::from_secs(3600));
    let (status, late) = post(&bob, &token, &resume, json!({})).await;
    assert_eq!((status, late["error"]["code"].as_str()), (409, Some("not_active")), "{late}");
    let read = bob.get(&format!("/api/v1/requests/{id}")).await.json();
    assert_eq!(read["status"], "expired", "{read}");
}

#[tokio::test]
async fn pausing_where_the_policy_does_not_allow_it_is_refused_with_its_own_code() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "look at the logs").await;
    let carol = site.signed_in("carol@example.com").await;
    let carol_token = csrf(&carol).await;
    let approve = format!("/api/v1/requests/{id}/approve");
    let (status, approved) = post(&carol, &carol_token, &approve, json!({})).await;
    assert_eq!(status, 200, "{approved}");
    let token = csrf(&alice).await;
    for (who, token) in [(&alice, &token), (&carol, &carol_token)] {
        let (status, body) =
            post(who, token, &format!("/api/v1/requests/{id}/pause"), json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("pause_not_allowed")));
    }
    let (status, body) =
        post(&alice, &token, &format!("/api/v1/requests/{id}/resume"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_paused")), "{body}");
}

#[tokio::test]
async fn my_access_offers_pause_then_resume_where_the_policy_allows_it() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let token = csrf(&bob).await;
    let ask = json!({ "resource": "app", "reason": "deploy", "duration": "1h" });
    let (_, granted) = post(&bob, &token, "/api/v1/requests", ask).await;
    let id = granted["id"].as_str().unwrap().to_owned();
    let pause = format!("/requests/{id}/pause");
    let resume = format!("/requests/{id}/resume");

    let home = bob.get("/").await;
    assert!(home.body.contains(&format!("action=\"{pause}\"")), "{}", home.body);
    assert!(!home.body.contains(&resume));
    let csrf_field = crate::harness::csrf_of(&home.body);
    let forged = bob.post_form(&pause, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403, "{forged:?}");
    let paused = bob.post_form(&pause, &[("csrf", &csrf_field)]).await;
    assert_eq!((paused.status, paused.location()), (303, "/".to_owned()), "{paused:?}");
    let home = bob.get("/").await;
    assert!(home.body.contains("Paused"), "{}", home.body);
    assert!(home.body.contains(&format!("action=\"{resume}\"")), "{}", home.body);
    let resumed = bob.post_form(&resume, &[("csrf", &csrf_field)]).await;
    assert_eq!(resumed.status, 303, "{resumed:?}");
    let grant = bob.get("/api/v1/grants").await.json();
    assert_eq!(grant["items"][0]["active"], true, "{grant}");

    // Alice's policy does not allow pausing: no button.
    let alice = site.signed_in("alice@example.com").await;
    let asked = site.ask(&alice, "app", "look").await;
    let carol = site.signed_in("carol@example.com").await;
    let carol_token = csrf(&carol).await;
    post(&carol, &carol_token, &format!("/api/v1/requests/{asked}/approve"), json!({})).await;
    let home = alice.get("/").await;
    assert!(home.body.contains("End access now"), "{}", home.body);
    assert!(!home.body.contains("/pause\""), "{}", home.body);
}

#[tokio::test]
async fn reviewers_see_an_extension_as_one_with_the_original_reason() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate <the> certs").await;
    let carol = site.signed_in("carol@example.com").await;
    let carol_token = csrf(&carol).await;
    post(&carol, &carol_token, &format!("/api/v1/requests/{id}/approve"), json!({})).await;
    let token = csrf(&alice).await;
    let more = json!({ "duration": "30m", "reason": "one more host" });
    let (status, asked) =
        post(&alice, &token, &format!("/api/v1/requests/{id}/extend"), more).await;
    assert_eq!(status, 201, "{asked}");
    assert_eq!(asked["extends"]["request_id"], id.as_str());
    let dashboard = carol.get("/review").await.body;
    assert!(
        dashboard.contains(&format!(
            "Extension of <a href=\"#r-{id}\">{id}</a> (rotate &lt;the&gt; certs)"
        )) || dashboard.contains(&format!(
            "Extension of <a href=\"#r-{id}\">{id}</a> (rotate &#60;the&#62; certs)"
        )),
        "{dashboard}"
    );
    assert!(dashboard.contains("one more host"));
}

#[tokio::test]
async fn my_access_extends_a_grant_through_its_form() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let token = csrf(&bob).await;
    let ask = json!({ "resource": "app", "reason": "deploy", "duration": "15m" });
    let (_, granted) = post(&bob, &token, "/api/v1/requests", ask).await;
    let id = granted["id"].as_str().unwrap().to_owned();
    let extend = format!("/requests/{id}/extend");
    let home = bob.get("/").await;
    assert!(home.body.contains(&format!("action=\"{extend}\"")), "{}", home.body);
    let csrf_field = crate::harness::csrf_of(&home.body);

    let fields = [("csrf", csrf_field.as_str()), ("duration", "soon"), ("reason", "more")];
    let bad = bob.post_form(&extend, &fields).await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.body.contains("not a duration"), "{bad:?}");
    let fields = [("csrf", csrf_field.as_str()), ("duration", "30m"), ("reason", "more")];
    let extended = bob.post_form(&extend, &fields).await;
    assert_eq!(extended.status, 303, "{extended:?}");
    let grants = bob.get("/api/v1/grants").await.json();
    let holder = grants["items"][0]["request_id"].as_str().unwrap().to_owned();
    assert_ne!(holder, id, "the extension holds the grant now: {grants}");
    assert_eq!(extended.location(), format!("/requests/{holder}"));
    let (ends, was) = (&grants["items"][0]["expires_at"], &granted["grant"]["expires_at"]);
    assert!(ends.as_str() > was.as_str(), "later: {ends} after {was}");
}

/// "End access now" never acts on one click: a POST without the confirming button's
/// `confirm=yes` changes nothing and says so; with it, the grant ends.
#[tokio::test]
async fn ending_ones_own_access_needs_the_confirming_button() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let token = csrf(&bob).await;
    let ask = json!({ "resource": "app", "reason": "deploy", "duration": "1h" });
    let (status, granted) = post(&bob, &token, "/api/v1/requests", ask).await;
    assert_eq!(status, 201, "{granted}");
    let end = format!("/requests/{}/end", granted["id"].as_str().unwrap());
    let home = bob.get("/").await;
    assert!(home.body.contains("<details class=\"confirm\">"), "behind a details: {}", home.body);
    let csrf_field = crate::harness::csrf_of(&home.body);

    let one_click = bob.post_form(&end, &[("csrf", &csrf_field)]).await;
    assert_eq!((one_click.status, one_click.location()), (303, "/".to_owned()), "{one_click:?}");
    let grants = bob.get("/api/v1/grants").await.json();
    assert_eq!(grants["items"][0]["active"], true, "one click ended nothing: {grants}");
    assert!(bob.get("/").await.body.contains("was not ended"), "and the page says so");

    let confirmed = bob.post_form(&end, &[("csrf", &csrf_field), ("confirm", "yes")]).await;
    assert_eq!(confirmed.status, 303, "{confirmed:?}");
    let grants = bob.get("/api/v1/grants").await.json();
    assert_eq!(grants["items"], json!([]), "ended, no grant in force: {grants}");
}

/// My access says when a reviewer granted less than was asked (issue 14, finding 7).
#[tokio::test]
async fn my_access_shows_granted_beside_asked() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "look").await;
    let carol = site.signed_in("carol@example.com").await;
    let token = csrf(&carol).await;
    let approve = format!("/api/v1/requests/{id}/approve");
    let (status, approved) = post(&carol, &token, &approve, json!({ "duration": "15m" })).await;
    assert_eq!(status, 200, "{approved}");
    let home = alice.get("/").await;
    assert!(home.body.contains("granted 15m (asked 1h)"), "{}", home.body);
}

/// While paused, the proxy locks the app and sends the browser to its request form: the form
/// says the access is paused instead of sending the browser back to the app (a redirect loop).
#[tokio::test]
async fn the_request_form_of_a_paused_grant_says_so_instead_of_going_back_to_the_app() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let id = crate::extend_page::granted(&bob, "15m").await;
    let rd = "?rd=http%3A%2F%2Fapp.localhost%3A8080%2F";
    let going_on = bob.get(&format!("/request/app{rd}")).await;
    assert_eq!(going_on.status, 303, "active: on to the app: {going_on:?}");

    let (status, _) =
        crate::extend_page::api(&bob, &format!("/api/v1/requests/{id}/pause"), json!({})).await;
    assert_eq!(status, 200);
    let paused = bob.get(&format!("/request/app{rd}")).await;
    assert_eq!(paused.status, 200, "no redirect back to the locked app: {paused:?}");
    assert!(paused.body.contains("Your access to app is paused"), "{}", paused.body);
    assert!(paused.body.contains("Resume it on My access"), "{}", paused.body);
}
