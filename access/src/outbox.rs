//! The notification outbox: what must be told to whom, recorded in the same atomic commit as
//! the state change it reports, so a crash between "approved" and "email sent" loses nothing.
//!
//! One item per event *and* target (one reviewer's mailbox, one webhook): a delivery that
//! fails for one target is retried for that target alone and never re-sends to the others.
//! Workers on any number of instances take items with [`crate::store::Store::claim_notifications`],
//! which leases them, so two instances never hold the same item at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::ids::{IdGenerator, NotificationId, UserId};
use crate::request::AccessRequest;
use crate::time::Timestamp;

/// What happened, in the terms notifications speak: the webhook event names, in one place.
/// Config validation parses `events = […]` with [`FromStr`](std::str::FromStr), the webhook
/// payload's `type` is [`EventKind::as_str`], and routing matches subscriptions by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    RequestCreated,
    RequestApproved,
    RequestDenied,
    RequestCancelled,
    RequestTimedOut,
    GrantRevoked,
    GrantExpired,
    GrantPaused,
    GrantResumed,
    ExtensionRequested,
    GrantExtended,
    GrantBreakGlass,
    BreakGlassAcknowledged,
    /// A scheduled grant's window opened.
    GrantStarted,
    GrantClaimed,
    GrantLapsed,
    /// A reminder, scheduled when the grant is approved, that it ends soon.
    GrantExpiring,
}

impl EventKind {
    pub const ALL: [EventKind; 17] = [
        EventKind::RequestCreated,
        EventKind::RequestApproved,
        EventKind::RequestDenied,
        EventKind::RequestCancelled,
        EventKind::RequestTimedOut,
        EventKind::GrantRevoked,
        EventKind::GrantExpired,
        EventKind::GrantPaused,
        EventKind::GrantResumed,
        EventKind::ExtensionRequested,
        EventKind::GrantExtended,
        EventKind::GrantBreakGlass,
        EventKind::BreakGlassAcknowledged,
        EventKind::GrantStarted,
        EventKind::GrantClaimed,
        EventKind::GrantLapsed,
        EventKind::GrantExpiring,
    ];

    /// The event's name, as webhooks subscribe to it and receive it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RequestCreated => "request.created",
            EventKind::RequestApproved => "request.approved",
            EventKind::RequestDenied => "request.denied",
            EventKind::RequestCancelled => "request.cancelled",
            EventKind::RequestTimedOut => "request.timed_out",
            EventKind::GrantRevoked => "grant.revoked",
            EventKind::GrantExpired => "grant.expired",
            EventKind::GrantPaused => "grant.paused",
            EventKind::GrantResumed => "grant.resumed",
            EventKind::ExtensionRequested => "extension.requested",
            EventKind::GrantExtended => "grant.extended",
            EventKind::GrantBreakGlass => "grant.break_glass",
            EventKind::BreakGlassAcknowledged => "break_glass.acknowledged",
            EventKind::GrantStarted => "grant.started",
            EventKind::GrantClaimed => "grant.claimed",
            EventKind::GrantLapsed => "grant.lapsed",
            EventKind::GrantExpiring => "grant.expiring",
        }
    }

    /// The event an audit action announces; intermediate steps (one approval of several, a
    /// grant superseded by a newer one) announce nothing.
    pub fn of(action: AuditAction) -> Option<Self> {
        match action {
            AuditAction::RequestCreated => Some(EventKind::RequestCreated),
            AuditAction::RequestApproved => Some(EventKind::RequestApproved),
            AuditAction::RequestDenied => Some(EventKind::RequestDenied),
            AuditAction::RequestCancelled => Some(EventKind::RequestCancelled),
            AuditAction::RequestTimedOut => Some(EventKind::RequestTimedOut),
            AuditAction::GrantRevoked => Some(EventKind::GrantRevoked),
            AuditAction::GrantExpired => Some(EventKind::GrantExpired),
            AuditAction::GrantPaused => Some(EventKind::GrantPaused),
            AuditAction::GrantResumed => Some(EventKind::GrantResumed),
            AuditAction::ExtensionRequested => Some(EventKind::ExtensionRequested),
            AuditAction::GrantExtended => Some(EventKind::GrantExtended),
            AuditAction::GrantBreakGlass => Some(EventKind::GrantBreakGlass),
            AuditAction::BreakGlassAcknowledged => Some(EventKind::BreakGlassAcknowledged),
            AuditAction::GrantStarted => Some(EventKind::GrantStarted),
            AuditAction::GrantClaimed => Some(EventKind::GrantClaimed),
            AuditAction::GrantLapsed => Some(EventKind::GrantLapsed),
            AuditAction::ApprovalRecorded
            | AuditAction::GrantSuperseded
            | AuditAction::NotificationFailed
            | AuditAction::SignedOut
            | AuditAction::SessionsEnded
            | AuditAction::ApiTokenCreated
            | AuditAction::ApiTokenRevoked => None,
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`EventKind::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent(pub String);

impl std::fmt::Display for UnknownEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        write!(f, "unknown event {:?} (known: {})", self.0, known.join(", "))
    }
}

impl std::str::FromStr for EventKind {
    type Err = UnknownEvent;
    fn from_str(name: &str) -> Result<Self, UnknownEvent> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownEvent(name.to_owned()))
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// An event with the request as it was right after it, so what is sent later describes the
/// moment it reports, not whatever happened since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationEvent {
    pub kind: EventKind,
    pub at: Timestamp,
    pub actor: Actor,
    /// The reviewer's note, or the requester's reason for a new request.
    pub note: String,
    pub request: AccessRequest,
}

/// Where one notification goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "to")]
pub enum Target {
    Email(UserId),
    /// A webhook by its configured name.
    Webhook(String),
}

impl std::fmt::Display for Target {
    /// `email to <address>` or `webhook <name>`, as the audit trail names a target.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Email(to) => write!(f, "email to {to}"),
            Target::Webhook(name) => write!(f, "webhook {name}"),
        }
    }
}

/// Where an item stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Delivery {
    /// Waiting for its next attempt at `next_attempt_at`.
    Pending,
    /// Gave up after the last attempt; kept for the admin page.
    Failed { at: Timestamp },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: NotificationId,
    pub event: NotificationEvent,
    pub target: Target,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub delivery: Delivery,
}

impl Notification {
    pub fn new(id: NotificationId, event: NotificationEvent, target: Target) -> Self {
        Self {
            id,
            next_attempt_at: event.at,
            event,
            target,
            attempts: 0,
            last_error: None,
            delivery: Delivery::Pending,
        }
    }
}

/// What a worker reports after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered: the item leaves the outbox.
    Delivered,
    /// Failed; try again at `at`.
    RetryAt { at: Timestamp, error: String },
    /// Failed for the last time: the item stays as failed and the audit trail records it.
    GaveUp { at: Timestamp, error: String, audit: AuditEvent },
}

/// Decides who hears about an event. Built from configuration by the notifications layer;
/// the access workflow only asks.
pub trait Routing: Send + Sync {
    fn targets(&self, event: &NotificationEvent) -> Vec<Target>;

    /// How long before a grant expires its holder is reminded; `None`: never.
    fn remind_before(&self) -> Option<Duration> {
        None
    }
}

/// No notifications configured.
pub struct Silent;

impl Routing for Silent {
    fn targets(&self, _: &NotificationEvent) -> Vec<Target> {
        Vec::new()
    }
}

/// Retry schedule: exponential from `first`, capped at `max`, for `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    /// 2 s, 4 s, 8 s … capped at 10 min, 12 attempts: about 37 minutes of outage survived.
    fn default() -> Self {
        Self { first: Duration::from_secs(2), max: Duration::from_secs(600), attempts: 12 }
    }
}

impl Backoff {
    /// The wait after failed attempt number `attempt` (1-based), or `None` when that was the last.
    pub fn after(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        Some(self.first.saturating_mul(factor).min(self.max))
    }
}

/// The outbox items a committed change must carry: one per announced event and target.
pub fn items_for(
    audit: &[AuditEvent],
    requests: &[&AccessRequest],
    routing: &dyn Routing,
    ids: &IdGenerator,
) -> Vec<Notification> {
    let mut items = Vec::new();
    for event in audit {
        let Some(kind) = EventKind::of(event.action) else { continue };
        let Some(request) = requests.iter().find(|r| Some(r.id) == event.request_id) else {
            continue;
        };
        let event = NotificationEvent {
            kind,
            at: event.at,
            actor: event.actor.clone(),
            note: event.note.clone(),
            request: (*request).clone(),
        };
        for target in routing.targets(&event) {
            let id = NotificationId::from(ids.next(event.at));
            items.push(Notification::new(id, event.clone(), target));
        }
        items.extend(reminders(&event, routing, ids));
    }
    items
}

/// For a new grant, the reminder its holder gets `remind_before` its end, scheduled now so it
/// is as durable as the grant; the worker drops it if the grant has changed by then. A grant
/// waiting for first use has no end yet: its reminder comes with its claim.
fn reminders(
    event: &NotificationEvent,
    routing: &dyn Routing,
    ids: &IdGenerator,
) -> Vec<Notification> {
    let (
        EventKind::RequestApproved
        | EventKind::GrantExtended
        | EventKind::GrantBreakGlass
        | EventKind::GrantClaimed,
        Some(lead),
    ) = (event.kind, routing.remind_before())
    else {
        return Vec::new();
    };
    let crate::request::RequestState::Approved { grant } = &event.request.state else {
        return Vec::new();
    };
    if grant.awaits_claim() {
        return Vec::new();
    }
    let due = Timestamp::from_millis(
        grant.expires_at.as_millis() - i64::try_from(lead.as_millis()).unwrap_or(i64::MAX),
    );
    // Nor before a scheduled grant's start: "ends soon" of access not begun would mislead.
    if due <= event.at || grant.starts_at.is_some_and(|start| due <= start) {
        return Vec::new();
    }
    let reminder = NotificationEvent {
        kind: EventKind::GrantExpiring,
        at: event.at,
        actor: Actor::System,
        note: String::new(),
        request: event.request.clone(),
    };
    routing
        .targets(&reminder)
        .into_iter()
        .map(|target| {
            let mut item = Notification::new(
                NotificationId::from(ids.next(event.at)),
                reminder.clone(),
                target,
            );
            item.next_attempt_at = due;
            item
        })
        .collect()
}

impl NotificationEvent {
    /// For a reminder: whether the grant it announces still ends when it did at scheduling.
    pub fn still_expiring(&self, current: &crate::request::AccessRequest, now: Timestamp) -> bool {
        use crate::request::RequestState::Approved;
        match (&self.request.state, &current.state) {
            (Approved { grant: then }, Approved { grant: now_grant }) => {
                now_grant.is_active_at(now) && now_grant.expires_at == then.expires_at
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_stops() {
        let backoff =
            Backoff { first: Duration::from_secs(5), max: Duration::from_secs(30), attempts: 5 };
        let waits: Vec<_> = (1..=5).map(|n| backoff.after(n).map(|d| d.as_secs())).collect();
        assert_eq!(waits, vec![Some(5), Some(10), Some(20), Some(30), None]);
    }
}
