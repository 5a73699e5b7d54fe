//! Who hears about what, from the configuration:
//! - a new request or extension request: every reviewer of it by email (the policy's reviewers, else the global
//!   ones; admins too when `smtp.notify_admins`), never the requester;
//! - a decision, a revocation, a timeout, a pause or resumption by someone else: the
//!   requester by email;
//! - a break-glass grant: every reviewer of it and every admin by email, whatever
//!   `smtp.notify_admins` says (nobody approved it, so everyone who could have must know);
//!   its acknowledgement: the holder;
//! - a grant about to expire (with `notifications.remind_before`): its holder by email;
//! - every webhook subscribed to the event.
//!
//! Email needs addresses. A reviewer named by group is known by address when the local users
//! file lists them, or once they have signed in (the people records, `access::people`): with
//! an OIDC provider, someone who never signed in cannot be mailed as a member of a group (name
//! them by email, or use a webhook to a team channel).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jitgate_access::audit::Actor;
use jitgate_access::config::{Config, LocalUser};
use jitgate_access::ids::UserId;
use jitgate_access::outbox::{EventKind, NotificationEvent, Routing, Target};
use jitgate_access::people::PeopleIndex;
use jitgate_access::policy::{Access, Identity, Principals};
use jitgate_access::request::Status;
use jitgate_access::time::Timestamp;

/// A group member is mailed only if they signed in within this long: a membership seen long
/// ago may be gone at the IdP, and request mail carries names and reasons.
const GROUP_MEMBERSHIP_FRESH: Duration = Duration::from_secs(30 * 24 * 3600);

pub struct ConfigRouting {
    config: Arc<Config>,
    /// The local users file.
    users: Vec<LocalUser>,
    /// Everyone who has signed in.
    people: Arc<PeopleIndex>,
}

impl ConfigRouting {
    pub fn new(config: Arc<Config>, users: Vec<LocalUser>, people: Arc<PeopleIndex>) -> Self {
        Self { config, users, people }
    }

    fn emails_of(&self, principals: &Principals, at: Timestamp, into: &mut BTreeSet<UserId>) {
        let since = Timestamp::from_millis(
            at.as_millis().saturating_sub(GROUP_MEMBERSHIP_FRESH.as_millis() as i64),
        );
        into.extend(self.people.addresses_of(principals, since));
        for user in &self.users {
            if user.groups.iter().any(|g| principals.groups.contains(g)) {
                into.insert(user.email.clone());
            }
        }
    }

    /// The addresses of everyone who may decide `event`'s request; admins too when
    /// `with_admins`.
    fn reviewers(&self, event: &NotificationEvent, with_admins: bool) -> BTreeSet<UserId> {
        let request = &event.request;
        let mut emails = BTreeSet::new();
        if with_admins {
            self.emails_of(&self.config.roles.admins, event.at, &mut emails);
        }
        let requester =
            Identity::new(request.requester.clone(), request.requester_groups.iter().cloned());
        let policy = self
            .config
            .resource(&request.resource)
            .map(|resource| resource.policy.resolve(&self.config.roles, &requester));
        match policy {
            Some(Access::Jit { policy, .. }) if !policy.reviewers.is_empty() => {
                self.emails_of(&policy.reviewers, event.at, &mut emails);
            }
            _ => self.emails_of(&self.config.roles.reviewers, event.at, &mut emails),
        }
        emails.remove(&request.requester);
        emails
    }
}

impl Routing for ConfigRouting {
    fn remind_before(&self) -> Option<std::time::Duration> {
        self.config.notifications.remind_before
    }

    fn targets(&self, event: &NotificationEvent) -> Vec<Target> {
        let mut targets = Vec::new();
        if self.config.sends_mail() {
            match event.kind {
                // An auto-approved request is created already approved: nobody to ask, and
                // the requester saw it happen.
                EventKind::RequestCreated | EventKind::ExtensionRequested
                    if event.request.status_at(event.at) == Status::Pending =>
                {
                    let admins = self.config.smtp.as_ref().is_some_and(|s| s.notify_admins);
                    targets.extend(self.reviewers(event, admins).into_iter().map(Target::Email));
                }
                EventKind::GrantBreakGlass => {
                    targets.extend(self.reviewers(event, true).into_iter().map(Target::Email));
                }
                EventKind::RequestApproved | EventKind::GrantExtended
                    if event.actor == Actor::System => {}
                // The holder learns when their access started (and so when it ends), or that
                // it lapsed unused.
                EventKind::GrantExpiring
                | EventKind::GrantStarted
                | EventKind::GrantClaimed
                | EventKind::GrantLapsed => {
                    targets.push(Target::Email(event.request.requester.clone()));
                }
                // Telling people what they did themselves is noise.
                EventKind::RequestApproved
                | EventKind::GrantExtended
                | EventKind::RequestDenied
                | EventKind::RequestTimedOut
                | EventKind::GrantRevoked
                | EventKind::GrantPaused
                | EventKind::GrantResumed
                | EventKind::BreakGlassAcknowledged
                    if event.actor.key() != event.request.requester.as_str() =>
                {
                    targets.push(Target::Email(event.request.requester.clone()));
                }
                _ => {}
            }
        }
        for webhook in &self.config.webhooks {
            if webhook.events.is_empty() || webhook.events.contains(&event.kind) {
                targets.push(Target::Webhook(webhook.name.clone()));
            }
        }
        targets
    }
}
