//! Scripts with `Authorization: Bearer <IdP-issued JWT>`: tokens from a real OpenID provider
//! (the `oidc-provider` npm package), checked by the real `jitgate serve` against its JWKS.

use std::time::Duration;

use jitgate_testkit::http::get;
use jitgate_testkit::oidc::{OidcClient, OidcProvider, OidcUser};
use jitgate_testkit::{free_port, wait_until};
use serde_json::{Value, json};

use crate::stack::{Stack, config_text, person};

fn client(id: &str) -> OidcClient {
    OidcClient {
        client_id: id.into(),
        client_secret: format!("{id}-secret-0123456789"),
        redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
        ..OidcClient::default()
    }
}

fn user(sub: &str, email: &str, groups: &[&str]) -> OidcUser {
    OidcUser {
        sub: sub.into(),
        email: email.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        name: sub.into(),
    }
}

/// The stack's config with the OIDC provider at `issuer` as the identity provider.
fn oidc_config(stack: &Stack, port: u16, issuer: &str) -> String {
    std::fs::write(stack.dir.path().join("client.secret"), client("jitgate").client_secret)
        .unwrap();
    config_text(port, free_port(), &stack.upstream.url(), None).replace(
        "provider = \"local\"\nusers_file = \"users.toml\"",
        &format!(
            "provider = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"jitgate\"\n\
             client_secret = {{ file = \"client.secret\" }}\nscopes = [\"openid\", \"email\", \"groups\"]"
        ),
    )
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {body}"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_token_stands_in_for_a_session_and_is_checked_like_one() {
    let mut idp = OidcProvider::start(
        vec![client("jitgate"), client("another-app")],
        vec![
            user("u-101", "bob@example.com", &["sre", "on-call"]),
            user("u-102", "alice@example.com", &["dev"]),
        ],
    )
    .await;
    let stack = Stack::start(0).await;
    let port = free_port();
    let _jitgate = stack.serve("oidc.toml", &oidc_config(&stack, port, idp.issuer()), port).await;
    let (app, wiki) = (format!("app.localhost:{port}"), format!("wiki.localhost:{port}"));
    let bob = idp.sign_in(&client("jitgate"), "bob@example.com").await.id_token;
    let auth = bearer(&bob);
    // Even a client that looks like a browser gets JSON, never a redirect.
    let browserish = ("accept", "text/html");

    let standing = get(port, &wiki, "/", &[("authorization", &auth), browserish]).await;
    assert_eq!(standing.status, 200, "{}", standing.body);
    let seen = parse(&standing.body)["headers"].clone();
    assert_eq!(seen["x-jitgate-email"], json!(["bob@example.com"]), "the email claim, not the sub");
    assert_eq!(seen["x-jitgate-groups"], json!(["on-call,sre"]));
    assert!(seen.get("authorization").is_none(), "the IdP token stays with jitgate: {seen}");
    assert!(seen["x-jitgate-assertion"][0].as_str().is_some_and(|a| a.split('.').count() == 3));

    let locked = get(port, &app, "/report", &[("authorization", &auth), browserish]).await;
    assert_eq!(locked.status, 403);
    assert_eq!(parse(&locked.body)["error"], "locked");
    stack
        .service
        .request_access(
            &person("bob@example.com", &["sre"]),
            &"app".parse().unwrap(),
            "script run",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    wait_until("the grant to reach the proxy", Duration::from_secs(2), || async {
        get(port, &app, "/report", &[("authorization", &auth)]).await.status == 200
    })
    .await;

    // Refused with the reason, and a challenge per RFC 6750.
    let mut tampered = bob.clone();
    let at = tampered.rfind('.').unwrap() + 5;
    tampered.replace_range(at..at + 1, if &bob[at..at + 1] == "A" { "B" } else { "A" });
    let other_audience = idp.sign_in(&client("another-app"), "bob@example.com").await.id_token;
    for (what, token, reason) in [
        ("tampered", tampered.as_str(), "signature"),
        ("for another app", other_audience.as_str(), "audience"),
        ("not a JWT", "opaque-access-token", "well-formed"),
    ] {
        let refused = get(port, &wiki, "/", &[("authorization", &bearer(token))]).await;
        assert_eq!(refused.status, 401, "{what}");
        let body = parse(&refused.body);
        assert_eq!(body["error"], "invalid_token", "{what}");
        assert!(body["message"].as_str().unwrap().contains(reason), "{what}: {body}");
        let challenge = refused.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{what}: {challenge}");
    }

    // The IdP rotates its signing key: a token under the new key is accepted once jitgate has
    // looked again (it refetches on an unknown key id, at most every couple of seconds).
    idp.restart().await;
    let alice = idp.sign_in(&client("jitgate"), "alice@example.com").await.id_token;
    wait_until("a token under the rotated key to be accepted", Duration::from_secs(10), || async {
        get(port, &wiki, "/", &[("authorization", &bearer(&alice))]).await.status == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_idp_fails_closed_for_tokens_only() {
    let idp = OidcProvider::start(
        vec![client("jitgate")],
        vec![user("u-101", "bob@example.com", &["sre"])],
    )
    .await;
    let token = idp.sign_in(&client("jitgate"), "bob@example.com").await.id_token;
    let stack = Stack::start(0).await;
    let port = free_port();
    // The proxy role alone: a process with the portal asks the IdP at start (and would have
    // its keys from then on, see tests/portal/oidc.rs).
    let config = oidc_config(&stack, port, idp.issuer()).replacen(
        "[server]\n",
        &format!("[server]\nportal_upstream = \"127.0.0.1:{}\"\n", free_port()),
        1,
    );
    let _jitgate = stack.serve_with("oidc.toml", &config, &["--role", "proxy"], port).await;
    // The IdP goes away before the proxy ever fetched its keys.
    drop(idp);
    let wiki = format!("wiki.localhost:{port}");
    let response = get(port, &wiki, "/", &[("authorization", &bearer(&token))]).await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert!(parse(&response.body)["message"].as_str().unwrap().contains("identity provider"));
    // Browser sessions do not depend on the IdP being up.
    let (_, cookie) = stack.sign_in_on(&person("bob@example.com", &["sre"]), &wiki).await;
    assert_eq!(get(port, &wiki, "/", &[("cookie", &cookie)]).await.status, 200);
}

/// An app's own `Authorization` header (an API key, its SPA's JWT) rides along with the
/// session cookie: the cookie is jitgate's credential, the header the app's, untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_wins_and_the_apps_own_authorization_passes_through() {
    let stack = Stack::start(1).await;
    let wiki = stack.host("wiki");
    let (_, cookie) = stack.sign_in(&person("bob@example.com", &["sre"]), "wiki").await;
    let app_token = "Bearer app-api-key-0123456789";
    let response =
        get(stack.port(), &wiki, "/api", &[("cookie", &cookie), ("authorization", app_token)])
            .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = parse(&response.body);
    assert_eq!(seen["headers"]["authorization"], json!([app_token]), "{seen}");
    assert_eq!(seen["headers"]["x-jitgate-user"], json!(["bob@example.com"]), "{seen}");
    // Without the cookie, that header is no credential of jitgate's (the local provider issues
    // no tokens): the script is asked to sign in, never let through.
    let alone = get(stack.port(), &wiki, "/api", &[("authorization", app_token)]).await;
    assert_eq!(alone.status, 401, "{}", alone.body);
}
