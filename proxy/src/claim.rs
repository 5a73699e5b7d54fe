//! Claiming a grant on its first use, from the proxy's request path.
//!
//! A grant that starts on first use (`starts = "on_first_use"`) reaches the proxy unclaimed:
//! its `expires_at` is only the claim deadline. The first request that finds it so (a cache
//! miss: an unclaimed grant is never cached) claims it through the store before letting the
//! request in, so the duration runs from that request. The claim is one versioned commit;
//! when another proxy wins the race, the grant it claimed comes back, and the duration starts
//! once. A claim the store cannot record fails closed: the request is refused as if the
//! store were down, never let through unclaimed.

use std::sync::{Arc, RwLock};

use jitgate_access::clock::SystemClock;
use jitgate_access::outbox::{Routing, Silent};
use jitgate_access::policy::PolicySet;
use jitgate_access::request::Grant;
use jitgate_access::service::{AccessService, ServiceError};
use jitgate_access::store::{Store, StoreError};

/// The proxy's way to claim grants: the access workflow's claim (authorisation is the
/// gate's, done before), announcing claims through `routing` (silent until told otherwise).
pub struct FirstUse {
    service: RwLock<Arc<AccessService>>,
    store: Arc<dyn Store>,
}

impl FirstUse {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { service: RwLock::new(Self::service(&store, Arc::new(Silent))), store }
    }

    fn service(store: &Arc<dyn Store>, routing: Arc<dyn Routing>) -> Arc<AccessService> {
        // A claim needs no policy: the duration it starts was fixed at approval.
        let service = AccessService::new(
            store.clone(),
            Arc::new(SystemClock),
            Arc::new(PolicySet::default()),
        );
        Arc::new(service.with_routing(routing))
    }

    /// Claims are announced (mail, webhooks: `grant.claimed`) to whom `routing` names, in
    /// the commit that records them.
    pub fn announce_with(&self, routing: Arc<dyn Routing>) {
        let service = Self::service(&self.store, routing);
        *self.service.write().unwrap_or_else(|p| p.into_inner()) = service;
    }

    /// Claims `grant` (which waits for first use) now, returning the grant in force
    /// afterwards, claimed by this proxy or another; `None` when it is no longer in force.
    /// Any failure is [`StoreError::Unavailable`]: the caller fails closed on it.
    pub async fn claim(&self, grant: &Grant) -> Result<Option<Grant>, StoreError> {
        let service = self.service.read().unwrap_or_else(|p| p.into_inner()).clone();
        match service.claim_first_use(grant.request_id).await {
            Ok(claimed) => {
                if let Some(claimed) = &claimed {
                    tracing::info!(
                        user = %claimed.user,
                        resource = %claimed.resource,
                        until = %claimed.expires_at,
                        "grant claimed by its first use"
                    );
                }
                Ok(claimed)
            }
            Err(ServiceError::Store(error)) => Err(error),
            Err(other) => Err(StoreError::Unavailable(format!("cannot claim a grant: {other}"))),
        }
    }
}
