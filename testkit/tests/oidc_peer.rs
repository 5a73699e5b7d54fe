//! The OIDC test peer itself: what jitgate's sign-in and bearer tests rely on it for. A real
//! `oidc-provider` issues ID tokens that verify against its published keys and carry the
//! email and groups, turns away users it does not know, and rotates its key on restart.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jitgate_testkit::oidc::{OidcClient, OidcProvider, OidcUser};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn client() -> OidcClient {
    OidcClient {
        client_id: "jitgate".into(),
        client_secret: "jitgate-oidc-client-secret".into(),
        redirect_uris: vec!["http://127.0.0.1:9/auth/callback".into()],
        ..OidcClient::default()
    }
}

fn user(sub: &str, email: &str, groups: &[&str]) -> OidcUser {
    OidcUser {
        sub: sub.into(),
        email: email.into(),
        groups: groups.iter().map(|group| group.to_string()).collect(),
        name: format!("User {sub}"),
    }
}

async fn jwks(idp: &OidcProvider) -> JwkSet {
    let uri = idp.discovery().await["jwks_uri"].as_str().expect("jwks_uri").to_owned();
    reqwest::get(&uri).await.expect("the JWKS answers").json().await.expect("a JWK set")
}

fn kids(keys: &JwkSet) -> Vec<String> {
    keys.keys.iter().map(|key| key.common.key_id.clone().expect("every key has a kid")).collect()
}

/// An authorization request as a relying party builds it, with the PKCE verifier it keeps.
fn authorization_request(idp: &OidcProvider, state: &str) -> (String, String) {
    let verifier = format!("a-pkce-verifier-of-at-least-43-characters-{state}");
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let client = client();
    let url = Url::parse_with_params(
        &format!("{}/auth", idp.issuer()),
        [
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", &client.redirect_uris[0]),
            ("scope", "openid email groups"),
            ("state", state),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .expect("an authorization URL");
    (url.into(), verifier)
}

fn query(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).expect("a URL");
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_signs_users_in_and_rotates_its_key_on_restart() {
    let mut idp = OidcProvider::start(
        vec![client()],
        vec![
            user("u-101", "bob@example.com", &["sre", "on-call"]),
            user("u-102", "alice@example.com", &["dev"]),
        ],
    )
    .await;
    let issuer = format!("http://127.0.0.1:{}", idp.port());
    assert_eq!(idp.issuer(), issuer);

    // A real sign-in: the ID token verifies against the published key and says who bob is.
    let tokens = idp.sign_in(&client(), "bob@example.com").await;
    let keys = jwks(&idp).await;
    let kid = jsonwebtoken::decode_header(&tokens.id_token).expect("a JWT").kid;
    assert_eq!(kid.as_ref(), keys.keys[0].common.key_id.as_ref(), "signed with the published key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&["jitgate"]);
    let key = DecodingKey::from_jwk(&keys.keys[0]).expect("an RSA key");
    let claims = jsonwebtoken::decode::<Value>(&tokens.id_token, &key, &validation)
        .expect("the ID token verifies")
        .claims;
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], "jitgate");
    assert_eq!(claims["sub"], "u-101", "sub comes from the config, not the email");
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "User u-101");
    assert_eq!(claims["groups"], serde_json::json!(["sre", "on-call"]));
    assert!(claims["nonce"].is_string(), "the nonce is echoed: {claims}");
    assert!(!tokens.access_token.is_empty());

    // A relying party may also send its secret in the body (client_secret_post).
    let (request, _) = authorization_request(&idp, "alice-state");
    let callback = idp.authorize(&request, "alice@example.com").await.expect("alice signs in");
    assert!(callback.starts_with("http://127.0.0.1:9/auth/callback?"), "{callback}");
    assert_eq!(query(&callback, "state").as_deref(), Some("alice-state"));
    assert_eq!(query(&callback, "iss").as_deref(), Some(issuer.as_str()), "RFC 9207 iss");
    let code = query(&callback, "code").expect("a code");
    let token_endpoint = idp.discovery().await["token_endpoint"].as_str().unwrap().to_owned();
    let token_endpoint = &token_endpoint;
    let exchange = |code: String, verifier: String| async move {
        let client = client();
        let response = reqwest::Client::new()
            .post(token_endpoint)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uris[0]),
                ("code_verifier", &verifier),
                ("client_id", &client.client_id),
                ("client_secret", &client.client_secret),
            ])
            .send()
            .await
            .expect("the token endpoint answers");
        (response.status(), response.json::<Value>().await.expect("JSON"))
    };
    let (status, body) =
        exchange(code.clone(), "a-wrong-verifier-of-at-least-43-characters-xxx".into()).await;
    assert_eq!(status, 400, "PKCE is enforced: {body}");
    assert_eq!(body["error"], "invalid_grant");
    let (request, verifier) = authorization_request(&idp, "alice-again");
    let callback = idp.authorize(&request, "alice@example.com").await.expect("alice signs in");
    let (status, body) = exchange(query(&callback, "code").expect("a code"), verifier).await;
    assert_eq!(status, 200, "{body}");
    let payload = body["id_token"].as_str().expect("an ID token").split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["dev"]));
    assert!(claims.get("name").is_none(), "no profile scope, no name: {claims}");

    // Someone the provider does not know never gets a code: the relying party hears access_denied.
    let (request, _) = authorization_request(&idp, "mallory-state");
    let callback = idp.authorize(&request, "mallory@example.com").await.expect("a callback");
    assert_eq!(query(&callback, "error").as_deref(), Some("access_denied"), "{callback}");
    assert_eq!(query(&callback, "state").as_deref(), Some("mallory-state"));
    assert_eq!(query(&callback, "code"), None);

    // A restart rotates the signing key: the old kid is gone from the JWKS.
    idp.restart().await;
    let rotated = jwks(&idp).await;
    assert_eq!(kids(&rotated).len(), 1);
    assert_ne!(kids(&rotated), kids(&keys), "a new kid after restart");
    let fresh = idp.sign_in(&client(), "bob@example.com").await;
    let fresh_kid = jsonwebtoken::decode_header(&fresh.id_token).expect("a JWT").kid;
    assert_eq!(fresh_kid, rotated.keys[0].common.key_id, "signed with the new key");
}
