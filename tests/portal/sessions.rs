//! Ending sessions: an admin signs a user out everywhere (the user page's button and the
//! API), only admins may, and it is audited like signing out is.

use serde_json::Value;

use crate::site::{self, Site};

async fn json(browser: &reqwest::Client, url: String) -> Value {
    browser.get(url).send().await.unwrap().json().await.unwrap()
}

/// The API's CSRF token for a session caller.
async fn csrf(site: &Site, browser: &reqwest::Client) -> String {
    let me = json(browser, site.url("access", "/api/v1/me")).await;
    me["csrf_token"].as_str().unwrap().to_owned()
}

/// Whether `browser` still has a session: the API tells apart who it is from nobody.
async fn signed_in(site: &Site, browser: &reqwest::Client) -> bool {
    let me = browser.get(site.url("access", "/api/v1/me")).send().await.unwrap();
    match me.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("/api/v1/me answered {other}"),
    }
}

/// The audit trail's events by `actor`, newest first: (action, user, resource, request_id).
async fn audited(site: &Site, admin: &reqwest::Client, actor: &str) -> Vec<[String; 4]> {
    let trail = json(admin, site.url("access", &format!("/api/v1/audit?actor={actor}"))).await;
    let field = |event: &Value, key: &str| event[key].as_str().unwrap().to_owned();
    let items = trail["items"].as_array().unwrap_or_else(|| panic!("{trail}"));
    items
        .iter()
        .map(|e| {
            [field(e, "action"), field(e, "user"), field(e, "resource"), field(e, "request_id")]
        })
        .collect()
}

fn event(action: &str, user: &str) -> [String; 4] {
    [action.into(), user.into(), String::new(), String::new()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_ends_a_users_sessions_from_the_user_page() {
    let site = Site::start().await;
    let laptop = site.signed_in("alice@example.com").await;
    let phone = site.signed_in("alice@example.com").await;
    let bob = site.signed_in("bob@example.com").await;
    let erin = site.signed_in("erin@example.com").await;
    let dave = site.signed_in("dave@example.com").await;

    let action = "/access/users/alice%40example%2Ecom/sessions/end";
    let reviewer_view = site.page(&dave, "/access/users/alice%40example.com").await;
    assert!(!reviewer_view.contains(action), "only admins get the button: {reviewer_view}");
    let page = site.page(&erin, "/access/users/alice%40example.com").await;
    assert!(page.contains("<details") && page.contains(action), "{page}");
    let token = site::csrf_of(&page);

    let end = |who: &reqwest::Client, csrf: String| {
        let request = who.post(site.url("access", action)).form(&[("csrf", csrf)]);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(end(&erin, String::new()).await.status(), 403, "no CSRF token, no change");
    let dave_token = site::csrf_of(&site.page(&dave, "/").await);
    assert_eq!(end(&dave, dave_token).await.status(), 403, "reviewers may not");
    assert!(signed_in(&site, &laptop).await && signed_in(&site, &phone).await);

    let ended = end(&erin, token).await;
    assert_eq!(ended.status(), 200);
    let text = ended.text().await.unwrap();
    assert!(text.contains("Ended 2 sessions of alice@example.com"), "{text}");
    assert!(!signed_in(&site, &laptop).await, "signed out on the laptop");
    assert!(!signed_in(&site, &phone).await, "and on the phone");
    assert!(signed_in(&site, &bob).await && signed_in(&site, &erin).await, "nobody else");
    let home = laptop.get(site.url("access", "/")).send().await.unwrap();
    assert_eq!(home.url().path(), "/auth/sign-in", "back to the sign-in form");

    assert_eq!(
        audited(&site, &erin, "erin@example.com").await,
        vec![event("sessions_ended", "alice@example.com")]
    );
    let csv = erin.get(site.url("access", "/audit?actor=erin%40example.com&format=csv"));
    let csv = csv.send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("sessions_ended,alice@example.com,,,ended 2 sessions"), "{csv}");
    let audit_page = site.page(&erin, "/audit").await;
    assert!(audit_page.contains(">erin@example.com</a> ended every session of <a"), "{audit_page}");
    let dave_audit = json(&dave, site.url("access", "/api/v1/audit")).await;
    assert!(
        !dave_audit.to_string().contains("sessions_ended"),
        "reviewers see their resources only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_ends_sessions_for_admins_and_signing_out_is_audited() {
    let site = Site::start().await;
    let alice = site.signed_in("alice@example.com").await;
    let erin = site.signed_in("erin@example.com").await;
    let carol = site.signed_in("carol@example.com").await;
    let url = site.url("access", "/api/v1/users/alice@example.com/sessions/end");
    let post = |who: &reqwest::Client, csrf: Option<String>| {
        let mut request = who.post(&url);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(&erin, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("csrf_failed")));
    let (status, body) = post(&carol, Some(csrf(&site, &carol).await)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "reviewers may not"
    );
    let (status, body) = post(&site.browser(), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")));
    assert!(signed_in(&site, &alice).await);

    let token = csrf(&site, &erin).await;
    let (status, body) = post(&erin, Some(token.clone())).await;
    assert_eq!((status, body), (200, serde_json::json!({ "ended": 1 })));
    assert!(!signed_in(&site, &alice).await);
    let (status, body) = post(&erin, Some(token)).await;
    assert_eq!((status, body), (200, serde_json::json!({ "ended": 0 })), "nothing left to end");

    // Carol signs out through the page's form.
    let page = site.page(&carol, "/").await;
    let out = carol
        .post(site.url("access", "/auth/sign-out"))
        .form(&[("csrf", site::csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(!signed_in(&site, &carol).await);
    assert_eq!(
        audited(&site, &erin, "erin@example.com").await,
        vec![
            event("sessions_ended", "alice@example.com"),
            event("sessions_ended", "alice@example.com")
        ]
    );
    assert_eq!(
        audited(&site, &erin, "carol@example.com").await,
        vec![event("signed_out", "carol@example.com")]
    );
}
