//! The Pingora `ProxyHttp` implementation. Thin: each phase reads or fills the per-request
//! [`RequestCtx`] and delegates to the modules that know the rules.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use jitgate_access::clock::Clock;
use jitgate_access::config::IdentityHeaders;
use jitgate_access::routes::{self, HANDOFF_PATH, JWKS_PATH, SESSION_COOKIE};
use jitgate_access::time::Timestamp;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use tokio::sync::watch;

use crate::assertions::Assertions;
use crate::cache::AccessCache;
use crate::gate::{Credential, Decision, Gate, Principal};
use crate::lease::{Lease, LeasedConnect};
use crate::respond::{Client, Reply};
use crate::route::{Router, normalize_host};
use crate::upstream_headers::{self, Asserted, Forwarded};

/// What the proxy needs, built once at start-up.
pub struct ProxySettings {
    pub router: Arc<Router>,
    pub gate: Gate,
    pub portal_url: String,
    /// The portal's host: until the portal serves it, the proxy answers its JWKS there.
    pub portal_host: String,
    pub headers: IdentityHeaders,
    pub assertions: Arc<Assertions>,
    /// The listener speaks TLS: cookies get `Secure` and URLs `https`.
    pub tls: bool,
    /// The portal app in this process: requests for the portal's host go there unchecked (it
    /// does its own sign-in). `None` when this process runs the proxy alone.
    pub portal: Option<SocketAddr>,
}

/// Pool keys for leased connections: unique, so none is ever shared. Starts high to stay clear
/// of Pingora's default key 0.
static NEXT_LEASE: AtomicU64 = AtomicU64::new(1 << 32);

pub struct JitgateProxy {
    settings: ProxySettings,
    clock: Arc<dyn Clock>,
}

/// Per-request state, filled in `request_filter` and read by later phases.
#[derive(Default)]
pub struct RequestCtx {
    route: Option<usize>,
    host: String,
    principal: Option<Principal>,
    /// Why a bearer token was refused, told to the client.
    token_problem: Option<jitgate_access::bearer::BearerError>,
    /// When the grant that let this request through ends (`None` for standing access).
    pub deadline: Option<Timestamp>,
    /// A connection that may stay open long (WebSocket, event stream): its upstream socket is
    /// leased to the grant.
    long_lived: bool,
    /// For a protocol upgrade (WebSocket): raised once the request's own body end is handed to
    /// Pingora, which the upstream socket waits for (see `lease.rs`).
    body_sent: Option<watch::Sender<bool>>,
    started: Option<std::time::Instant>,
    /// The upstream this attempt went to, and how many attempts were made.
    upstream: Option<usize>,
    attempts: usize,
    pub decision: Decision,
}

fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// The token of an `Authorization: Bearer` header (the scheme is case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

impl JitgateProxy {
    pub fn new(settings: ProxySettings, clock: Arc<dyn Clock>) -> Self {
        Self { settings, clock }
    }

    fn cache(&self) -> &AccessCache {
        self.settings.gate.cache()
    }

    fn scheme(&self) -> &'static str {
        if self.settings.tls { "https" } else { "http" }
    }

    fn original_url(&self, host: &str, session: &Session) -> String {
        let uri = &session.req_header().uri;
        let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
        format!("{}://{host}{path}", self.scheme())
    }

    async fn handoff(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        let now = self.clock.now();
        let query = session.req_header().uri.query().unwrap_or("");
        let token = query_param(query, "token").map(percent_decode);
        let claims =
            match token
                .as_deref()
                .map(|t| self.settings.gate.keys().verify_handoff(t, &ctx.host, now))
            {
                Some(Ok(claims)) => claims,
                _ => return Reply::page(
                    400,
                    "This sign-in link is not valid",
                    "It may have expired or been meant for another site. Go back and try again.",
                )
                .send(session)
                .await,
            };
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
            Err(_) => return unavailable(session, Client::Browser).await,
        }
        let signed_in = match self.cache().session(&claims.sid, now).await {
            Ok(Some(signed_in)) => signed_in,
            Ok(None) => {
                let back =
                    format!("{}://{}{}", self.scheme(), ctx.host, routes::local_path(&claims.rd));
                return Reply::redirect(&routes::sign_in_url(&self.settings.portal_url, &back))
                    .send(session)
                    .await;
            }
            Err(_) => return unavailable(session, Client::Browser).await,
        };
        let cookie = self.settings.gate.keys().session_cookie(
            &signed_in.id,
            &ctx.host,
            signed_in.expires_at,
        );
        let max_age = now.until(signed_in.expires_at).as_secs();
        let secure = if self.settings.tls { "; Secure" } else { "" };
        let set_cookie = format!(
            "{SESSION_COOKIE}={cookie}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        );
        Reply::redirect(routes::local_path(&claims.rd))
            .with_header("set-cookie", set_cookie)
            .send(session)
            .await
    }

    async fn refuse(&self, session: &mut Session, ctx: &RequestCtx, client: Client) -> Result<()> {
        let route = ctx.route.map(|i| self.settings.router.get(i));
        match ctx.decision {
            Decision::SignIn => match client {
                Client::Browser => {
                    let back = self.original_url(&ctx.host, session);
                    Reply::redirect(&routes::sign_in_url(&self.settings.portal_url, &back)).send(session).await
                }
                Client::Api => {
                    let sign_in = routes::sign_in_url(&self.settings.portal_url, &self.original_url(&ctx.host, session));
                    Reply::json(401, "unauthenticated", "sign in first", Some(("sign_in_url", &sign_in))).send(session).await
                }
                Client::WebSocket => Reply::text(401, "sign in first").send(session).await,
            },
            Decision::Locked => {
                // Locked is only decided for a routed request; without a route, fail closed.
                let Some(route) = route else { return unavailable(session, client).await };
                let resource = &route.resource.name;
                let request_url = routes::request_url(&self.settings.portal_url, resource, &self.original_url(&ctx.host, session));
                match client {
                    Client::Browser => Reply::redirect(&request_url).send(session).await,
                    Client::Api => Reply::json(403, "locked", &format!("{resource} needs a just-in-time grant"), Some(("request_url", &request_url))).send(session).await,
                    Client::WebSocket => Reply::text(403, "no active grant").send(session).await,
                }
            }
            Decision::BadToken => {
                let problem = ctx.token_problem.as_ref().map_or_else(|| "invalid token".to_owned(), ToString::to_string);
                // RFC 6750: tell the client in the challenge too, quotes kept out of it.
                let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{}\"", problem.replace('"', "'"));
                match client {
                    Client::WebSocket => Reply::text(401, &problem),
                    _ => Reply::json(401, "invalid_token", &problem, None),
                }
                .with_header("www-authenticate", challenge)
                .send(session)
                .await
            }
            Decision::IdpUnavailable => match client {
                Client::WebSocket => Reply::text(503, "the token could not be verified").send(session).await,
                _ => Reply::json(503, "unavailable", "the token could not be verified: the identity provider is unreachable", None).send(session).await,
            },
            Decision::NoAccess => match client {
                Client::Browser => Reply::page(403, "You don't have access to this app", "No policy gives you access. Ask your administrator if you think you should have it.").send(session).await,
                Client::Api => Reply::json(403, "forbidden", "no policy gives you access to this resource", None).send(session).await,
                Client::WebSocket => Reply::text(403, "no access").send(session).await,
            },
            _ => unavailable(session, client).await,
        }
    }
}

fn percent_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()
}

async fn unavailable(session: &mut Session, client: Client) -> Result<()> {
    match client {
        Client::Browser => Reply::page(503, "Access could not be verified", "jitgate cannot reach its store right now, so it cannot check your access. Try again in a moment.").send(session).await,
        Client::Api => Reply::json(503, "unavailable", "access could not be verified: the store is unreachable", None).send(session).await,
        Client::WebSocket => Reply::text(503, "access could not be verified").send(session).await,
    }
}

#[async_trait]
impl ProxyHttp for JitgateProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Routes the request and decides on it: answered here (`Ok(true)`) unless it may pass.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.started = Some(std::time::Instant::now());
        let header = session.req_header();
        let raw_host = header
            .headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .or_else(|| header.uri.host())
            .unwrap_or("");
        ctx.host = normalize_host(raw_host, self.settings.tls);
        let path = header.uri.path().to_owned();
        let client = Client::of(session);
        ctx.body_sent = (client == Client::WebSocket).then(|| watch::channel(false).0);
        ctx.long_lived = ctx.body_sent.is_some()
            || header
                .headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/event-stream"));
        if ctx.host == self.settings.portal_host && self.settings.portal.is_some() {
            ctx.decision = Decision::Portal;
            return Ok(false);
        }
        if ctx.host == self.settings.portal_host && path == JWKS_PATH {
            let jwks = self.settings.assertions.signer().jwks().to_string();
            Reply::raw(200, "application/jwk-set+json", jwks).send(session).await?;
            return Ok(true);
        }
        let Some(index) = self.settings.router.find(&ctx.host, &path) else {
            ctx.decision = Decision::UnknownHost;
            Reply::page(404, "Nothing here", "jitgate does not serve this address.")
                .send(session)
                .await?;
            return Ok(true);
        };
        ctx.route = Some(index);
        if path == HANDOFF_PATH {
            ctx.decision = Decision::Handoff;
            self.handoff(session, ctx).await?;
            return Ok(true);
        }
        let now = self.clock.now();
        let headers = &session.req_header().headers;
        // A script's explicit token wins over any cookie it may also carry.
        let credential =
            match headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(bearer_token)
            {
                Some(token) => Credential::Bearer(token),
                None => headers
                    .get_all("cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|c| cookie_value(c, SESSION_COOKIE))
                    .map_or(Credential::None, Credential::Cookie),
            };
        let resource = &self.settings.router.get(index).resource;
        let verdict = self.settings.gate.check(credential, &ctx.host, resource, now).await;
        ctx.decision = verdict.decision;
        ctx.principal = verdict.principal;
        ctx.token_problem = verdict.token_problem;
        ctx.deadline = verdict.deadline;
        if ctx.decision.allows() {
            return Ok(false);
        }
        self.refuse(session, ctx, client).await?;
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        if let (Decision::Portal, Some(portal)) = (ctx.decision, self.settings.portal) {
            return Ok(Box::new(HttpPeer::new(portal, false, String::new())));
        }
        let index =
            ctx.route.ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
        let (upstream_index, upstream) = self.settings.router.get(index).next_upstream();
        ctx.upstream = Some(upstream_index);
        ctx.attempts += 1;
        let address = tokio::net::lookup_host(&upstream.address)
            .await
            .ok()
            .and_then(|mut addresses| addresses.next())
            .ok_or_else(|| {
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
            let route = self.settings.router.get(index);
            let lease = match (ctx.deadline, &ctx.principal) {
                (Some(expires_at), Some(principal)) => Some(Lease {
                    user: principal.identity().user.clone(),
                    resource: route.resource.name.clone(),
                    expires_at,
                    cache: self.settings.gate.cache().clone(),
                    clock: self.clock.clone(),
                }),
                _ => None,
            };
            peer.options.custom_l4 = Some(Arc::new(LeasedConnect {
                lease,
                body_sent: ctx.body_sent.as_ref().map(watch::Sender::subscribe),
            }));
            // A leased connection must never be pooled with, or reused for, another request.
            peer.group_key = NEXT_LEASE.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string());
        let forwarded = Forwarded { client_ip, proto: self.scheme(), host: &ctx.host };
        let asserted = ctx.principal.as_ref().map(|principal| Asserted {
            identity: principal.identity(),
            assertion: self.settings.assertions.for_request(principal, &ctx.host, self.clock.now()),
            // The IdP's token was meant for jitgate; the upstream gets the assertion instead.
            strip_authorization: matches!(principal, Principal::Bearer { .. }),
        });
        // The portal reads its own session cookie; resource upstreams never see it.
        let keep_session_cookie = ctx.decision == Decision::Portal;
        upstream_headers::rewrite(
            request,
            &self.settings.headers,
            asserted,
            &forwarded,
            keep_session_cookie,
        )
    }

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

    /// A connection refused marks the upstream down and, while untried ones remain, retries
    /// on the next healthy one: one dead upstream costs no request.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut error: Box<Error>,
    ) -> Box<Error> {
        if let (Some(index), Some(upstream)) = (ctx.route, ctx.upstream) {
            let route = self.settings.router.get(index);
            route.set_healthy(upstream, false);
            if ctx.attempts < route.resource.upstreams.len() {
                error.set_retry(true);
            }
        }
        error
    }

    /// Ends a response that outlives its grant on its next chunk (long downloads). Idle
    /// long-lived connections are ended by their lease instead.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        match ctx.deadline {
            Some(deadline) if self.clock.now() >= deadline => {
                Error::e_explain(ErrorType::HTTPStatus(403), "the grant ended during the response")
            }
            _ => Ok(None),
        }
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let resource = ctx
            .route
            .map(|i| self.settings.router.get(i).resource.name.to_string())
            .unwrap_or_default();
        let user =
            ctx.principal.as_ref().map(|p| p.identity().user.to_string()).unwrap_or_default();
        self.settings
            .gate
            .cache()
            .metrics()
            .requests
            .with_label_values(&[&format!("{:?}", ctx.decision)])
            .inc();
        let elapsed_ms =
            ctx.started.map(|s| s.elapsed().as_secs_f64() * 1000.0).unwrap_or_default();
        tracing::info!(
            target: "jitgate::access",
            elapsed_ms,
            method = %session.req_header().method,
            host = %ctx.host,
            path = %session.req_header().uri.path(),
            %resource,
            %user,
            decision = ?ctx.decision,
            status,
            error = error.map(|e| e.to_string()),
            "request"
        );
    }
}
