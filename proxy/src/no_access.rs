//! The page a signed-in browser gets for an app no policy lets it reach. It is not a dead end:
//! it says which account is signed in (the usual cause is the wrong one), how to switch, where
//! to ask for access, and who reviews access to the app. Static HTML with an inline style only,
//! sent with the proxy's usual headers and a CSP that allows nothing else.

use jitgate_access::config::Resource;
use jitgate_access::policy::{ResourcePolicy, Roles};
use jitgate_access::routes;

use crate::respond::{Reply, escape};

/// What the page needs to know; `user` is `None` when the request had no principal (which the
/// gate does not produce for this decision, but the page must not assume it).
pub struct NoAccess<'a> {
    pub resource: &'a Resource,
    pub roles: &'a Roles,
    pub user: Option<&'a str>,
    pub portal_url: &'a str,
    /// The URL the browser asked for, for the request form to return to.
    pub original_url: &'a str,
}

/// Nothing but the page's own inline style: no script, no frames, no other origin.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

impl NoAccess<'_> {
    pub fn reply(&self) -> Reply {
        let name = self.resource.name.as_str();
        let portal = self.portal_url.trim_end_matches('/');
        let request = routes::request_url(portal, &self.resource.name, self.original_url);
        let who = match self.user {
            Some(user) => format!(
                "<p>You are signed in as <strong id=\"who\">{}</strong>, and no policy gives this \
                 account access to {}.</p>",
                escape(user),
                escape(name)
            ),
            None => format!("<p>No policy gives you access to {}.</p>", escape(name)),
        };
        let reviewers = ResourcePolicy::all_reviewers(&self.resource.policy, self.roles).describe();
        let ask = if reviewers.is_empty() {
            "Your administrator decides who can use it.".to_owned()
        } else {
            format!("Access to {} is reviewed by {}.", escape(name), escape(&reviewers))
        };
        let body = format!(
            "<h1>You don't have access to {name}</h1>{who}\
             <p id=\"reviewers\">{ask}</p>\
             <p><a class=\"button\" href=\"{request}\">Ask for access to {name}</a></p>\
             <p>Wrong account? <a href=\"{portal}/\">Open the portal</a> to sign out, then sign \
             in with the account that should have access.</p>",
            name = escape(name),
            request = escape(&request),
            portal = escape(portal),
        );
        Reply::page_html(403, &format!("You don't have access to {name}"), &body)
            .with_header("content-security-policy", CSP.to_owned())
    }
}
