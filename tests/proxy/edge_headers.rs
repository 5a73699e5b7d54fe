//! What reaches the upstream: only jitgate's word on who the user is and where the request
//! came from. A client's copy of an identity or forwarding header, under any spelling
//! (`X_Jitgate_User`, `x-jitgate_email`, upper case, twice), never gets through; the Python
//! echo upstream shows every header it received, underscores and all.

use jitgate_access::policy::Identity;
use jitgate_testkit::http::get;
use serde_json::{Value, json};

use crate::edge_paths::Site;
use crate::stack::{Stack, person};
use crate::upstream_saw;

const IDENTITY: [&str; 4] =
    ["x-jitgate-user", "x-jitgate-email", "x-jitgate-groups", "x-jitgate-assertion"];

/// A header name as upstreams that treat `_` like `-` (CGI, PHP, Django, Rails...) read it.
fn normalised(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The echo's headers as `(name, values)`.
fn headers_of(seen: &Value) -> Vec<(String, Vec<String>)> {
    seen["headers"]
        .as_object()
        .expect("the echo lists headers")
        .iter()
        .map(|(name, values)| {
            let values =
                values.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            (name.clone(), values)
        })
        .collect()
}

/// Every header but jitgate's assertion (random base64 that may spell anything), as text to
/// search for planted values.
fn text_of(headers: &Value) -> String {
    let mut headers = headers.clone();
    headers.as_object_mut().unwrap().remove("x-jitgate-assertion");
    headers.to_string()
}

/// Verifies the assertion against the JWKS the portal publishes, for `host`; returns its claims.
async fn verified_assertion(port: u16, host: &str, assertion: &str) -> Value {
    let portal = format!("access.localhost:{port}");
    let jwks = get(port, &portal, "/.well-known/jitgate/jwks.json", &[]).await;
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks.body).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[host]);
    validation.set_issuer(&[format!("http://{portal}")]);
    jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .unwrap_or_else(|e| panic!("the assertion verifies ({e}): {assertion}"))
        .claims
}

/// Asserts the identity headers the upstream saw are exactly jitgate's for `who` (groups as
/// `groups`), under their canonical names only, and returns the verified assertion's claims.
async fn only_jitgate_s_identity(site: &Site, seen: &Value, who: &Identity, groups: &str) -> Value {
    let mut assertion = None;
    for (name, values) in headers_of(seen) {
        let canonical = normalised(&name);
        if !IDENTITY.contains(&canonical.as_str()) {
            continue;
        }
        assert_eq!(name, canonical, "a client's {name:?} reached the upstream: {values:?}");
        assert_eq!(values.len(), 1, "{name} reached the upstream more than once: {values:?}");
        match canonical.as_str() {
            "x-jitgate-user" | "x-jitgate-email" => assert_eq!(values[0], who.user.as_str()),
            "x-jitgate-groups" => assert_eq!(values[0], groups),
            _ => assertion = Some(values[0].clone()),
        }
    }
    for name in IDENTITY {
        assert!(seen["headers"][name].is_array(), "jitgate's {name} is missing: {seen}");
    }
    let claims = verified_assertion(site.port, &site.host, &assertion.unwrap()).await;
    assert_eq!(claims["email"], who.user.as_str());
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_under_any_spelling_never_reach_the_upstream() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, session) = stack.sign_in_on(&bob, &site.host).await;
    let cookie = format!(
        "theme=dark; {session}; jitgate_state=abcdefabcdefabcdefabcdefabcdefabcdef; \
         __Host-jitgate_session=planted; jitgate_csrf=x; lang=en"
    );
    let spoofed = [
        ("X-Jitgate-User", "root@example.com"),
        ("X_Jitgate_User", "root@example.com"),
        ("x_jitgate_email", "root@example.com"),
        ("X-Jitgate_User", "root@example.com"),
        ("x-jitgate-email", "root@example.com"),
        ("X-JITGATE-GROUPS", "admins"),
        ("x_jitgate_groups", "admins"),
        ("X-Jitgate-Groups", "admins"),
        ("x-jitgate-assertion", "forged"),
        ("X_JITGATE_ASSERTION", "forged"),
        ("x-jitgate-assertion", "forged-again"),
    ];
    // On the standing resource (no grant involved) and on a path that nginx-style upstreams
    // would read as another one: both carry jitgate's identity and nothing else.
    for path in ["/", "/public/page?x=1"] {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend(spoofed);
        let response = get(site.port, &site.host, path, &headers).await;
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        let seen = upstream_saw(&response.body);
        let claims = only_jitgate_s_identity(&site, &seen, &bob, "sre").await;
        assert_eq!(claims["groups"], json!(["sre"]));
        let everything = text_of(&seen["headers"]);
        for planted in ["root@example.com", "\"admins\"", "forged", "planted"] {
            assert!(!everything.contains(planted), "{planted} reached the upstream: {everything}");
        }
        assert_eq!(
            seen["headers"]["cookie"],
            json!(["theme=dark; lang=en"]),
            "jitgate's cookies, under either name, stay at the edge"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_jitgate_s_own() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in_on(&bob, &site.host).await;
    let spoofed = [
        ("cookie", cookie.as_str()),
        ("Forwarded", "for=6.6.6.6;host=evil.example;proto=https"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Forwarded-For", "6.6.6.8"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "6666"),
        ("X-Forwarded-Prefix", "/evil-prefix"),
        ("X-Real-IP", "6.6.6.6"),
        ("X-Client-IP", "6.6.6.6"),
        ("X-Original-URL", "/admin/secret"),
        ("X-Rewrite-URL", "/admin/secret"),
        ("True-Client-IP", "6.6.6.6"),
        ("X_Forwarded_For", "6.6.6.7"),
        ("x_forwarded_host", "evil.example"),
        ("X_Forwarded_Proto", "https"),
        ("X_Real_IP", "6.6.6.7"),
        ("X_Original_URL", "/admin/secret"),
        ("x_client_ip", "6.6.6.7"),
        ("True_Client_IP", "6.6.6.7"),
        ("forwarded", "for=6.6.6.9"),
    ];
    let response = get(site.port, &site.host, "/", &spoofed).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = upstream_saw(&response.body);
    let headers = &seen["headers"];
    let host = &site.host;
    assert_eq!(headers["x-forwarded-for"], json!(["127.0.0.1"]));
    assert_eq!(headers["x-real-ip"], json!(["127.0.0.1"]));
    assert_eq!(headers["x-forwarded-proto"], json!(["http"]));
    assert_eq!(headers["x-forwarded-host"], json!([host]));
    assert_forwarded(headers, "127.0.0.1", host);
    for absent in
        ["x-original-url", "x-rewrite-url", "x-client-ip", "true-client-ip", "x-forwarded-prefix"]
    {
        assert!(headers[absent].is_null(), "{absent} reached the upstream: {headers}");
    }
    let port = site.port.to_string();
    assert!(
        headers["x-forwarded-port"].is_null() || headers["x-forwarded-port"] == json!([port]),
        "x-forwarded-port is absent or jitgate's own: {headers}"
    );
    // No underscore spelling of any of them, and nothing the client made up, anywhere.
    for (name, values) in headers_of(&seen) {
        let canonical = normalised(&name);
        let forwarding = canonical.starts_with("x-forwarded-")
            || [
                "forwarded",
                "x-real-ip",
                "x-client-ip",
                "true-client-ip",
                "x-original-url",
                "x-rewrite-url",
            ]
            .contains(&canonical.as_str());
        assert!(!forwarding || name == canonical, "a client's {name:?} got through: {values:?}");
    }
    let everything = text_of(headers);
    for planted in ["6.6.6.", "evil", "/admin/secret", "6666", "https"] {
        assert!(!everything.contains(planted), "{planted} reached the upstream: {everything}");
    }
}

/// `Forwarded` as RFC 7239 has it: `for=<ip>;host=<host>;proto=http`, the host quoted or not
/// (a `host:port` is not a token, so the RFC wants it quoted).
fn assert_forwarded(headers: &Value, client: &str, host: &str) {
    let plain = format!("for={client};host={host};proto=http");
    let quoted = format!("for={client};host=\"{host}\";proto=http");
    assert!(
        headers["forwarded"] == json!([plain]) || headers["forwarded"] == json!([quoted]),
        "forwarded is jitgate's ({plain:?}): {}",
        headers["forwarded"]
    );
}

/// Behind a load balancer listed in `trusted_proxies` (the test client, 127.0.0.1), the client
/// address it reports is kept and jitgate's own hop appended; the rest is still jitgate's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_load_balancer_s_client_address_is_kept() {
    let stack = Stack::start(0).await;
    let site =
        Site::start(&stack, &stack.upstream.url(), "trusted_proxies = [\"127.0.0.1/32\"]", "")
            .await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in_on(&bob, &site.host).await;
    let response = get(
        site.port,
        &site.host,
        "/",
        &[
            ("cookie", &cookie),
            ("X-Forwarded-For", "203.0.113.7"),
            ("X_Forwarded_For", "198.51.100.9"),
            ("X-Real-IP", "198.51.100.10"),
            ("True-Client-IP", "198.51.100.11"),
        ],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = upstream_saw(&response.body);
    let headers = &seen["headers"];
    assert_eq!(headers["x-forwarded-for"], json!(["203.0.113.7, 127.0.0.1"]));
    assert_eq!(headers["x-real-ip"], json!(["203.0.113.7"]));
    assert_forwarded(headers, "203.0.113.7", &site.host);
    assert!(headers["true-client-ip"].is_null(), "{headers}");
    let everything = text_of(headers);
    assert!(!everything.contains("198.51.100."), "only X-Forwarded-For is trusted: {everything}");
}

/// Group names may hold the separator: each name is percent-encoded (`%` and `,`) and the
/// names joined with `,`, so `a,b` cannot pass for the two groups `a` and `b`. The assertion
/// carries the names as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_names_with_commas_cannot_pass_for_other_groups() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let dana = person("dana@example.com", &["plain", "c%d", "a,b"]);
    let (_, cookie) = stack.sign_in_on(&dana, &site.host).await;
    let response = get(site.port, &site.host, "/", &[("cookie", &cookie)]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = upstream_saw(&response.body);
    let claims = only_jitgate_s_identity(&site, &seen, &dana, "a%2Cb,c%25d,plain").await;
    assert_eq!(claims["groups"], json!(["a,b", "c%d", "plain"]));
}
