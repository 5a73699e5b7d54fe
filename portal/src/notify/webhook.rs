//! Webhooks: a JSON event (jitgate's schema) or a Slack incoming-webhook message, POSTed with
//! a timeout. Each delivery carries:
//! - `X-Jitgate-Delivery`: the outbox item's id, the same on every retry (drop repeats);
//! - `X-Jitgate-Timestamp`: Unix seconds at sending;
//! - `X-Jitgate-Signature`: `sha256=` + hex HMAC-SHA256 over `"{timestamp}.{body}"` with the
//!   webhook's secret, so a receiver can verify the body and refuse old timestamps (replays).

use hmac::{Hmac, Mac};
use jitgate_access::config::{WebhookConfig, WebhookFormat};
use jitgate_access::ids::NotificationId;
use jitgate_access::outbox::NotificationEvent;
use jitgate_access::time::Timestamp;
use serde_json::json;
use sha2::Sha256;

use super::message::Message;
use crate::api::model::RequestView;

pub const DELIVERY_HEADER: &str = "x-jitgate-delivery";
pub const TIMESTAMP_HEADER: &str = "x-jitgate-timestamp";
pub const SIGNATURE_HEADER: &str = "x-jitgate-signature";

pub struct WebhookSender {
    config: WebhookConfig,
    http: reqwest::Client,
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// jitgate's webhook body: stable field names, times in RFC 3339.
pub fn event_body(id: NotificationId, event: &NotificationEvent) -> serde_json::Value {
    json!({
        "id": id.to_string(),
        "type": event.kind.as_str(),
        "at": event.at.to_string(),
        "actor": event.actor.key(),
        "note": event.note,
        "user": event.request.requester.as_str(),
        "resource": event.request.resource.as_str(),
        "request": RequestView::of(&event.request, event.at),
    })
}

impl WebhookSender {
    pub fn new(config: WebhookConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("webhook {}: {e}", config.name))?;
        Ok(Self { config, http })
    }

    /// How long one call may take (the webhook's `timeout`).
    pub fn timeout(&self) -> std::time::Duration {
        self.config.timeout
    }

    pub async fn send(
        &self,
        id: NotificationId,
        event: &NotificationEvent,
        message: &Message,
        now: Timestamp,
    ) -> Result<(), String> {
        let body = match self.config.format {
            WebhookFormat::Json => event_body(id, event),
            WebhookFormat::Slack => json!({
                "text": format!("*{}*\n{}", message.subject, message.text()),
            }),
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let timestamp = now.as_millis() / 1000;
        let mut request = self
            .http
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, id.to_string())
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = &self.config.secret {
            request = request
                .header(SIGNATURE_HEADER, signature(secret.expose().as_bytes(), timestamp, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook {}: {}", self.config.name, e.without_url()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook {}: answered {}", self.config.name, response.status()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature(b"secret", 1_700_000_000, b"{\"a\":1}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature(b"secret", 1_700_000_001, b"{\"a\":1}"), "timestamp bound");
        assert_ne!(a, signature(b"secret", 1_700_000_000, b"{\"a\":2}"), "body bound");
        assert_ne!(a, signature(b"other", 1_700_000_000, b"{\"a\":1}"), "key bound");
    }
}
