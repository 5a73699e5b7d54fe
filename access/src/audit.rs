//! The append-only audit trail. Every state change of a request or grant produces exactly one
//! event per thing that changed, in the same atomic commit as the change itself, so the trail
//! can never disagree with the state.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AuditId, RequestId, ResourceName, UserId};
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
    /// A notification about this request could not be delivered after every retry.
    NotificationFailed,
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
            AuditAction::NotificationFailed => "notification_failed",
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
    pub resource: ResourceName,
    pub request_id: RequestId,
    /// The requester's reason, a reviewer's note, or what changed.
    pub note: String,
}
