//! Every cookie jitgate sets, named and built in one place, for the proxy and the portal alike.
//!
//! On an HTTPS deployment each name carries the `__Host-` prefix: browsers then accept the
//! cookie only from a secure origin, only without `Domain` and only with `Path=/`, so a sibling
//! subdomain (or a plain-HTTP man in the middle) cannot plant or overwrite one. Every cookie is
//! `HttpOnly` and `SameSite=Lax`: scripts never read them, and cross-site subrequests never
//! carry them.

use std::time::Duration;

use cookie::{Cookie, SameSite};

/// The names jitgate's cookies go by, before any `__Host-` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieName {
    /// Names a server-side session; host-only, on the portal and on each resource host.
    Session,
    /// The browser-binding secret of a sign-in started on a resource host: the handoff that
    /// ends the sign-in is accepted only from the browser holding it (see [`crate::token`]).
    SignInState,
    /// The portal's pre-session CSRF binding on the sign-in form.
    Presession,
    /// The portal's signed record of an unfinished OpenID Connect sign-in (its `state`, nonce,
    /// PKCE verifier and where to return).
    SignInFlow,
    /// The portal's signed, read-once record of a form that was refused: the values typed and
    /// the errors, carried across the redirect that follows the POST (post/redirect/get).
    FormDraft,
    /// The IdP's ID token of the portal session, kept to end the IdP session at sign-out
    /// (`id_token_hint` of OpenID Connect RP-initiated logout).
    IdToken,
    /// The portal's signed, read-once message about the action just taken ("Approved …"),
    /// carried across a post/redirect/get redirect.
    Flash,
}

impl CookieName {
    const ALL: [CookieName; 7] = [
        CookieName::Session,
        CookieName::SignInState,
        CookieName::Presession,
        CookieName::SignInFlow,
        CookieName::FormDraft,
        CookieName::IdToken,
        CookieName::Flash,
    ];

    fn base(self) -> &'static str {
        match self {
            CookieName::Session => "jitgate_session",
            CookieName::SignInState => "jitgate_state",
            CookieName::Presession => "jitgate_csrf",
            CookieName::SignInFlow => "jitgate_oidc",
            CookieName::FormDraft => "jitgate_draft",
            CookieName::IdToken => "jitgate_idt",
            CookieName::Flash => "jitgate_flash",
        }
    }

    fn secure(self) -> &'static str {
        match self {
            CookieName::Session => "__Host-jitgate_session",
            CookieName::SignInState => "__Host-jitgate_state",
            CookieName::Presession => "__Host-jitgate_csrf",
            CookieName::SignInFlow => "__Host-jitgate_oidc",
            CookieName::FormDraft => "__Host-jitgate_draft",
            CookieName::IdToken => "__Host-jitgate_idt",
            CookieName::Flash => "__Host-jitgate_flash",
        }
    }
}

/// jitgate's cookies on one deployment: `secure` when browsers reach it over HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub const fn new(secure: bool) -> Self {
        Self { secure }
    }

    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The name `which` goes by on this deployment.
    pub fn name(&self, which: CookieName) -> &'static str {
        if self.secure { which.secure() } else { which.base() }
    }

    /// A `Set-Cookie` value: host-only, `Path=/`, `HttpOnly`, `SameSite=Lax`, and `Secure` on
    /// HTTPS, living `max_age`.
    pub fn set(&self, which: CookieName, value: &str, max_age: Duration) -> String {
        let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        Cookie::build((self.name(which), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(seconds))
            .build()
            .to_string()
    }

    /// A `Set-Cookie` value that deletes `which` in the browser.
    pub fn clear(&self, which: CookieName) -> String {
        self.set(which, "", Duration::ZERO)
    }

    /// The value of `which` among a request's `Cookie` headers. Only the exact name counts: a
    /// client cannot pass `jitgate_session` off as `__Host-jitgate_session` or the reverse.
    pub fn find<'a>(
        &self,
        which: CookieName,
        headers: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        let name = self.name(which);
        headers.into_iter().flat_map(|header| header.split(';')).find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim())
        })
    }

    /// Whether a cookie called `name` is one of jitgate's, under either spelling: such cookies
    /// are credentials for jitgate and never reach an upstream.
    pub fn is_jitgate(name: &str) -> bool {
        CookieName::ALL.iter().any(|which| name == which.base() || name == which.secure())
    }

    /// A `Cookie` header without any of jitgate's cookies, or `None` when nothing is left.
    pub fn without_jitgate(header: &str) -> Option<String> {
        let kept: Vec<&str> = header
            .split(';')
            .map(str::trim)
            .filter(|pair| {
                !pair.is_empty() && !Self::is_jitgate(pair.split('=').next().map_or("", str::trim))
            })
            .collect();
        (!kept.is_empty()).then(|| kept.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_deployments_use_host_prefixed_cookies() {
        let plain = Cookies::new(false).set(CookieName::Session, "v", Duration::from_secs(60));
        assert_eq!(plain, "jitgate_session=v; HttpOnly; SameSite=Lax; Path=/; Max-Age=60");
        let secure = Cookies::new(true).set(CookieName::SignInState, "v", Duration::from_secs(5));
        assert!(secure.starts_with("__Host-jitgate_state=v;"), "{secure}");
        for attribute in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=5"] {
            assert!(secure.contains(attribute), "{attribute} missing: {secure}");
        }
        assert!(!secure.contains("Domain"), "__Host- cookies are host-only: {secure}");
        assert!(Cookies::new(true).clear(CookieName::Session).contains("Max-Age=0"));
    }

    #[test]
    fn only_the_exact_name_is_found() {
        let secure = Cookies::new(true);
        let headers = ["a=1; jitgate_session=plain", "__Host-jitgate_session=host; b=2"];
        assert_eq!(secure.find(CookieName::Session, headers), Some("host"));
        assert_eq!(Cookies::new(false).find(CookieName::Session, headers), Some("plain"));
        assert_eq!(secure.find(CookieName::SignInState, headers), None);
        assert_eq!(Cookies::new(false).find(CookieName::Session, ["jitgate_sessionx=1"]), None);
    }

    #[test]
    fn upstreams_never_see_jitgate_cookies() {
        assert_eq!(
            Cookies::without_jitgate(
                "a=1; jitgate_session=x; __Host-jitgate_state=y; b=2; jitgate_csrf=z"
            )
            .as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(Cookies::without_jitgate("jitgate_session=xyz"), None);
        assert_eq!(
            Cookies::without_jitgate("jitgate_sessionx=1").as_deref(),
            Some("jitgate_sessionx=1")
        );
    }
}
