//! Where a browser may be sent back to after signing in, asking for access or redeeming a
//! handoff: the one owner of that decision, for every portal page, the sign-in flows and the
//! proxy's handoff alike. A return URL arrives from the browser (`rd=`), so anything it does
//! not prove safe is an open redirect waiting to be used for phishing; it becomes the portal's
//! home page instead.
//!
//! What survives:
//!
//! - a **local path** ([`local_path`]): starts with one `/`, visible ASCII only, no backslash,
//!   and the same after percent-decoding (as often as it keeps changing): no `//` start, no
//!   backslash, no control character, no `.`/`..` segment. Browsers read `//host`, `/\host` and
//!   (some) `\/host` as another site, and a later hop that decodes or normalises the path must
//!   not be able to produce one either;
//! - an **absolute URL** on the deployment's own scheme whose host (ASCII case-insensitive) and
//!   port (default ports normalised) are the portal's or a configured resource's, without
//!   userinfo, and whose path is a local path as above.
//!
//! Nothing is repaired: an unusual but harmless URL is refused too. The vetted value is rebuilt
//! from the configured host and the checked path, never echoed whole.

use percent_encoding::percent_decode;
use thiserror::Error;

use crate::config::Config;

/// Percent-decoding rounds a path may take before it stops changing; more layers than this
/// have no honest use.
const MAX_DECODE_ROUNDS: usize = 4;

/// A vetted return destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTo {
    /// A local path on the portal.
    Portal(String),
    /// A local path on a configured resource host (`host` as configured, `host[:port]`).
    Resource { host: String, path: String },
}

impl ReturnTo {
    /// The portal's home page: where anything unsafe goes.
    pub fn home() -> Self {
        ReturnTo::Portal("/".into())
    }
}

/// A configured base URL or host that cannot be vetted against.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DestinationsError {
    #[error("the portal URL {0:?} is not http(s)://host[:port]")]
    PortalUrl(String),
    #[error("the resource host {0:?} is not host[:port]")]
    ResourceHost(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(raw: &str) -> Option<Self> {
        if raw.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if raw.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A host and port as compared: lower-case host, `None` for the scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    /// `host[:port]` or `[v6]:port`; userinfo, empty ports and anything outside a DNS name's
    /// (or an IPv6 literal's) characters are refused.
    fn parse(raw: &str, scheme: Scheme) -> Option<Self> {
        let (host, port) = if raw.starts_with('[') {
            let end = raw.find(']')?;
            let (host, rest) = raw.split_at(end + 1);
            let literal = &host[1..host.len() - 1];
            let valid = !literal.is_empty()
                && literal.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
            if !valid {
                return None;
            }
            match rest {
                "" => (host, None),
                _ => (host, Some(rest.strip_prefix(':')?)),
            }
        } else {
            let (host, port) = match raw.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (raw, None),
            };
            let valid = !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !valid {
                return None;
            }
            (host, port)
        };
        let port = match port {
            None => None,
            Some(digits) => {
                if digits.is_empty()
                    || digits.len() > 5
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                let port: u16 = digits.parse().ok().filter(|p| *p > 0)?;
                (port != scheme.default_port()).then_some(port)
            }
        };
        Some(Self { host: host.to_ascii_lowercase(), port })
    }
}

/// The places a deployment may send a browser back to: the portal and the configured
/// resource hosts, on the portal's scheme.
#[derive(Debug, Clone)]
pub struct Destinations {
    scheme: Scheme,
    /// `scheme://host[:port]` as configured, without a trailing `/`.
    portal_url: String,
    portal: Authority,
    /// Each resource host as compared, and as configured (what handoffs and URLs name).
    resources: Vec<(Authority, String)>,
}

impl Destinations {
    /// The portal at `portal_url` (`http(s)://host[:port]`) and the resources at
    /// `resource_hosts` (`host[:port]`, reached on the portal's scheme).
    pub fn new<'a>(
        portal_url: &str,
        resource_hosts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, DestinationsError> {
        let bad_portal = || DestinationsError::PortalUrl(portal_url.to_owned());
        let trimmed = portal_url.strip_suffix('/').unwrap_or(portal_url);
        let (scheme, authority) = trimmed.split_once("://").ok_or_else(bad_portal)?;
        let scheme = Scheme::parse(scheme).ok_or_else(bad_portal)?;
        let portal = Authority::parse(authority, scheme).ok_or_else(bad_portal)?;
        let resources = resource_hosts
            .into_iter()
            .map(|host| {
                Authority::parse(host, scheme)
                    .map(|authority| (authority, host.to_owned()))
                    .ok_or_else(|| DestinationsError::ResourceHost(host.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { scheme, portal_url: trimmed.to_owned(), portal, resources })
    }

    /// The destinations a validated config names.
    pub fn from_config(config: &Config) -> Result<Self, DestinationsError> {
        Self::new(&config.server.portal_url, config.resources.iter().map(|r| r.host.as_str()))
    }

    /// `http` or `https`: the portal's scheme, which resources share.
    pub fn scheme(&self) -> &'static str {
        self.scheme.as_str()
    }

    /// `candidate` if it is a safe way back to the portal or a resource, else the home page.
    pub fn vet(&self, candidate: Option<&str>) -> ReturnTo {
        candidate.and_then(|rd| self.parse(rd)).unwrap_or_else(ReturnTo::home)
    }

    fn parse(&self, rd: &str) -> Option<ReturnTo> {
        if rd.starts_with('/') {
            return is_local_path(rd).then(|| ReturnTo::Portal(rd.to_owned()));
        }
        // Tabs and newlines that browsers strip from a scheme, backslashes they read as
        // slashes, and anything non-ASCII (IDN look-alikes) end the inquiry here.
        if !rd.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
            return None;
        }
        let (scheme, rest) = rd.split_once("://")?;
        if Scheme::parse(scheme)? != self.scheme {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = Authority::parse(authority, self.scheme)?;
        let path = match tail.as_bytes().first() {
            None => "/".to_owned(),
            Some(b'/') => tail.to_owned(),
            Some(_) => format!("/{tail}"),
        };
        if !is_local_path(&path) {
            return None;
        }
        if authority == self.portal {
            return Some(ReturnTo::Portal(path));
        }
        self.resources
            .iter()
            .find(|(known, _)| *known == authority)
            .map(|(_, host)| ReturnTo::Resource { host: host.clone(), path })
    }

    /// The absolute URL of `to`, for `rd` parameters carried across pages and for links.
    pub fn url(&self, to: &ReturnTo) -> String {
        match to {
            ReturnTo::Portal(path) => format!("{}{path}", self.portal_url),
            ReturnTo::Resource { host, path } => format!("{}://{host}{path}", self.scheme()),
        }
    }
}

/// `candidate` if it is a safe local path (see the module docs), else `/`. What a handoff's
/// `rd` and a form's "back" field go through.
pub fn local_path(candidate: &str) -> &str {
    if is_local_path(candidate) { candidate } else { "/" }
}

fn is_local_path(path: &str) -> bool {
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return false;
    }
    let mut current = path.as_bytes().to_vec();
    for _ in 0..MAX_DECODE_ROUNDS {
        if !safe_layer(&current) {
            return false;
        }
        let decoded: Vec<u8> = percent_decode(&current).collect();
        if decoded == current {
            return true;
        }
        current = decoded;
    }
    false
}

/// One layer of a path (raw or decoded) as a browser or a later hop could read it.
fn safe_layer(bytes: &[u8]) -> bool {
    if !bytes.starts_with(b"/") || bytes.starts_with(b"//") {
        return false;
    }
    if bytes.iter().any(|b| *b == b'\\' || b.is_ascii_control()) {
        return false;
    }
    let end = bytes.iter().position(|b| matches!(b, b'?' | b'#')).unwrap_or(bytes.len());
    !bytes[..end].split(|b| *b == b'/').any(|segment| segment == b"." || segment == b"..")
}

#[cfg(test)]
mod tests;
