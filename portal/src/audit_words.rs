//! Audit events as sentences people read ("dave@example.com approved alice@example.com's
//! request for app (granted 15m)") rather than `request_approved` and raw ids. The CSV and
//! JSON exports keep the machine form (`AuditView`); this is the screen's wording only.

use std::time::Duration;

use jitgate_access::audit::{Actor, AuditAction, AuditEvent};
use jitgate_access::time::{Timestamp, format_duration};

use crate::paths;

/// One piece of a sentence: text, or a person linked to their directory page.
pub enum Piece {
    Text(String),
    Person(String),
}

impl Piece {
    /// The directory page a person links to (`None` for text).
    pub fn link(&self) -> Option<String> {
        match self {
            Piece::Person(email) => Some(paths::directory_user(email)),
            Piece::Text(_) => None,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Piece::Text(text) | Piece::Person(text) => text,
        }
    }
}

/// What an event says, and the free text that goes with it.
pub struct Wording {
    pub sentence: Vec<Piece>,
    /// The reason, note or detail, without what the sentence already says.
    pub note: String,
    /// What `note` is: "Reason", "Note" or "Detail".
    pub note_label: &'static str,
}

/// The marker the access crate ends an approval's note with: "granted until <RFC 3339>".
const GRANTED_UNTIL: &str = "granted until ";

/// How long an approval granted, read back from its note (the grant starts at the event), and
/// the reviewer's own words without that summary.
fn granted(event: &AuditEvent) -> (Option<Duration>, String) {
    let note = event.note.as_str();
    let Some(start) = note.rfind(GRANTED_UNTIL) else { return (None, note.to_owned()) };
    let stamp = note[start + GRANTED_UNTIL.len()..].trim_end_matches(')');
    let Ok(until) = humantime::parse_rfc3339(stamp) else { return (None, note.to_owned()) };
    let until = Timestamp::from_system_time(until);
    let minutes = event.at.until(until).as_secs().div_ceil(60);
    let own = note[..start].trim_end().trim_end_matches('(').trim_end().to_owned();
    (Some(Duration::from_secs(minutes * 60)), own)
}

pub fn words(event: &AuditEvent) -> Wording {
    use Piece::{Person, Text};
    let actor = match &event.actor {
        Actor::User(user) => Person(user.to_string()),
        Actor::System => Text("jitgate".into()),
    };
    let user = || Person(event.subject.to_string());
    let resource = event.resource.as_ref().map(ToString::to_string).unwrap_or_default();
    let text = |s: String| Text(s);
    let self_acted = matches!(&event.actor, Actor::User(who) if *who == event.subject);
    let mut note_label = "Note";
    let mut note = event.note.clone();
    let sentence = match event.action {
        AuditAction::RequestCreated => {
            note_label = "Reason";
            vec![user(), text(format!(" asked for access to {resource}"))]
        }
        AuditAction::ApprovalRecorded => vec![
            actor,
            text(" approved ".into()),
            user(),
            text(format!(
                "'s request for {resource} ({})",
                event.note.split(';').next().unwrap_or("")
            )),
        ],
        AuditAction::RequestApproved => {
            let (duration, own) = granted(event);
            note = own;
            let granted =
                duration.map(|d| format!(" (granted {})", format_duration(d))).unwrap_or_default();
            if event.actor == Actor::System {
                vec![user(), text(format!(" was granted {resource} automatically{granted}"))]
            } else {
                vec![
                    actor,
                    text(" approved ".into()),
                    user(),
                    text(format!("'s request for {resource}{granted}")),
                ]
            }
        }
        AuditAction::RequestDenied => {
            vec![actor, text(" denied ".into()), user(), text(format!("'s request for {resource}"))]
        }
        AuditAction::RequestCancelled => {
            vec![user(), text(format!(" cancelled their request for {resource}"))]
        }
        AuditAction::RequestTimedOut => {
            vec![
                user(),
                text(format!("'s request for {resource} timed out: nobody decided in time")),
            ]
        }
        AuditAction::GrantSuperseded => {
            vec![user(), text(format!("'s access to {resource} was continued by a newer request"))]
        }
        AuditAction::GrantRevoked if self_acted => {
            vec![user(), text(format!(" ended their own access to {resource}"))]
        }
        AuditAction::GrantRevoked => {
            vec![actor, text(" revoked ".into()), user(), text(format!("'s access to {resource}"))]
        }
        AuditAction::GrantExpired => vec![user(), text(format!("'s access to {resource} expired"))],
        AuditAction::GrantPaused if self_acted => {
            vec![user(), text(format!(" paused their access to {resource}"))]
        }
        AuditAction::GrantPaused => {
            vec![actor, text(" paused ".into()), user(), text(format!("'s access to {resource}"))]
        }
        AuditAction::GrantResumed if self_acted => {
            vec![user(), text(format!(" resumed their access to {resource}"))]
        }
        AuditAction::GrantResumed => {
            vec![actor, text(" resumed ".into()), user(), text(format!("'s access to {resource}"))]
        }
        AuditAction::ExtensionRequested => {
            note_label = "Reason";
            vec![user(), text(format!(" asked for more time on {resource}"))]
        }
        AuditAction::GrantExtended if event.actor == Actor::System => {
            vec![user(), text(format!("'s access to {resource} was extended automatically"))]
        }
        AuditAction::GrantExtended => {
            vec![actor, text(" extended ".into()), user(), text(format!("'s access to {resource}"))]
        }
        AuditAction::GrantBreakGlass => {
            note_label = "Reason";
            let (duration, own) = granted(event);
            note = own;
            let granted =
                duration.map(|d| format!(" for {}", format_duration(d))).unwrap_or_default();
            vec![
                user(),
                text(format!(" broke glass: granted themselves {resource}{granted}, unreviewed")),
            ]
        }
        AuditAction::GrantStarted => {
            vec![user(), text(format!("'s scheduled access to {resource} started"))]
        }
        AuditAction::BreakGlassAcknowledged => vec![
            actor,
            text(" reviewed and acknowledged ".into()),
            user(),
            text(format!("'s break-glass access to {resource}")),
        ],
        AuditAction::GrantClaimed => {
            vec![user(), text(format!(" used {resource} for the first time: access started"))]
        }
        AuditAction::GrantLapsed => {
            vec![user(), text(format!("'s access to {resource} lapsed unclaimed: never used"))]
        }
        AuditAction::NotificationFailed => {
            note_label = "Detail";
            vec![
                text("A notification to ".into()),
                user(),
                text(format!(" about {resource} could not be delivered")),
            ]
        }
        AuditAction::SignedOut => vec![user(), text(" signed out".into())],
        AuditAction::SessionsEnded => {
            note_label = "Detail";
            vec![actor, text(" ended every session of ".into()), user()]
        }
        AuditAction::ApiTokenCreated => {
            note_label = "Detail";
            vec![user(), text(" created an API token".into())]
        }
        AuditAction::ApiTokenRevoked if self_acted => {
            note_label = "Detail";
            vec![user(), text(" revoked one of their API tokens".into())]
        }
        AuditAction::ApiTokenRevoked => {
            note_label = "Detail";
            vec![actor, text(" revoked an API token of ".into()), user()]
        }
    };
    if matches!(event.action, AuditAction::ApprovalRecorded) {
        note = event.note.split_once("; ").map(|(_, own)| own.to_owned()).unwrap_or_default();
    }
    Wording { sentence, note, note_label }
}

/// A request id as the screen shows it: its last 6 characters (the random part of the ULID;
/// the leading ones are the time and alike for requests made close together).
pub fn short_id(id: &str) -> String {
    let start = id.len().saturating_sub(6);
    format!("#{}", id.get(start..).unwrap_or(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_access::ids::{AuditId, ResourceName, UserId};

    fn event(action: AuditAction, actor: Actor, note: &str) -> AuditEvent {
        AuditEvent {
            id: "01J0000000000000000000000A".parse::<AuditId>().unwrap(),
            at: Timestamp::from_millis(1_796_046_797_777),
            actor,
            action,
            subject: UserId::parse("alice@example.com").unwrap(),
            resource: Some(ResourceName::parse("app").unwrap()),
            request_id: None,
            note: note.into(),
            break_glass: false,
        }
    }

    fn said(wording: &Wording) -> String {
        wording.sentence.iter().map(Piece::text).collect()
    }

    #[test]
    fn an_approval_reads_as_a_sentence_with_the_granted_duration() {
        let dave = Actor::User(UserId::parse("dave@example.com").unwrap());
        let approved = words(&event(
            AuditAction::RequestApproved,
            dave.clone(),
            "go ahead (granted until 2026-11-30T14:08:17.777Z)",
        ));
        assert_eq!(
            said(&approved),
            "dave@example.com approved alice@example.com's request for app (granted 15m)"
        );
        assert_eq!(approved.note, "go ahead");
        let bare = words(&event(
            AuditAction::RequestApproved,
            Actor::System,
            "granted until 2026-11-30T14:53:17.777Z",
        ));
        assert_eq!(said(&bare), "alice@example.com was granted app automatically (granted 1h)");
        assert_eq!(bare.note, "");
        let odd = words(&event(AuditAction::RequestApproved, dave, "granted until someday"));
        assert_eq!(odd.note, "granted until someday", "unparsed notes are kept whole");
    }

    #[test]
    fn break_glass_and_its_review_read_as_sentences() {
        let alice = Actor::User(UserId::parse("alice@example.com").unwrap());
        let broke = words(&event(
            AuditAction::GrantBreakGlass,
            alice,
            "prod down (granted until 2026-11-30T14:23:17.777Z)",
        ));
        assert_eq!(
            said(&broke),
            "alice@example.com broke glass: granted themselves app for 30m, unreviewed"
        );
        assert_eq!((broke.note_label, broke.note.as_str()), ("Reason", "prod down"));
        let dave = Actor::User(UserId::parse("dave@example.com").unwrap());
        let acked = words(&event(AuditAction::BreakGlassAcknowledged, dave, "fine"));
        assert_eq!(
            said(&acked),
            "dave@example.com reviewed and acknowledged alice@example.com's break-glass access to app"
        );
    }

    #[test]
    fn ids_are_shortened_to_their_random_tail() {
        assert_eq!(short_id("01J0000000000000000000ABCDEF"), "#ABCDEF");
        assert_eq!(short_id("abc"), "#abc");
    }
}
