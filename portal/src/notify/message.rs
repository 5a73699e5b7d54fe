//! What a notification says, independent of how it travels: a subject, a sentence, the facts
//! and a link. Email (text and HTML) and Slack render this one description, so the channels
//! never disagree.

use askama::Template;
use jitgate_access::outbox::{EventKind, NotificationEvent};
use jitgate_access::request::RequestState;
use jitgate_access::time::format_duration;

use crate::paths;

pub struct Message {
    pub subject: String,
    pub headline: String,
    pub facts: Vec<(&'static str, String)>,
    /// Where to act or read more: the review page for reviewers, the prefilled Extend form for
    /// a reminder, the request page otherwise.
    pub link: (&'static str, String),
}

impl Message {
    pub fn of(event: &NotificationEvent, portal_url: &str) -> Self {
        let request = &event.request;
        let (user, resource) = (request.requester.as_str(), request.resource.as_str());
        let portal = portal_url.trim_end_matches('/');
        let page = format!("{portal}{}", paths::request_status(request.id));
        let pending = paths::review_tab("pending", format!("&resource={resource}"));
        let review = format!("{portal}{pending}#r-{}", request.id);
        let by = event.actor.key().to_owned();
        let mut facts = vec![("User", user.to_owned()), ("Resource", resource.to_owned())];
        let (subject, headline, link) = match event.kind {
            EventKind::RequestCreated => {
                facts.push(("Reason", request.reason.clone()));
                facts.push(("Duration", format_duration(request.requested_duration)));
                facts.push(("Requested at", request.created_at.to_string()));
                (
                    format!("Access request: {user} → {resource}"),
                    format!("{user} asks for access to {resource}."),
                    ("Review the request", review),
                )
            }
            EventKind::RequestApproved => {
                if let RequestState::Approved { grant } = &request.state {
                    // "15m (asked 1h)" when a reviewer granted less than asked.
                    facts.push(("Granted", crate::outcome::duration_text(request)));
                    if let Some(start) = grant.starts_at {
                        facts.push(("Starts at", start.to_string()));
                    }
                    facts.push(("Until", grant.expires_at.to_string()));
                }
                facts.push(("Approved by", request.approved_by()));
                (
                    format!("Approved: your access to {resource}"),
                    format!("Your request for {resource} was approved."),
                    ("Open your request", page),
                )
            }
            EventKind::RequestDenied => {
                facts.push(("Denied by", by));
                facts.push(("Note", event.note.clone()));
                (
                    format!("Denied: your access to {resource}"),
                    format!("Your request for {resource} was denied."),
                    ("Open your request", page),
                )
            }
            EventKind::RequestCancelled => (
                format!("Cancelled: {user} → {resource}"),
                format!("{user} cancelled their request for {resource}."),
                ("Open the request", page),
            ),
            EventKind::RequestTimedOut => (
                format!("Timed out: your access to {resource}"),
                format!("Nobody decided on your request for {resource} in time."),
                ("Open your request", page),
            ),
            EventKind::GrantRevoked => {
                facts.push(("Revoked by", by));
                facts.push(("Note", event.note.clone()));
                (
                    format!("Revoked: your access to {resource}"),
                    format!("Your access to {resource} was revoked."),
                    ("Open your request", page),
                )
            }
            EventKind::GrantExpiring => {
                if let RequestState::Approved { grant } = &request.state {
                    facts.push(("Ends at", grant.expires_at.to_string()));
                }
                // Straight to the prefilled Extend form, which says so when more time cannot
                // be had (issue 15).
                let extend = format!("{portal}{}", paths::request_extend(request.id));
                (
                    format!("Ending soon: your access to {resource}"),
                    format!(
                        "Your access to {resource} ends soon. If you need more time, ask for it with the link below."
                    ),
                    ("Extend your access", extend),
                )
            }
            EventKind::GrantPaused => {
                if let RequestState::Approved { grant } = &request.state {
                    facts.push(("Still ends at", grant.expires_at.to_string()));
                }
                facts.push(("Paused by", by));
                facts.push(("Note", event.note.clone()));
                (
                    format!("Paused: {user} → {resource}"),
                    format!("{user}'s access to {resource} is paused until it is resumed."),
                    ("Open the request", page),
                )
            }
            EventKind::GrantResumed => {
                if let RequestState::Approved { grant } = &request.state {
                    facts.push(("Until", grant.expires_at.to_string()));
                }
                facts.push(("Resumed by", by));
                (
                    format!("Resumed: {user} → {resource}"),
                    format!("{user}'s access to {resource} is on again."),
                    ("Open the request", page),
                )
            }
            EventKind::ExtensionRequested => {
                if let Some(extends) = &request.extends {
                    facts.push(("Original reason", extends.original_reason.clone()));
                }
                facts.push(("Reason", request.reason.clone()));
                facts.push(("More time", format_duration(request.requested_duration)));
                (
                    format!("Extension request: {user} → {resource}"),
                    format!("{user} asks for more time on their access to {resource}."),
                    ("Review the request", review),
                )
            }
            EventKind::GrantExtended => {
                if let RequestState::Approved { grant } = &request.state {
                    facts.push(("Until", grant.expires_at.to_string()));
                }
                facts.push(("Approved by", request.approved_by()));
                (
                    format!("Extended: your access to {resource}"),
                    format!("Your access to {resource} was extended."),
                    ("Open your request", page),
                )
            }
            EventKind::GrantBreakGlass => {
                facts.push(("Reason", request.reason.clone()));
                if let RequestState::Approved { grant } = &request.state {
                    facts.push(("Until", grant.expires_at.to_string()));
                }
                (
                    format!("Break glass: {user} → {resource}"),
                    format!(
                        "{user} broke glass and granted themselves access to {resource} without approval. Review it: acknowledge or revoke."
                    ),
                    ("Review the grant", page),
                )
            }
            EventKind::GrantStarted => {
                if let RequestState::Approved { grant } = &request.state {
                    facts.push(("Until", grant.expires_at.to_string()));
                }
                (
                    format!("Started: your access to {resource}"),
                    format!("Your scheduled access to {resource} has started."),
                    ("Open your request", page),
                )
            }
            EventKind::BreakGlassAcknowledged => {
                facts.push(("Acknowledged by", by));
                facts.push(("Note", event.note.clone()));
                (
                    format!("Reviewed: your break-glass access to {resource}"),
                    format!("A reviewer acknowledged your break-glass access to {resource}."),
                    ("Open your request", page),
                )
            }
            EventKind::GrantClaimed => {
                if let RequestState::Approved { grant } = &request.state {
                    facts.push(("Started", crate::outcome::duration_text(request)));
                    facts.push(("Until", grant.expires_at.to_string()));
                }
                (
                    format!("Started: your access to {resource}"),
                    format!("Your first request to {resource} started your access."),
                    ("Open your request", page),
                )
            }
            EventKind::GrantLapsed => (
                format!("Lapsed: your access to {resource}"),
                format!(
                    "Your approved access to {resource} lapsed unclaimed: it was never used in time. Ask again if you still need it."
                ),
                ("Open your request", page),
            ),
            EventKind::GrantExpired => (
                format!("Expired: {user} → {resource}"),
                format!("{user}'s access to {resource} expired."),
                ("Open the request", page),
            ),
        };
        facts.retain(|(_, value)| !value.is_empty());
        Self { subject, headline, facts, link }
    }

    /// Plain text: the email's text part and the Slack message.
    pub fn text(&self) -> String {
        // The template has no fallible parts; an error would be a bug, so fall back visibly.
        TextBody { message: self }.render().unwrap_or_else(|_| self.headline.clone())
    }
}

#[derive(Template)]
#[template(path = "email.txt")]
struct TextBody<'a> {
    message: &'a Message,
}
