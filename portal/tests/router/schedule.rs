//! Scheduled access through the pages and the API: the form's start field says it is UTC
//! and refuses a start in the past, too far ahead, unreadable or with break glass, keeping
//! what was typed; a request approved ahead shows "starts in …" on My access, its page and
//! the locked page (the request form), lets the app in only from its start, and can be
//! cancelled before it.

use std::time::Duration;

use axum::body::Body;
use axum::http::Method;
use jitgate_access::clock::Clock;
use jitgate_access::time::Timestamp;
use serde_json::{Value, json};

use crate::harness::{Browser, Site, csrf_of};

/// `at` as the form's `datetime-local` field sends it: minutes, UTC, no zone.
fn field(at: Timestamp) -> String {
    humantime::format_rfc3339_seconds(at.to_system_time()).to_string()[..16].to_owned()
}

/// Posts the request form for app with `starts_at` and the reason `reason`.
async fn ask_from(who: &Browser, starts_at: &str, reason: &str) -> crate::harness::Reply {
    let csrf = csrf_of(&who.get("/request/app").await.body);
    let fields = [
        ("csrf", csrf.as_str()),
        ("duration", "3600"),
        ("reason", reason),
        ("starts_at", starts_at),
    ];
    who.post_form("/request/app", &fields).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_field_is_utc_and_a_bad_start_comes_back_with_the_form_kept() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let form = alice.get("/request/app").await;
    assert!(form.body.contains("name=\"starts_at\" type=\"datetime-local\""), "{}", form.body);
    assert!(form.body.contains("Start (optional, UTC)"), "the zone beside the field");
    assert!(form.body.contains("In UTC, not your local time: it is now"), "{}", form.body);

    let now = site.clock.now();
    let past = format!("2020{}", &field(now)[4..]);
    let far = field(now.plus(Duration::from_secs(15 * 86_400)));
    for (typed, says) in [
        (past.as_str(), "is in the past"),
        (far.as_str(), "too far ahead: at most 14d"),
        ("next tuesday", "is not a date and time like 2026-12-01T09:00 (UTC)"),
    ] {
        let reply = ask_from(&alice, typed, "INC-9 rollout").await;
        assert_eq!((reply.status, reply.location()), (303, "/request/app".to_owned()), "{typed}");
        let again = alice.get("/request/app").await;
        assert!(again.body.contains(says), "{typed}: {}", again.body);
        assert!(again.body.contains(&format!("value=\"{typed}\"")), "kept: {}", again.body);
        assert!(again.body.contains(">INC-9 rollout</textarea>"), "the reason kept");
        assert!(again.body.contains("id=\"starts_at-error\""), "marked: {}", again.body);
    }
    let mine = alice.get("/api/v1/requests?mine=true").await.json();
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(0), "nothing asked: {mine}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_ahead_it_says_starts_in_until_the_start_then_lets_in_and_cancels_before() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let start = site.clock.now().plus(Duration::from_secs(3 * 3600 + 120));
    let asked = ask_from(&alice, &field(start), "maintenance window").await;
    let location = asked.location();
    assert!(location.starts_with("/requests/"), "the waiting page: {asked:?}");
    let id = location.trim_start_matches("/requests/").split('?').next().unwrap().to_owned();
    let waiting = alice.get(&location).await;
    assert!(waiting.body.contains("data-starts-at"), "the start shown: {}", waiting.body);

    let dave = site.signed_in("dave@example.com").await;
    let csrf = csrf_of(&dave.get("/review").await.body);
    let fields = [("csrf", csrf.as_str()), ("duration", "3600")];
    let approved = dave.post_form(&format!("/review/{id}/approve"), &fields).await;
    assert!((300..400).contains(&approved.status), "{approved:?}");

    let home = alice.get("/").await;
    assert!(home.body.contains("Scheduled"), "{}", home.body);
    assert!(home.body.contains("starts in <time"), "{}", home.body);
    assert!(home.body.contains(">3h 2m</time>") || home.body.contains(">3h 1m</time>"));
    let page = alice.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("Access scheduled"), "{}", page.body);
    assert!(page.body.contains("Cancel scheduled access"), "{}", page.body);
    // The proxy sends a locked browser to the form: it says when, and does not loop back.
    let locked = alice.get("/request/app").await;
    assert_eq!(locked.status, 200, "{locked:?}");
    assert!(locked.body.contains("Your access to app is scheduled"), "{}", locked.body);
    assert!(locked.body.contains("It starts in <time"), "{}", locked.body);

    site.clock.advance(Duration::from_secs(3 * 3600 + 120));
    let open = alice.get("/request/app").await;
    assert!((300..400).contains(&open.status), "on to the app from the start: {open:?}");
    let grants = alice.get("/api/v1/grants").await.json();
    assert_eq!(grants["items"][0]["active"], true, "{grants}");

    // A second schedule, cancelled before its start, frees the app at once.
    site.clock.advance(Duration::from_secs(3600));
    let later = site.clock.now().plus(Duration::from_secs(7200));
    let again = ask_from(&alice, &field(later), "second window").await;
    let id =
        again.location().trim_start_matches("/requests/").split('?').next().unwrap().to_owned();
    let approved = dave.post_form(&format!("/review/{id}/approve"), &fields).await;
    assert!((300..400).contains(&approved.status), "{approved:?}");
    let csrf = csrf_of(&alice.get("/").await.body);
    let cancelled = alice.post_form(&format!("/requests/{id}/cancel"), &[("csrf", &csrf)]).await;
    assert!((300..400).contains(&cancelled.status), "{cancelled:?}");
    let home = alice.get("/").await;
    assert!(!home.body.contains("Scheduled"), "{}", home.body);
    let form = alice.get("/request/app").await;
    assert!(form.body.contains("Request access to app"), "the form again: {}", form.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_takes_rfc3339_with_an_offset_and_answers_start_errors_with_codes() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let token = csrf_of(&bob.get("/").await.body);
    let post = async |body: Value| {
        let headers = [("content-type", "application/json"), ("x-csrf-token", token.as_str())];
        let reply =
            bob.send(Method::POST, "/api/v1/requests", &headers, Body::from(body.to_string()));
        let reply = reply.await;
        (reply.status, reply.json())
    };
    let now = site.clock.now();
    let at = |ms: i64| Timestamp::from_millis(now.as_millis() + ms);
    let ask = |starts_at: Value| json!({"resource": "app", "reason": "deploy", "duration": "1h", "starts_at": starts_at});
    let (status, naive) = post(ask(json!("2030-01-01T09:00:00"))).await;
    assert_eq!((status, &naive["error"]["code"]), (400, &json!("invalid_request")), "{naive}");
    let (status, past) = post(ask(json!(at(-3_600_000).to_string()))).await;
    assert_eq!((status, &past["error"]["code"]), (400, &json!("start_not_allowed")), "{past}");
    let glass = json!({"resource": "app", "reason": "x", "duration": "1h",
        "starts_at": at(3_600_000).to_string(), "break_glass": true});
    assert_eq!(post(glass).await.0, 400);

    // Bob's approval is automatic: scheduled at once, not yet letting him in. The start is
    // written an hour east of UTC.
    let start = at(7_200_000);
    let east = start.plus(Duration::from_secs(3600)).to_system_time();
    let written = humantime::format_rfc3339_seconds(east).to_string().replace('Z', "+01:00");
    let (status, body) = post(ask(json!(written))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "scheduled", "{body}");
    assert_eq!(body["grant"]["active"], false);
    let starts = humantime::parse_rfc3339(body["grant"]["starts_at"].as_str().unwrap()).unwrap();
    assert_eq!(Timestamp::from_system_time(starts).as_millis() / 1000, start.as_millis() / 1000);
    let (status, now_too) = post(json!({"resource": "app", "reason": "x", "duration": "1h"})).await;
    assert_eq!((status, &now_too["error"]["code"]), (409, &json!("access_scheduled")), "{now_too}");
}
