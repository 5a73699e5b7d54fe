//! The browser sign-in of the `jitgate` command line (a loopback flow, after RFC 8252): the
//! CLI listens on `127.0.0.1:<port>`, sends its user to the portal's `/cli/sign-in` with that
//! port and a random `state`, the user signs in there as in any browser (OIDC or local) and
//! allows it, and the portal answers with a form that posts a new personal API token and the
//! `state` to the CLI's loopback address.
//!
//! Both sides show a short code derived from `state`, so the user can tell that the page they
//! approve belongs to the command they ran (a link sent by someone else shows another code,
//! and its token would go to a port nobody of theirs listens on). The token never appears in a
//! URL: it travels in the POST body, over the loopback interface only.
//!
//! This module owns what both sides must agree on; the portal's page and the CLI use it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The portal's page that starts it (`?port=…&state=…`).
pub const PORTAL_PATH: &str = "/cli/sign-in";
/// Where the CLI listens for the token.
pub const CALLBACK_PATH: &str = "/callback";
/// The name the portal gives the tokens it makes this way.
pub const TOKEN_NAME: &str = "jitgate CLI (browser sign-in)";
const STATE_BYTES: usize = 32;

/// A fresh state for one sign-in: 256 random bits, URL-safe.
pub fn new_state() -> String {
    let mut bytes = [0u8; STATE_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `state` looks like one [`new_state`] made (anything else is refused, unechoed).
pub fn valid_state(state: &str) -> bool {
    URL_SAFE_NO_PAD.decode(state).is_ok_and(|bytes| bytes.len() == STATE_BYTES)
}

/// Whether `port` can be the CLI's: an unprivileged port (the CLI binds port 0, which the
/// system assigns from the ephemeral range).
pub fn valid_port(port: u16) -> bool {
    port >= 1024
}

/// The code both sides show, e.g. `K7QD-2M9X`: 40 bits of the state's SHA-256 in Crockford's
/// base 32 (no I, L, O, U: nothing to misread).
pub fn code(state: &str) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let digest = Sha256::digest(state.as_bytes());
    let bits = digest[..5].iter().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
    let symbols: String =
        (0..8).rev().map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize])).collect();
    format!("{}-{}", &symbols[..4], &symbols[4..])
}

/// Whether an answer's `presented` state is the CLI's own `expected` one (compared in
/// constant time: it is the one secret of the exchange).
pub fn state_matches(expected: &str, presented: &str) -> bool {
    crate::api_token::constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// The CLI's loopback address for `port`: where the portal's form posts the token.
pub fn callback_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// The CLI's loopback origin, which the portal's content security policy must allow as a
/// form target on the page that posts there.
pub fn callback_origin(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_random_and_checked_and_codes_are_short_and_stable() {
        let (a, b) = (new_state(), new_state());
        assert_ne!(a, b);
        assert!(valid_state(&a));
        for bad in ["", "short", &a[1..], &format!("{a}A"), "<script>", &a.replace('A', "+")] {
            assert!(!valid_state(bad) || bad == a, "{bad}");
        }
        assert_eq!(code(&a), code(&a));
        assert_ne!(code(&a), code(&b));
        let shown = code(&a);
        assert_eq!(shown.len(), 9);
        assert!(
            shown.chars().all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"ILOU".contains(c)))
        );
        assert!(!valid_port(80) && valid_port(1024) && valid_port(65535));
        assert_eq!(callback_url(4321), "http://127.0.0.1:4321/callback");
        assert!(state_matches(&a, &a) && !state_matches(&a, &b) && !state_matches(&a, ""));
    }
}
