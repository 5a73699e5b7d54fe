//! What a refused request is told, phrased for who is asking (see [`Client`]): browsers get
//! redirects to the portal or a page, scripts JSON, WebSocket handshakes a plain status.

use jitgate_access::routes;
use pingora::Result;
use pingora::proxy::Session;

use crate::gate::Decision;
use crate::no_access::NoAccess;
use crate::request_path::PathRefusal;
use crate::respond::{Client, Reply};
use crate::service::{JitgateProxy, RequestCtx};

/// The store cannot be asked, so access cannot be proven: 503, never a pass.
pub async fn unavailable(session: &mut Session, client: Client) -> Result<()> {
    match client {
        Client::Browser => Reply::page(503, "Access could not be verified", "jitgate cannot reach its store right now, so it cannot check your access. Try again in a moment.").send(session).await,
        Client::Api => Reply::json(503, "unavailable", "access could not be verified: the store is unreachable", None).send(session).await,
        Client::WebSocket => Reply::text(503, "access could not be verified").send(session).await,
    }
}

/// A request-target with no canonical form: 400 for every kind of client.
pub async fn bad_path(session: &mut Session, client: Client, why: PathRefusal) -> Result<()> {
    let message = format!("jitgate refused this address: {why}.");
    match client {
        Client::Browser => {
            Reply::page(400, "This address cannot be served", &message).send(session).await
        }
        Client::Api => Reply::json(400, "bad_request", &message, None).send(session).await,
        Client::WebSocket => Reply::text(400, &message).send(session).await,
    }
}

impl JitgateProxy {
    /// Answers a request the gate did not allow.
    pub(crate) async fn refuse(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        client: Client,
    ) -> Result<()> {
        let route = ctx.routed();
        let portal = &self.settings.portal_url;
        match ctx.decision {
            Decision::SignIn => match client {
                Client::Browser => {
                    let back = self.original_url(session, ctx);
                    self.send_to_sign_in(session, &back).await
                }
                Client::Api => {
                    let sign_in = routes::sign_in_url(portal, &self.original_url(session, ctx), None);
                    Reply::json(401, "unauthenticated", "sign in first", Some(("sign_in_url", &sign_in))).send(session).await
                }
                Client::WebSocket => Reply::text(401, "sign in first").send(session).await,
            },
            Decision::Locked => {
                // Locked is only decided for a routed request; without a route, fail closed.
                let Some(route) = route else { return unavailable(session, client).await };
                let resource = &route.resource.name;
                let request_url = routes::request_url(portal, resource, &self.original_url(session, ctx));
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
                Client::Browser => match route.zip(ctx.config.as_deref()) {
                    Some((route, config)) => {
                        let original = self.original_url(session, ctx);
                        let page = NoAccess {
                            resource: &route.resource,
                            roles: &config.roles,
                            user: ctx.principal().map(|p| p.identity().user.as_str()),
                            portal_url: portal,
                            original_url: &original,
                        };
                        page.reply().send(session).await
                    }
                    None => Reply::page(403, "You don't have access to this app", "No policy gives you access. Ask your administrator if you think you should have it.").send(session).await,
                },
                Client::Api => Reply::json(403, "forbidden", "no policy gives you access to this resource", None).send(session).await,
                Client::WebSocket => Reply::text(403, "no access").send(session).await,
            },
            _ => unavailable(session, client).await,
        }
    }
}
