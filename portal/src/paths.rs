//! The portal's routes, in one place: the patterns the router mounts ([`crate::state`]) and the
//! functions that build every link and redirect to them. The paths the proxy shares
//! (sign-in, the OIDC callback, the request form, the JWKS) come from
//! [`jitgate_access::routes`].

use std::fmt::Display;

use jitgate_access::routes::fill;
pub use jitgate_access::routes::{CALLBACK_PATH, JWKS_PATH, REQUEST_FORM_PATH, SIGN_IN_PATH};

use crate::pages::encode;

/// My access: the portal's home.
pub const HOME: &str = "/";
pub const SIGN_OUT: &str = "/auth/sign-out";
/// Where sign-out ends, after the IdP's own sign-out when there is one.
pub const SIGNED_OUT: &str = "/auth/signed-out";
pub const REQUEST_STATUS: &str = "/requests/{id}";
pub const REQUEST_CANCEL: &str = "/requests/{id}/cancel";
pub const REQUEST_END: &str = "/requests/{id}/end";
pub const REQUEST_PAUSE: &str = "/requests/{id}/pause";
pub const REQUEST_RESUME: &str = "/requests/{id}/resume";
pub const REQUEST_EXTEND: &str = "/requests/{id}/extend";
pub const REQUEST_ACKNOWLEDGE: &str = "/requests/{id}/acknowledge";
pub const REVIEW: &str = "/review";
pub const REVIEW_APPROVE: &str = "/review/{id}/approve";
pub const REVIEW_DENY: &str = "/review/{id}/deny";
pub const REVIEW_REVOKE: &str = "/review/{id}/revoke";
pub const AUDIT: &str = "/audit";
pub const NOTIFICATIONS: &str = "/notifications";
pub const DIRECTORY: &str = "/access";
pub const DIRECTORY_RESOURCE: &str = "/access/resources/{name}";
pub const DIRECTORY_GROUP: &str = "/access/groups/{name}";
pub const DIRECTORY_USER: &str = "/access/users/{email}";
pub const DIRECTORY_USER_END_SESSIONS: &str = "/access/users/{email}/sessions/end";
pub const TOKENS: &str = "/tokens";
pub const TOKENS_REVOKE: &str = "/tokens/{id}/revoke";
/// The command line's browser sign-in (`jitgate login --browser`).
pub const CLI_SIGN_IN: &str = jitgate_access::cli_sign_in::PORTAL_PATH;
pub const ASSETS: &str = "/assets/{file}";

/// One of the portal's static files.
pub fn asset(file: &str) -> String {
    fill(ASSETS, "file", file)
}

/// The sign-in page, returning to `back` (a portal path) afterwards.
pub fn sign_in(back: &str) -> String {
    format!("{SIGN_IN_PATH}?rd={}", encode(back))
}

/// The request form for `resource` (resource names are URL-safe: a-z, 0-9, `-`, `_`).
pub fn request_form(resource: impl Display) -> String {
    fill(REQUEST_FORM_PATH, "resource", &resource.to_string())
}

/// A request's status page.
pub fn request_status(id: impl Display) -> String {
    fill(REQUEST_STATUS, "id", &id.to_string())
}

/// Where the requester cancels a pending request.
pub fn request_cancel(id: impl Display) -> String {
    fill(REQUEST_CANCEL, "id", &id.to_string())
}

/// Where the requester ends their active grant.
pub fn request_end(id: impl Display) -> String {
    fill(REQUEST_END, "id", &id.to_string())
}

/// Where the holder (or a reviewer) switches a grant off.
pub fn request_pause(id: impl Display) -> String {
    fill(REQUEST_PAUSE, "id", &id.to_string())
}

/// Where a paused grant is switched back on.
pub fn request_resume(id: impl Display) -> String {
    fill(REQUEST_RESUME, "id", &id.to_string())
}

/// Where a reviewer acknowledges a break-glass grant.
pub fn request_acknowledge(id: impl Display) -> String {
    fill(REQUEST_ACKNOWLEDGE, "id", &id.to_string())
}

/// Where the holder asks for more time on their grant.
pub fn request_extend(id: impl Display) -> String {
    fill(REQUEST_EXTEND, "id", &id.to_string())
}

/// Where a reviewer approves a request.
pub fn review_approve(id: impl Display) -> String {
    fill(REVIEW_APPROVE, "id", &id.to_string())
}

/// Where a reviewer denies a request.
pub fn review_deny(id: impl Display) -> String {
    fill(REVIEW_DENY, "id", &id.to_string())
}

/// Where a reviewer revokes a grant.
pub fn review_revoke(id: impl Display) -> String {
    fill(REVIEW_REVOKE, "id", &id.to_string())
}

/// A request's status page that sends the browser on to `rd` (an absolute URL) once granted.
pub fn request_status_then(id: impl Display, rd: &str) -> String {
    format!("{}?rd={}", request_status(id), encode(rd))
}

/// The review dashboard on `tab`, with `params` (already encoded, each `&key=value`).
pub fn review_tab(tab: impl Display, params: impl Display) -> String {
    format!("{REVIEW}?tab={tab}{params}")
}

/// The audit log with `params` (already encoded, `key=value&…`).
pub fn audit(params: impl Display) -> String {
    format!("{AUDIT}?{params}")
}

/// The directory page of a resource, group or user: `key` is `resource`, `group` or `user`.
pub fn directory_entry(key: &str, name: &str) -> String {
    match key {
        "resource" => directory_resource(name),
        "group" => directory_group(name),
        _ => directory_user(name),
    }
}

pub fn directory_resource(name: impl Display) -> String {
    fill(DIRECTORY_RESOURCE, "name", &encode(&name.to_string()))
}

pub fn directory_group(name: impl Display) -> String {
    fill(DIRECTORY_GROUP, "name", &encode(&name.to_string()))
}

pub fn directory_user(email: impl Display) -> String {
    fill(DIRECTORY_USER, "email", &encode(&email.to_string()))
}

/// Where an admin ends every session of `email`.
pub fn directory_user_end_sessions(email: impl Display) -> String {
    fill(DIRECTORY_USER_END_SESSIONS, "email", &encode(&email.to_string()))
}

pub fn tokens_revoke(id: impl Display) -> String {
    fill(TOKENS_REVOKE, "id", &id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fill_the_router_patterns() {
        let id: jitgate_access::ids::RequestId = "01J0000000000000000000000A".parse().unwrap();
        assert_eq!(request_status(id), "/requests/01J0000000000000000000000A");
        assert_eq!(
            request_status_then(id, "http://app/x"),
            "/requests/01J0000000000000000000000A?rd=http%3A%2F%2Fapp%2Fx"
        );
        assert_eq!(request_form("db"), "/request/db");
        assert_eq!(sign_in("/review?tab=x"), "/auth/sign-in?rd=%2Freview%3Ftab%3Dx");
        assert_eq!(directory_entry("group", "sre team"), "/access/groups/sre%20team");
        assert_eq!(directory_entry("user", "a@b.c"), "/access/users/a%40b%2Ec");
        assert_eq!(review_tab("pending", "&user=a"), "/review?tab=pending&user=a");
    }
}
