//! Where the portal sends a browser: return URLs vetted on every page and sign-in path (no
//! open redirect), and handoffs minted only for a browser that brought the resource host's
//! sign-in state.

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::token::{TokenKeys, state_digest};

use crate::site::{self, Site};

/// Where `response` (a redirect) points.
pub fn location(response: &reqwest::Response) -> String {
    let location = response.headers().get("location");
    let location = location.unwrap_or_else(|| panic!("no Location on {}", response.status()));
    location.to_str().unwrap().to_owned()
}

/// `value` as a query parameter's value, every byte but letters and digits escaped.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

/// The token of a handoff URL on `host`, or a panic saying what `url` was instead.
pub fn handoff_token(url: &str, host: &str) -> String {
    let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let on_host = parsed.host_str().zip(parsed.port()).map(|(h, p)| format!("{h}:{p}"));
    assert_eq!(on_host.as_deref(), Some(host), "a handoff on the resource host: {url}");
    assert_eq!(parsed.path(), "/.jitgate/handoff", "{url}");
    let token = parsed.query_pairs().find(|(key, _)| key == "token").map(|(_, v)| v.into_owned());
    token.unwrap_or_else(|| panic!("no token in {url}"))
}

/// Return URLs browsers would take to another site, on the portal's own host among them.
fn hostile(site: &Site) -> Vec<String> {
    let port = site.port;
    vec![
        format!("http://access.localhost:{port}//evil.example"),
        format!("http://ACCESS.LOCALHOST:{port}//evil.example"),
        format!("http://access.localhost:{port}/%2F%2Fevil.example"),
        format!("http://access.localhost:{port}@evil.example/"),
        format!("http://app.localhost:{port}//evil.example"),
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

/// A browser that follows no redirect, signed in as `email` through the local form.
async fn signed_in_not_following(site: &Site, email: &str) -> reqwest::Client {
    let browser = site.browser_not_following();
    let form = site.page(&browser, "/auth/sign-in").await;
    let signed_in = browser
        .post(site.url("access", "/auth/sign-in"))
        .form(&[
            ("csrf", site::csrf_of(&form).as_str()),
            ("email", email),
            ("password", site::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "signed in as {email}");
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_redirects_to_another_site() {
    let site = Site::start().await;
    let bob = signed_in_not_following(&site, "bob@example.com").await;
    // Bob's requests are approved at once: the request pages then send him onwards too.
    let form = site.page(&bob, "/request/app").await;
    let granted = bob
        .post(site.url("access", "/request/app"))
        .form(&[
            ("csrf", site::csrf_of(&form).as_str()),
            ("rd", ""),
            ("duration", "900"),
            ("reason", "on call"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!((granted.status().as_u16(), location(&granted).as_str()), (303, "/"));
    let mine: serde_json::Value = bob
        .get(site.url("access", "/api/v1/requests?mine=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = mine["items"][0]["id"].as_str().unwrap().to_owned();

    for rd in hostile(&site) {
        let rd_param = encode(&rd);
        for path in [format!("/auth/sign-in?rd={rd_param}"), format!("/request/app?rd={rd_param}")]
        {
            let response = bob.get(site.url("access", &path)).send().await.unwrap();
            assert_eq!(response.status(), 303, "{path}");
            assert_eq!(location(&response), "/", "{path}");
        }
        let page = bob.get(site.url("access", &format!("/requests/{id}?rd={rd_param}")));
        let page = page.send().await.unwrap();
        assert_eq!(page.status(), 200, "a foreign rd is dropped, so the page shows: {rd}");
        assert!(!page.text().await.unwrap().contains("evil.example"), "{rd}");

        // Anonymous: the form carries only the home page, and signing in lands there.
        let anonymous = site.browser_not_following();
        let form = site.page(&anonymous, &format!("/auth/sign-in?rd={rd_param}")).await;
        assert_eq!(site::field(&form, "rd"), site.url("access", "/"), "{rd}");
        let signed_in = anonymous
            .post(site.url("access", "/auth/sign-in"))
            .form(&[
                ("csrf", site::csrf_of(&form).as_str()),
                ("email", "alice@example.com"),
                ("password", site::PASSWORD),
                ("rd", rd.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!((signed_in.status().as_u16(), location(&signed_in)), (303, "/".into()), "{rd}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_is_minted_only_for_the_browser_that_brought_a_state() {
    let site = Site::start().await;
    let keys = TokenKeys::new(site::SECRET.as_bytes());
    let app_host = format!("app.localhost:{}", site.port);
    let target = site.url("app", "/dash?x=1");
    let sign_in = |state: Option<&str>| {
        let state = state.map(|s| format!("&state={s}")).unwrap_or_default();
        site.url("access", &format!("/auth/sign-in?rd={}{state}", encode(&target)))
    };
    let digest = state_digest("the-browser's-random-state");

    let bob = signed_in_not_following(&site, "bob@example.com").await;
    for state in [None, Some("too-short"), Some(&".".repeat(43)[..])] {
        let plain = bob.get(sign_in(state)).send().await.unwrap();
        assert_eq!(plain.status(), 303);
        assert_eq!(location(&plain), target, "without a state, the resource URL itself");
    }
    let handed = bob.get(sign_in(Some(&digest))).send().await.unwrap();
    assert_eq!(handed.status(), 303);
    let token = handoff_token(&location(&handed), &app_host);
    let claims = keys.verify_handoff(&token, &app_host, SystemClock.now()).unwrap();
    assert_eq!((claims.state.as_str(), claims.rd.as_str()), (digest.as_str(), "/dash?x=1"));

    // Signing in through the local form carries the state to the handoff as well.
    let alice = site.browser_not_following();
    let form = alice.get(sign_in(Some(&digest))).send().await.unwrap();
    let cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("jitgate_csrf=") && cookie.contains("HttpOnly"), "{cookie}");
    let form = form.text().await.unwrap();
    assert_eq!(site::field(&form, "state"), digest);
    let signed_in = alice
        .post(site.url("access", "/auth/sign-in"))
        .form(&[
            ("csrf", site::csrf_of(&form).as_str()),
            ("email", "alice@example.com"),
            ("password", site::PASSWORD),
            ("rd", site::field(&form, "rd").as_str()),
            ("state", digest.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let session = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(session.starts_with("jitgate_session=") && session.contains("SameSite=Lax"));
    let token = handoff_token(&location(&signed_in), &app_host);
    let claims = keys.verify_handoff(&token, &app_host, SystemClock.now()).unwrap();
    assert_eq!(claims.state, digest);
}
