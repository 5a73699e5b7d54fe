//! What the upstream sees: who the user is, where the request came from, and none of what a
//! client could forge or of jitgate's own cookies.
//!
//! A client may send a header an upstream would read as jitgate's under another spelling:
//! CGI, WSGI, PHP and Rack map both `X-Jitgate-User` and `X_Jitgate_User` to
//! `HTTP_X_JITGATE_USER`, and header names are case-insensitive. So every client header whose
//! name equals one of jitgate's after lower-casing and mapping `_` to `-` is dropped, for the
//! identity headers and for every forwarding header an upstream or framework might trust
//! (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, `X-Original-URL`, …). jitgate then states the
//! forwarding headers itself.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::IpAddr;
use std::rc::Rc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use jitgate_access::config::IdentityHeaders;
use jitgate_access::cookies::Cookies;
use jitgate_access::policy::Identity;
use pingora::http::RequestHeader;

/// Headers that carry where a request came from or what it asked for, which frameworks trust
/// (Symfony and Laravel read `X-Original-URL`, IIS `X-Rewrite-URL`, many apps `X-Real-IP`). A
/// client's copies never pass; jitgate sets the first five itself.
const FORWARDING: [&str; 22] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
    "forwarded",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-original-forwarded-for",
    "x-rewrite-url",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
];

/// The header names jitgate owns, prepared once at start-up.
///
/// Names go to Pingora as `Bytes`: `RequestHeader::insert_header` parses whatever it is given
/// back into a `HeaderName` (and records its spelling), so a `HeaderName` saves nothing there,
/// and one outside `http`'s standard set would even be copied twice; a static or shared
/// `Bytes` is not copied at all.
pub struct UpstreamHeaders {
    user: Bytes,
    email: Bytes,
    groups: Bytes,
    assertion: Bytes,
    /// Every name a client copy of which is dropped (lower-case, `-` spelling).
    owned: HashSet<Box<str>>,
    /// The longest of them: a longer name is none of them, whatever its spelling.
    longest_owned: usize,
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// Where the request came from, as jitgate states it.
pub struct Forwarded<'a> {
    /// The TCP peer.
    pub peer: Option<IpAddr>,
    pub proto: &'static str,
    pub host: &'a str,
}

/// The forwarding header values for a client that is not a trusted proxy, on one host: the
/// same for every request of a keep-alive connection, so built once and then shared (see
/// [`forwarding_values`]).
struct ForwardingValues {
    peer: IpAddr,
    proto: &'static str,
    host: Box<str>,
    /// `X-Forwarded-For` and `X-Real-IP`: the peer.
    address: HeaderValue,
    forwarded: HeaderValue,
    forwarded_host: HeaderValue,
    forwarded_port: HeaderValue,
}

/// A header value from shared bytes, so that cloning it copies nothing.
fn shared(value: String) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(Bytes::from(value)).ok()
}

impl Forwarded<'_> {
    /// The `Forwarded` header (RFC 7239) for a request from `client`.
    fn header(&self, client: IpAddr) -> String {
        let node = match client {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("\"[{ip}]\""),
        };
        format!("for={node};host=\"{}\";proto={}", self.host, self.proto)
    }

    /// The port the client reached: the host's, else the scheme's default.
    fn port(&self) -> &str {
        let port = self
            .host
            .rsplit_once(':')
            .map(|(_, port)| port)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        port.unwrap_or(if self.proto == "https" { "443" } else { "80" })
    }
}

impl ForwardingValues {
    fn new(peer: IpAddr, forwarded: &Forwarded<'_>) -> Option<Self> {
        Some(Self {
            peer,
            proto: forwarded.proto,
            host: forwarded.host.into(),
            address: shared(peer.to_string())?,
            forwarded: shared(forwarded.header(peer))?,
            forwarded_host: shared(forwarded.host.to_owned())?,
            forwarded_port: shared(forwarded.port().to_owned())?,
        })
    }

    fn describe(&self, peer: IpAddr, forwarded: &Forwarded<'_>) -> bool {
        self.peer == peer && self.proto == forwarded.proto && *self.host == *forwarded.host
    }
}

thread_local! {
    /// The values this worker thread built last: consecutive requests on a thread are mostly
    /// the same client's (keep-alive), so one entry saves five strings per request.
    static LAST_FORWARDING: RefCell<Option<Rc<ForwardingValues>>> = const { RefCell::new(None) };
}

/// The forwarding values for `peer` on `forwarded.host`, from this thread's last ones when
/// they match, else built (and kept). `None` if the host is not a valid header value.
fn forwarding_values(peer: IpAddr, forwarded: &Forwarded<'_>) -> Option<Rc<ForwardingValues>> {
    LAST_FORWARDING.with(|last| {
        let mut last = last.borrow_mut();
        if let Some(values) = last.as_ref().filter(|v| v.describe(peer, forwarded)) {
            return Some(values.clone());
        }
        let values = Rc::new(ForwardingValues::new(peer, forwarded)?);
        *last = Some(values.clone());
        Some(values)
    })
}

/// Who a user is, as upstreams are told, in header values built once per user and host and
/// then shared by every request (cloning a `HeaderValue` of shared `Bytes` copies nothing).
#[derive(Debug, Clone)]
pub struct IdentityValues {
    user: HeaderValue,
    groups: HeaderValue,
    /// The signed assertion JWT.
    assertion: HeaderValue,
}

impl IdentityValues {
    /// The values for `identity` with its signed `assertion`. `None` only if a value is not a
    /// valid header value (user ids and encoded groups always are; so is a JWT).
    pub fn new(identity: &Identity, assertion: String) -> Option<Self> {
        // One buffer for the three values, each a slice of it: one allocation (and one shared
        // header for all three once cloned) per user instead of three and three.
        let mut all = assertion;
        let assertion_end = all.len();
        all.push_str(identity.user.as_str());
        let user_end = all.len();
        for (i, group) in identity.groups.iter().enumerate() {
            if i > 0 {
                all.push(',');
            }
            encode_group(group.as_str(), &mut all);
        }
        let all = Bytes::from(all);
        let value = |bytes: Bytes| HeaderValue::from_maybe_shared(bytes).ok();
        Some(Self {
            assertion: value(all.slice(..assertion_end))?,
            user: value(all.slice(assertion_end..user_end))?,
            groups: value(all.slice(user_end..))?,
        })
    }

    /// The assertion, as sent.
    pub fn assertion(&self) -> &HeaderValue {
        &self.assertion
    }
}

/// Who the user is, as the upstream will be told.
pub struct Asserted<'a> {
    pub identity: &'a IdentityValues,
    /// The request authenticated with an IdP bearer token, which the upstream must not see.
    pub strip_authorization: bool,
}

/// A group name as it travels in the groups header: names are joined with `,`, so a `,`
/// inside a name is sent as `%2C`, and `%` itself as `%25` (so `%2C` in a name stays
/// readable); control characters, which no header may hold, are escaped the same way.
pub fn encode_group(name: &str, out: &mut String) {
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            c if c.is_ascii_control() => {
                let byte = c as u8;
                out.push_str(&format!("%{byte:02X}"));
            }
            c => out.push(c),
        }
    }
}

/// A configured header name, lower-cased as `http` stores it.
fn header_name(name: &str) -> Bytes {
    Bytes::from(name.to_ascii_lowercase())
}

/// Whether a `Cookie` header value holds one of jitgate's cookies.
fn has_jitgate_cookie(header: &str) -> bool {
    header.split(';').any(|pair| Cookies::is_jitgate(pair.split('=').next().map_or("", str::trim)))
}

impl UpstreamHeaders {
    pub fn new(names: &IdentityHeaders, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        let identity = [&names.user, &names.email, &names.groups, &names.assertion];
        let owned: HashSet<Box<str>> = identity
            .iter()
            .map(|n| n.as_str())
            .chain(FORWARDING)
            .map(|n| n.to_ascii_lowercase().replace('_', "-").into_boxed_str())
            .collect();
        let longest_owned = owned.iter().map(|n| n.len()).max().unwrap_or(0);
        Self {
            user: header_name(&names.user),
            email: header_name(&names.email),
            groups: header_name(&names.groups),
            assertion: header_name(&names.assertion),
            owned,
            longest_owned,
            trusted_proxies,
        }
    }

    /// Whether `name` (lower-case, as `http` stores names) is one of jitgate's under some
    /// spelling. Allocates nothing: a name with `_` is respelt on the stack.
    fn is_owned(&self, name: &str) -> bool {
        if name.len() > self.longest_owned {
            return false;
        }
        if !name.contains('_') {
            return self.owned.contains(name);
        }
        let mut respelt = [0u8; 256];
        let Some(respelt) = respelt.get_mut(..name.len()) else {
            // Longer than any name jitgate owns can be (configured names are short).
            return self.owned.contains(name.replace('_', "-").as_str());
        };
        for (to, from) in respelt.iter_mut().zip(name.bytes()) {
            *to = if from == b'_' { b'-' } else { from };
        }
        std::str::from_utf8(respelt).is_ok_and(|respelt| self.owned.contains(respelt))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address and the `X-Forwarded-For` chain to send on. From a trusted proxy,
    /// the client is the right-most address in its chain that is not itself a trusted proxy;
    /// from anyone else, the TCP peer, and any chain it sent is discarded.
    fn client(&self, request: &RequestHeader, peer: Option<IpAddr>) -> (Option<IpAddr>, String) {
        let Some(peer) = peer else { return (None, String::new()) };
        if !self.is_trusted(peer) {
            return (Some(peer), peer.to_string());
        }
        let received: Vec<&str> = request
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        let mut client = peer;
        for hop in received.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.is_trusted(ip) {
                        break;
                    }
                }
                // An unparsable hop ends what can be believed.
                Err(_) => break,
            }
        }
        let mut chain = received.join(", ");
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&peer.to_string());
        (Some(client), chain)
    }

    /// Drops every client copy of a header jitgate owns. Collects nothing when there is none,
    /// which is the common case.
    fn drop_owned(&self, request: &mut RequestHeader) {
        if !request.headers.keys().any(|name| self.is_owned(name.as_str())) {
            return;
        }
        let dropped: Vec<HeaderName> =
            request.headers.keys().filter(|name| self.is_owned(name.as_str())).cloned().collect();
        for name in dropped {
            request.remove_header(&name);
        }
    }

    /// Takes jitgate's cookies out of the request. Headers that hold none are left as they
    /// are; a header that held only jitgate's goes.
    fn drop_jitgate_cookies(request: &mut RequestHeader) -> pingora::Result<()> {
        let cookies = request.headers.get_all(http::header::COOKIE);
        let (mut count, mut any) = (0, false);
        for value in cookies.iter() {
            count += 1;
            // A value that is not text cannot be searched, so it is rebuilt (dropped) below.
            any |= value.to_str().map_or(true, has_jitgate_cookie);
        }
        if !any && count <= 1 {
            return Ok(());
        }
        let kept: Vec<String> = cookies
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(Cookies::without_jitgate)
            .collect();
        request.remove_header(&http::header::COOKIE);
        if !kept.is_empty() {
            request.insert_header(http::header::COOKIE, kept.join("; "))?;
        }
        Ok(())
    }

    pub fn rewrite(
        &self,
        request: &mut RequestHeader,
        asserted: Option<Asserted<'_>>,
        forwarded: &Forwarded<'_>,
        keep_jitgate_cookies: bool,
    ) -> pingora::Result<()> {
        // The common case, a client that is not a trusted proxy: values shared, not built.
        let direct = forwarded.peer.filter(|peer| !self.is_trusted(*peer));
        let (client, chain) = match direct {
            Some(_) => (None, String::new()),
            None => self.client(request, forwarded.peer),
        };
        self.drop_owned(request);
        if !keep_jitgate_cookies {
            Self::drop_jitgate_cookies(request)?;
        }
        if let Some(Asserted { identity, strip_authorization }) = asserted {
            if strip_authorization {
                request.remove_header(&http::header::AUTHORIZATION);
            }
            request.insert_header(self.user.clone(), identity.user.clone())?;
            request.insert_header(self.email.clone(), identity.user.clone())?;
            request.insert_header(self.groups.clone(), identity.groups.clone())?;
            request.insert_header(self.assertion.clone(), identity.assertion.clone())?;
        }
        if let Some(values) = direct.and_then(|peer| forwarding_values(peer, forwarded)) {
            request.insert_header("x-forwarded-for", values.address.clone())?;
            request.insert_header("x-real-ip", values.address.clone())?;
            request.insert_header("forwarded", values.forwarded.clone())?;
            request.insert_header("x-forwarded-proto", forwarded.proto)?;
            request.insert_header("x-forwarded-host", values.forwarded_host.clone())?;
            request.insert_header("x-forwarded-port", values.forwarded_port.clone())?;
            return Ok(());
        }
        if let Some(client) = client.or(direct) {
            let chain = if chain.is_empty() { client.to_string() } else { chain };
            request.insert_header("x-forwarded-for", chain)?;
            request.insert_header("x-real-ip", client.to_string())?;
            request.insert_header("forwarded", forwarded.header(client))?;
        }
        request.insert_header("x-forwarded-proto", forwarded.proto)?;
        request.insert_header("x-forwarded-host", forwarded.host)?;
        request.insert_header("x-forwarded-port", forwarded.port())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
