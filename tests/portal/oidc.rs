//! Sign-in through a real OpenID provider (the `oidc-provider` package).

use jitgate_testkit::oidc::{OidcClient, OidcProvider, OidcUser};

use crate::site::Site;

fn jitgate_client(port: u16) -> OidcClient {
    OidcClient {
        client_id: "jitgate".into(),
        client_secret: "portal-oidc-client-secret".into(),
        redirect_uris: vec![format!("http://access.localhost:{port}/auth/callback")],
    }
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
