use super::*;

fn request(headers: &[(&str, &str)]) -> RequestHeader {
    let mut request = RequestHeader::build("GET", b"/", None).unwrap();
    for (name, value) in headers {
        request.append_header(name.to_string(), *value).unwrap();
    }
    request
}

fn names(request: &RequestHeader) -> Vec<String> {
    request.headers.keys().map(|n| n.as_str().to_owned()).collect()
}

fn forwarded(peer: &str) -> Forwarded<'static> {
    Forwarded { peer: Some(peer.parse().unwrap()), proto: "http", host: "app.localhost:8080" }
}

fn get<'a>(request: &'a RequestHeader, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn client_copies_of_owned_headers_go_under_every_spelling() {
    let headers = UpstreamHeaders::new(&IdentityHeaders::default(), vec![]);
    let mut request = request(&[
        ("X_Jitgate_User", "mallory@example.com"),
        ("x_jitgate_email", "mallory@example.com"),
        ("X-Jitgate_User", "mallory@example.com"),
        ("X-JITGATE-GROUPS", "admins"),
        ("x-jitgate-assertion", "forged"),
        ("X_Forwarded_For", "10.9.9.9"),
        ("Forwarded", "for=10.9.9.9"),
        ("X-Real-IP", "10.9.9.9"),
        ("X-Original-URL", "/admin"),
        ("X_Rewrite_URL", "/admin"),
        ("True-Client-IP", "10.9.9.9"),
        ("x-forwarded-prefix", "/evil"),
        ("x-app-header", "kept"),
    ]);
    headers.rewrite(&mut request, None, &forwarded("127.0.0.1"), false).unwrap();
    let mut seen = names(&request);
    seen.sort();
    assert_eq!(
        seen,
        [
            "forwarded",
            "x-app-header",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-port",
            "x-forwarded-proto",
            "x-real-ip"
        ]
    );
    assert_eq!(get(&request, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(get(&request, "x-real-ip"), Some("127.0.0.1"));
    assert_eq!(
        get(&request, "forwarded"),
        Some("for=127.0.0.1;host=\"app.localhost:8080\";proto=http")
    );
    assert_eq!(get(&request, "x-forwarded-port"), Some("8080"));
}

#[test]
fn behind_a_trusted_proxy_the_client_comes_from_its_chain() {
    let trusted = vec!["10.0.0.0/8".parse().unwrap()];
    let headers = UpstreamHeaders::new(&IdentityHeaders::default(), trusted);
    let mut behind = request(&[("x-forwarded-for", "198.51.100.1, 203.0.113.7, 10.0.0.9")]);
    headers.rewrite(&mut behind, None, &forwarded("10.0.0.2"), false).unwrap();
    assert_eq!(get(&behind, "x-real-ip"), Some("203.0.113.7"), "trusted hops are skipped");
    assert_eq!(
        get(&behind, "x-forwarded-for"),
        Some("198.51.100.1, 203.0.113.7, 10.0.0.9, 10.0.0.2")
    );
    let mut direct = request(&[("x-forwarded-for", "203.0.113.7")]);
    headers.rewrite(&mut direct, None, &forwarded("192.0.2.1"), false).unwrap();
    assert_eq!(
        get(&direct, "x-real-ip"),
        Some("192.0.2.1"),
        "an untrusted peer's chain is ignored"
    );
    assert_eq!(get(&direct, "x-forwarded-for"), Some("192.0.2.1"));
    let mut v6 = request(&[]);
    headers.rewrite(&mut v6, None, &forwarded("::1"), false).unwrap();
    assert!(get(&v6, "forwarded").unwrap().starts_with("for=\"[::1]\";"));
}

#[test]
fn group_names_cannot_be_read_as_two() {
    let mut out = String::new();
    encode_group("a,b%2C", &mut out);
    assert_eq!(out, "a%2Cb%252C");
    let headers = UpstreamHeaders::new(&IdentityHeaders::default(), vec![]);
    let identity = Identity::new(
        "bob@example.com".parse().unwrap(),
        ["a,b", "c%d", "plain"].iter().map(|g| g.parse().unwrap()),
    );
    let values = IdentityValues::new(&identity, "jwt".into()).unwrap();
    let asserted = Asserted { identity: &values, strip_authorization: false };
    let mut request = request(&[("authorization", "Bearer app-token")]);
    headers.rewrite(&mut request, Some(asserted), &forwarded("127.0.0.1"), false).unwrap();
    let groups = get(&request, "x-jitgate-groups").unwrap();
    let mut listed: Vec<&str> = groups.split(',').collect();
    listed.sort();
    assert_eq!(listed, ["a%2Cb", "c%25d", "plain"]);
    assert_eq!(get(&request, "x-jitgate-user"), Some("bob@example.com"));
    assert_eq!(get(&request, "authorization"), Some("Bearer app-token"), "the app's own token");
}

#[test]
fn jitgate_cookies_never_reach_the_upstream() {
    let headers = UpstreamHeaders::new(&IdentityHeaders::default(), vec![]);
    let mut request =
        request(&[("cookie", "a=1; jitgate_session=x"), ("cookie", "__Host-jitgate_state=y")]);
    headers.rewrite(&mut request, None, &forwarded("127.0.0.1"), false).unwrap();
    assert_eq!(get(&request, "cookie"), Some("a=1"));
}

/// The forwarding values are shared between requests of one client and host only: the next
/// client, or the same client on another host or scheme, gets its own.
#[test]
fn forwarding_values_are_reused_only_for_the_same_client_and_host() {
    let headers = UpstreamHeaders::new(&IdentityHeaders::default(), vec![]);
    let rewrite = |peer: &str, host: &'static str, proto: &'static str| {
        let mut request = request(&[]);
        let forwarded = Forwarded { peer: Some(peer.parse().unwrap()), proto, host };
        headers.rewrite(&mut request, None, &forwarded, false).unwrap();
        let wanted = ["x-forwarded-for", "x-real-ip", "forwarded", "x-forwarded-host"];
        wanted.map(|name| get(&request, name).unwrap().to_owned())
    };
    let first = rewrite("192.0.2.1", "app.localhost:8080", "http");
    assert_eq!(first, rewrite("192.0.2.1", "app.localhost:8080", "http"));
    let other = rewrite("192.0.2.2", "app.localhost:8080", "http");
    assert_eq!(other[0], "192.0.2.2");
    assert_eq!(other[1], "192.0.2.2");
    assert!(other[2].starts_with("for=192.0.2.2;"), "{}", other[2]);
    let host = rewrite("192.0.2.2", "db.localhost", "https");
    assert_eq!(host[2], "for=192.0.2.2;host=\"db.localhost\";proto=https");
    assert_eq!(host[3], "db.localhost");
}

#[test]
fn a_cookie_header_without_jitgate_cookies_passes_as_it_came() {
    let headers = UpstreamHeaders::new(&IdentityHeaders::default(), vec![]);
    let mut theirs = request(&[("cookie", "a=1;b=2")]);
    headers.rewrite(&mut theirs, None, &forwarded("127.0.0.1"), false).unwrap();
    assert_eq!(get(&theirs, "cookie"), Some("a=1;b=2"));
    let mut only_ours = request(&[("cookie", "jitgate_session=x")]);
    headers.rewrite(&mut only_ours, None, &forwarded("127.0.0.1"), false).unwrap();
    assert_eq!(get(&only_ours, "cookie"), None, "a header left empty goes");
}
