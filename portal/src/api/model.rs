//! The API's JSON shapes. They are a contract of their own, decoupled from how the store
//! serialises records, so the storage format can change without breaking scripts. Times are
//! RFC 3339 in UTC, durations whole seconds.

use jitgate_access::audit::AuditEvent;
use jitgate_access::request::{AccessRequest, Grant, GrantEnd, RequestState};
use jitgate_access::time::Timestamp;
use serde::Serialize;

fn time(at: Timestamp) -> String {
    at.to_string()
}

#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: String,
    pub user: String,
    pub groups: Vec<String>,
    pub resource: String,
    pub reason: String,
    /// Live status: a request past its deadline reads as expired or timed out even before
    /// the sweeper has recorded it.
    pub status: &'static str,
    pub requested_duration_seconds: u64,
    pub created_at: String,
    pub pending_until: String,
    pub approvals: Vec<ApprovalView>,
    pub decision: Option<DecisionView>,
    pub grant: Option<GrantView>,
}

#[derive(Debug, Serialize)]
pub struct ApprovalView {
    pub reviewer: String,
    pub at: String,
    pub duration_seconds: u64,
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct DecisionView {
    /// `approved`, `denied`, `cancelled` or `timed_out`.
    pub outcome: &'static str,
    /// Who decided: a reviewer, the requester (cancelled), `system` (auto-approval, timeout).
    pub by: String,
    pub at: String,
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct GrantView {
    pub request_id: String,
    pub user: String,
    pub resource: String,
    pub granted_at: String,
    pub expires_at: String,
    pub active: bool,
    /// How the grant ended before its expiry, when it did.
    pub ended: Option<GrantEndView>,
}

#[derive(Debug, Serialize)]
pub struct GrantEndView {
    /// `expired`, `revoked` or `superseded`.
    pub reason: &'static str,
    pub at: String,
    pub by: Option<String>,
    pub note: String,
}

impl GrantView {
    pub fn of(grant: &Grant, now: Timestamp) -> Self {
        Self {
            request_id: grant.request_id.to_string(),
            user: grant.user.to_string(),
            resource: grant.resource.to_string(),
            granted_at: time(grant.granted_at),
            expires_at: time(grant.expires_at),
            active: grant.is_active_at(now),
            ended: grant.end.as_ref().map(|end| match end {
                GrantEnd::Expired { at } => {
                    GrantEndView { reason: "expired", at: time(*at), by: None, note: String::new() }
                }
                GrantEnd::Revoked { by, at, note } => GrantEndView {
                    reason: "revoked",
                    at: time(*at),
                    by: Some(by.to_string()),
                    note: note.clone(),
                },
                GrantEnd::Superseded { by_request, at } => GrantEndView {
                    reason: "superseded",
                    at: time(*at),
                    by: None,
                    note: format!("replaced by request {by_request}"),
                },
            }),
        }
    }
}

impl RequestView {
    pub fn of(request: &AccessRequest, now: Timestamp) -> Self {
        let decision = match &request.state {
            RequestState::Pending => None,
            RequestState::Approved { grant } => Some(DecisionView {
                outcome: "approved",
                by: if request.approvals.is_empty() {
                    "system".into()
                } else {
                    request.approved_by()
                },
                at: time(grant.granted_at),
                note: String::new(),
            }),
            RequestState::Denied { by, at, note } => Some(DecisionView {
                outcome: "denied",
                by: by.to_string(),
                at: time(*at),
                note: note.clone(),
            }),
            RequestState::Cancelled { by, at } => Some(DecisionView {
                outcome: "cancelled",
                by: by.to_string(),
                at: time(*at),
                note: String::new(),
            }),
            RequestState::TimedOut { at } => Some(DecisionView {
                outcome: "timed_out",
                by: "system".into(),
                at: time(*at),
                note: String::new(),
            }),
        };
        Self {
            id: request.id.to_string(),
            user: request.requester.to_string(),
            groups: request.requester_groups.iter().map(ToString::to_string).collect(),
            resource: request.resource.to_string(),
            reason: request.reason.clone(),
            status: request.status_at(now).as_str(),
            requested_duration_seconds: request.requested_duration.as_secs(),
            created_at: time(request.created_at),
            pending_until: time(request.pending_until),
            approvals: request
                .approvals
                .iter()
                .map(|vote| ApprovalView {
                    reviewer: vote.reviewer.to_string(),
                    at: time(vote.at),
                    duration_seconds: vote.duration.as_secs(),
                    note: vote.note.clone(),
                })
                .collect(),
            decision,
            grant: match &request.state {
                RequestState::Approved { grant } => Some(GrantView::of(grant, now)),
                _ => None,
            },
        }
    }
}

/// One audit event, as the API, the JSON export and (column for column) the CSV export show it.
#[derive(Debug, Serialize)]
pub struct AuditView {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub action: &'static str,
    pub user: String,
    /// Empty for session events (signing out, sessions ended), which concern no request.
    pub resource: String,
    pub request_id: String,
    pub note: String,
}

impl AuditView {
    pub const COLUMNS: [&'static str; 8] =
        ["id", "at", "actor", "action", "user", "resource", "request_id", "note"];

    pub fn of(event: &AuditEvent) -> Self {
        Self {
            id: event.id.to_string(),
            at: time(event.at),
            actor: event.actor.key().to_owned(),
            action: event.action.as_str(),
            user: event.subject.to_string(),
            resource: event.resource.as_ref().map(ToString::to_string).unwrap_or_default(),
            request_id: event.request_id.map(|id| id.to_string()).unwrap_or_default(),
            note: event.note.clone(),
        }
    }

    pub fn cells(&self) -> [&str; 8] {
        [
            &self.id,
            &self.at,
            &self.actor,
            self.action,
            &self.user,
            &self.resource,
            &self.request_id,
            &self.note,
        ]
    }
}
