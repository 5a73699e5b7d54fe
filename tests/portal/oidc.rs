//! Sign-in through a real OpenID provider (the `oidc-provider` package).

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::token::{TokenKeys, state_digest};
use jitgate_testkit::html::{encode, handoff_token};
use jitgate_testkit::oidc::{OidcClient, OidcProvider, OidcUser};

use crate::site::{self, Site};

fn jitgate_client(port: u16) -> OidcClient {
    OidcClient {
        client_id: "jitgate".into(),
        client_secret: "portal-oidc-client-secret".into(),
        redirect_uris: vec![format!("http://access.localhost:{port}/auth/callback")],
        ..OidcClient::default()
    }
}

/// Where `response` (a redirect) points.
fn location(response: &reqwest::Response) -> String {
    let location = response.headers().get("location");
    let location = location.unwrap_or_else(|| panic!("no Location on {}", response.status()));
    location.to_str().unwrap().to_owned()
}

/// An IdP knowing bob (group `sre`) and a site signing in there.
async fn site_with_idp() -> (OidcProvider, Site) {
    let port = jitgate_testkit::free_port();
    let bob = OidcUser {
        sub: "u-7".into(),
        email: "bob@example.com".into(),
        groups: vec!["sre".into()],
        name: "Bob".into(),
    };
    let idp = OidcProvider::start(vec![jitgate_client(port)], vec![bob]).await;
    let issuer = idp.issuer().to_owned();
    let site = Site::start_on(port, move |_| {
        Some(format!(
            "[identity]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"jitgate\"\n\
             client_secret = {{ file = \"client.secret\" }}\nscopes = [\"openid\", \"email\", \"groups\"]"
        ))
    })
    .await;
    (idp, site)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_at_the_idp_hands_off_to_the_app() {
    let (idp, site) = site_with_idp().await;
    let bob = site.browser_stopping_at(idp.port());
    let to_idp = bob.get(site.url("app", "/dash")).send().await.unwrap();
    let authorize = to_idp.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(idp.issuer()), "sent to the IdP: {authorize}");
    for required in ["code_challenge_method=S256", "state=", "nonce=", "scope=openid"] {
        assert!(authorize.contains(required), "{required} missing from {authorize}");
    }
    let callback = idp.authorize(&authorize, "bob@example.com").await.unwrap();
    assert!(callback.contains("/auth/callback?code="), "{callback}");

    // The callback lands on the portal, which signs bob in and hands off to the app.
    let app = bob.get(&callback).send().await.unwrap();
    assert_eq!(app.url().path(), "/request/app", "signed in; the app is locked for him");
    let replay = bob.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400, "a replayed callback is refused: its flow cookie is spent");
    let tampered = site.browser_stopping_at(idp.port());
    let foreign = tampered.get(&callback).send().await.unwrap();
    assert_eq!(foreign.status(), 400, "a callback without the browser's flow cookie is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idp_round_trip_keeps_the_state_and_drops_foreign_return_urls() {
    let (idp, site) = site_with_idp().await;
    let keys = TokenKeys::new(site::SECRET.as_bytes());
    let app_host = format!("app.localhost:{}", site.port);
    let digest = state_digest("a-browser-state");
    let through_idp = |rd: String, state: Option<&str>| {
        let browser = site.browser_staying_on_portal();
        let state = state.map(|s| format!("&state={s}")).unwrap_or_default();
        let start = site.url("access", &format!("/auth/sign-in?rd={}{state}", encode(&rd)));
        let idp = &idp;
        async move {
            let to_idp = browser.get(start).send().await.unwrap();
            let callback = idp.authorize(&location(&to_idp), "bob@example.com").await.unwrap();
            browser.get(&callback).send().await.unwrap()
        }
    };

    let landed = through_idp(site.url("app", "/dash"), Some(&digest)).await;
    assert_eq!(landed.status(), 303);
    let token = handoff_token(&location(&landed), &app_host);
    let claims = keys.verify_handoff(&token, &app_host, SystemClock.now()).unwrap();
    assert_eq!((claims.state.as_str(), claims.rd.as_str()), (digest.as_str(), "/dash"));

    let plain = through_idp(site.url("app", "/dash"), None).await;
    assert_eq!(location(&plain), site.url("app", "/dash"), "no state: the resource URL itself");

    for hostile in [
        format!("http://access.localhost:{}//evil.example", site.port),
        format!("http://ACCESS.localhost:{}/%2F%2Fevil.example", site.port),
        "/\\evil.example".to_owned(),
    ] {
        let home = through_idp(hostile.clone(), Some(&digest)).await;
        assert_eq!(home.url().as_str(), site.url("access", "/"), "{hostile}");
        assert_eq!(home.status(), 200, "{hostile}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_use_the_api_with_an_idp_token_and_no_csrf() {
    let (idp, site) = site_with_idp().await;
    let tokens = idp.sign_in(&jitgate_client(site.port), "bob@example.com").await;
    let script = reqwest::Client::new();
    let api = |path: &str| format!("http://127.0.0.1:{}/api/v1{path}", site.port);
    let me: serde_json::Value = script
        .get(api("/me"))
        .header("host", format!("access.localhost:{}", site.port))
        .bearer_auth(&tokens.id_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "bob@example.com");
    assert_eq!(me["groups"], serde_json::json!(["sre"]));
    assert_eq!(me["csrf_token"], serde_json::Value::Null, "bearer callers need no CSRF token");

    let created = script
        .post(api("/requests"))
        .header("host", format!("access.localhost:{}", site.port))
        .bearer_auth(&tokens.id_token)
        .json(&serde_json::json!({ "resource": "app", "reason": "deploy", "duration": "15m" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["status"], "active", "bob's requests are approved automatically");
    assert_eq!(created["decision"]["by"], "system");

    let mut forged = tokens.id_token.clone();
    forged.pop();
    forged.push(if tokens.id_token.ends_with('A') { 'B' } else { 'A' });
    let refused = script
        .get(api("/me"))
        .header("host", format!("access.localhost:{}", site.port))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");
}
