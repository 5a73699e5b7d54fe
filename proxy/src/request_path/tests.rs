use proptest::prelude::*;

use super::*;

fn canonical(path: &str) -> Result<String, PathRefusal> {
    canonicalize(path).map(|p| p.as_str().to_owned())
}

#[test]
fn equivalent_spellings_become_one_path() {
    for (raw, expected) in [
        ("/", "/"),
        ("/admin/secret", "/admin/secret"),
        ("/%61dmin/secret", "/admin/secret"),
        ("/%41DMIN", "/ADMIN"),
        ("//admin/secret", "/admin/secret"),
        ("/admin//secret", "/admin/secret"),
        ("/x/../admin/secret", "/admin/secret"),
        ("/./admin/secret", "/admin/secret"),
        ("/admin/./secret/", "/admin/secret/"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/../../admin", "/admin"),
        ("/.", "/"),
        ("/..", "/"),
        ("//", "/"),
        ("/file%2etxt", "/file.txt"),
        ("/a%7eb", "/a~b"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/a%20b", "/a%20b"),
        ("/100%25", "/100%25"),
        ("/%2561dmin", "/%2561dmin"),
        ("/a;b=c/d", "/a;b=c/d"),
        ("/a%3bb", "/a%3Bb"),
        ("/a\"b{c}", "/a%22b%7Bc%7D"),
    ] {
        assert_eq!(canonical(raw).as_deref(), Ok(expected), "{raw:?}");
    }
}

#[test]
fn what_upstreams_read_differently_is_refused() {
    for (raw, refusal) in [
        ("admin", PathRefusal::NotAbsolute),
        ("*", PathRefusal::NotAbsolute),
        ("", PathRefusal::NotAbsolute),
        ("/%zz", PathRefusal::BadEscape),
        ("/%4", PathRefusal::BadEscape),
        ("/a%", PathRefusal::BadEscape),
        ("/a\\b", PathRefusal::Backslash),
        ("/a%00b", PathRefusal::ControlCharacter),
        ("/a%0ab", PathRefusal::ControlCharacter),
        ("/a%7Fb", PathRefusal::ControlCharacter),
        ("/a\tb", PathRefusal::ControlCharacter),
        ("/%c0%af", PathRefusal::NotUtf8),
        ("/%ff", PathRefusal::NotUtf8),
        ("/%2e%2e/admin", PathRefusal::EncodedDotSegment),
        ("/%2E/admin", PathRefusal::EncodedDotSegment),
        ("/.%2e/admin", PathRefusal::EncodedDotSegment),
        ("/x/%2e%2E", PathRefusal::EncodedDotSegment),
        ("/public/..;/admin", PathRefusal::AmbiguousSegment),
        ("/public/..;x=1/admin", PathRefusal::AmbiguousSegment),
        ("/public/.;/admin", PathRefusal::AmbiguousSegment),
        ("/public/%2e%2e;/admin", PathRefusal::AmbiguousSegment),
        ("/public/..%3b/admin", PathRefusal::AmbiguousSegment),
        ("/public/;x/admin", PathRefusal::AmbiguousSegment),
        ("/public/..%20/admin", PathRefusal::AmbiguousSegment),
        ("/public/.../admin", PathRefusal::AmbiguousSegment),
        ("/files/..%2fadmin", PathRefusal::AmbiguousSegment),
        ("/files/a%2F..%2F..%2Fadmin", PathRefusal::AmbiguousSegment),
        ("/files/.%2F..%2Fadmin", PathRefusal::AmbiguousSegment),
        ("/files/..%5Cadmin", PathRefusal::AmbiguousSegment),
    ] {
        assert_eq!(canonical(raw), Err(refusal), "{raw:?}");
    }
}

#[test]
fn encoded_separators_are_kept_encoded_and_flagged() {
    for raw in ["/admin%2fsecret", "/admin%2Fsecret", "/admin%5csecret"] {
        let path = canonicalize(raw).unwrap();
        assert!(path.has_encoded_separator(), "{raw:?}");
        assert_eq!(path.segments().count(), 1, "an encoded slash separates nothing: {raw:?}");
        assert!(path.as_str().contains("%2F") || path.as_str().contains("%5C"));
    }
    assert!(!canonicalize("/a/b").unwrap().has_encoded_separator());
}

#[test]
fn encoded_separators_have_a_decoded_reading_for_routing() {
    let path = canonicalize("/files%2Fsecret").unwrap();
    assert_eq!(path.separators_decoded().unwrap().as_str(), "/files/secret");
    assert!(canonicalize("/a/b").unwrap().separators_decoded().is_none());
}

#[test]
fn the_common_path_is_not_copied() {
    let path = canonicalize("/api/v1/items;x=1").unwrap();
    assert!(!path.is_rewritten());
    assert!(canonicalize("/a//b").unwrap().is_rewritten());
}

#[test]
fn prefixes_match_on_segments_and_loose_forms_are_told_apart() {
    let check = |prefix: &str, raw: &str| match_prefix(prefix, &canonicalize(raw).unwrap());
    assert_eq!(check("/admin", "/admin"), PrefixMatch::Exact);
    assert_eq!(check("/admin", "/admin/"), PrefixMatch::Exact);
    assert_eq!(check("/admin", "/admin/x"), PrefixMatch::Exact);
    assert_eq!(check("/admin", "/%61dmin/x"), PrefixMatch::Exact);
    assert_eq!(check("/admin", "/administrator"), PrefixMatch::No);
    assert_eq!(check("/admin", "/admins/x"), PrefixMatch::No);
    assert_eq!(check("/admin", "/"), PrefixMatch::No);
    assert_eq!(check("/a/b", "/a"), PrefixMatch::No);
    assert_eq!(check("/a/b", "/a/b/c"), PrefixMatch::Exact);
    assert_eq!(check("/", "/anything"), PrefixMatch::Exact);
    for loose in ["/Admin/x", "/ADMIN", "/admin;x=1/y", "/admin%3Bx", "/admin./x", "/admin%20/x"] {
        assert_eq!(check("/admin", loose), PrefixMatch::Loose, "{loose:?}");
    }
}

#[test]
fn absolute_form_targets_must_name_the_routed_host() {
    assert_eq!(target_path("/a?b", "app.localhost", false), Ok("/a"));
    assert_eq!(target_path("http://App.localhost:80/a?b", "app.localhost", false), Ok("/a"));
    assert_eq!(target_path("http://app.localhost", "app.localhost", false), Ok("/"));
    assert_eq!(
        target_path("http://other.localhost/admin", "app.localhost", false),
        Err(PathRefusal::AuthorityMismatch)
    );
    assert_eq!(target_path("*", "app.localhost", false), Err(PathRefusal::NotAbsolute));
    assert_eq!(
        target_path("ftp://app.localhost/", "app.localhost", false),
        Err(PathRefusal::NotAbsolute)
    );
}

/// Whether `path` can be sent to an upstream that decodes and normalises it and still name
/// the same resource: canonical form is a fixed point of canonicalisation, and decoding it
/// (as nginx does) yields no separators, dot segments or empty segments it did not show.
fn assert_canonical(path: &str) {
    assert!(path.starts_with('/'), "{path:?}");
    assert!(!path.contains("//"), "{path:?}");
    assert!(!path.contains('\\'), "{path:?}");
    for segment in path.split('/').skip(1) {
        assert!(segment != "." && segment != "..", "{path:?}");
        assert!(!segment_is_ambiguous(segment), "{path:?}");
        let decoded = percent_encoding::percent_decode_str(segment).collect::<Vec<u8>>();
        assert!(!decoded.contains(&b'/') && !decoded.contains(&b'\\'), "{path:?}");
        assert!(decoded != b"." && decoded != b"..", "{path:?}");
        assert!(!decoded.iter().any(|b| *b < 0x20 || *b == 0x7f), "{path:?}");
    }
    assert_eq!(canonical(path).as_deref(), Ok(path), "canonical form is stable");
}

proptest! {
    /// For any input, either a refusal or a path an upstream reads exactly as the router did.
    #[test]
    fn any_path_is_refused_or_canonical(raw in "/[a-zA-Z0-9%./\\\\;:@~_ -]{0,40}") {
        if let Ok(path) = canonicalize(&raw)
            && !path.has_encoded_separator()
        {
            assert_canonical(path.as_str());
        }
    }

    /// Escaping a byte that needs no escape never changes the decision.
    #[test]
    fn escaping_unreserved_bytes_changes_nothing(
        segments in proptest::collection::vec("[a-z0-9_~-]{1,8}", 0..6),
        mask in any::<u64>(),
    ) {
        let plain = format!("/{}", segments.join("/"));
        let mut escaped = String::new();
        for (i, c) in plain.chars().enumerate() {
            if c != '/' && mask & (1 << (i % 64)) != 0 {
                escaped.push_str(&format!("%{:02x}", c as u8));
            } else {
                escaped.push(c);
            }
        }
        prop_assert_eq!(canonical(&escaped), canonical(&plain));
    }
}
