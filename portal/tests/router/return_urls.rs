//! Where the portal sends a browser: return URLs vetted on every page and sign-in path (no
//! open redirect), and handoffs minted only for a browser that brought the resource host's
//! sign-in state.

use jitgate_access::clock::Clock;
use jitgate_access::token::{TokenKeys, state_digest};
use jitgate_testkit::html::{encode, handoff_token};

use crate::harness::{PASSWORD, PORT, SECRET, Site, csrf_of, field};

/// Return URLs browsers would take to another site, on the portal's own host among them.
fn hostile() -> Vec<String> {
    vec![
        format!("http://access.localhost:{PORT}//evil.example"),
        format!("http://ACCESS.LOCALHOST:{PORT}//evil.example"),
        format!("http://access.localhost:{PORT}/%2F%2Fevil.example"),
        format!("http://access.localhost:{PORT}@evil.example/"),
        format!("http://app.localhost:{PORT}//evil.example"),
        "//evil.example".to_owned(),
        "/\\evil.example".to_owned(),
        "/%5Cevil.example".to_owned(),
        "\\/evil.example".to_owned(),
        "http:\\\\evil.example".to_owned(),
        "http://evil.example/".to_owned(),
        "javascript:alert(1)".to_owned(),
        "/\t/evil.example".to_owned(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_redirects_to_another_site() {
    let site = Site::start().await;
    let bob = site.signed_in("bob@example.com").await;
    // Bob's requests are approved at once: the request pages then send him onwards too.
    let form = bob.get("/request/app").await.body;
    let granted = bob
        .post_form(
            "/request/app",
            &[("csrf", &csrf_of(&form)), ("rd", ""), ("duration", "900"), ("reason", "on call")],
        )
        .await;
    assert_eq!((granted.status, granted.location().as_str()), (303, "/"), "{granted:?}");
    let mine = bob.get("/api/v1/requests?mine=true").await.json();
    let id = mine["items"][0]["id"].as_str().unwrap().to_owned();

    for rd in hostile() {
        let rd_param = encode(&rd);
        for path in [format!("/auth/sign-in?rd={rd_param}"), format!("/request/app?rd={rd_param}")]
        {
            let response = bob.get(&path).await;
            assert_eq!((response.status, response.location().as_str()), (303, "/"), "{path}");
        }
        let page = bob.get(&format!("/requests/{id}?rd={rd_param}")).await;
        assert_eq!(page.status, 200, "a foreign rd is dropped, so the page shows: {rd}");
        assert!(!page.body.contains("evil.example"), "{rd}");

        // Anonymous: the form carries only the home page, and signing in lands there.
        let anonymous = site.browser();
        let form = anonymous.get(&format!("/auth/sign-in?rd={rd_param}")).await.body;
        assert_eq!(field(&form, "rd"), format!("http://access.localhost:{PORT}/"), "{rd}");
        let fields = [
            ("csrf", csrf_of(&form)),
            ("email", "alice@example.com".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("rd", rd.clone()),
        ];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signed_in = anonymous.post_form("/auth/sign-in", &fields).await;
        assert_eq!((signed_in.status, signed_in.location()), (303, "/".into()), "{rd}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_is_minted_only_for_the_browser_that_brought_a_state() {
    let site = Site::start().await;
    let keys = TokenKeys::new(SECRET.as_bytes());
    let app_host = format!("app.localhost:{PORT}");
    let target = format!("http://{app_host}/dash?x=1");
    let sign_in = |state: Option<&str>| {
        let state = state.map(|s| format!("&state={s}")).unwrap_or_default();
        format!("/auth/sign-in?rd={}{state}", encode(&target))
    };
    let digest = state_digest("the-browser's-random-state");

    let bob = site.signed_in("bob@example.com").await;
    for state in [None, Some("too-short"), Some(&".".repeat(43)[..])] {
        let plain = bob.get(&sign_in(state)).await;
        assert_eq!(plain.status, 303);
        assert_eq!(plain.location(), target, "without a state, the resource URL itself");
    }
    let handed = bob.get(&sign_in(Some(&digest))).await;
    assert_eq!(handed.status, 303);
    let token = handoff_token(&handed.location(), &app_host);
    let claims = keys.verify_handoff(&token, &app_host, site.clock.now()).unwrap();
    assert_eq!((claims.state.as_str(), claims.rd.as_str()), (digest.as_str(), "/dash?x=1"));

    // Signing in through the local form carries the state to the handoff as well.
    let alice = site.browser();
    let form = alice.get(&sign_in(Some(&digest))).await;
    let cookie = form.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("jitgate_csrf=") && cookie.contains("HttpOnly"), "{cookie}");
    assert_eq!(field(&form.body, "state"), digest);
    let rd = field(&form.body, "rd");
    let fields = [
        ("csrf", csrf_of(&form.body)),
        ("email", "alice@example.com".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("rd", rd),
        ("state", digest.clone()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signed_in = alice.post_form("/auth/sign-in", &fields).await;
    let session = signed_in.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(session.starts_with("jitgate_session=") && session.contains("SameSite=Lax"));
    let token = handoff_token(&signed_in.location(), &app_host);
    let claims = keys.verify_handoff(&token, &app_host, site.clock.now()).unwrap();
    assert_eq!(claims.state, digest);
}
