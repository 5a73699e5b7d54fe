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

use std::collections::HashSet;
use std::net::IpAddr;

use http::HeaderName;
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

/// The header names jitgate owns, parsed once at start-up.
pub struct UpstreamHeaders {
    user: HeaderName,
    email: HeaderName,
    groups: HeaderName,
    assertion: HeaderName,
    /// Every name a client copy of which is dropped (lower-case, `-` spelling).
    owned: HashSet<String>,
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// Where the request came from, as jitgate states it.
pub struct Forwarded<'a> {
    /// The TCP peer.
    pub peer: Option<IpAddr>,
    pub proto: &'static str,
    pub host: &'a str,
}

/// Who the user is, as the upstream will be told.
pub struct Asserted<'a> {
    pub identity: &'a Identity,
    /// The signed assertion JWT.
    pub assertion: String,
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

fn header_name(name: &str) -> HeaderName {
    // Validated config names and the constants above are valid header names.
    HeaderName::from_bytes(name.as_bytes()).unwrap_or(http::header::WARNING)
}

impl UpstreamHeaders {
    pub fn new(names: &IdentityHeaders, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        let identity = [&names.user, &names.email, &names.groups, &names.assertion];
        let owned = identity
            .iter()
            .map(|n| n.as_str())
            .chain(FORWARDING)
            .map(|n| n.to_ascii_lowercase().replace('_', "-"))
            .collect();
        Self {
            user: header_name(&names.user),
            email: header_name(&names.email),
            groups: header_name(&names.groups),
            assertion: header_name(&names.assertion),
            owned,
            trusted_proxies,
        }
    }

    fn is_owned(&self, name: &str) -> bool {
        if name.contains('_') {
            self.owned.contains(&name.replace('_', "-"))
        } else {
            self.owned.contains(name)
        }
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

    pub fn rewrite(
        &self,
        request: &mut RequestHeader,
        asserted: Option<Asserted<'_>>,
        forwarded: &Forwarded<'_>,
        keep_jitgate_cookies: bool,
    ) -> pingora::Result<()> {
        let (client, chain) = self.client(request, forwarded.peer);
        let dropped: Vec<HeaderName> =
            request.headers.keys().filter(|name| self.is_owned(name.as_str())).cloned().collect();
        for name in dropped {
            request.remove_header(&name);
        }
        if !keep_jitgate_cookies {
            let kept: Vec<String> = request
                .headers
                .get_all("cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(Cookies::without_jitgate)
                .collect();
            request.remove_header("cookie");
            if !kept.is_empty() {
                request.insert_header("cookie", kept.join("; "))?;
            }
        }
        if let Some(Asserted { identity, assertion, strip_authorization }) = asserted {
            if strip_authorization {
                request.remove_header("authorization");
            }
            request.insert_header(self.user.clone(), identity.user.as_str())?;
            request.insert_header(self.email.clone(), identity.user.as_str())?;
            let mut groups = String::new();
            for (i, group) in identity.groups.iter().enumerate() {
                if i > 0 {
                    groups.push(',');
                }
                encode_group(group.as_str(), &mut groups);
            }
            request.insert_header(self.groups.clone(), groups)?;
            request.insert_header(self.assertion.clone(), assertion)?;
        }
        if let Some(client) = client {
            request.insert_header("x-forwarded-for", chain)?;
            request.insert_header("x-real-ip", client.to_string())?;
            let node = match client {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("\"[{ip}]\""),
            };
            request.insert_header(
                "forwarded",
                format!("for={node};host=\"{}\";proto={}", forwarded.host, forwarded.proto),
            )?;
        }
        request.insert_header("x-forwarded-proto", forwarded.proto)?;
        request.insert_header("x-forwarded-host", forwarded.host)?;
        let port = forwarded
            .host
            .rsplit_once(':')
            .map(|(_, port)| port)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let port = port.unwrap_or(if forwarded.proto == "https" { "443" } else { "80" });
        request.insert_header("x-forwarded-port", port)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
