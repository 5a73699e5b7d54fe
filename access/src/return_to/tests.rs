use proptest::prelude::*;

use super::*;

const PORTAL: &str = "http://access.localhost:8080";

fn destinations() -> Destinations {
    Destinations::new(PORTAL, ["app.localhost:8080", "wiki.example.com", "[::1]:9000"]).unwrap()
}

fn portal(path: &str) -> ReturnTo {
    ReturnTo::Portal(path.into())
}

fn resource(host: &str, path: &str) -> ReturnTo {
    ReturnTo::Resource { host: host.into(), path: path.into() }
}

#[test]
fn the_portal_and_configured_resources_survive() {
    let d = destinations();
    for (rd, expected) in [
        ("/", portal("/")),
        ("/review?tab=active&q=a%20b", portal("/review?tab=active&q=a%20b")),
        ("/requests/01J?rd=http%3A%2F%2Fapp", portal("/requests/01J?rd=http%3A%2F%2Fapp")),
        ("/a/b%2Fc", portal("/a/b%2Fc")),
        ("http://access.localhost:8080", portal("/")),
        ("http://access.localhost:8080/x?y=1#z", portal("/x?y=1#z")),
        ("http://access.localhost:8080?y=1", portal("/?y=1")),
        ("HTTP://ACCESS.LOCALHOST:8080/Up", portal("/Up")),
        ("http://App.Localhost:8080/dash?x=1", resource("app.localhost:8080", "/dash?x=1")),
        ("http://wiki.example.com/w", resource("wiki.example.com", "/w")),
        ("http://wiki.example.com:80/w", resource("wiki.example.com", "/w")),
        ("http://wiki.example.com:080/w", resource("wiki.example.com", "/w")),
        ("http://[::1]:9000/", resource("[::1]:9000", "/")),
    ] {
        assert_eq!(d.vet(Some(rd)), expected, "{rd:?}");
    }
    assert_eq!(d.vet(None), ReturnTo::home());
    assert_eq!(d.url(&resource("app.localhost:8080", "/d")), "http://app.localhost:8080/d");
    assert_eq!(d.url(&portal("/x")), "http://access.localhost:8080/x");
}

#[test]
fn hostile_return_urls_go_home() {
    let d = destinations();
    for hostile in [
        "",
        // Scheme-relative, and what browsers turn into it.
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/%2fevil.example",
        "/%252F%252Fevil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "/a?next=%5Cx",
        "/./%2F/evil.example",
        "/.//evil.example",
        "/a/..//evil.example",
        "/%2e%2e//evil.example",
        // On the portal's host, with a path that is scheme-relative.
        "http://access.localhost:8080//evil.example",
        "http://ACCESS.localhost:8080//evil.example",
        "http://access.localhost:8080/\\evil.example",
        "http://access.localhost:8080/%2F%2Fevil.example",
        "http://app.localhost:8080//evil.example",
        // Other hosts, userinfo, look-alikes.
        "http://evil.example/",
        "http://evil.example:8080/",
        "http://access.localhost:8080@evil.example/",
        "http://access.localhost@evil.example/",
        "http://user:pass@access.localhost:8080/",
        "http://evil.example#@access.localhost:8080/",
        "http://evil.example?@access.localhost:8080/",
        "http://access.localhost.evil.example:8080/",
        "http://access.localhost.:8080/",
        "http://аccess.localhost:8080/",
        "http://xn--ccess-9ua.localhost:8080/",
        "http://%61ccess.localhost:8080/",
        // Ports: only the configured ones, exactly.
        "http://access.localhost/",
        "http://access.localhost:80/",
        "http://access.localhost:8081/",
        "http://access.localhost:/",
        "http://app.localhost:08080x/",
        "http://app.localhost:65536/",
        "http://wiki.example.com:8080/",
        "http://[::1]/",
        // Other schemes, and malformed ones.
        "https://access.localhost:8080/",
        "javascript:alert(1)",
        "JavaScript:alert(1)//access.localhost:8080",
        "data:text/html,<script>alert(1)</script>",
        "ftp://access.localhost:8080/",
        "http:/evil.example",
        "http:evil.example",
        "http:\\\\evil.example",
        "http:/\\evil.example",
        "http:///evil.example",
        "ht\ttp://access.localhost:8080//evil.example",
        "h\nttp://evil.example",
        " http://access.localhost:8080/",
        // Whitespace and control characters, raw or encoded.
        "/a b",
        "/a\tb",
        "/a\nb",
        "/\t/evil.example",
        "/a%09b",
        "/a%0Ab",
        "/a%0db",
        "/a%00b",
        "/a%7Fb",
        "/%0A/evil.example",
        "/café",
        "relative/path",
        "evil.example",
        "?x=1",
        "#x",
    ] {
        assert_eq!(d.vet(Some(hostile)), ReturnTo::home(), "{hostile:?}");
    }
}

#[test]
fn an_https_portal_keeps_https_and_normalises_443() {
    let d = Destinations::new("https://Access.Example.com:443/", ["app.example.com"]).unwrap();
    assert_eq!(d.scheme(), "https");
    assert_eq!(d.vet(Some("https://access.example.com/x")), portal("/x"));
    assert_eq!(
        d.vet(Some("https://app.example.com:443/y")),
        resource("app.example.com", "/y"),
        "the configured spelling is what comes back"
    );
    assert_eq!(d.url(&portal("/x")), "https://Access.Example.com:443/x");
    for hostile in ["http://app.example.com/y", "https://app.example.com:8443/y"] {
        assert_eq!(d.vet(Some(hostile)), ReturnTo::home(), "{hostile:?}");
    }
}

#[test]
fn misconfigured_destinations_are_refused() {
    assert!(matches!(
        Destinations::new("access.example.com", ["a"]),
        Err(DestinationsError::PortalUrl(_))
    ));
    assert!(matches!(
        Destinations::new("ftp://access.example.com", ["a"]),
        Err(DestinationsError::PortalUrl(_))
    ));
    assert_eq!(
        Destinations::new(PORTAL, ["user@app"]).unwrap_err(),
        DestinationsError::ResourceHost("user@app".into())
    );
}

#[test]
fn local_paths_for_handoffs() {
    assert_eq!(local_path("/dash?x=1"), "/dash?x=1");
    for hostile in ["//evil.example", "https://evil.example", "/\\evil", "/a\nb", "/%2F/x"] {
        assert_eq!(local_path(hostile), "/", "{hostile:?}");
    }
}

/// Inputs near the hostile forms above, so the property test spends its cases where the
/// bugs would be rather than on random Unicode.
fn hostile_like() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just(""),
        Just("http"),
        Just("HTTP"),
        Just("https"),
        Just("javascript"),
        Just("data"),
        Just("ht\ttp"),
    ];
    let separator =
        prop_oneof![Just(""), Just(":"), Just("://"), Just(":/"), Just(":\\\\"), Just(":///")];
    let host = prop_oneof![
        Just(""),
        Just("access.localhost"),
        Just("ACCESS.localhost"),
        Just("app.localhost"),
        Just("wiki.example.com"),
        Just("evil.example"),
        Just("xn--ccess-9ua.localhost"),
        Just("аccess.localhost"),
        Just("access.localhost@evil.example"),
        Just("evil.example@access.localhost"),
        Just("[::1]"),
    ];
    let port =
        prop_oneof![Just(""), Just(":8080"), Just(":80"), Just(":9000"), Just(":"), Just(":0")];
    let piece = prop_oneof![
        Just("/"),
        Just("\\"),
        Just("%2F"),
        Just("%2f"),
        Just("%5C"),
        Just("%25"),
        Just("%0A"),
        Just("%09"),
        Just("%00"),
        Just("."),
        Just(".."),
        Just("?"),
        Just("#"),
        Just("@"),
        Just(" "),
        Just("\t"),
        Just("evil.example"),
        Just("x"),
    ];
    (scheme, separator, host, port, proptest::collection::vec(piece, 0..8)).prop_map(
        |(scheme, separator, host, port, pieces)| {
            format!("{scheme}{separator}{host}{port}{}", pieces.concat())
        },
    )
}

/// Where a browser at `base` goes when told `Location: <location>`.
fn browser_target(base: &str, location: &str) -> url::Url {
    url::Url::parse(base).unwrap().join(location).unwrap()
}

fn allowed_origin(url: &url::Url) -> bool {
    let origin = (url.scheme(), url.host_str(), url.port_or_known_default());
    [
        ("http", Some("access.localhost"), Some(8080)),
        ("http", Some("app.localhost"), Some(8080)),
        ("http", Some("wiki.example.com"), Some(80)),
        ("http", Some("[::1]"), Some(9000)),
    ]
    .contains(&origin)
}

fn check(d: &Destinations, input: &str) -> Result<(), TestCaseError> {
    let vetted = d.vet(Some(input));
    let path = match &vetted {
        ReturnTo::Portal(path) | ReturnTo::Resource { path, .. } => path,
    };
    prop_assert!(path.starts_with('/') && !path.starts_with("//"), "{input:?} -> {vetted:?}");
    prop_assert!(!path.contains('\\'), "{input:?} -> {vetted:?}");
    if let ReturnTo::Resource { host, .. } = &vetted {
        prop_assert!(
            ["app.localhost:8080", "wiki.example.com", "[::1]:9000"].contains(&host.as_str()),
            "{input:?} -> {vetted:?}"
        );
    }
    // Followed by a browser, whether as an absolute URL or as the path alone.
    let absolute = browser_target(PORTAL, &d.url(&vetted));
    prop_assert!(allowed_origin(&absolute), "{input:?} -> {absolute}");
    let relative = browser_target(PORTAL, path);
    prop_assert_eq!(relative.host_str(), Some("access.localhost"), "{:?} -> {}", input, relative);
    let handoff = browser_target("http://app.localhost:8080/", local_path(input));
    prop_assert_eq!(handoff.host_str(), Some("app.localhost"), "{:?} -> {}", input, handoff);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_input_stays_on_a_known_host_with_a_plain_path(input in any::<String>()) {
        check(&destinations(), &input)?;
    }

    #[test]
    fn hostile_like_input_stays_on_a_known_host_with_a_plain_path(input in hostile_like()) {
        check(&destinations(), &input)?;
    }
}
