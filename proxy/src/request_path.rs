//! The one path a request is routed, decided and forwarded on.
//!
//! A proxy that matches the raw path while its upstream decodes and normalises it can be walked
//! around: `/%61dmin`, `//admin`, `/x/../admin` all reach an upstream's `/admin` while a raw
//! prefix match sees something else. So the proxy turns the request-target into one canonical
//! form (RFC 3986 §6.2.2: unreserved escapes decoded, the escapes it keeps upper-cased, dot
//! segments resolved) and also merges empty segments (`//`), decides on that form, and sends
//! the upstream exactly that form.
//!
//! What upstreams disagree about cannot be made canonical, so it is refused with 400: encoded
//! `/` and `\` inside a segment (some servers decode them into separators, others do not),
//! backslashes (Windows servers read them as separators), percent-encoded dot segments (some
//! resolve `%2e%2e`, others do not), NUL and other control characters, malformed escapes, and
//! bytes that are not UTF-8 once decoded. A resource may opt in to encoded slashes
//! (`allow_encoded_slashes`): they are then kept encoded, never decoded, and never separate
//! segments for routing.

use std::borrow::Cow;

use thiserror::Error;

/// Why a request-target has no canonical form.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum PathRefusal {
    #[error("the request target is not an absolute path")]
    NotAbsolute,
    #[error("a percent escape is malformed")]
    BadEscape,
    #[error("the path holds an encoded slash or backslash")]
    EncodedSeparator,
    #[error("the path holds a backslash")]
    Backslash,
    #[error("the path holds a control character")]
    ControlCharacter,
    #[error("the path is not UTF-8 once decoded")]
    NotUtf8,
    #[error("a dot segment is percent-encoded")]
    EncodedDotSegment,
    #[error("a segment reads as a dot or empty segment to some servers")]
    AmbiguousSegment,
    #[error("the path names a protected prefix in a form upstreams may read differently")]
    AmbiguousPrefix,
    #[error("the request target's authority does not match its Host")]
    AuthorityMismatch,
}

/// A path in canonical form: starts with `/`, no empty, `.` or `..` segments, every escape it
/// holds upper-case and necessary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath<'a> {
    path: Cow<'a, str>,
    /// It holds `%2F` or `%5C`, which only a resource that allows them may receive.
    encoded_separator: bool,
}

impl<'a> CanonicalPath<'a> {
    pub fn as_str(&self) -> &str {
        &self.path
    }

    pub fn has_encoded_separator(&self) -> bool {
        self.encoded_separator
    }

    /// Whether it differs from the path the client sent (the upstream request needs rewriting).
    pub fn is_rewritten(&self) -> bool {
        matches!(self.path, Cow::Owned(_))
    }

    /// The segments between slashes (none for `/`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').skip(1).filter(|s| !s.is_empty())
    }
}

const fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Bytes that stand for themselves in a path segment (RFC 3986 `pchar` less escapes).
const fn is_plain(byte: u8) -> bool {
    is_unreserved(byte)
        || matches!(
            byte,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

/// The common case needs no copy: only plain bytes and single slashes, no dot segment.
fn already_canonical(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && bytes.iter().all(|b| *b == b'/' || is_plain(*b))
        && !path.contains("//")
        // Dot segments, and anything a lenient server might read as one (`..;x`, `...`), take
        // the long way.
        && !path.split('/').any(|segment| segment.starts_with(['.', ';']))
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn push_escaped(out: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(DIGITS[usize::from(byte >> 4)]));
    out.push(char::from(DIGITS[usize::from(byte & 15)]));
}

/// One segment in canonical form, and whether a `.` in it was percent-encoded.
struct Segment {
    text: String,
    encoded_dot: bool,
}

fn canonical_segment(
    raw: &[u8],
    decoded: &mut Vec<u8>,
    encoded_separator: &mut bool,
) -> Result<Segment, PathRefusal> {
    let mut segment = Segment { text: String::with_capacity(raw.len()), encoded_dot: false };
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        if byte == b'%' {
            let (Some(high), Some(low)) =
                (raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex))
            else {
                return Err(PathRefusal::BadEscape);
            };
            let value = (high << 4) | low;
            decoded.push(value);
            match value {
                b'.' => {
                    segment.encoded_dot = true;
                    segment.text.push('.');
                }
                _ if is_unreserved(value) => segment.text.push(char::from(value)),
                b'/' | b'\\' => {
                    *encoded_separator = true;
                    push_escaped(&mut segment.text, value);
                }
                0..=0x1f | 0x7f => return Err(PathRefusal::ControlCharacter),
                _ => push_escaped(&mut segment.text, value),
            }
            i += 3;
            continue;
        }
        decoded.push(byte);
        match byte {
            b'\\' => return Err(PathRefusal::Backslash),
            0..=0x1f | 0x7f => return Err(PathRefusal::ControlCharacter),
            _ if is_plain(byte) => segment.text.push(char::from(byte)),
            // Anything else a lenient parser let through (`"`, `{`, raw UTF-8, …) is sent
            // escaped, the form every upstream reads the same way.
            _ => push_escaped(&mut segment.text, byte),
        }
        i += 1;
    }
    Ok(segment)
}

/// The canonical form of an origin-form path (no query). See the module docs for what is
/// refused.
pub fn canonicalize(path: &str) -> Result<CanonicalPath<'_>, PathRefusal> {
    if already_canonical(path) {
        return Ok(CanonicalPath { path: Cow::Borrowed(path), encoded_separator: false });
    }
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathRefusal::NotAbsolute);
    }
    let mut encoded_separator = false;
    // Every byte of the path with escapes decoded, to check it is UTF-8.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut segments: Vec<String> = Vec::new();
    let raw_segments: Vec<&[u8]> = bytes[1..].split(|b| *b == b'/').collect();
    let mut trailing_slash = false;
    for (index, raw) in raw_segments.iter().enumerate() {
        let last = index + 1 == raw_segments.len();
        let segment = canonical_segment(raw, &mut decoded, &mut encoded_separator)?;
        if segment_is_ambiguous(&segment.text) {
            return Err(PathRefusal::AmbiguousSegment);
        }
        match segment.text.as_str() {
            "." | ".." if segment.encoded_dot => return Err(PathRefusal::EncodedDotSegment),
            "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            "" => trailing_slash = last,
            _ => {
                trailing_slash = false;
                segments.push(segment.text);
            }
        }
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(PathRefusal::NotUtf8);
    }
    let mut canonical = String::with_capacity(path.len());
    for segment in &segments {
        canonical.push('/');
        canonical.push_str(segment);
    }
    if canonical.is_empty() || trailing_slash {
        canonical.push('/');
    }
    let path = if canonical == path { Cow::Borrowed(path) } else { Cow::Owned(canonical) };
    Ok(CanonicalPath { path, encoded_separator })
}

/// The path of a request-target (without its query). Origin-form (`/path?q`) is the norm;
/// absolute-form (`http://host/path`, which proxies must accept) is taken only when its
/// authority is the `host` the request is routed by, since an upstream may route by either.
pub fn target_path<'a>(target: &'a str, host: &str, tls: bool) -> Result<&'a str, PathRefusal> {
    let path_and_query = if target.starts_with('/') {
        target
    } else {
        let (scheme, rest) = target.split_once("://").ok_or(PathRefusal::NotAbsolute)?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(PathRefusal::NotAbsolute);
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if crate::route::normalize_host(&rest[..end], tls) != host {
            return Err(PathRefusal::AuthorityMismatch);
        }
        match &rest[end..] {
            rest if rest.is_empty() || rest.starts_with('?') => return Ok("/"),
            rest => rest,
        }
    };
    Ok(path_and_query.split_once('?').map_or(path_and_query, |(path, _)| path))
}

/// Whether some server reads `segment` (canonical) as a dot or empty segment although it is
/// neither: `..;x` (Tomcat and Jetty cut path parameters), `..%20` and `...` (Windows strips
/// trailing dots and spaces), and, where encoded separators are let through, `..%2F` and
/// `a%5C..` (servers that decode them into separators).
fn segment_is_ambiguous(segment: &str) -> bool {
    // Exact dot and empty segments are resolved, not ambiguous.
    if segment.is_empty() || segment == "." || segment == ".." {
        return false;
    }
    if loose(segment).is_empty() {
        return true;
    }
    let split = segment.contains("%2F") || segment.contains("%5C");
    split
        && segment.split("%2F").flat_map(|piece| piece.split("%5C")).any(|piece| {
            piece == "." || piece == ".." || (!piece.is_empty() && loose(piece).is_empty())
        })
}

impl CanonicalPath<'_> {
    /// The path as a server that decodes `%2F` and `%5C` into separators reads it, when it
    /// holds any: routing must agree on both readings.
    pub fn separators_decoded(&self) -> Option<CanonicalPath<'static>> {
        if !self.encoded_separator {
            return None;
        }
        let decoded = self.path.replace("%2F", "/").replace("%5C", "/");
        canonicalize(&decoded).ok().map(|path| CanonicalPath {
            path: Cow::Owned(path.path.into_owned()),
            encoded_separator: false,
        })
    }
}

/// How a segment may be read by a lenient upstream: without `;parameters` (Tomcat, Jetty),
/// trailing dots and spaces (Windows), and ASCII case (case-insensitive file systems).
fn loose(segment: &str) -> String {
    let cut = segment.find(';').unwrap_or(segment.len());
    let cut = segment[..cut].find("%3B").map_or(cut, |at| at.min(cut));
    let mut text = segment[..cut].to_ascii_lowercase();
    loop {
        if let Some(rest) = text.strip_suffix('.') {
            text.truncate(rest.len());
        } else if let Some(rest) = text.strip_suffix("%20") {
            text.truncate(rest.len());
        } else {
            return text;
        }
    }
}

/// How `path` relates to a configured prefix (itself canonical, without a trailing slash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMatch {
    /// On segment boundaries, exactly.
    Exact,
    No,
    /// Only as a lenient upstream would read it (`/Admin`, `/admin;x`, `/admin.`): an
    /// upstream might serve the prefix's content for it, the router cannot tell, so it refuses.
    Loose,
}

pub fn match_prefix(prefix: &str, path: &CanonicalPath<'_>) -> PrefixMatch {
    if prefix == "/" {
        return PrefixMatch::Exact;
    }
    let mut path_segments = path.segments();
    let mut exact = true;
    for wanted in prefix.split('/').skip(1) {
        let Some(have) = path_segments.next() else { return PrefixMatch::No };
        if have != wanted {
            if loose(have) != loose(wanted) {
                return PrefixMatch::No;
            }
            exact = false;
        }
    }
    if exact { PrefixMatch::Exact } else { PrefixMatch::Loose }
}

#[cfg(test)]
mod tests;
