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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jitgate_access::clock::{Clock, SystemClock};
    use jitgate_access::ids::{IdGenerator, UserId};
    use jitgate_access::request::{AccessRequest, Claim, RequestState};
    use jitgate_access::store::EmbeddedStore;
    use jitgate_access::transition::{Change, GrantPointerUpdate, RequestWrite};

    use super::*;
    use crate::cache::AccessCache;
    use crate::metrics::Metrics;

    const LASTS: Duration = Duration::from_secs(600);

    /// An approved grant of `a@example.com` on `app` waiting for first use, committed with
    /// its request, or (`with_request: false`) as a pointer whose request cannot be found.
    async fn waiting(store: &Arc<dyn Store>, with_request: bool) -> Grant {
        let now = SystemClock.now();
        let id = IdGenerator::new().next(now).into();
        let user: UserId = "a@example.com".parse().unwrap();
        let grant = Grant {
            user: user.clone(),
            resource: "app".parse().unwrap(),
            request_id: id,
            granted_at: now,
            expires_at: now.plus(Duration::from_secs(3600)),
            end: None,
            paused: None,
            claim: Some(Claim { duration: LASTS, claimed_at: None }),
            starts_at: None,
        };
        let request = AccessRequest {
            id,
            version: 1,
            requester: user,
            requester_groups: Default::default(),
            resource: grant.resource.clone(),
            reason: "first use".into(),
            requested_duration: LASTS,
            created_at: now,
            pending_until: now,
            approvals: vec![],
            state: RequestState::Approved { grant: grant.clone() },
            extends: None,
            starts_at: None,
            break_glass: None,
        };
        let requests = if with_request {
            vec![RequestWrite { request, expected_version: None }]
        } else {
            Vec::new()
        };
        let pointer = GrantPointerUpdate::Set { grant: grant.clone(), expected: None };
        let change = Change { requests, grant_pointer: Some(pointer), ..Change::default() };
        store.commit(&change).await.unwrap();
        grant
    }

    /// A cache over a fresh embedded store holding [`waiting`]'s grant: the store's
    /// directory (kept until the test ends), the store, the cache and the grant.
    async fn setting(
        with_request: bool,
    ) -> (tempfile::TempDir, Arc<dyn Store>, AccessCache, Grant) {
        let dir = tempfile::Builder::new().prefix("first-use").tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path().join("db")).unwrap());
        let cache = AccessCache::new(store.clone(), Arc::new(Metrics::new()));
        let grant = waiting(&store, with_request).await;
        (dir, store, cache, grant)
    }

    #[tokio::test]
    async fn a_miss_that_finds_a_grant_waiting_claims_it_and_runs_from_now() {
        let (_dir, store, cache, grant) = setting(true).await;
        let app = &grant.resource;
        let before = SystemClock.now();
        let expiry = cache.grant_expiry(&grant.user, app, before).await.unwrap().unwrap();
        let after = SystemClock.now();
        assert!(expiry >= before.plus(LASTS) && expiry <= after.plus(LASTS), "from first use");
        let stored = store.active_grant(&grant.user, app, after).await.unwrap().unwrap();
        assert_eq!(stored.expires_at, expiry);
        assert!(!stored.awaits_claim());
        let again = cache.grant_expiry(&grant.user, app, after).await.unwrap();
        assert_eq!(again, Some(expiry), "claimed once: the next lookup moves nothing");
    }

    #[tokio::test]
    async fn a_claim_the_store_cannot_record_fails_closed() {
        let (_dir, store, cache, grant) = setting(false).await;
        let app = &grant.resource;
        let refused = cache.grant_expiry(&grant.user, app, SystemClock.now()).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
        let still = store.active_grant(&grant.user, app, SystemClock.now()).await.unwrap();
        assert!(still.unwrap().awaits_claim(), "nothing was claimed");
    }
}
