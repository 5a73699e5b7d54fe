//! The Pingora `ProxyHttp` implementation. Thin: each phase reads or fills the per-request
//! [`RequestCtx`] and delegates to the modules that know the rules.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use jitgate_access::clock::Clock;
use jitgate_access::config::Resource;
use jitgate_access::cookies::Cookies;
use jitgate_access::time::Timestamp;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use tokio::sync::watch;

use crate::assertions::Assertions;
use crate::cache::AccessCache;
use crate::decide::{Answer, Reply as AnswerKind};
use crate::gate::{Decision, Gate, Principal};
use crate::in_flight::{Access, InFlight, Tracked};
use crate::lease::{Lease, LeasedAccess, LeasedConnect, LeasedGrant, LeasedSession, LeasedToken};
use crate::live::{LiveConfig, ProxyConfig};
use crate::refuse;
use crate::respond::{Client, Reply};
use crate::route::Route;

/// What the proxy needs, built once at start-up; what a reload changes is in `config`.
pub struct ProxySettings {
    /// Routes, roles and upstream headers: swapped whole by a reload (see [`crate::live`]).
    pub config: Arc<LiveConfig>,
    pub gate: Gate,
    pub portal_url: String,
    /// The portal's host: until the portal serves it, the proxy answers its JWKS there.
    pub portal_host: String,
    pub assertions: Arc<Assertions>,
    /// The listener speaks TLS: cookies get `Secure` and URLs `https`.
    pub tls: bool,
    /// Ordinary responses in flight under a grant, cut when it ends.
    pub in_flight: Arc<InFlight>,
    /// The portal app in this process: requests for the portal's host go there unchecked (it
    /// does its own sign-in). `None` when this process runs the proxy alone.
    pub portal: Option<SocketAddr>,
}

/// Pool keys for connections that must not be shared (leased ones, and those of requests not
/// safe to send twice): unique, so none is ever reused. Starts high to stay clear of Pingora's
/// default key 0.
static NEXT_LEASE: AtomicU64 = AtomicU64::new(1 << 32);

/// Gives a request that is not safe to send twice (POST, PATCH: not idempotent) a connection
/// of its own, closed after it. On a pooled connection it could lose the keep-alive race: the
/// upstream closes the idle connection just as the request goes out, and since the upstream
/// may have acted on it, it must not be retried (RFC 9110 section 9.2.2; see
/// `error_while_proxy`), so the client would get a 502. A fresh connection has no idle timer
/// to run out. Idempotent requests keep the pool: Pingora retries them when they lose the
/// race.
fn unshared(peer: &mut HttpPeer) {
    peer.group_key = NEXT_LEASE.fetch_add(1, Ordering::Relaxed);
    peer.options.idle_timeout = Some(Duration::ZERO);
}

pub struct JitgateProxy {
    pub(crate) settings: ProxySettings,
    pub(crate) clock: Arc<dyn Clock>,
    cookies: Cookies,
}

/// Per-request state, filled in `request_filter` and read by later phases.
#[derive(Default)]
pub struct RequestCtx {
    /// The config snapshot this request is decided and forwarded by, loaded once by
    /// `decide`: a reload meanwhile changes nothing for it.
    pub(crate) config: Option<Arc<ProxyConfig>>,
    /// Indexes `config`'s router.
    pub(crate) route: Option<usize>,
    pub(crate) host: String,
    /// Who is asking, which decides how a refusal is phrased.
    pub(crate) client: Option<Client>,
    /// The canonical path the request was decided on, when it differs from the path the
    /// client sent (or came in absolute form): the upstream request is rewritten to it. `None`
    /// in the common case, where the client's path is already canonical and nothing is copied.
    pub(crate) rewritten_path: Option<String>,
    pub(crate) principal: Option<Principal>,
    /// Why a bearer token was refused, told to the client.
    pub(crate) token_problem: Option<jitgate_access::bearer::BearerError>,
    /// When the grant that let this request through ends (`None` for standing access).
    pub deadline: Option<Timestamp>,
    /// A connection that may stay open long (WebSocket, event stream): its upstream socket is
    /// leased to the grant.
    pub(crate) long_lived: bool,
    /// For a protocol upgrade (WebSocket): raised once the request's own body end is handed to
    /// Pingora, which the upstream socket waits for (see `lease.rs`).
    pub(crate) body_sent: Option<watch::Sender<bool>>,
    started: Option<std::time::Instant>,
    /// The upstream this attempt went to, and how many attempts were made.
    upstream: Option<usize>,
    attempts: usize,
    pub decision: Decision,
    /// Registered while a grant-allowed response is in flight (see [`crate::in_flight`]).
    in_flight: Option<Tracked>,
    /// The in-flight supervisor cut this request's upstream exchange: never retry it.
    access_ended: bool,
}

impl RequestCtx {
    /// Who the request was decided for, if anyone (the no-access page names them).
    pub(crate) fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The route the request was decided for, in its own config snapshot.
    pub(crate) fn routed(&self) -> Option<&Route> {
        Some(self.config.as_ref()?.router.get(self.route?))
    }
}

impl JitgateProxy {
    pub fn new(settings: ProxySettings, clock: Arc<dyn Clock>) -> Self {
        let cookies = Cookies::new(settings.tls);
        Self { settings, clock, cookies }
    }

    pub(crate) fn cache(&self) -> &AccessCache {
        self.settings.gate.cache()
    }

    pub(crate) fn cookies(&self) -> Cookies {
        self.cookies
    }

    pub(crate) fn scheme(&self) -> &'static str {
        if self.settings.tls { "https" } else { "http" }
    }

    /// The URL the browser asked for, in canonical form, to come back to after the portal.
    pub(crate) fn original_url(&self, session: &Session, ctx: &RequestCtx) -> String {
        let uri = &session.req_header().uri;
        let path = ctx.rewritten_path.as_deref().unwrap_or_else(|| uri.path());
        match uri.query() {
            Some(query) => format!("{}://{}{path}?{query}", self.scheme(), ctx.host),
            None => format!("{}://{}{path}", self.scheme(), ctx.host),
        }
    }

    /// A later end for the grant this response runs under, if the cache knows of one: a grant
    /// extended after the request was decided keeps its responses going (issue 15).
    fn extended_deadline(&self, ctx: &RequestCtx) -> Option<Timestamp> {
        let user = &ctx.principal.as_ref()?.identity().user;
        let resource = &ctx.routed()?.resource.name;
        self.cache().cached_grant_expiry(user, resource, self.clock.now())
    }

    /// Whether a reload since this request was decided took its access away (see
    /// [`crate::ProxyConfig::still_allows`]). One atomic load when nothing was reloaded.
    fn reloaded_away(&self, ctx: &RequestCtx) -> bool {
        let (Some(decided), Some(principal), Some(route)) =
            (&ctx.config, &ctx.principal, ctx.routed())
        else {
            return false;
        };
        if self.settings.config.generation() == decided.generation {
            return false;
        }
        let current = self.settings.config.load();
        !current.still_allows(principal.identity(), &route.resource.name, ctx.deadline.is_some())
    }

    /// A WebSocket handshake from a page of another origin rides the user's cookie into the
    /// app (cross-site WebSocket hijacking): only the resource's own origin and the ones it
    /// lists may open one. Clients that send no `Origin` (scripts) are not browsers.
    pub(crate) fn origin_allowed(
        &self,
        header: &RequestHeader,
        ctx: &RequestCtx,
        resource: &Resource,
    ) -> bool {
        let Some(origin) = header.headers.get(http::header::ORIGIN) else { return true };
        let Ok(origin) = origin.to_str() else { return false };
        let origin = origin.trim().to_ascii_lowercase();
        let own = format!("{}://{}", self.scheme(), ctx.host);
        origin == own || resource.websocket_origins.contains(&origin)
    }
}

/// The hooks jitgate implements, in the order Pingora runs them for a request. Each says in
/// which phase it runs, what its return value means, and what Pingora's default would do.
/// Hooks not listed keep Pingora's defaults (no caching, no response header changes).
#[async_trait]
impl ProxyHttp for JitgateProxy {
    type CTX = RequestCtx;

    /// Phase: once per request, before any other hook. Returns the empty context every later
    /// hook reads and fills. (No default: Pingora requires it.)
    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Phase: the request header has been read, nothing has gone upstream. Canonicalises the
    /// request, routes it and decides on it. Returns `Ok(true)` when jitgate answered itself
    /// (a refusal, a redirect, a handoff, the JWKS): Pingora then sends nothing upstream and
    /// goes to `logging`. `Ok(false)`: the request may pass, and the context holds the route,
    /// principal, decision, deadline and canonical path later hooks need. Default: `Ok(false)`
    /// for everything, i.e. no access control at all.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if tracing::enabled!(target: "jitgate::access", tracing::Level::INFO) {
            ctx.started = Some(std::time::Instant::now());
        }
        let Err(Answer(reply)) = self.decide(session.req_header(), ctx).await else {
            return Ok(false);
        };
        let client = ctx.client.unwrap_or(Client::Api);
        match reply {
            AnswerKind::BadPath(why) => refuse::bad_path(session, client, why).await?,
            AnswerKind::Jwks => {
                let jwks = self.settings.assertions.signer().jwks().to_string();
                Reply::raw(200, "application/jwk-set+json", jwks).send(session).await?;
            }
            AnswerKind::Handoff => self.redeem_handoff(session, &ctx.host.clone()).await?,
            AnswerKind::UnknownHost => {
                Reply::page(404, "Nothing here", "jitgate does not serve this address.")
                    .send(session)
                    .await?
            }
            AnswerKind::CrossOrigin => {
                Reply::text(403, "this origin may not open a WebSocket here").send(session).await?
            }
            AnswerKind::Refused => self.refuse(session, ctx, client).await?,
        }
        Ok(true)
    }

    /// Phase: after `request_filter` let the request pass, before connecting; again on each
    /// retry. Returns the upstream to connect to: the in-process portal, or the route's next
    /// healthy upstream at an address resolved in the background; long-lived requests
    /// (WebSocket, event stream) get a leased socket (`custom_l4`) and a pool key of their
    /// own, and requests not safe to send twice a connection of their own (see [`unshared`]).
    /// (No default: Pingora requires it.)
    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        // A retry after access ended mid-response must not reach the upstream again.
        if ctx.access_ended || ctx.in_flight.as_ref().is_some_and(Tracked::was_cut) {
            return Error::e_explain(ErrorType::HTTPStatus(403), "access ended; not retried");
        }
        if let (Decision::Portal, Some(portal)) = (ctx.decision, self.settings.portal) {
            return Ok(Box::new(HttpPeer::new(portal, false, String::new())));
        }
        let config = ctx.config.clone();
        let route = config
            .as_ref()
            .zip(ctx.route)
            .map(|(config, index)| config.router.get(index))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
        let (upstream_index, upstream) = route.next_upstream();
        ctx.upstream = Some(upstream_index);
        ctx.attempts += 1;
        let address = route.address(upstream_index).await.ok_or_else(|| {
            Error::explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve upstream {}", upstream.address),
            )
        })?;
        let mut peer = HttpPeer::new(address, upstream.tls, upstream.sni.clone());
        peer.options.verify_cert = upstream.verify_cert;
        peer.options.verify_hostname = upstream.verify_cert;
        peer.options.connection_timeout = Some(Duration::from_secs(5));
        if ctx.long_lived {
            let session = match &ctx.principal {
                Some(Principal::Session(session)) => Some(LeasedSession {
                    id: session.id.clone(),
                    user: session.identity.user.clone(),
                    expires_at: session.expires_at,
                }),
                _ => None,
            };
            let grant = match (ctx.deadline, &ctx.principal) {
                (Some(expires_at), Some(principal)) => Some(LeasedGrant {
                    user: principal.identity().user.clone(),
                    resource: route.resource.name.clone(),
                    expires_at,
                }),
                _ => None,
            };
            let token = match &ctx.principal {
                Some(Principal::ApiToken { token, .. }) => {
                    Some(LeasedToken { id: token.id, expires_at: token.expires_at })
                }
                _ => None,
            };
            // Every connection with a principal is leased, standing access included: a reload
            // that takes the access away must be able to end it.
            let lease = ctx.principal.as_ref().map(|principal| Lease {
                session,
                token,
                grant,
                access: LeasedAccess {
                    principal: principal.clone(),
                    resource: route.resource.name.clone(),
                    config: self.settings.config.clone(),
                },
                cache: self.settings.gate.cache().clone(),
                clock: self.clock.clone(),
            });
            peer.options.custom_l4 = Some(Arc::new(LeasedConnect {
                lease,
                body_sent: ctx.body_sent.as_ref().map(watch::Sender::subscribe),
            }));
            // A leased connection must never be pooled with, or reused for, another request.
            peer.group_key = NEXT_LEASE.fetch_add(1, Ordering::Relaxed);
        } else if !session.req_header().method.is_idempotent() {
            unshared(&mut peer);
        }
        Ok(Box::new(peer))
    }

    /// Phase: connected (or about to send on a pooled connection), before the request header
    /// goes upstream. Rewrites `request` so the upstream gets exactly what was decided on: the
    /// canonical path (origin-form) on the routed host, jitgate's identity and forwarding
    /// headers, none of the client's copies of them and none of jitgate's cookies. An `Err`
    /// fails the request (502). Default: forwards the client's header unchanged.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let peer = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        self.upstream_headers(peer, request, ctx)
    }

    /// Phase: a connection to the upstream was established or taken from the pool, before the
    /// request is sent. Registers the response on the upstream socket so that it can be cut
    /// when its grant or session ends mid-response (see [`crate::in_flight`]); leased
    /// connections (WebSockets, event streams) have their own lease. An `Err` would fail the
    /// request; this never returns one. Default: does nothing.
    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        #[cfg(unix)]
        if let (Some(principal), Some(route), false) =
            (&ctx.principal, ctx.routed(), ctx.long_lived)
        {
            let (session, token) = match principal {
                Principal::Session(session) => (Some((&session.id, session.expires_at)), None),
                Principal::ApiToken { token, .. } => (None, Some((token.id, token.expires_at))),
                Principal::Bearer { .. } => (None, None),
            };
            // Standing access by bearer token too: a reload may take it away mid-response.
            let access = Access {
                principal,
                resource: &route.resource.name,
                grant_ends: ctx.deadline,
                session,
                token,
            };
            ctx.in_flight = self.settings.in_flight.track(fd, access);
        }
        // Registered (or leased) first, checked second: a reload after this point reaches the
        // supervisors, one between the decision and here is caught now.
        if self.reloaded_away(ctx) {
            ctx.access_ended = true;
            return Error::e_explain(ErrorType::HTTPStatus(403), "a config reload removed access");
        }
        Ok(())
    }

    /// Phase: each chunk of the request body, on its way upstream (for an upgraded
    /// connection, each chunk the client sends). Raises the "body sent" flag an upgrade's
    /// leased socket waits for (see `lease.rs`, Pingora issue 946). An `Err` ends the request.
    /// Default: passes the body unchanged.
    async fn request_body_filter(
        &self,
        session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if end_of_stream
            && !session.was_upgraded()
            && let Some(body_sent) = &ctx.body_sent
        {
            body_sent.send_replace(true);
        }
        Ok(())
    }

    /// Phase: the exchange with the upstream failed after connecting (a read or write error,
    /// including the in-flight supervisor cutting it). A response cut because its access
    /// ended becomes a 403 that is never retried; anything else is decided as Pingora's
    /// default does: an idempotent request that failed on a reused connection is retried (the
    /// upstream closed it as it went out), a request not safe to send twice never is, since
    /// the upstream may have acted on it. Such requests never ride a reused connection
    /// (`upstream_peer`), so the keep-alive race cannot fail them. Default: that.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        error: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        if ctx.in_flight.as_ref().is_some_and(Tracked::was_cut) {
            ctx.access_ended = true;
            let mut ended = Error::because(
                ErrorType::HTTPStatus(403),
                "access ended while the upstream was answering",
                error,
            );
            ended.set_retry(false);
            return ended;
        }
        let mut error = error.more_context(format!("Peer: {peer}"));
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            error.set_retry(false);
        } else {
            error.retry.decide_reuse(client_reused);
        }
        error
    }

    /// Phase: a request ended with an error, before Pingora logs it. A response cut because
    /// its access ended is jitgate doing its job, not a proxy error: its `logging` line says
    /// so at info level. Default: every error is logged at error level.
    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _error: &Error) -> bool {
        ctx.access_ended
    }

    /// Phase: connecting to the upstream failed. Marks the upstream down and, while untried
    /// ones remain, returns the error marked retryable, so Pingora calls `upstream_peer`
    /// again for the next healthy one: one dead upstream costs no request. Default: returns
    /// the error unchanged (no retry), and the client gets a 502.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut error: Box<Error>,
    ) -> Box<Error> {
        if let (Some(route), Some(upstream)) = (ctx.routed(), ctx.upstream) {
            route.set_healthy(upstream, false);
            if ctx.attempts < route.resource.upstreams.len() {
                error.set_retry(true);
            }
        }
        error
    }

    /// Phase: each chunk of the response body on its way to the client, synchronously.
    /// Forgets the response's in-flight registration on its last chunk (before Pingora pools
    /// the connection), and ends a response that outlives its grant on its next chunk (an
    /// `Err` aborts it). Returns no rate limit (`Ok(None)`). Idle responses and connections are
    /// ended by the in-flight supervisor and leases instead. Default: passes chunks unchanged.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if end_of_stream {
            // Complete: before Pingora pools the connection, stop watching it.
            ctx.in_flight = None;
        }
        match ctx.deadline {
            Some(deadline) if self.clock.now() >= deadline => match self.extended_deadline(ctx) {
                // Extended meanwhile (the supervisors re-read the grant on its change event).
                Some(later) => {
                    ctx.deadline = Some(later);
                    Ok(None)
                }
                None => Error::e_explain(
                    ErrorType::HTTPStatus(403),
                    "the grant ended during the response",
                ),
            },
            _ => Ok(None),
        }
    }

    /// Phase: the very end of every request, answered by jitgate or proxied, with the error
    /// that ended it if any. Counts the decision and writes the access log line. Default:
    /// does nothing.
    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        self.settings.gate.cache().metrics().request(ctx.decision).inc();
        // Nothing below is built unless the access log is on (it is not at `warn`).
        if !tracing::enabled!(target: "jitgate::access", tracing::Level::INFO) {
            return;
        }
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let resource = ctx.routed().map_or("", |route| route.resource.name.as_str());
        let user = ctx.principal.as_ref().map_or("", |p| p.identity().user.as_str());
        let elapsed_ms =
            ctx.started.map(|s| s.elapsed().as_secs_f64() * 1000.0).unwrap_or_default();
        tracing::info!(
            target: "jitgate::access",
            elapsed_ms,
            method = %session.req_header().method,
            host = %ctx.host,
            path = %session.req_header().uri.path(),
            resource,
            user,
            decision = ctx.decision.label(),
            status,
            error = error.map(tracing::field::display),
            "request"
        );
    }
}
