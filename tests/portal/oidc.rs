//! Sign-in through a real OpenID provider (the `oidc-provider` package).

use std::time::Duration;

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::token::{TokenKeys, state_digest};
use jitgate_testkit::html::{encode, handoff_token};
use jitgate_testkit::notify::SmtpServer;
use jitgate_testkit::oidc::{OidcClient, OidcProvider, OidcUser};
use jitgate_testkit::wait_until;

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

fn oidc_user(sub: &str, email: &str, group: &str, name: &str) -> OidcUser {
    OidcUser { sub: sub.into(), email: email.into(), groups: vec![group.into()], name: name.into() }
}

/// An IdP knowing bob (group `sre`) and a site signing in there.
async fn site_with_idp() -> (OidcProvider, Site) {
    let bob = oidc_user("u-7", "bob@example.com", "sre", "Bob");
    site_with_idp_users(vec![bob], "", &["openid", "email", "groups"]).await
}

/// An IdP knowing `users` and a site signing in there with `scopes`, its config ending with
/// `extra`.
async fn site_with_idp_users(
    users: Vec<OidcUser>,
    extra: &str,
    scopes: &[&str],
) -> (OidcProvider, Site) {
    let port = jitgate_testkit::free_port();
    let idp = OidcProvider::start(vec![jitgate_client(port)], users).await;
    let issuer = idp.issuer().to_owned();
    let identity = move |_| {
        Some(format!(
            "[identity]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"jitgate\"\n\
             client_secret = {{ file = \"client.secret\" }}\nscopes = {scopes:?}"
        ))
    };
    let site = Site::start_on_with(port, identity, extra).await;
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

/// How often jitgate has fetched the IdP's discovery document and keys, from its log.
fn idp_fetches(site: &Site) -> usize {
    site.log().matches("fetched the IdP's discovery document and signing keys").count()
}

/// Bob signs in through the IdP in a fresh browser; where he lands.
async fn sign_in_bob(idp: &OidcProvider, site: &Site) -> reqwest::Response {
    sign_in_at_idp(idp, site, "bob@example.com").await.1
}

/// `email` signs in through the IdP in a fresh browser (which keeps its portal session);
/// the browser and where it landed.
async fn sign_in_at_idp(
    idp: &OidcProvider,
    site: &Site,
    email: &str,
) -> (reqwest::Client, reqwest::Response) {
    let browser = site.browser_stopping_at(idp.port());
    let to_idp = browser.get(site.url("app", "/dash")).send().await.unwrap();
    let callback = idp.authorize(&location(&to_idp), email).await.unwrap();
    let landed = browser.get(&callback).send().await.unwrap();
    (browser, landed)
}

/// The sign-in and the bearer checks ask one IdP client: the document and keys are fetched
/// once for both, and a key rotation one of them notices is the other's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_bearer_checks_share_one_idp_client_through_a_key_rotation() {
    let (mut idp, site) = site_with_idp().await;
    let me = |token: String| {
        let url = format!("http://127.0.0.1:{}/api/v1/me", site.port);
        let host = format!("access.localhost:{}", site.port);
        async move {
            let response =
                reqwest::Client::new().get(url).header("host", host).bearer_auth(token).send();
            response.await.unwrap().status()
        }
    };
    assert_eq!(sign_in_bob(&idp, &site).await.url().path(), "/request/app");
    let token = idp.sign_in(&jitgate_client(site.port), "bob@example.com").await.id_token;
    assert_eq!(me(token).await, 200);
    assert_eq!(idp_fetches(&site), 1, "one fetch serves the sign-in and the bearer check");

    // The IdP rotates its key. A bearer token under the new key makes jitgate look again
    // (at most every couple of seconds, hence the poll) ...
    idp.restart().await;
    let rotated = idp.sign_in(&jitgate_client(site.port), "bob@example.com").await.id_token;
    wait_until("a token under the rotated key to be accepted", Duration::from_secs(10), || {
        let token = rotated.clone();
        let me = &me;
        async move { me(token).await == 200 }
    })
    .await;
    assert_eq!(idp_fetches(&site), 2, "{}", site.log());
    // ... and the sign-in verifies ID tokens under the new key with what that fetch brought.
    assert_eq!(sign_in_bob(&idp, &site).await.url().path(), "/request/app");
    assert_eq!(idp_fetches(&site), 2, "the sign-in needed no fetch of its own");
}

/// With OIDC, jitgate knows a reviewer named only by group once they have signed in: a
/// request made before that mails nobody, one made after mails them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_named_by_group_is_mailed_once_they_have_signed_in() {
    let smtp = SmtpServer::start().await;
    let users = vec![
        oidc_user("u-1", "alice@example.com", "dev", "Alice"),
        oidc_user("u-2", "dave@example.com", "security", "Dave Reviewer"),
    ];
    let mail = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"jitgate <jitgate@example.com>\"",
        smtp.port
    );
    let scopes = ["openid", "email", "profile", "groups"];
    let (idp, site) = site_with_idp_users(users, &mail, &scopes).await;
    let (alice, _) = sign_in_at_idp(&idp, &site, "alice@example.com").await;
    site.ask(&alice, "vault", "asked before dave ever signed in").await;

    let (dave, _) = sign_in_at_idp(&idp, &site, "dave@example.com").await;
    assert!(site.page(&dave, "/review").await.contains("asked before dave"), "dave reviews");
    site.ask(&alice, "app", "asked after dave signed in").await;
    let to_dave = |messages: &[String]| -> Vec<String> {
        let to = |m: &String| m.lines().any(|l| l.starts_with("To: ") && l.contains("dave@"));
        messages.iter().filter(|m| to(m) && m.contains("Access request")).cloned().collect()
    };
    wait_until("dave's mail", Duration::from_secs(30), || {
        let arrived = !to_dave(&smtp.messages()).is_empty();
        async move { arrived }
    })
    .await;
    let mails = to_dave(&smtp.messages());
    assert_eq!(mails.len(), 1, "only the request made after his sign-in: {mails:?}");
    assert!(mails[0].contains("asked after dave signed in"), "{}", mails[0]);

    // The directory lists everyone who has signed in, with the IdP's name and groups.
    let directory = site.page(&dave, "/access").await;
    let people = &directory[directory.find("id=\"people\"").expect("a people table")..];
    for shown in ["alice@example.com", "dave@example.com", "Dave Reviewer", "security", "ago"] {
        assert!(people.contains(shown), "{shown} in {people}");
    }
}
