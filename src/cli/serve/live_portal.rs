//! The portal role's config-derived parts — the web app (pages and API), the access workflow
//! (policies, roles, notification routing) and the notification worker (mail and webhook
//! settings) — built together from one config, and replaced together by a reload.
//!
//! Each is behind an `ArcSwap`: an HTTP request is served whole by the app that was in force
//! when it arrived (the new app's handlers only ever see the new workflow), a sweep round and
//! a notification round each run on one snapshot. Sessions, sign-in throttling, the store and
//! the people records are shared by old and new, so nothing a user holds is lost.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jitgate_access::bearer::BearerVerifier;
use jitgate_access::clock::Clock;
use jitgate_access::config::{Config, IdentityConfig};
use jitgate_access::outbox::Routing;
use jitgate_access::people::PeopleIndex;
use jitgate_access::service::AccessService;
use jitgate_access::store::Store;
use jitgate_portal::notify::routing::ConfigRouting;
use jitgate_portal::notify::{Notifier, NotifyMetrics};
use jitgate_portal::{Portal, PortalSettings};
use jitgate_proxy::{AccessCache, Metrics};

/// How often expiries and timeouts are recorded in the store (and its audit log). Access
/// itself never waits for this: every check compares expiry with the clock.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How long the notification worker rests when its outbox is empty or unreachable.
const NOTIFY_IDLE: Duration = Duration::from_millis(500);

/// What building the portal takes besides the config; the same for every generation.
pub struct PortalParts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub people: Arc<PeopleIndex>,
    /// With the proxy in this process, the portal's changes reach its cache before the portal
    /// answers (a revocation stops the very next request), not after a round trip through the
    /// store's change feed.
    pub local_cache: Option<Arc<AccessCache>>,
    pub assertion_jwks: serde_json::Value,
    /// The process's IdP client, for the portal's bearer checks; `None` without OIDC.
    pub idp: Option<Arc<jitgate_access::idp::IdpClient>>,
    pub metrics: Arc<Metrics>,
}

/// A portal generation built and not yet in force: everything that can fail is done.
pub struct Prepared {
    portal: Portal,
    service: AccessService,
    notifier: Notifier,
    routing: Arc<dyn Routing>,
}

impl PortalParts {
    /// Who is told of what under `config`.
    fn routing(&self, config: &Arc<Config>) -> Arc<dyn Routing> {
        let users = match &config.identity {
            IdentityConfig::Local { users, .. } => users.clone(),
            IdentityConfig::Oidc { .. } => Vec::new(),
        };
        Arc::new(ConfigRouting::new(config.clone(), users, self.people.clone()))
    }

    /// Claims of grants on first use, made by this process's proxy, are announced with the
    /// routing in force.
    fn announce_claims_with(&self, routing: &Arc<dyn Routing>) {
        if let Some(cache) = &self.local_cache {
            cache.first_use().announce_with(routing.clone());
        }
    }

    /// The access workflow under `config`: its policies, and its notification routing.
    fn service(&self, config: &Arc<Config>) -> AccessService {
        let routing = self.routing(config);
        let service = AccessService::new(
            self.store.clone(),
            self.clock.clone(),
            Arc::new(config.policy_set()),
        )
        .with_routing(routing)
        .with_people(self.people.clone());
        match &self.local_cache {
            Some(cache) => {
                let cache = cache.clone();
                service.with_local_changes(Arc::new(move |event| cache.apply(event)))
            }
            None => service,
        }
    }

    fn notifier(&self, config: &Config) -> anyhow::Result<Notifier> {
        let notifier = Notifier::new(
            config,
            self.store.clone(),
            self.clock.clone(),
            config.notifications.retry,
        )
        .map_err(|error| anyhow::anyhow!("notifications: {error}"))?;
        Ok(notifier.with_metrics(NotifyMetrics {
            attempts: self.metrics.notifications.clone(),
            queue: self.metrics.notification_queue.clone(),
        }))
    }

    fn settings(&self, config: &Arc<Config>) -> PortalSettings {
        PortalSettings {
            config: config.clone(),
            service: Arc::new(self.service(config)),
            clock: self.clock.clone(),
            assertion_jwks: self.assertion_jwks.clone(),
            bearer: BearerVerifier::for_identity(&config.identity, self.idp.clone()),
        }
    }

    /// Builds a generation from scratch, for the start. With an OIDC provider, discovery
    /// happens now: an unreachable IdP stops the start.
    async fn first(&self, config: &Arc<Config>) -> anyhow::Result<Prepared> {
        Ok(Prepared {
            portal: Portal::new(self.settings(config)).await?,
            service: self.service(config),
            notifier: self.notifier(config)?,
            routing: self.routing(config),
        })
    }
}

/// The portal generation in force.
pub struct LivePortal {
    parts: PortalParts,
    /// Kept to build the next generation from (see [`Portal::reconfigured`]).
    portal: Portal,
    app: Arc<ArcSwap<axum::Router>>,
    sweeper: Arc<ArcSwap<AccessService>>,
    notifier: Arc<ArcSwap<Notifier>>,
}

impl LivePortal {
    pub async fn start(parts: PortalParts, config: &Arc<Config>) -> anyhow::Result<Self> {
        let first = parts.first(config).await?;
        parts.announce_claims_with(&first.routing);
        Ok(Self {
            app: Arc::new(ArcSwap::from_pointee(first.portal.router())),
            sweeper: Arc::new(ArcSwap::from_pointee(first.service)),
            notifier: Arc::new(ArcSwap::from_pointee(first.notifier)),
            portal: first.portal,
            parts,
        })
    }

    /// The app in force, for the listener to dispatch each request to.
    pub fn app(&self) -> Arc<ArcSwap<axum::Router>> {
        self.app.clone()
    }

    /// Builds the generation for `config` without putting it in force.
    pub async fn prepare(&self, config: &Arc<Config>) -> anyhow::Result<Prepared> {
        Ok(Prepared {
            portal: self.portal.reconfigured(self.parts.settings(config)).await?,
            service: self.parts.service(config),
            notifier: self.parts.notifier(config)?,
            routing: self.parts.routing(config),
        })
    }

    /// Puts `next` in force: new requests, sweeps and notification rounds use it.
    pub fn swap(&mut self, next: Prepared) {
        self.app.store(Arc::new(next.portal.router()));
        self.sweeper.store(Arc::new(next.service));
        self.notifier.store(Arc::new(next.notifier));
        self.parts.announce_claims_with(&next.routing);
        self.portal = next.portal;
    }

    /// Starts recording expiries and delivering notifications, each round with the
    /// generation then in force.
    pub fn run_background(&self, runtime: &tokio::runtime::Runtime) {
        runtime.spawn(sweep_forever(self.sweeper.clone()));
        runtime.spawn(notify_forever(self.notifier.clone()));
    }
}

/// Records what the clock has decided (expiries, timeouts), for the audit log and the portal.
async fn sweep_forever(services: Arc<ArcSwap<AccessService>>) {
    loop {
        if let Err(error) = services.load_full().sweep(500).await {
            tracing::warn!(%error, "cannot record expiries yet");
        }
        tokio::time::sleep(SWEEP_INTERVAL).await;
    }
}

/// Delivers notifications for as long as the process runs (as [`Notifier::run`] does), each
/// round with the mail and webhook settings then in force.
async fn notify_forever(notifiers: Arc<ArcSwap<Notifier>>) {
    loop {
        match notifiers.load_full().round().await {
            Ok(0) => tokio::time::sleep(NOTIFY_IDLE).await,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "notifications: the store is unavailable");
                tokio::time::sleep(NOTIFY_IDLE).await;
            }
        }
    }
}
