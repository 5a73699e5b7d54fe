//! Delivering the outbox: a worker claims due notifications from the store (leased, so
//! several instances share the work without sending anything twice), sends each by email or
//! webhook, and records the outcome: delivered, retry later with exponential backoff, or
//! given up after the last attempt (kept for the admin page and written to the audit trail).

pub mod email;
mod message;
pub mod routing;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jitgate_access::audit::{Actor, AuditAction, AuditEvent};
use jitgate_access::clock::Clock;
use jitgate_access::config::Config;
use jitgate_access::ids::{AuditId, IdGenerator};
use jitgate_access::outbox::{Backoff, EventKind, Notification, Outcome, Target};
use jitgate_access::store::Store;

use self::email::EmailSender;
use self::message::Message;
use self::webhook::WebhookSender;

/// How long a claimed item is this worker's before another may take it over.
const LEASE: Duration = Duration::from_secs(120);
/// Items claimed per round.
const BATCH: usize = 20;
/// Pause between rounds when the outbox is empty or the store is down.
const IDLE: Duration = Duration::from_millis(500);

/// Where the worker reports what it does (Prometheus handles, owned by the ops registry).
#[derive(Clone)]
pub struct NotifyMetrics {
    /// Labels `channel` (`email`, `webhook`) and `outcome` (`delivered`, `retry`, `failed`,
    /// `skipped` for a reminder whose grant changed).
    pub attempts: prometheus::IntCounterVec,
    pub queue: prometheus::IntGauge,
}

pub struct Notifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    portal_url: String,
    email: Option<EmailSender>,
    webhooks: HashMap<String, WebhookSender>,
    backoff: Backoff,
    ids: IdGenerator,
    metrics: Option<NotifyMetrics>,
}

impl Notifier {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        backoff: Backoff,
    ) -> Result<Self, String> {
        let email = config.smtp.as_ref().map(EmailSender::new).transpose()?;
        let webhooks = config
            .webhooks
            .iter()
            .map(|w| Ok((w.name.clone(), WebhookSender::new(w.clone())?)))
            .collect::<Result<_, String>>()?;
        Ok(Self {
            store,
            clock,
            portal_url: config.server.portal_url.clone(),
            email,
            webhooks,
            backoff,
            ids: IdGenerator::new(),
            metrics: None,
        })
    }

    pub fn with_metrics(mut self, metrics: NotifyMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Delivers forever; never returns.
    pub async fn run(self) {
        loop {
            match self.round().await {
                Ok(0) => tokio::time::sleep(IDLE).await,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "notifications: the store is unavailable");
                    tokio::time::sleep(IDLE).await;
                }
            }
        }
    }

    /// One claim-and-deliver round; how many items it handled.
    pub async fn round(&self) -> Result<usize, jitgate_access::store::StoreError> {
        if let Some(metrics) = &self.metrics {
            let waiting = self.store.pending_notifications(1_000_000).await?;
            metrics.queue.set(i64::try_from(waiting).unwrap_or(i64::MAX));
        }
        let items = self.store.claim_notifications(self.clock.now(), LEASE, BATCH).await?;
        for item in &items {
            let (outcome, label) = if self.obsolete(item).await? {
                tracing::info!(id = %item.id, "reminder dropped: the grant changed since");
                (Outcome::Delivered, "skipped")
            } else {
                let outcome = self.attempt(item).await;
                let label = match outcome {
                    Outcome::Delivered => "delivered",
                    Outcome::RetryAt { .. } => "retry",
                    Outcome::GaveUp { .. } => "failed",
                };
                (outcome, label)
            };
            self.store.finish_notification(item, &outcome).await?;
            if let Some(metrics) = &self.metrics {
                let channel = match item.target {
                    Target::Email(_) => "email",
                    Target::Webhook(_) => "webhook",
                };
                metrics.attempts.with_label_values(&[channel, label]).inc();
            }
        }
        Ok(items.len())
    }

    /// Whether `item` is a reminder for a grant that has since ended or changed its expiry.
    async fn obsolete(
        &self,
        item: &Notification,
    ) -> Result<bool, jitgate_access::store::StoreError> {
        if item.event.kind != EventKind::GrantExpiring {
            return Ok(false);
        }
        let current = self.store.request(item.event.request.id).await?;
        Ok(!current.is_some_and(|now| item.event.still_expiring(&now, self.clock.now())))
    }

    async fn attempt(&self, item: &Notification) -> Outcome {
        let message = Message::of(&item.event, &self.portal_url);
        let sent = match &item.target {
            Target::Email(to) => match &self.email {
                Some(sender) => sender.send(item.id, to, &message).await,
                None => Err("email is no longer configured".into()),
            },
            Target::Webhook(name) => match self.webhooks.get(name) {
                Some(sender) => sender.send(item.id, &item.event, &message, self.clock.now()).await,
                None => Err(format!("webhook {name} is no longer configured")),
            },
        };
        let now = self.clock.now();
        let error = match sent {
            Ok(()) => {
                tracing::info!(id = %item.id, target = ?item.target, kind = item.event.kind.as_str(), "notification delivered");
                return Outcome::Delivered;
            }
            Err(error) => error,
        };
        let attempt = item.attempts + 1;
        match self.backoff.after(attempt) {
            Some(wait) => {
                tracing::warn!(id = %item.id, attempt, %error, "notification failed; will retry");
                Outcome::RetryAt { at: now.plus(wait), error }
            }
            None => {
                tracing::error!(id = %item.id, attempt, %error, "notification failed for good");
                let target = match &item.target {
                    Target::Email(to) => format!("email to {to}"),
                    Target::Webhook(name) => format!("webhook {name}"),
                };
                let audit = AuditEvent::about(
                    AuditId::from(self.ids.next(now)),
                    now,
                    Actor::System,
                    AuditAction::NotificationFailed,
                    &item.event.request,
                    format!(
                        "{target} ({}) after {attempt} attempts: {error}",
                        item.event.kind.as_str()
                    ),
                );
                Outcome::GaveUp { at: now, error, audit }
            }
        }
    }
}
