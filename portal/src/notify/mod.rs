//! Delivering the outbox: a worker claims due notifications from the store (leased, so
//! several instances share the work without sending anything twice), sends each by email or
//! webhook, and records the outcome: delivered, retry later with exponential backoff, or
//! given up after the last attempt (kept for the admin page and written to the audit trail).
//!
//! A lease only keeps other workers off while it lasts, so a batch must be done before its
//! lease ends, however slowly the relay answers: every send is cut off at its channel's
//! timeout (`smtp.timeout`, a webhook's `timeout`, both at most
//! [`MAX_NOTIFY_TIMEOUT`]), a batch holds only as many items as fit in the lease at that
//! timeout plus an allowance for the store, and a worker starts no item that could still be
//! running when its lease ends (the rest wait out the lease and go to whoever claims next).

pub mod email;
mod message;
pub mod routing;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jitgate_access::audit::AuditEvent;
use jitgate_access::clock::Clock;
use jitgate_access::config::{Config, MAX_NOTIFY_TIMEOUT};
use jitgate_access::ids::{AuditId, IdGenerator};
use jitgate_access::outbox::{Backoff, EventKind, Notification, Outcome, Target};
use jitgate_access::store::Store;

use self::email::EmailSender;
use self::message::Message;
use self::webhook::WebhookSender;

/// How long a claimed item is this worker's before another may take it over: what a worker
/// that dies mid-batch delays its items by.
const LEASE: Duration = Duration::from_secs(120);
/// The most items claimed per round.
const MAX_BATCH: usize = 20;
/// Allowed per item besides sending it: reading its request (a reminder) and recording the
/// outcome.
const STORE_ALLOWANCE: Duration = Duration::from_secs(5);
// The slowest channel config allows still fits one item in a lease.
const _: () =
    assert!(MAX_NOTIFY_TIMEOUT.as_millis() + STORE_ALLOWANCE.as_millis() < LEASE.as_millis());
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

/// The lease a worker claims items for and what it allows per item beyond the send itself;
/// with the channels' timeouts they size its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub lease: Duration,
    pub store_allowance: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self { lease: LEASE, store_allowance: STORE_ALLOWANCE }
    }
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
    timing: Timing,
    /// The slowest configured channel's timeout: the longest one send can take.
    send_limit: Duration,
}

impl Notifier {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        backoff: Backoff,
    ) -> Result<Self, String> {
        let email = match (&config.smtp, &config.notifications.mail_dir) {
            (Some(smtp), _) => Some(EmailSender::new(smtp)?),
            (None, Some(dir)) => Some(EmailSender::files(dir)?),
            (None, None) => None,
        };
        let webhooks = config
            .webhooks
            .iter()
            .map(|w| Ok((w.name.clone(), WebhookSender::new(w.clone())?)))
            .collect::<Result<_, String>>()?;
        let send_limit = email
            .iter()
            .map(EmailSender::timeout)
            .chain(config.webhooks.iter().map(|hook| hook.timeout))
            .max()
            .unwrap_or(Duration::ZERO);
        let notifier = Self {
            store,
            clock,
            portal_url: config.server.portal_url.clone(),
            email,
            webhooks,
            backoff,
            ids: IdGenerator::new(),
            metrics: None,
            timing: Timing::default(),
            send_limit,
        };
        notifier.with_timing(Timing::default())
    }

    /// Claims for `timing.lease`, allowing `timing.store_allowance` per item besides sending;
    /// refused when one item could outlast the lease.
    pub fn with_timing(mut self, timing: Timing) -> Result<Self, String> {
        self.timing = timing;
        let per_item = self.per_item();
        if per_item >= timing.lease {
            return Err(format!(
                "one notification may take {per_item:?}, as long as the {:?} lease",
                timing.lease
            ));
        }
        Ok(self)
    }

    /// The longest one item can take: the slowest channel's timeout plus the store allowance.
    fn per_item(&self) -> Duration {
        self.send_limit + self.timing.store_allowance
    }

    /// Items claimed per round: as many as end within the lease even if each takes the
    /// longest an item can, never more than 20.
    pub fn batch(&self) -> usize {
        let fits = (self.timing.lease.as_millis() - 1) / self.per_item().as_millis().max(1);
        usize::try_from(fits).unwrap_or(MAX_BATCH).clamp(1, MAX_BATCH)
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
        let claimed_at = self.clock.now();
        let lease_ends = claimed_at.plus(self.timing.lease);
        let items =
            self.store.claim_notifications(claimed_at, self.timing.lease, self.batch()).await?;
        for (done, item) in items.iter().enumerate() {
            if self.clock.now().plus(self.per_item()) > lease_ends {
                // Sending could outlast the lease, and then another worker could send it too.
                tracing::warn!(
                    left = items.len() - done,
                    "notifications: the batch ran slow; the rest wait for their lease to end"
                );
                return Ok(done);
            }
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
        // Each send is cut off at its channel's timeout, whatever the client library counts
        // it against (lettre's applies to each read and write, not the conversation).
        let sent = match &item.target {
            Target::Email(to) => match &self.email {
                Some(sender) => bounded(sender.timeout(), sender.send(item.id, to, &message)).await,
                None => Err("email is no longer configured".into()),
            },
            Target::Webhook(name) => match self.webhooks.get(name) {
                Some(sender) => {
                    let now = self.clock.now();
                    bounded(sender.timeout(), sender.send(item.id, &item.event, &message, now))
                        .await
                }
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
                let audit = AuditEvent::notification_failed(
                    AuditId::from(self.ids.next(now)),
                    now,
                    item,
                    attempt,
                    &error,
                );
                Outcome::GaveUp { at: now, error, audit }
            }
        }
    }
}

/// `send`, or a failure once `limit` has passed.
async fn bounded(
    limit: Duration,
    send: impl Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(limit, send)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}", humantime::format_duration(limit))))
}
