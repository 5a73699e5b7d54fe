//! The append-only audit trail. Every state change of a request or grant produces exactly one
//! event per thing that changed, in the same atomic commit as the change itself, so the trail
//! can never disagree with the state. Sessions are audited too (signing out, an admin ending a
//! user's sessions): those events concern an account, not a request, so they name no resource
//! or request.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AuditId, RequestId, ResourceName, UserId};
use crate::outbox::Notification;
use crate::request::AccessRequest;
use crate::time::Timestamp;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "email")]
pub enum Actor {
    User(UserId),
    /// jitgate itself: automatic approval, timeouts, expiry.
    System,
}

impl Actor {
    /// The stable string stores index actors by (`system` cannot collide with an email).
    pub fn key(&self) -> &str {
        match self {
            Actor::User(user) => user.as_str(),
            Actor::System => "system",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    RequestCreated,
    /// One reviewer approved; more approvals are still needed.
    ApprovalRecorded,
    RequestApproved,
    RequestDenied,
    RequestCancelled,
    /// Nobody decided before the request's pending timeout.
    RequestTimedOut,
    /// A newer approval for the same user and resource took over this grant.
    GrantSuperseded,
    GrantRevoked,
    GrantExpired,
    /// The holder or a reviewer switched an active grant off; its window keeps running.
    GrantPaused,
    /// A paused grant was switched back on.
    GrantResumed,
    /// The holder asked for more time on an active grant (an extension request).
    ExtensionRequested,
    /// An extension was approved: its request took over the grant with a later end.
    GrantExtended,
    /// The requester granted themselves access at once by breaking glass: no approval, its
    /// own kind, reviewed after the fact.
    GrantBreakGlass,
    /// A reviewer reviewed a break-glass grant after the fact and lifted its flag.
    BreakGlassAcknowledged,
    /// A scheduled grant's window opened (recorded by the sweeper; the clock opened it).
    GrantStarted,
    /// The holder's first request reached a grant that starts on first use: its duration
    /// runs from here.
    GrantClaimed,
    /// A grant that starts on first use was never used before its claim deadline.
    GrantLapsed,
    /// A notification about this request could not be delivered after every retry.
    NotificationFailed,
    /// The user signed out, ending their session on every host.
    SignedOut,
    /// An admin ended every session of the user (ASVS 7.4.5); the note says how many.
    SessionsEnded,
    /// The user created a personal API token; the note names it and its id.
    ApiTokenCreated,
    /// A personal API token was revoked, by its owner or an admin; the note names it.
    ApiTokenRevoked,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RequestCreated => "request_created",
            AuditAction::ApprovalRecorded => "approval_recorded",
            AuditAction::RequestApproved => "request_approved",
            AuditAction::RequestDenied => "request_denied",
            AuditAction::RequestCancelled => "request_cancelled",
            AuditAction::RequestTimedOut => "request_timed_out",
            AuditAction::GrantSuperseded => "grant_superseded",
            AuditAction::GrantRevoked => "grant_revoked",
            AuditAction::GrantExpired => "grant_expired",
            AuditAction::GrantPaused => "grant_paused",
            AuditAction::GrantResumed => "grant_resumed",
            AuditAction::ExtensionRequested => "extension_requested",
            AuditAction::GrantExtended => "grant_extended",
            AuditAction::GrantBreakGlass => "grant_break_glass",
            AuditAction::BreakGlassAcknowledged => "break_glass_acknowledged",
            AuditAction::GrantStarted => "grant_started",
            AuditAction::GrantClaimed => "grant_claimed",
            AuditAction::GrantLapsed => "grant_lapsed",
            AuditAction::NotificationFailed => "notification_failed",
            AuditAction::SignedOut => "signed_out",
            AuditAction::SessionsEnded => "sessions_ended",
            AuditAction::ApiTokenCreated => "api_token_created",
            AuditAction::ApiTokenRevoked => "api_token_revoked",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditId,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: AuditAction,
    /// The user whose access the event concerns.
    pub subject: UserId,
    /// The resource and request concerned; `None` for session events, which concern the
    /// account as a whole. Absent in stored JSON rather than `null`, so request events read
    /// and write exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// The requester's reason, a reviewer's note, or what changed.
    pub note: String,
    /// The event concerns a break-glass grant, so every line about it (its grant, review,
    /// revocation, expiry) is flagged in the audit export. Absent in stored JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

impl AuditEvent {
    /// An event about `request`, whose requester is the subject.
    pub fn about(
        id: AuditId,
        at: Timestamp,
        actor: Actor,
        action: AuditAction,
        request: &AccessRequest,
        note: impl Into<String>,
    ) -> Self {
        Self {
            id,
            at,
            actor,
            action,
            subject: request.requester.clone(),
            resource: Some(request.resource.clone()),
            request_id: Some(request.id),
            note: note.into(),
            break_glass: request.break_glass.is_some(),
        }
    }

    /// jitgate gave up delivering `notification` after `attempts` attempts, the last failing
    /// with `error`; the system is the actor, the request's requester the subject.
    pub fn notification_failed(
        id: AuditId,
        at: Timestamp,
        notification: &Notification,
        attempts: u32,
        error: &str,
    ) -> Self {
        let event = &notification.event;
        let note = format!(
            "{} ({}) after {attempts} attempts: {error}",
            notification.target,
            event.kind.as_str()
        );
        Self::about(id, at, Actor::System, AuditAction::NotificationFailed, &event.request, note)
    }

    /// `user` signed out.
    pub fn signed_out(id: AuditId, at: Timestamp, user: &UserId) -> Self {
        Self {
            id,
            at,
            actor: Actor::User(user.clone()),
            action: AuditAction::SignedOut,
            subject: user.clone(),
            resource: None,
            request_id: None,
            note: String::new(),
            break_glass: false,
        }
    }

    /// `actor` created (`created`) or revoked a personal API token of `owner`.
    pub fn api_token(
        id: AuditId,
        at: Timestamp,
        actor: &UserId,
        token: &crate::api_token::ApiToken,
        created: bool,
    ) -> Self {
        let (action, verb) = if created {
            (AuditAction::ApiTokenCreated, "created")
        } else {
            (AuditAction::ApiTokenRevoked, "revoked")
        };
        Self {
            id,
            at,
            actor: Actor::User(actor.clone()),
            action,
            subject: token.identity.user.clone(),
            resource: None,
            request_id: None,
            note: format!("{verb} API token \"{}\" ({})", token.name, token.id),
            break_glass: false,
        }
    }

    /// `admin` ended the `count` sessions `user` had.
    pub fn sessions_ended(
        id: AuditId,
        at: Timestamp,
        admin: &UserId,
        user: &UserId,
        count: usize,
    ) -> Self {
        Self {
            id,
            at,
            actor: Actor::User(admin.clone()),
            action: AuditAction::SessionsEnded,
            subject: user.clone(),
            resource: None,
            request_id: None,
            note: match count {
                1 => "ended 1 session".to_owned(),
                n => format!("ended {n} sessions"),
            },
            break_glass: false,
        }
    }
}
