//! URLs and names that the proxy and the portal must agree on, in one place. The portal's own
//! routes are in `portal/src/paths.rs`, built on these.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ids::ResourceName;

/// Where a resource host redeems a handoff token: `<host><HANDOFF_PATH>?token=…`.
pub const HANDOFF_PATH: &str = "/.jitgate/handoff";

/// Where the portal publishes the public key of upstream assertions, as a JWKS.
pub const JWKS_PATH: &str = "/.well-known/jitgate/jwks.json";

/// The portal's sign-in page (`GET` shows it, `POST` signs in with a local password); the
/// proxy sends browsers here with [`sign_in_url`].
pub const SIGN_IN_PATH: &str = "/auth/sign-in";

/// Where the IdP sends the browser back to after an OIDC sign-in: the redirect URI
/// registered at the IdP is `<portal_url><CALLBACK_PATH>`.
pub const CALLBACK_PATH: &str = "/auth/callback";

/// The portal's request form for one resource (an axum route pattern); the proxy sends
/// browsers without a grant here with [`request_url`].
pub const REQUEST_FORM_PATH: &str = "/request/{resource}";

/// `pattern` with its `{name}` segment replaced by `value` (already encoded as it must be).
pub fn fill(pattern: &str, name: &str, value: &str) -> String {
    pattern.replacen(&format!("{{{name}}}"), value, 1)
}

/// The query parameter carrying a sign-in state's digest from a resource host, through the
/// portal's sign-in, into the handoff token (see [`crate::token::state_digest`]).
pub const STATE_PARAM: &str = "state";

fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// The portal's sign-in page, returning to `return_to` afterwards. `state` is the digest of
/// the sign-in state cookie a resource host set, when the sign-in started there.
pub fn sign_in_url(portal_url: &str, return_to: &str, state: Option<&str>) -> String {
    match state {
        Some(state) => format!(
            "{portal_url}{SIGN_IN_PATH}?rd={}&{STATE_PARAM}={}",
            encode(return_to),
            encode(state)
        ),
        None => format!("{portal_url}{SIGN_IN_PATH}?rd={}", encode(return_to)),
    }
}

/// The portal's request form for `resource`, returning to `return_to` once access is granted.
pub fn request_url(portal_url: &str, resource: &ResourceName, return_to: &str) -> String {
    let path = fill(REQUEST_FORM_PATH, "resource", resource.as_str());
    format!("{portal_url}{path}?rd={}", encode(return_to))
}

/// A handoff URL on a resource host.
pub fn handoff_url(scheme: &str, host: &str, token: &str) -> String {
    format!("{scheme}://{host}{HANDOFF_PATH}?token={}", encode(token))
}

/// The path to send a browser to after a handoff; the vetting lives in [`crate::return_to`],
/// the one owner of return URLs.
pub use crate::return_to::local_path;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_are_encoded() {
        assert_eq!(
            sign_in_url("http://access.localhost:8080", "http://app.localhost:8080/a?b=c&d", None),
            "http://access.localhost:8080/auth/sign-in?rd=http%3A%2F%2Fapp%2Elocalhost%3A8080%2Fa%3Fb%3Dc%26d"
        );
        let db: ResourceName = "db".parse().unwrap();
        assert_eq!(request_url("http://p", &db, "/x"), "http://p/request/db?rd=%2Fx");
    }
}
