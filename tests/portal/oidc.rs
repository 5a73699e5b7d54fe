//! Sign-in through a real OpenID provider (the `oidc-provider` package).

use jitgate_testkit::oidc::{OidcClient, OidcProvider, OidcUser};

use crate::site::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_at_the_idp_hands_off_to_the_app() {
    let port = jitgate_testkit::free_port();
    let client = OidcClient {
        client_id: "jitgate".into(),
        client_secret: "portal-oidc-client-secret".into(),
        redirect_uris: vec![format!("http://access.localhost:{port}/auth/callback")],
    };
    let user = |sub: &str, email: &str, groups: &[&str]| OidcUser {
        sub: sub.into(),
        email: email.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        name: sub.into(),
    };
    let idp =
        OidcProvider::start(vec![client], vec![user("u-7", "bob@example.com", &["sre"])]).await;
    let issuer = idp.issuer().to_owned();
    let site = Site::start_on(port, move |_| {
        Some(format!(
            "[identity]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"jitgate\"\n\
             client_secret = {{ file = \"client.secret\" }}\nscopes = [\"openid\", \"email\", \"groups\"]"
        ))
    })
    .await;
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
