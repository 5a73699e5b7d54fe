//! How a request turned out, in the words every reviewer and admin page uses: the duration
//! granted beside the one asked for, the reviewer's note on a denial or revocation, and when
//! access ended. One owner, so the dashboard, the request page and the directory agree.

use std::time::Duration;

use jitgate_access::request::{AccessRequest, Grant, GrantEnd, RequestState, Status};
use jitgate_access::time::{Timestamp, format_duration};

/// How long the grant runs (from when it was granted to when it expires, or from its first
/// use for one that starts then), if one was made. `None` for an extension: what it asked for
/// is time on top of the grant it took over, so its window never matches the ask and
/// "granted 29m (asked 15m)" would only mislead.
pub fn granted(request: &AccessRequest) -> Option<Duration> {
    if request.extends.is_some() {
        return None;
    }
    request.grant().map(|grant| match &grant.claim {
        Some(claim) => claim.duration,
        None => grant.granted_at.until(grant.expires_at),
    })
}

/// "1h" while undecided or when granted as asked, "15m (asked 1h)" when a reviewer granted
/// less (or a newer approval extended it).
pub fn duration_text(request: &AccessRequest) -> String {
    let asked = format_duration(request.requested_duration);
    match granted(request) {
        Some(granted) if granted != request.requested_duration => {
            format!("{} (asked {asked})", format_duration(granted))
        }
        _ => asked,
    }
}

/// [`duration_text`] as a phrase: "for 1h", or "granted 15m (asked 1h)".
pub fn duration_phrase(request: &AccessRequest) -> String {
    match granted(request) {
        Some(granted) if granted != request.requested_duration => {
            format!("granted {}", duration_text(request))
        }
        _ => format!("for {}", duration_text(request)),
    }
}

/// "waiting for first use — claim by 2026-11-30 18:09 UTC" for a grant that starts on first
/// use and has not been used yet; the words My access, the request page and the dashboard
/// show for it. `None` for any other grant.
pub fn waiting_for_first_use(grant: &Grant) -> Option<String> {
    let by = grant.claim_by()?;
    Some(format!("waiting for first use — claim by {}", crate::pages::TimeView::at(by).text))
}

/// The note a reviewer left on a denial or a revocation ("" when none).
pub fn decision_note(request: &AccessRequest) -> &str {
    match &request.state {
        RequestState::Denied { note, .. } => note,
        RequestState::Approved { grant } => match &grant.end {
            Some(GrantEnd::Revoked { note, .. }) => note,
            _ => "",
        },
        _ => "",
    }
}

/// When the request stopped being pending or active, for requests that have ended at `now`
/// (expiry counts from the grant's deadline even before the sweeper records it).
pub fn ended_at(request: &AccessRequest, now: Timestamp) -> Option<Timestamp> {
    match (&request.state, request.status_at(now)) {
        (_, Status::Pending | Status::Scheduled | Status::Active) => None,
        (RequestState::Pending, Status::TimedOut) => Some(request.pending_until),
        (RequestState::Denied { at, .. }, _)
        | (RequestState::Cancelled { at, .. }, _)
        | (RequestState::TimedOut { at }, _) => Some(*at),
        (RequestState::Approved { grant }, _) => Some(match &grant.end {
            Some(GrantEnd::Revoked { at, .. }) | Some(GrantEnd::Superseded { at, .. }) => *at,
            Some(GrantEnd::Expired { .. } | GrantEnd::Lapsed { .. }) | None => grant.expires_at,
        }),
        (RequestState::Pending, _) => None,
    }
}
