//! The access workflow: load state, let [`crate::transition`] decide, commit through the
//! [`Store`], and on a conflict (another reviewer or instance got there first) load and decide
//! again. This is the API the portal calls; it owns authorisation (who may review, revoke or
//! cancel) so that no caller can forget it.

mod tokens;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::audit::AuditEvent;
use crate::clock::Clock;
use crate::ids::{AuditId, IdGenerator, RequestId, ResourceName, UserId};
use crate::outbox::{self, Routing, Silent};
use crate::people::{PeopleIndex, Person};
use crate::policy::{Access, AccessMode, Identity, JitPolicy, PolicySet, ResourcePolicy};
use crate::request::{AccessRequest, Status};
use crate::session::Session;
use crate::store::{ChangeEvent, MAX_PAGE, RequestQuery, Store, StoreError};
use crate::transition::{self, Change, Context, NewRequest, TransitionError};

mod break_glass;
mod claim;
mod lifecycle;
mod schedule;

/// How often a transition is recomputed after losing a race before giving up.
const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Refused(#[from] TransitionError),
    #[error(transparent)]
    Store(StoreError),
    #[error("no resource named {0:?}")]
    UnknownResource(String),
    #[error("request {0} not found")]
    RequestNotFound(RequestId),
    #[error("you have no access to {0} and cannot request it")]
    NoAccess(ResourceName),
    #[error("{0} does not need a request: your access is standing")]
    StandingAccess(ResourceName),
    #[error("you already have a pending request for {resource} ({id})")]
    AlreadyPending { resource: ResourceName, id: RequestId },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("the requester no longer has just-in-time access to {0} under the current policy")]
    RequesterNoLongerEligible(ResourceName),
    #[error("too many concurrent updates to request {0}; try again")]
    Contention(RequestId),
    #[error("no such API token")]
    TokenNotFound,
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        ServiceError::Store(error)
    }
}

pub struct AccessService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policies: Arc<PolicySet>,
    ids: IdGenerator,
    routing: Arc<dyn Routing>,
    local_changes: Option<LocalChanges>,
    /// This process's copy of the people records, told of every sign-in recorded here.
    people: Option<Arc<PeopleIndex>>,
}

/// Told of every change this service commits, before the caller hears it is done: a proxy in
/// the same process applies it to its cache at once instead of waiting for the change feed,
/// so a revocation made here stops the very next request through it.
pub type LocalChanges = Arc<dyn Fn(&ChangeEvent) + Send + Sync>;

impl AccessService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, policies: Arc<PolicySet>) -> Self {
        Self {
            store,
            clock,
            policies,
            ids: IdGenerator::new(),
            routing: Arc::new(Silent),
            local_changes: None,
            people: None,
        }
    }

    /// Sign-ins recorded here go into `people` at once (the notification routing reads it).
    pub fn with_people(mut self, people: Arc<PeopleIndex>) -> Self {
        self.people = Some(people);
        self
    }

    /// See [`LocalChanges`].
    pub fn with_local_changes(mut self, changes: LocalChanges) -> Self {
        self.local_changes = Some(changes);
        self
    }

    fn tell_locally(&self, events: &[ChangeEvent]) {
        if let Some(tell) = &self.local_changes {
            events.iter().for_each(|event| tell(event));
        }
    }

    /// Announces every change to whom `routing` names, through the store's outbox.
    pub fn with_routing(mut self, routing: Arc<dyn Routing>) -> Self {
        self.routing = routing;
        self
    }

    /// Who hears about what: the waiting page shows its answer ("mailed dave@…").
    pub fn routing(&self) -> &Arc<dyn Routing> {
        &self.routing
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    fn resource_policy(&self, resource: &ResourceName) -> Result<&ResourcePolicy, ServiceError> {
        self.policies
            .resources
            .get(resource)
            .ok_or_else(|| ServiceError::UnknownResource(resource.to_string()))
    }

    /// The JIT policy that applies to `who` on `resource`, or why there is none.
    fn jit_policy(
        &self,
        who: &Identity,
        resource: &ResourceName,
    ) -> Result<&JitPolicy, ServiceError> {
        match self.resource_policy(resource)?.resolve(&self.policies.roles, who) {
            Access::Jit { policy, .. } => Ok(policy),
            Access::Standing { .. } => Err(ServiceError::StandingAccess(resource.clone())),
            Access::NoAccess => Err(ServiceError::NoAccess(resource.clone())),
        }
    }

    async fn load(&self, id: RequestId) -> Result<AccessRequest, ServiceError> {
        self.store.request(id).await?.ok_or(ServiceError::RequestNotFound(id))
    }

    /// The request holding `user`'s grant on `resource` right now, if any.
    async fn current_holder(
        &self,
        user: &UserId,
        resource: &ResourceName,
    ) -> Result<Option<AccessRequest>, ServiceError> {
        let now = self.clock.now();
        match self.store.active_grant(user, resource, now).await? {
            Some(grant) => Ok(self.store.request(grant.request_id).await?),
            None => Ok(None),
        }
    }

    /// Commits the change `decide` computes, recomputing from fresh state after a conflict.
    /// The common case of [`AccessService::commit_with_retry`]: load request `id` afresh on
    /// every attempt and let `decide` (authorisation, then a pure transition) turn it into a
    /// change at the clock's current time.
    async fn act_on<F>(&self, id: RequestId, decide: F) -> Result<AccessRequest, ServiceError>
    where
        F: Fn(&AccessRequest, &Context<'_>) -> Result<Change, ServiceError>,
    {
        self.commit_with_retry(id, || async {
            let request = self.load(id).await?;
            let ctx = Context { now: self.clock.now(), ids: &self.ids };
            decide(&request, &ctx)
        })
        .await
    }

    async fn commit_with_retry<F, Fut>(
        &self,
        id: RequestId,
        mut decide: F,
    ) -> Result<AccessRequest, ServiceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Change, ServiceError>>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let mut change = decide().await?;
            let written: Vec<&AccessRequest> = change.requests.iter().map(|w| &w.request).collect();
            change.outbox = outbox::items_for(&change.audit, &written, &*self.routing, &self.ids);
            match self.store.commit(&change).await {
                Ok(()) => {
                    self.tell_locally(&crate::store::events_of(&change));
                    let written = change.requests.into_iter().find(|w| w.request.id == id);
                    return written.map(|w| w.request).ok_or(ServiceError::RequestNotFound(id));
                }
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::Contention(id))
    }

    /// Opens a request for `who`. Under automatic approval it comes back already approved.
    ///
    /// One request per user and resource may be pending: the store refuses, in the commit
    /// itself, a change opening a second one (the change's pending pointer), so of two racing
    /// submits exactly one opens a request and mails reviewers; the other gets
    /// [`ServiceError::AlreadyPending`] naming it.
    pub async fn request_access(
        &self,
        who: &Identity,
        resource: &ResourceName,
        reason: &str,
        duration: Duration,
    ) -> Result<AccessRequest, ServiceError> {
        self.open_request(who, resource, reason, duration, None).await
    }

    /// [`Self::request_access`], for a window starting at `starts_at` when given.
    async fn open_request(
        &self,
        who: &Identity,
        resource: &ResourceName,
        reason: &str,
        duration: Duration,
        starts_at: Option<crate::time::Timestamp>,
    ) -> Result<AccessRequest, ServiceError> {
        let policy = self.jit_policy(who, resource)?;
        let id = RequestId::from(self.ids.next(self.clock.now()));
        let opened = self
            .commit_with_retry(id, || async {
                let current = self.current_holder(&who.user, resource).await?;
                let ctx = Context { now: self.clock.now(), ids: &self.ids };
                let new = NewRequest {
                    requester: who.clone(),
                    resource: resource.clone(),
                    reason: reason.to_owned(),
                    duration,
                };
                let current = current.as_ref();
                Ok(match starts_at {
                    Some(start) => {
                        transition::open_scheduled(&ctx, new, start, id, policy, current)?
                    }
                    None => transition::open(&ctx, new, id, policy, current)?,
                })
            })
            .await;
        match opened {
            Err(ServiceError::Store(StoreError::AlreadyPending(existing))) => {
                Err(ServiceError::AlreadyPending { resource: resource.clone(), id: existing })
            }
            other => other,
        }
    }

    /// Re-resolves the policy the request falls under now, from the requester's groups as
    /// recorded when they asked; config changes since then apply.
    fn policy_for(
        &self,
        request: &AccessRequest,
    ) -> Result<(&ResourcePolicy, &JitPolicy), ServiceError> {
        let resource_policy = self.resource_policy(&request.resource)?;
        let requester =
            Identity::new(request.requester.clone(), request.requester_groups.iter().cloned());
        match resource_policy.resolve(&self.policies.roles, &requester) {
            Access::Jit { policy, .. } => Ok((resource_policy, policy)),
            _ => Err(ServiceError::RequesterNoLongerEligible(request.resource.clone())),
        }
    }

    /// Whether `who` may decide `request` (policy reviewers, global reviewers, admins): the
    /// one reviewer-scope rule. A request is decided under the policy its requester's groups
    /// resolve to, so being a reviewer of one assignment of a resource is not enough.
    pub fn may_review(&self, who: &Identity, request: &AccessRequest) -> bool {
        match self.policy_for(request) {
            Ok((resource_policy, policy)) => {
                resource_policy.may_review(&self.policies.roles, policy, who)
            }
            Err(_) => self.policies.roles.is_admin(who),
        }
    }

    /// The resources where `who` may decide at least some requests (every one for admins):
    /// the coarse scope of the review pages and the audit log. Whether they may decide one
    /// request is [`Self::may_review`].
    pub fn reviewable_resources(&self, who: &Identity) -> Vec<ResourceName> {
        let roles = &self.policies.roles;
        self.policies
            .resources
            .iter()
            .filter(|(_, resource_policy)| {
                roles.is_admin(who)
                    || resource_policy.assignments.iter().any(|assignment| match &assignment.mode {
                        AccessMode::Jit(policy) => resource_policy.may_review(roles, policy, who),
                        AccessMode::Standing => false,
                    })
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// How many pending requests of others `who` may decide ([`Self::may_review`]), counting
    /// no further than `cap`: the reviewer's bell.
    pub async fn count_awaiting_review(
        &self,
        who: &Identity,
        cap: usize,
    ) -> Result<usize, ServiceError> {
        let resources = self.reviewable_resources(who);
        if resources.is_empty() {
            return Ok(0);
        }
        let pending = RequestQuery {
            statuses: vec![Status::Pending],
            resources: if self.policies.roles.is_admin(who) { Vec::new() } else { resources },
            limit: MAX_PAGE,
            ..RequestQuery::default()
        };
        if self.policies.roles.is_admin(who) {
            // Admins may decide every request but their own (at most one per resource).
            let own = RequestQuery { requester: Some(who.user.clone()), ..pending.clone() };
            let mine = self.store.count_requests(&own, usize::MAX).await?;
            let all = self.store.count_requests(&pending, cap + mine).await?;
            return Ok(all.saturating_sub(mine).min(cap));
        }
        let mut count = 0;
        let mut query = pending;
        loop {
            let page = self.store.list_requests(&query).await?;
            count += page
                .items
                .iter()
                .filter(|request| request.requester != who.user && self.may_review(who, request))
                .count();
            match page.next {
                Some(next) if count < cap => query.before = Some(next),
                _ => return Ok(count.min(cap)),
            }
        }
    }

    pub async fn approve(
        &self,
        reviewer: &Identity,
        id: RequestId,
        duration: Option<Duration>,
        note: &str,
    ) -> Result<AccessRequest, ServiceError> {
        self.commit_with_retry(id, || async {
            let request = self.load(id).await?;
            let (resource_policy, policy) = self.policy_for(&request)?;
            if !resource_policy.may_review(&self.policies.roles, policy, reviewer) {
                return Err(ServiceError::Forbidden("you are not a reviewer for this resource"));
            }
            let current = self.current_holder(&request.requester, &request.resource).await?;
            let ctx = Context { now: self.clock.now(), ids: &self.ids };
            Ok(transition::approve(
                &ctx,
                &request,
                &reviewer.user,
                duration,
                note,
                policy,
                current.as_ref(),
            )?)
        })
        .await
    }

    pub async fn deny(
        &self,
        reviewer: &Identity,
        id: RequestId,
        note: &str,
    ) -> Result<AccessRequest, ServiceError> {
        self.act_on(id, |request, ctx| {
            if !self.may_review(reviewer, request) {
                return Err(ServiceError::Forbidden("you are not a reviewer for this resource"));
            }
            Ok(transition::deny(ctx, request, &reviewer.user, note)?)
        })
        .await
    }

    /// The requester withdraws their pending request.
    pub async fn cancel(
        &self,
        who: &Identity,
        id: RequestId,
    ) -> Result<AccessRequest, ServiceError> {
        self.act_on(id, |request, ctx| Ok(transition::cancel(ctx, request, &who.user)?)).await
    }

    /// Ends an active grant now. Allowed for admins, the resource's reviewers, and the user
    /// who holds the grant ("end my access now").
    pub async fn revoke(
        &self,
        who: &Identity,
        id: RequestId,
        note: &str,
    ) -> Result<AccessRequest, ServiceError> {
        self.act_on(id, |request, ctx| {
            if request.requester != who.user && !self.may_review(who, request) {
                return Err(ServiceError::Forbidden(
                    "only an admin, a reviewer or the grant holder can revoke",
                ));
            }
            Ok(transition::revoke(ctx, request, &who.user, note)?)
        })
        .await
    }

    /// Records that `who` signed in now (`name`: the IdP's display name, when it gave one):
    /// the people record that lets jitgate mail a reviewer named only by group and list
    /// everyone in the directory. The record as stored.
    pub async fn record_sign_in(
        &self,
        who: &Identity,
        name: Option<&str>,
    ) -> Result<Person, ServiceError> {
        let person =
            self.store.record_person(&Person::signing_in(who, name, self.clock.now())).await?;
        if let Some(people) = &self.people {
            people.record(person.clone());
        }
        Ok(person)
    }

    /// Everyone who has signed in, by email (at most `limit`).
    pub async fn people(&self, limit: usize) -> Result<Vec<Person>, ServiceError> {
        Ok(self.store.people(limit).await?)
    }

    /// Ends `session` (signing out: every host forgets it through the change feed) and
    /// audits it.
    pub async fn sign_out(&self, session: &Session) -> Result<(), ServiceError> {
        self.store.end_session(&session.id).await?;
        self.tell_locally(&[ChangeEvent::SessionEnded { session: session.id.clone() }]);
        let now = self.clock.now();
        let user = &session.identity.user;
        self.audit(AuditEvent::signed_out(AuditId::from(self.ids.next(now)), now, user)).await
    }

    /// Ends every session of `user` at once, for an admin (ASVS 7.4.5: a compromised or
    /// departing account is signed out everywhere); how many there were. Audited after the
    /// sessions end, so a failure to record it never leaves them running: the error then
    /// reaches the admin, and a retry records it (ending nothing more).
    pub async fn end_sessions_of(
        &self,
        admin: &Identity,
        user: &UserId,
    ) -> Result<usize, ServiceError> {
        if !self.policies.roles.is_admin(admin) {
            return Err(ServiceError::Forbidden("only admins can end a user's sessions"));
        }
        let ended = self.store.end_sessions_of(user).await?;
        self.tell_locally(&[ChangeEvent::SessionsEndedFor { user: user.clone() }]);
        let now = self.clock.now();
        let id = AuditId::from(self.ids.next(now));
        self.audit(AuditEvent::sessions_ended(id, now, &admin.user, user, ended)).await?;
        // A compromised or departing account keeps no way in: its API tokens go too.
        self.revoke_api_tokens_of(admin, user).await?;
        Ok(ended)
    }

    /// Appends one event that no request change carries.
    async fn audit(&self, event: AuditEvent) -> Result<(), ServiceError> {
        Ok(self.store.commit(&Change { audit: vec![event], ..Change::default() }).await?)
    }

    /// Records up to `limit` timeouts and expiries that the clock has already decided. Safe to
    /// run on several instances at once. Returns how many this call recorded.
    pub async fn sweep(&self, limit: usize) -> Result<usize, ServiceError> {
        let due = self.store.due(self.clock.now(), limit).await?;
        let mut recorded = 0;
        for id in due {
            let outcome = self
                .commit_with_retry(id, || async {
                    let request = self.load(id).await?;
                    let ctx = Context { now: self.clock.now(), ids: &self.ids };
                    Ok(transition::expire(&ctx, &request)?)
                })
                .await;
            match outcome {
                Ok(_) => recorded += 1,
                // Another instance recorded it first, or it changed (e.g. revoked) meanwhile.
                Err(ServiceError::Refused(TransitionError::NotDue)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(recorded)
    }
}
