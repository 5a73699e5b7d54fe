//! What the upstream sees: who the user is, where the request came from, and none of what a
//! client could forge or of jitgate's own cookies.

use jitgate_access::config::IdentityHeaders;
use jitgate_access::policy::Identity;
use jitgate_access::routes::SESSION_COOKIE;
use pingora::http::RequestHeader;

/// Headers only jitgate sets, besides the configured identity headers: whatever a client sent
/// under any of these names is dropped.
const FORWARDING: [&str; 3] = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];

/// The `Cookie` header without jitgate's session cookie, or `None` when nothing is left.
pub fn without_session_cookie(cookie: &str) -> Option<String> {
    let kept: Vec<&str> = cookie
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty() && pair.split('=').next().map(str::trim) != Some(SESSION_COOKIE)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

pub struct Forwarded<'a> {
    pub client_ip: Option<String>,
    pub proto: &'a str,
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

pub fn rewrite(
    request: &mut RequestHeader,
    names: &IdentityHeaders,
    asserted: Option<Asserted<'_>>,
    forwarded: &Forwarded<'_>,
    keep_session_cookie: bool,
) -> pingora::Result<()> {
    let identity_names = [&names.user, &names.email, &names.groups, &names.assertion];
    for name in FORWARDING.iter().copied().chain(identity_names.iter().map(|n| n.as_str())) {
        request.remove_header(name);
    }
    if !keep_session_cookie {
        let kept: Vec<String> = request
            .headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(without_session_cookie)
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
        request.insert_header(names.user.clone(), identity.user.as_str())?;
        request.insert_header(names.email.clone(), identity.user.as_str())?;
        let groups: Vec<&str> = identity.groups.iter().map(|g| g.as_str()).collect();
        request.insert_header(names.groups.clone(), groups.join(","))?;
        request.insert_header(names.assertion.clone(), assertion)?;
    }
    // jitgate is the edge: it states the client address rather than trusting one it was sent.
    if let Some(ip) = &forwarded.client_ip {
        request.insert_header("x-forwarded-for", ip.as_str())?;
    }
    request.insert_header("x-forwarded-proto", forwarded.proto)?;
    request.insert_header("x-forwarded-host", forwarded.host)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_session_cookie_is_removed() {
        assert_eq!(
            without_session_cookie("a=1; jitgate_session=xyz; b=2").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without_session_cookie("jitgate_session=xyz"), None);
        assert_eq!(
            without_session_cookie("jitgate_sessionx=1").as_deref(),
            Some("jitgate_sessionx=1")
        );
    }
}
