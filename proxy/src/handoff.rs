//! Signing a browser in on a resource host, bound to that browser.
//!
//! A resource host learns of a sign-in through a handoff: the portal sends the browser to
//! `<host>/.jitgate/handoff?token=…`, and the proxy turns the token into a host-only session
//! cookie. A token alone would let a signed-in attacker mint a link for their own session and
//! make any browser that opens it act as them there (login CSRF). So, as in Teleport's app
//! access, the sign-in starts on the resource host: before sending a browser to the portal the
//! proxy gives it a random state cookie on the host and passes only the state's digest along;
//! the portal seals the digest into the handoff token; the proxy redeems a token only for the
//! browser that holds the matching state. An attacker can neither read nor set that cookie
//! (`HttpOnly`, host-only, `__Host-` on HTTPS).

use std::time::Duration;

use jitgate_access::cookies::{CookieName, Cookies};
use jitgate_access::routes;
use jitgate_access::token::{self, HandoffClaims};
use pingora::Result;
use pingora::proxy::Session;

use crate::respond::{Client, Reply};
use crate::service::JitgateProxy;

/// How long a sign-in may take, from the resource host to the IdP and back.
const STATE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The browser's sign-in state cookie, if it holds a usable one.
fn state_cookie<'a>(session: &'a Session, cookies: &Cookies) -> Option<&'a str> {
    let headers = session.req_header().headers.get_all("cookie");
    cookies
        .find(CookieName::SignInState, headers.iter().filter_map(|v| v.to_str().ok()))
        .filter(|value| token::is_sign_in_state(value))
}

impl JitgateProxy {
    /// Sends a browser without a session to the portal's sign-in, returning to `back` on
    /// `host`. Its state cookie is kept when it has one (another tab may be signing in too),
    /// else created.
    pub(crate) async fn send_to_sign_in(&self, session: &mut Session, back: &str) -> Result<()> {
        let cookies = self.cookies();
        let (state, set_cookie) = match state_cookie(session, &cookies) {
            Some(state) => (state.to_owned(), None),
            None => {
                let state = token::new_sign_in_state();
                let set = cookies.set(CookieName::SignInState, &state, STATE_LIFETIME);
                (state, Some(set))
            }
        };
        let digest = token::state_digest(&state);
        let url = routes::sign_in_url(&self.settings.portal_url, back, Some(&digest));
        let reply = Reply::redirect(&url);
        match set_cookie {
            Some(set) => reply.with_header("set-cookie", set),
            None => reply,
        }
        .send(session)
        .await
    }

    /// `GET /.jitgate/handoff?token=…` on any host jitgate serves: checks the token, that this
    /// browser started the sign-in, and that the token is used once; then sets the host's
    /// session cookie and sends the browser on.
    pub(crate) async fn redeem_handoff(&self, session: &mut Session, host: &str) -> Result<()> {
        let now = self.clock.now();
        let query = session.req_header().uri.query().unwrap_or("");
        let token = query_param(query, "token").map(percent_decode);
        let verified =
            token.as_deref().map(|t| self.settings.gate.keys().verify_handoff(t, host, now));
        let Some(Ok(claims)) = verified else {
            return Reply::page(
                400,
                "This sign-in link is not valid",
                "It may have expired or been meant for another site. Go back and try again.",
            )
            .send(session)
            .await;
        };
        let cookies = self.cookies();
        let started_here =
            state_cookie(session, &cookies).is_some_and(|s| token::state_matches(s, &claims.state));
        if !started_here {
            tracing::warn!(%host, "handoff refused: the sign-in was started in another browser");
            return Reply::page(
                400,
                "This sign-in link was opened in another browser",
                "For your safety, a sign-in link works only in the browser that asked for it. \
                 Open the app's address in this browser to sign in here.",
            )
            .send(session)
            .await;
        }
        match self.cache().store().claim_once(&claims.jti, claims.expires_at(), now).await {
            Ok(true) => {}
            Ok(false) => {
                return Reply::page(
                    400,
                    "This sign-in link was already used",
                    "Go back to the app's address to continue.",
                )
                .send(session)
                .await;
            }
            Err(_) => return crate::refuse::unavailable(session, Client::Browser).await,
        }
        self.finish_handoff(session, host, &claims).await
    }

    async fn finish_handoff(
        &self,
        session: &mut Session,
        host: &str,
        claims: &HandoffClaims,
    ) -> Result<()> {
        let now = self.clock.now();
        let return_to = routes::local_path(&claims.rd);
        let signed_in = match self.cache().session(&claims.sid, now).await {
            Ok(Some(signed_in)) => signed_in,
            // Signed out between the portal and here: start again.
            Ok(None) => {
                let back = format!("{}://{host}{return_to}", self.scheme());
                return self.send_to_sign_in(session, &back).await;
            }
            Err(_) => return crate::refuse::unavailable(session, Client::Browser).await,
        };
        let cookies = self.cookies();
        let value =
            self.settings.gate.keys().session_cookie(&signed_in.id, host, signed_in.expires_at);
        let session_cookie =
            cookies.set(CookieName::Session, &value, now.until(signed_in.expires_at));
        Reply::redirect(return_to)
            .with_header("set-cookie", session_cookie)
            .with_header("set-cookie", cookies.clear(CookieName::SignInState))
            .send(session)
            .await
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn percent_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()
}
