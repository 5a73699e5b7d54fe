//! Prometheus metrics of the proxy, in a registry of its own.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::gate::Decision;

pub struct Metrics {
    registry: Registry,
    /// Requests by decision (`AllowGrant`, `Locked`, `SignIn`, …).
    pub requests: IntCounterVec,
    /// Cache lookups by kind (`grant`, `session`, `api_token`) and result (`hit`, `miss`).
    pub cache: IntCounterVec,
    /// Time the proxy spent waiting on the store (cache misses, handoffs).
    pub store_seconds: Histogram,
    /// Connections open under a lease (WebSockets, event streams).
    pub leased_connections: IntGauge,
    /// 1 while the store's change feed is connected (the cache is in use), else 0.
    pub change_feed_up: IntGauge,
    /// Notification delivery attempts by channel (`email`, `webhook`) and outcome
    /// (`delivered`, `retry`, `failed`).
    pub notifications: IntCounterVec,
    /// Notifications waiting in the outbox.
    pub notification_queue: IntGauge,
    /// The generation of the config in force: 1 at the start, one more per reload, so a
    /// script can tell a reload took.
    pub config_generation: IntGauge,
    /// Reloads refused (an invalid config): the previous config stayed in force.
    pub config_reload_failures: IntCounter,
    /// `requests` by decision, resolved once: a label lookup per request hashes the label and
    /// takes the vector's lock.
    by_decision: Vec<IntCounter>,
    /// `cache` for (session, grant, api_token) × (miss, hit), likewise.
    lookups: [[IntCounter; 2]; 3],
}

/// What a cache lookup was for.
#[derive(Debug, Clone, Copy)]
pub enum Lookup {
    Session,
    Grant,
    ApiToken,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("jitgate".into()), None).expect("a fixed, valid prefix");
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "Requests by access decision"),
            &["decision"],
        )
        .expect("valid metric");
        let cache = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Grant, session and API token cache lookups"),
            &["kind", "result"],
        )
        .expect("valid metric");
        let store_seconds = Histogram::with_opts(
            HistogramOpts::new("store_latency_seconds", "Store calls made by the proxy").buckets(
                vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5],
            ),
        )
        .expect("valid metric");
        let leased_connections =
            IntGauge::new("open_leased_connections", "Connections open under a lease")
                .expect("valid metric");
        let change_feed_up =
            IntGauge::new("change_feed_up", "Whether the store change feed is connected")
                .expect("valid metric");
        let notifications = IntCounterVec::new(
            Opts::new("notifications_total", "Notification delivery attempts"),
            &["channel", "outcome"],
        )
        .expect("valid metric");
        let notification_queue =
            IntGauge::new("notification_queue", "Notifications waiting in the outbox")
                .expect("valid metric");
        let config_generation =
            IntGauge::new("config_generation", "The generation of the config in force")
                .expect("valid metric");
        let config_reload_failures = IntCounter::new(
            "config_reload_failures_total",
            "Config reloads refused; the previous config stayed in force",
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(cache.clone()),
            Box::new(store_seconds.clone()),
            Box::new(leased_connections.clone()),
            Box::new(change_feed_up.clone()),
            Box::new(notifications.clone()),
            Box::new(notification_queue.clone()),
            Box::new(config_generation.clone()),
            Box::new(config_reload_failures.clone()),
        ] {
            registry.register(collector).expect("each metric is registered once");
        }
        let by_decision =
            Decision::ALL.iter().map(|d| requests.with_label_values(&[d.label()])).collect();
        let lookups = ["session", "grant", "api_token"]
            .map(|kind| ["miss", "hit"].map(|result| cache.with_label_values(&[kind, result])));
        Self {
            registry,
            by_decision,
            lookups,
            requests,
            cache,
            store_seconds,
            leased_connections,
            change_feed_up,
            notifications,
            notification_queue,
            config_generation,
            config_reload_failures,
        }
    }

    /// The counter of requests decided `decision`.
    pub fn request(&self, decision: Decision) -> &IntCounter {
        &self.by_decision[decision as usize]
    }

    /// The counter of `kind` lookups that hit (or missed) the cache.
    pub fn lookup(&self, kind: Lookup, hit: bool) -> &IntCounter {
        &self.lookups[kind as usize][usize::from(hit)]
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
