//! The API's JSON shapes. They are a contract of their own, decoupled from how the store
//! serialises records, so the storage format can change without breaking scripts. Times are
//! RFC 3339 in UTC, durations whole seconds. The OpenAPI document's schemas are derived from
//! these types (`ToSchema`), so what is documented is what is serialised.

use jitgate_access::audit::{AuditAction, AuditEvent};
use jitgate_access::request::{AccessRequest, Grant, GrantEnd, RequestState, Status};
use jitgate_access::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

fn time(at: Timestamp) -> String {
    at.to_string()
}

/// A string schema allowing only `values`.
pub(crate) fn one_of(values: &[&str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

/// A request's statuses, from the access crate's own list.
fn status_schema() -> Object {
    let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    one_of(
        &all,
        "Live status: a request past its deadline reads as expired or timed out even before \
         the sweeper has recorded it.",
    )
}

/// Every audit action. The match below fails to compile when an action is added, so the
/// list cannot fall behind.
const ACTIONS: [AuditAction; 23] = [
    AuditAction::RequestCreated,
    AuditAction::ApprovalRecorded,
    AuditAction::RequestApproved,
    AuditAction::RequestDenied,
    AuditAction::RequestCancelled,
    AuditAction::RequestTimedOut,
    AuditAction::GrantSuperseded,
    AuditAction::GrantRevoked,
    AuditAction::GrantExpired,
    AuditAction::GrantPaused,
    AuditAction::GrantResumed,
    AuditAction::ExtensionRequested,
    AuditAction::GrantExtended,
    AuditAction::GrantBreakGlass,
    AuditAction::BreakGlassAcknowledged,
    AuditAction::GrantStarted,
    AuditAction::GrantClaimed,
    AuditAction::GrantLapsed,
    AuditAction::NotificationFailed,
    AuditAction::SignedOut,
    AuditAction::SessionsEnded,
    AuditAction::ApiTokenCreated,
    AuditAction::ApiTokenRevoked,
];

const fn _every_action_listed(action: AuditAction) {
    match action {
        AuditAction::RequestCreated
        | AuditAction::ApprovalRecorded
        | AuditAction::RequestApproved
        | AuditAction::RequestDenied
        | AuditAction::RequestCancelled
        | AuditAction::RequestTimedOut
        | AuditAction::GrantSuperseded
        | AuditAction::GrantRevoked
        | AuditAction::GrantExpired
        | AuditAction::GrantPaused
        | AuditAction::GrantResumed
        | AuditAction::ExtensionRequested
        | AuditAction::GrantExtended
        | AuditAction::GrantBreakGlass
        | AuditAction::BreakGlassAcknowledged
        | AuditAction::GrantStarted
        | AuditAction::GrantClaimed
        | AuditAction::GrantLapsed
        | AuditAction::NotificationFailed
        | AuditAction::SignedOut
        | AuditAction::SessionsEnded
        | AuditAction::ApiTokenCreated
        | AuditAction::ApiTokenRevoked => {}
    }
}

fn action_schema() -> Object {
    let all: Vec<&str> = ACTIONS.iter().map(|a| a.as_str()).collect();
    one_of(&all, "What happened.")
}

fn outcome_schema() -> Object {
    one_of(
        &["approved", "break_glass", "denied", "cancelled", "timed_out"],
        "How the request was decided (`break_glass`: the requester granted it to themselves).",
    )
}

fn end_reason_schema() -> Object {
    one_of(
        &["expired", "revoked", "superseded", "lapsed"],
        "Why the grant ended (`lapsed`: it was to start on first use and nobody used it).",
    )
}

/// An access request: who asked for what and why, how it was decided, and its grant.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Request)]
pub struct RequestView {
    /// The request's id (a ULID).
    pub id: String,
    /// The requester's email.
    pub user: String,
    /// The requester's groups when they asked.
    pub groups: Vec<String>,
    pub resource: String,
    pub reason: String,
    #[schema(schema_with = status_schema)]
    pub status: &'static str,
    /// The duration asked for, in seconds.
    pub requested_duration_seconds: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the request times out if nobody decides.
    #[schema(format = DateTime)]
    pub pending_until: String,
    /// The approvals recorded so far (several when a resource needs more than one).
    pub approvals: Vec<ApprovalView>,
    /// `null` while pending.
    #[schema(required = true)]
    pub decision: Option<DecisionView>,
    /// `null` unless approved.
    #[schema(required = true)]
    pub grant: Option<GrantView>,
    /// Set when this request asks for more time on a grant the requester holds;
    /// `requested_duration_seconds` is then the time to add. `null` for ordinary requests.
    #[schema(required = true)]
    pub extends: Option<ExtendsView>,
    /// Set when the requester granted this access to themselves by breaking glass; `null`
    /// for every other request.
    #[schema(required = true)]
    pub break_glass: Option<BreakGlassView>,
    /// The start asked for, when the access was scheduled rather than asked for now; `null`
    /// otherwise. Kept after the start.
    #[schema(required = true, format = DateTime)]
    pub starts_at: Option<String>,
}

/// A break-glass grant's after-the-fact review.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BreakGlass)]
pub struct BreakGlassView {
    /// Still to be reviewed: neither acknowledged nor revoked (the dashboard's flag).
    pub unreviewed: bool,
    /// Who acknowledged it; `null` until someone does.
    #[schema(required = true)]
    pub acknowledged_by: Option<String>,
    /// When; `null` until acknowledged.
    #[schema(required = true, format = DateTime)]
    pub acknowledged_at: Option<String>,
    /// The reviewer's note ("" when none).
    pub note: String,
}

/// The grant an extension request extends.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Extends)]
pub struct ExtendsView {
    /// The request holding the grant when the extension was asked for.
    pub request_id: String,
    /// The reason the access was first asked for.
    pub original_reason: String,
    /// When the access being extended began; `max_total` counts from here.
    #[schema(format = DateTime)]
    pub since: String,
}

/// One reviewer's approval.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Approval)]
pub struct ApprovalView {
    pub reviewer: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// The duration this reviewer allowed, in seconds.
    pub duration_seconds: u64,
    pub note: String,
}

/// How a request was decided.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Decision)]
pub struct DecisionView {
    #[schema(schema_with = outcome_schema)]
    pub outcome: &'static str,
    /// Who decided: a reviewer, the requester (cancelled), `system` (auto-approval, timeout).
    pub by: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub note: String,
}

/// Access to one resource for one user, from an approved request.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Grant)]
pub struct GrantView {
    pub request_id: String,
    pub user: String,
    pub resource: String,
    #[schema(format = DateTime)]
    pub granted_at: String,
    /// When access ends; for a grant still waiting for first use, its claim deadline.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Whether the grant lets the user in right now (`false` while paused, and before a
    /// scheduled start).
    pub active: bool,
    /// When a scheduled grant's window opens; `null` once its start is recorded, and for
    /// grants that started when approved.
    #[schema(required = true, format = DateTime)]
    pub starts_at: Option<String>,
    /// Set on a grant that starts on first use (`starts = "on_first_use"`); `null` for one
    /// that started on approval.
    #[schema(required = true)]
    pub first_use: Option<FirstUseView>,
    /// Set while the grant is switched off; `null` otherwise. The window keeps running.
    #[schema(required = true)]
    pub paused: Option<PauseView>,
    /// How the grant ended before its expiry, when it did; `null` otherwise.
    #[schema(required = true)]
    pub ended: Option<GrantEndView>,
}

/// A grant that starts at its holder's first request to the resource.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FirstUse)]
pub struct FirstUseView {
    /// How long access runs from the first use, in seconds.
    pub duration_seconds: u64,
    /// When the first request claimed it, starting its duration; `null` while it waits.
    #[schema(required = true, format = DateTime)]
    pub claimed_at: Option<String>,
    /// While it waits: the instant it lapses unless used (`expires_at` too); `null` once
    /// claimed.
    #[schema(required = true, format = DateTime)]
    pub claim_by: Option<String>,
}

/// Who switched a grant off, and when.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Pause)]
pub struct PauseView {
    pub by: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub note: String,
}

/// How a grant ended.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GrantEnd)]
pub struct GrantEndView {
    #[schema(schema_with = end_reason_schema)]
    pub reason: &'static str,
    #[schema(format = DateTime)]
    pub at: String,
    /// Who revoked it; `null` for expiry and supersession.
    #[schema(required = true)]
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
            active: grant.allows_at(now),
            starts_at: grant.starts_at.map(time),
            paused: grant.paused.as_ref().map(|pause| PauseView {
                by: pause.by.to_string(),
                at: time(pause.at),
                note: pause.note.clone(),
            }),
            first_use: grant.claim.as_ref().map(|claim| FirstUseView {
                duration_seconds: claim.duration.as_secs(),
                claimed_at: claim.claimed_at.map(time),
                claim_by: grant.claim_by().map(time),
            }),
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
                GrantEnd::Lapsed { at } => GrantEndView {
                    reason: "lapsed",
                    at: time(*at),
                    by: None,
                    note: "never used before its claim deadline".into(),
                },
            }),
        }
    }
}

impl RequestView {
    pub fn of(request: &AccessRequest, now: Timestamp) -> Self {
        let decision = match &request.state {
            RequestState::Pending => None,
            RequestState::Approved { grant } if request.break_glass.is_some() => {
                Some(DecisionView {
                    outcome: "break_glass",
                    by: request.requester.to_string(),
                    at: time(grant.granted_at),
                    note: String::new(),
                })
            }
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
            extends: request.extends.as_ref().map(|extends| ExtendsView {
                request_id: extends.request.to_string(),
                original_reason: extends.original_reason.clone(),
                since: time(extends.since),
            }),
            break_glass: request.break_glass.as_ref().map(|mark| {
                let ack = mark.acknowledged.as_ref();
                BreakGlassView {
                    unreviewed: request.break_glass_unreviewed(),
                    acknowledged_by: ack.map(|a| a.by.to_string()),
                    acknowledged_at: ack.map(|a| time(a.at)),
                    note: ack.map(|a| a.note.clone()).unwrap_or_default(),
                }
            }),
            starts_at: request.starts_at.map(time),
        }
    }
}

/// One audit event, as the API, the JSON export and (column for column) the CSV export show it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditView {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// Who acted: an email, or `system`.
    pub actor: String,
    #[schema(schema_with = action_schema)]
    pub action: &'static str,
    /// Whose access the event concerns.
    pub user: String,
    /// Empty for session events (`signed_out`, `sessions_ended`), which concern no request.
    pub resource: String,
    /// Empty for session events (`signed_out`, `sessions_ended`).
    pub request_id: String,
    pub note: String,
    /// The event concerns a break-glass grant (`"yes"`; `""` otherwise), so an export
    /// filtered on it lists every line about self-granted access.
    pub break_glass: &'static str,
}

impl AuditView {
    pub const COLUMNS: [&'static str; 9] =
        ["id", "at", "actor", "action", "user", "resource", "request_id", "note", "break_glass"];

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
            break_glass: if event.break_glass { "yes" } else { "" },
        }
    }

    pub fn cells(&self) -> [&str; 9] {
        [
            &self.id,
            &self.at,
            &self.actor,
            self.action,
            &self.user,
            &self.resource,
            &self.request_id,
            &self.note,
            self.break_glass,
        ]
    }
}

/// `GET /me`: who the API takes the caller for.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeView {
    pub email: String,
    pub groups: Vec<String>,
    /// Whether the caller is an admin (every action on every resource).
    pub admin: bool,
    /// The resources the caller reviews (every one for admins).
    pub reviews: Vec<String>,
    /// The token a session caller repeats in `X-CSRF-Token` on every POST; `null` for bearer
    /// callers, who need none.
    #[schema(required = true)]
    pub csrf_token: Option<String>,
}

/// One page of requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestPage {
    pub items: Vec<RequestView>,
    /// Pass as `before` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// One page of grants in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantPage {
    pub items: Vec<GrantView>,
    /// Pass as `before` for the next page; `null` on the last (always for `mine`).
    #[schema(required = true)]
    pub next: Option<String>,
}

/// One page of the audit trail, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    /// Pass as `before` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// `POST /users/{user}/sessions/end`: how many sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    /// How many sessions ended (0 when the user had none).
    pub ended: u64,
}
