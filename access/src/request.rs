//! Access requests and the grants they produce.
//!
//! A request moves `pending → approved | denied | cancelled | timed_out`; an approved request
//! carries a [`Grant`] that ends as `expired`, `revoked` or `superseded` (a newer approval for
//! the same user and resource took over). The transitions live in [`crate::transition`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{GroupName, RequestId, ResourceName, UserId};
use crate::time::{Timestamp, duration_millis};

/// Time-boxed access of one user to one resource. It cannot exist without an expiry; whether it
/// is in force is always decided against the clock ([`Grant::is_active_at`]), never by a flag
/// that a background job must remember to flip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub user: UserId,
    pub resource: ResourceName,
    pub request_id: RequestId,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    /// Set once the grant has ended for a reason recorded in the store.
    pub end: Option<GrantEnd>,
    /// Set while the grant is switched off. A paused grant is still active (its window keeps
    /// running and it can be resumed) but lets nobody in: see [`Grant::allows_at`]. Absent in
    /// stored JSON rather than `null`, so grants stored before pausing existed read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Pause>,
    /// Set on a scheduled grant until its start is recorded: before this instant it holds
    /// the user's grant pointer but lets nobody in ([`Grant::allows_at`]). The clock opens
    /// it; the sweeper only records the start ([`crate::transition::record_start`]), which
    /// clears this. Absent in stored JSON for grants that started when approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    /// Set on a grant that starts on first use (`starts = "on_first_use"`). Until it is
    /// claimed, `expires_at` is the claim deadline (approval + `claim_within`), so the
    /// sweeper and every store treat an unclaimed grant like any other: it lapses there.
    /// Absent in stored JSON for grants that start on approval, so they read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
}

/// A grant that waits for its holder's first request. Claiming it (once, atomically, see
/// [`crate::transition::claim`]) sets `claimed_at` and moves the grant's `expires_at` to
/// `claimed_at + duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// How long access runs once claimed: the approved duration.
    #[serde(with = "duration_millis")]
    pub duration: Duration,
    /// The first request's instant; `None` while the grant waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
}

/// Who switched a grant off, and when. Whether the holder may switch it back on depends on
/// who did it: a reviewer's pause is a reviewer's to lift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub by: UserId,
    pub at: Timestamp,
    pub note: String,
}

impl Grant {
    /// Active at `now`: not ended, and `now` strictly before `expires_at`. A paused grant is
    /// active (it holds the user's grant pointer and its window runs) but lets nobody in;
    /// what the proxy asks is [`Grant::allows_at`].
    pub fn is_active_at(&self, now: Timestamp) -> bool {
        self.end.is_none() && now < self.expires_at
    }

    /// Lets its holder in at `now`: active, started and not paused. The one access check
    /// the proxy makes of a grant.
    pub fn allows_at(&self, now: Timestamp) -> bool {
        self.is_active_at(now) && self.has_started_at(now) && self.paused.is_none()
    }

    /// Its window has opened at `now`: always, unless it is scheduled to start later.
    pub fn has_started_at(&self, now: Timestamp) -> bool {
        self.starts_at.is_none_or(|start| now >= start)
    }

    /// Scheduled and not started at `now`: it holds the pointer but its window is ahead.
    pub fn is_scheduled_at(&self, now: Timestamp) -> bool {
        self.is_active_at(now) && !self.has_started_at(now)
    }

    /// Paused by someone other than its holder (a reviewer or an admin).
    pub fn paused_by_other(&self) -> bool {
        self.paused.as_ref().is_some_and(|pause| pause.by != self.user)
    }

    /// Approved to start on first use and not used yet: its `expires_at` is the claim
    /// deadline, and the proxy must claim it before letting its holder in.
    pub fn awaits_claim(&self) -> bool {
        self.claim.as_ref().is_some_and(|claim| claim.claimed_at.is_none())
    }

    /// The claim deadline of a grant waiting for first use.
    pub fn claim_by(&self) -> Option<Timestamp> {
        self.awaits_claim().then_some(self.expires_at)
    }

    pub fn time_left(&self, now: Timestamp) -> Duration {
        if self.end.is_some() { Duration::ZERO } else { now.until(self.expires_at) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum GrantEnd {
    Expired {
        at: Timestamp,
    },
    Revoked {
        by: UserId,
        at: Timestamp,
        note: String,
    },
    Superseded {
        by_request: RequestId,
        at: Timestamp,
    },
    /// Approved to start on first use, never used: it lapsed at its claim deadline.
    Lapsed {
        at: Timestamp,
    },
}

/// One reviewer's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalVote {
    pub reviewer: UserId,
    pub at: Timestamp,
    /// The duration this reviewer approved (they may shorten or lengthen within bounds).
    #[serde(with = "duration_millis")]
    pub duration: Duration,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RequestState {
    Pending,
    Approved { grant: Grant },
    Denied { by: UserId, at: Timestamp, note: String },
    Cancelled { by: UserId, at: Timestamp },
    TimedOut { at: Timestamp },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub id: RequestId,
    /// Bumped on every write; stores refuse a write whose expected version is stale, which is
    /// what makes two racing reviewers produce exactly one outcome.
    pub version: u64,
    pub requester: UserId,
    /// The requester's groups when they asked, so the request can be found by group and
    /// re-resolved against the policy when reviewed.
    pub requester_groups: BTreeSet<GroupName>,
    pub resource: ResourceName,
    pub reason: String,
    #[serde(with = "duration_millis")]
    pub requested_duration: Duration,
    pub created_at: Timestamp,
    /// After this instant a still-pending request has timed out.
    pub pending_until: Timestamp,
    pub approvals: Vec<ApprovalVote>,
    pub state: RequestState,
    /// Set when this request asks for more time on a grant the requester holds, rather than
    /// for access anew. Absent in stored JSON for ordinary requests, so they read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<Extends>,
    /// Set when the requester granted this access to themselves by breaking glass, rather
    /// than having it approved. Absent in stored JSON for ordinary requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlassMark>,
    /// The start the requester asked for, when they scheduled the access rather than asking
    /// for it now: approved, the grant's window runs from here. Kept after the start, for
    /// display. Absent in stored JSON for requests asked for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
}

/// The mark of a break-glass grant: reviewed after the fact, it stays flagged on the
/// reviewers' pages until one of them acknowledges it (or revokes it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassMark {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
}

/// A reviewer's after-the-fact review of a break-glass grant. Never its holder's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: UserId,
    pub at: Timestamp,
    pub note: String,
}

/// What an extension request extends: approved, it takes over that grant with a later end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extends {
    /// The request holding the grant when the extension was asked for.
    pub request: RequestId,
    /// That request's reason (the first of the chain), shown to reviewers beside this one's.
    pub original_reason: String,
    /// When the access being extended began: `max_total` counts from here, across every
    /// extension of it.
    pub since: Timestamp,
}

/// The lifecycle position of a request, flattened for indexes, filters and display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    /// Approved, its window not started yet (see [`Grant::starts_at`]).
    Scheduled,
    Active,
    Expired,
    Revoked,
    Superseded,
    Denied,
    Cancelled,
    TimedOut,
    /// A grant that was to start on first use and was never used.
    Lapsed,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Pending,
        Status::Scheduled,
        Status::Active,
        Status::Expired,
        Status::Revoked,
        Status::Superseded,
        Status::Denied,
        Status::Cancelled,
        Status::TimedOut,
        Status::Lapsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Scheduled => "scheduled",
            Status::Active => "active",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
            Status::Superseded => "superseded",
            Status::Denied => "denied",
            Status::Cancelled => "cancelled",
            Status::TimedOut => "timed_out",
            Status::Lapsed => "lapsed",
        }
    }

    /// Whether the request was approved at some point (it has or had a grant).
    pub fn was_granted(self) -> bool {
        matches!(
            self,
            Status::Scheduled
                | Status::Active
                | Status::Expired
                | Status::Revoked
                | Status::Superseded
                | Status::Lapsed
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("unknown status {raw:?}"))
    }
}

impl AccessRequest {
    /// A break-glass grant nobody has reviewed yet: neither acknowledged nor revoked. What
    /// the dashboard, the request page, My access and the audit export flag.
    pub fn break_glass_unreviewed(&self) -> bool {
        let revoked = matches!(
            &self.state,
            RequestState::Approved { grant } if matches!(grant.end, Some(GrantEnd::Revoked { .. }))
        );
        self.break_glass.as_ref().is_some_and(|mark| mark.acknowledged.is_none()) && !revoked
    }

    /// [`Self::approvers`] comma-separated, for display ("" when none: auto-approved, or
    /// nobody yet).
    pub fn approved_by(&self) -> String {
        let names: Vec<&str> = self.approvers().map(UserId::as_str).collect();
        names.join(", ")
    }

    /// The status as last recorded by a transition.
    pub fn recorded_status(&self) -> Status {
        match &self.state {
            RequestState::Pending => Status::Pending,
            RequestState::Approved { grant } => match grant.end {
                None if grant.starts_at.is_some() => Status::Scheduled,
                None => Status::Active,
                Some(GrantEnd::Expired { .. }) => Status::Expired,
                Some(GrantEnd::Revoked { .. }) => Status::Revoked,
                Some(GrantEnd::Superseded { .. }) => Status::Superseded,
                Some(GrantEnd::Lapsed { .. }) => Status::Lapsed,
            },
            RequestState::Denied { .. } => Status::Denied,
            RequestState::Cancelled { .. } => Status::Cancelled,
            RequestState::TimedOut { .. } => Status::TimedOut,
        }
    }

    /// The status at `now`: a pending request past its deadline has timed out, a scheduled
    /// grant past its start is active, and an active grant past its expiry has expired
    /// (lapsed, if it was never claimed), even before the sweeper has recorded it.
    pub fn status_at(&self, now: Timestamp) -> Status {
        match (&self.state, self.recorded_status()) {
            (RequestState::Pending, _) if now >= self.pending_until => Status::TimedOut,
            (RequestState::Approved { grant }, Status::Active | Status::Scheduled)
                if !grant.is_active_at(now) =>
            {
                if grant.awaits_claim() {
                    Status::Lapsed
                } else {
                    Status::Expired
                }
            }
            (RequestState::Approved { grant }, Status::Scheduled) if grant.has_started_at(now) => {
                Status::Active
            }
            (_, status) => status,
        }
    }

    pub fn grant(&self) -> Option<&Grant> {
        match &self.state {
            RequestState::Approved { grant } => Some(grant),
            _ => None,
        }
    }

    /// The instant at which this request next needs the sweeper, if any: the pending deadline,
    /// a scheduled grant's start or the grant's expiry.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match &self.state {
            RequestState::Pending => Some(self.pending_until),
            RequestState::Approved { grant }
                if grant.end.is_none() && grant.starts_at.is_some() =>
            {
                grant.starts_at
            }
            RequestState::Approved { grant } if grant.end.is_none() => Some(grant.expires_at),
            _ => None,
        }
    }

    /// Distinct reviewers who approved so far.
    pub fn approvers(&self) -> impl Iterator<Item = &UserId> {
        self.approvals.iter().map(|vote| &vote.reviewer)
    }

    /// Text the dashboard search matches against (case-insensitive).
    pub fn matches_search(&self, needle_lower: &str) -> bool {
        self.requester.as_str().contains(needle_lower)
            || self.resource.as_str().contains(needle_lower)
            || self.reason.to_lowercase().contains(needle_lower)
    }
}
