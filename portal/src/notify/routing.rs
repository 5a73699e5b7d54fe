//! Who hears about what, from the configuration:
//! - a new request: every reviewer of it by email (the policy's reviewers, else the global
//!   ones; admins too when `smtp.notify_admins`), never the requester;
//! - a decision, a revocation, a timeout: the requester by email;
//! - a grant about to expire (with `notifications.remind_before`): its holder by email;
//! - every webhook subscribed to the event.
//!
//! Email needs addresses, and a reviewer named by group is only known by address when the
//! local users file lists them; with an OIDC provider, name reviewers by email in the config
//! (or use a webhook to a team channel) to have them mailed.

use std::collections::BTreeSet;
use std::sync::Arc;

use jitgate_access::audit::Actor;
use jitgate_access::config::{Config, LocalUser};
use jitgate_access::ids::UserId;
use jitgate_access::outbox::{EventKind, NotificationEvent, Routing, Target};
use jitgate_access::policy::{Access, Identity, Principals};
use jitgate_access::request::Status;

pub struct ConfigRouting {
    config: Arc<Config>,
    /// The local users file, the only directory jitgate has.
    users: Vec<LocalUser>,
}

impl ConfigRouting {
    pub fn new(config: Arc<Config>, users: Vec<LocalUser>) -> Self {
        Self { config, users }
    }

    fn emails_of(&self, principals: &Principals, into: &mut BTreeSet<UserId>) {
        into.extend(principals.emails.iter().cloned());
        for user in &self.users {
            if user.groups.iter().any(|g| principals.groups.contains(g)) {
                into.insert(user.email.clone());
            }
        }
    }

    /// The addresses of everyone who may decide `event`'s request.
    fn reviewers(&self, event: &NotificationEvent) -> BTreeSet<UserId> {
        let request = &event.request;
        let mut emails = BTreeSet::new();
        let smtp = self.config.smtp.as_ref();
        if smtp.is_some_and(|s| s.notify_admins) {
            self.emails_of(&self.config.roles.admins, &mut emails);
        }
        let requester =
            Identity::new(request.requester.clone(), request.requester_groups.iter().cloned());
        let policy = self
            .config
            .resource(&request.resource)
            .map(|resource| resource.policy.resolve(&self.config.roles, &requester));
        match policy {
            Some(Access::Jit { policy, .. }) if !policy.reviewers.is_empty() => {
                self.emails_of(&policy.reviewers, &mut emails);
            }
            _ => self.emails_of(&self.config.roles.reviewers, &mut emails),
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
                EventKind::RequestCreated
                    if event.request.status_at(event.at) == Status::Pending =>
                {
                    targets.extend(self.reviewers(event).into_iter().map(Target::Email));
                }
                EventKind::RequestApproved if event.actor == Actor::System => {}
                EventKind::GrantExpiring => {
                    targets.push(Target::Email(event.request.requester.clone()));
                }
                // Telling people what they did themselves is noise.
                EventKind::RequestApproved
                | EventKind::RequestDenied
                | EventKind::RequestTimedOut
                | EventKind::GrantRevoked
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
