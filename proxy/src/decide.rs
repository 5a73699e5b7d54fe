//! The request filter's work on the request header alone, apart from Pingora's `Session`:
//! canonicalise, route, decide ([`JitgateProxy::decide`]), and what the upstream is then sent
//! ([`JitgateProxy::upstream_headers`]). `service.rs` answers what `decide` refuses; the
//! `request_filter` benchmark drives both exactly as a request does.

use std::net::IpAddr;

use jitgate_access::cookies::CookieName;
use jitgate_access::routes::{HANDOFF_PATH, JWKS_PATH};
use pingora::http::RequestHeader;
use pingora::{Error, ErrorType, Result};
use tokio::sync::watch;

use crate::gate::{Credential, Decision, Principal};
use crate::live::ProxyConfig;
use crate::request_path::{self, PathRefusal};
use crate::respond::Client;
use crate::route::normalize_host;
use crate::service::{JitgateProxy, RequestCtx};
use crate::upstream_headers::{Asserted, Forwarded};

/// What jitgate answers itself instead of passing a request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer(pub(crate) Reply);

/// The kinds of [`Answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// 400: the target or `Host` has no canonical form.
    BadPath(PathRefusal),
    /// The assertion keys, on the portal's host.
    Jwks,
    /// `/.jitgate/handoff` on a host jitgate serves.
    Handoff,
    /// 404: no resource here.
    UnknownHost,
    /// 403: a WebSocket from a foreign origin.
    CrossOrigin,
    /// The gate did not allow it: the decision in the context says why.
    Refused,
}

/// The token of an `Authorization: Bearer` header (the scheme is case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The one `Host` a request names: several (which upstreams resolve differently) or one that
/// is not text is refused.
fn host_of(header: &RequestHeader) -> Result<&str, PathRefusal> {
    let mut hosts = header.headers.get_all(http::header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().map_err(|_| PathRefusal::AuthorityMismatch),
        (None, _) => Ok(header.uri.host().unwrap_or("")),
        (Some(_), Some(_)) => Err(PathRefusal::AuthorityMismatch),
    }
}

impl RequestCtx {
    fn refuse_path(&mut self, why: PathRefusal) -> Answer {
        tracing::debug!(%why, "request target refused");
        self.decision = Decision::BadRequest;
        Answer(Reply::BadPath(why))
    }
}

impl JitgateProxy {
    /// Canonicalises, routes and decides on `header`, filling `ctx` (config snapshot, host,
    /// route, principal, decision, deadline, canonical path). `Ok` lets the request pass; an
    /// [`Answer`] is what jitgate replies itself (`service.rs` sends it).
    pub async fn decide(&self, header: &RequestHeader, ctx: &mut RequestCtx) -> Result<(), Answer> {
        // The one load of the config for this request: every later phase reads `ctx.config`.
        let config = self.settings.config.load();
        let decided = self.decide_by(&config, header, ctx).await;
        ctx.config = Some(config);
        decided
    }

    async fn decide_by(
        &self,
        config: &ProxyConfig,
        header: &RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<(), Answer> {
        let client = Client::of(header);
        ctx.client = Some(client);
        ctx.host = match host_of(header) {
            Ok(host) => normalize_host(host, self.settings.tls),
            Err(why) => return Err(ctx.refuse_path(why)),
        };
        ctx.body_sent = (client == Client::WebSocket).then(|| watch::channel(false).0);
        ctx.long_lived = ctx.body_sent.is_some()
            || header
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/event-stream"));
        if ctx.host == self.settings.portal_host && self.settings.portal.is_some() {
            ctx.decision = Decision::Portal;
            return Ok(());
        }
        // The path as the client sent it: anything not UTF-8 has no canonical form.
        let target =
            std::str::from_utf8(header.raw_path()).ok().filter(|_| header.raw_path_is_utf8());
        let canonical = target
            .ok_or(PathRefusal::NotUtf8)
            .and_then(|target| request_path::target_path(target, &ctx.host, self.settings.tls))
            .and_then(request_path::canonicalize);
        let path = match canonical {
            Ok(path) => path,
            Err(why) => return Err(ctx.refuse_path(why)),
        };
        if path.is_rewritten() || !header.raw_path().starts_with(b"/") {
            ctx.rewritten_path = Some(path.as_str().to_owned());
        }
        if ctx.host == self.settings.portal_host && path.as_str() == JWKS_PATH {
            return Err(Answer(Reply::Jwks));
        }
        // Answered on every host jitgate serves, whichever path prefixes its resources have.
        if path.as_str() == HANDOFF_PATH && config.router.serves_host(&ctx.host) {
            ctx.decision = Decision::Handoff;
            return Err(Answer(Reply::Handoff));
        }
        let index = match config.router.find(&ctx.host, &path) {
            Ok(Some(index)) => index,
            Ok(None) => {
                ctx.decision = Decision::UnknownHost;
                return Err(Answer(Reply::UnknownHost));
            }
            Err(why) => return Err(ctx.refuse_path(why)),
        };
        ctx.route = Some(index);
        let resource = &config.router.get(index).resource;
        if path.has_encoded_separator() {
            // Only where the resource allows it, and only if a server that decodes `%2F`
            // would route the request to the same resource.
            let same_route = path
                .separators_decoded()
                .is_some_and(|decoded| config.router.find(&ctx.host, &decoded) == Ok(Some(index)));
            if !resource.allow_encoded_slashes {
                return Err(ctx.refuse_path(PathRefusal::EncodedSeparator));
            } else if !same_route {
                return Err(ctx.refuse_path(PathRefusal::AmbiguousPrefix));
            }
        }
        if client == Client::WebSocket && !self.origin_allowed(header, ctx, resource) {
            ctx.decision = Decision::CrossOrigin;
            return Err(Answer(Reply::CrossOrigin));
        }
        let now = self.clock.now();
        let headers = &header.headers;
        let cookie = self.cookies().find(
            CookieName::Session,
            headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()),
        );
        let bearer = resource
            .accept_bearer
            .then(|| {
                headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(bearer_token)
            })
            .flatten();
        let (gate, roles) = (&self.settings.gate, &config.roles);
        // A valid session cookie is the credential, and `Authorization` is then the app's own;
        // a token (the IdP's or a personal API token) counts only without one, where the
        // resource accepts tokens.
        let mut verdict = match cookie {
            Some(cookie) => {
                gate.check(Credential::Cookie(cookie), &ctx.host, resource, roles, now).await
            }
            None => gate.check(Credential::None, &ctx.host, resource, roles, now).await,
        };
        if verdict.decision == Decision::SignIn
            && let Some(token) = bearer
        {
            verdict = gate.check(Credential::Bearer(token), &ctx.host, resource, roles, now).await;
        }
        ctx.decision = verdict.decision;
        ctx.principal = verdict.principal;
        ctx.token_problem = verdict.token_problem;
        ctx.deadline = verdict.deadline;
        if ctx.decision.allows() { Ok(()) } else { Err(Answer(Reply::Refused)) }
    }

    /// Rewrites `request` so the upstream gets exactly what was decided on: the canonical path
    /// (origin-form) on the routed host, jitgate's identity and forwarding headers, none of the
    /// client's copies of them and none of jitgate's cookies. `peer` is the client's address.
    pub fn upstream_headers(
        &self,
        peer: Option<IpAddr>,
        request: &mut RequestHeader,
        ctx: &RequestCtx,
    ) -> Result<()> {
        if ctx.decision != Decision::Portal {
            if let Some(path) = &ctx.rewritten_path {
                let target = match request.uri.query() {
                    Some(query) => format!("{path}?{query}"),
                    None => path.clone(),
                };
                let uri = http::Uri::try_from(target)
                    .map_err(|e| Error::because(ErrorType::InternalError, "canonical path", e))?;
                request.set_uri(uri);
            }
            request.insert_header(http::header::HOST, ctx.host.as_str())?;
        }
        let forwarded = Forwarded { peer, proto: self.scheme(), host: &ctx.host };
        let identity = match &ctx.principal {
            Some(principal) => Some(
                self.settings
                    .assertions
                    .for_request(principal, &ctx.host, self.clock.now())
                    .ok_or_else(|| Error::explain(ErrorType::InternalError, "identity values"))?,
            ),
            None => None,
        };
        let asserted = identity.as_ref().map(|identity| Asserted {
            identity,
            // The IdP's token was meant for jitgate; the upstream gets the assertion instead.
            strip_authorization: ctx.principal.as_ref().is_some_and(Principal::is_token),
        });
        // The portal reads its own cookies; resource upstreams never see them.
        let keep_jitgate_cookies = ctx.decision == Decision::Portal;
        let config = ctx
            .config
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "request not decided"))?;
        config.headers.rewrite(request, asserted, &forwarded, keep_jitgate_cookies)
    }
}
