//! The page the expiry reminder links to (issue 15): `GET /requests/{id}/extend` shows one
//! grant's Extend form, filled in, after a sign-in that comes back to it; a grant that cannot
//! be extended says why instead; an extension taken since the reminder is followed.

use std::time::Duration;

use axum::body::Body;
use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::{Browser, PASSWORD, Site, csrf_of, field};

/// `who` POSTs `body` to the API at `path`, with their CSRF token: the status and the JSON.
pub async fn api(who: &Browser, path: &str, body: Value) -> (u16, Value) {
    let token = who.get("/api/v1/me").await.json()["csrf_token"].as_str().unwrap().to_owned();
    let headers = [("content-type", "application/json"), ("x-csrf-token", token.as_str())];
    let reply = who.send(Method::POST, path, &headers, Body::from(body.to_string())).await;
    (reply.status, reply.json())
}

/// `who` (bob: auto-approved, up to 1h at a time, 3h in all) gets `duration` on `app`; the id.
pub async fn granted(who: &Browser, duration: &str) -> String {
    let ask = json!({ "resource": "app", "reason": "deploy <v2>", "duration": duration });
    let (status, body) = api(who, "/api/v1/requests", ask).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The sentence a page gives instead of a form, and that it has no form.
fn refusal(page: &str) -> String {
    assert!(!page.contains("name=\"duration\""), "no dead form: {page}");
    let start = page.find("data-why>").unwrap_or_else(|| panic!("a reason: {page}"));
    let rest = &page[start + "data-why>".len()..];
    rest[..rest.find("</p>").unwrap()].to_owned()
}

#[tokio::test]
async fn the_reminders_link_survives_sign_in_and_opens_the_form_filled_in() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    let id = granted(&bob, "15m").await;
    site.clock.advance(Duration::from_secs(300));
    let extend = format!("/requests/{id}/extend");

    // The mail is opened in a browser that is not signed in.
    let fresh = site.browser();
    let away = fresh.get(&extend).await;
    assert_eq!(away.status, 303, "{away:?}");
    let sign_in = away.location();
    assert_eq!(sign_in, format!("/auth/sign-in?rd=%2Frequests%2F{id}%2Fextend"));
    let form = fresh.get(&sign_in).await;
    let rd = field(&form.body, "rd");
    assert_eq!(
        rd,
        format!("http://access.localhost:8080{extend}"),
        "the form carries the way back"
    );
    let back = fresh.sign_in("bob@example.com", PASSWORD, &form.body).await;
    assert_eq!((back.status, back.location()), (303, extend.clone()), "{back:?}");

    let page = fresh.get(&extend).await;
    assert_eq!(page.status, 200, "{page:?}");
    let body = &page.body;
    assert!(body.contains(&format!("action=\"{extend}\"")), "{body}");
    // As long again as asked (15m), within the 50m the 1h max_duration leaves from now.
    assert!(body.contains("value=\"15m\""), "{body}");
    assert!(body.contains("at most 50m now"), "{body}");
    assert!(body.contains("deploy &#60;v2&#62;") || body.contains("deploy &lt;v2&gt;"), "{body}");
    assert!(body.contains("data-countdown"), "when it ends now: {body}");

    let csrf = csrf_of(body);
    let fields = [("csrf", csrf.as_str()), ("duration", "15m"), ("reason", "deploy <v2>")];
    let extended = fresh.post_form(&extend, &fields).await;
    assert_eq!(extended.status, 303, "{extended:?}");
    let grants = fresh.get("/api/v1/grants").await.json();
    let holder = grants["items"][0]["request_id"].as_str().unwrap().to_owned();
    assert_eq!(extended.location(), format!("/requests/{holder}"));
    let home = fresh.get("/").await.body;
    assert!(!home.contains("(asked"), "an extension's window is not a reviewer's cut: {home}");

    // The reminder still names the first grant: its link follows the extension.
    let followed = fresh.get(&extend).await;
    assert_eq!((followed.status, followed.location()), (303, format!("/requests/{holder}/extend")));
}

#[tokio::test]
async fn a_grant_that_cannot_be_extended_says_why_instead_of_showing_a_form() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;

    // Just granted an hour, the most bob's policy gives from now: later, not now.
    let id = granted(&bob, "1h").await;
    let page = bob.get(&format!("/requests/{id}/extend")).await;
    assert_eq!(page.status, 200, "{page:?}");
    let why = refusal(&page.body);
    assert!(why.contains("already runs the 1h from now its policy allows"), "{why}");

    // Extended up to max_total (3h in all): never again.
    let mut holder = id;
    for (after, more) in [(3300, "55m"), (3300, "55m"), (3300, "10m")] {
        site.clock.advance(Duration::from_secs(after));
        let (status, body) = api(
            &bob,
            &format!("/api/v1/requests/{holder}/extend"),
            json!({ "duration": more, "reason": "more" }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        holder = body["id"].as_str().unwrap().to_owned();
    }
    let page = bob.get(&format!("/requests/{holder}/extend")).await;
    let why = refusal(&page.body);
    assert!(why.contains("already lasts the 3h in all its policy allows"), "{why}");

    // Ended: nothing to extend.
    site.clock.advance(Duration::from_secs(3 * 3600));
    let page = bob.get(&format!("/requests/{holder}/extend")).await;
    let why = refusal(&page.body);
    assert!(why.contains("This access is expired"), "{why}");
    assert!(!page.body.contains("data-countdown"), "no end to count down to: {}", page.body);
}

#[tokio::test]
async fn the_policy_the_holder_and_a_waiting_ask_decide_what_the_page_offers() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let carol = site.signed_in("carol@example.com").await;
    let dave = site.signed_in("dave@example.com").await;

    // vault's policy does not allow extensions.
    let vault = site.ask(&alice, "vault", "audit").await;
    for reviewer in [&carol, &dave] {
        let (status, body) =
            api(reviewer, &format!("/api/v1/requests/{vault}/approve"), json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let page = alice.get(&format!("/requests/{vault}/extend")).await;
    let why = refusal(&page.body);
    assert!(why.contains("does not allow extending a grant"), "{why}");

    // app allows them, but only the holder asks; a reviewer sees who may.
    let app = site.ask(&alice, "app", "logs").await;
    let (status, body) = api(&carol, &format!("/api/v1/requests/{app}/approve"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let page = carol.get(&format!("/requests/{app}/extend")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(refusal(&page.body).contains("Only alice@example.com can ask"), "{}", page.body);
    let page = alice.get(&format!("/requests/{app}/extend")).await;
    assert!(page.body.contains("value=\"1h\""), "alice's form: {}", page.body);

    // Once she asked, the page points at the waiting ask instead of offering a second one.
    let csrf = csrf_of(&page.body);
    let fields = [("csrf", csrf.as_str()), ("duration", "30m"), ("reason", "more logs")];
    let asked = alice.post_form(&format!("/requests/{app}/extend"), &fields).await;
    assert_eq!(asked.status, 303, "{asked:?}");
    let waiting = asked.location();
    let page = alice.get(&format!("/requests/{app}/extend")).await;
    assert!(refusal(&page.body).contains("waits for a reviewer"), "{}", page.body);
    assert!(page.body.contains(&format!("href=\"{waiting}\"")), "{}", page.body);

    // Nobody else's grant, and nothing that is not a request id.
    let bob = site.signed_in("bob@example.com").await;
    assert_eq!(bob.get(&format!("/requests/{app}/extend")).await.status, 404);
    assert_eq!(alice.get("/requests/..%2F..%2Fadmin/extend").await.status, 404);
    assert_eq!(alice.get("/requests/%3Cscript%3E/extend").await.status, 404);
}
