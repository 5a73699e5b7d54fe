//! The Redis backend, for several jitgate instances sharing state.
//!
//! Key layout (prefix `P`, default `jitgate`; `{P}` is a Cluster hash tag so every key lives
//! in one slot and a commit is one atomic script):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{P}:req:<request id>` | hash | `v` version, `d` request JSON |
//! | `{P}:grant:<resource>:<user>` | hash, `PEXPIREAT` at expiry | the active grant: `r` request id, `x` expiry ms, `d` grant JSON |
//! | `{P}:ugrants:<user>` | set | resources the user has a grant pointer for |
//! | `{P}:pending:<resource>:<user>` | hash, `PEXPIREAT` at its deadline | the one pending request: `r` request id, `u` deadline ms |
//! | `{P}:idx:all`, `{P}:idx:status:<status>`, `{P}:idx:user:<user>`, `{P}:idx:resource:<resource>`, `{P}:idx:group:<group>` | sorted sets, score 0 | request ids, in lexical (= time) order |
//! | `{P}:due` | sorted set | request ids scored by their next deadline (ms) |
//! | `{P}:audit:<audit id>` | string | audit event JSON |
//! | `{P}:aidx:all`, `{P}:aidx:actor:<actor>`, `{P}:aidx:resource:<resource>`, `{P}:aidx:request:<request id>` | sorted sets, score 0 | audit ids |
//! | `{P}:session:<session id>` | string, `PEXPIREAT` at expiry | session JSON |
//! | `{P}:usessions:<user>` | set, `PEXPIREAT` at its latest session's expiry | the user's session ids (for "sign out everywhere"); a sign-out removes its own, each sign-in prunes those ended or expired |
//! | `{P}:person:<user>` | hash | `f` first sign-in ms, `d` the person JSON at the latest sign-in |
//! | `{P}:people` | sorted set, score 0 | users with a person record, in lexical order |
//! | `{P}:token:<id>` | string, `PXAT` at expiry | a personal API token JSON (its digest, never the secret) |
//! | `{P}:utokens:<user>` | set | the user's token ids (expired ones pruned when listed) |
//! | `{P}:claim:<key>` | string, `PXAT` | a single-use claim (handoff token id) |
//! | `{P}:outbox:<notification id>` | string | an outbox notification JSON |
//! | `{P}:outbox:due` | sorted set | pending notification ids scored by next attempt (ms); a claim moves the score to the lease's end (`redis/claim.lua`) |
//! | `{P}:outbox:failed` | sorted set, score 0 | notifications given up on |
//! | `{P}:events` | pub/sub channel | change events JSON |
//!
//! Commits run `redis/commit.lua`: version, grant-holder and pending-pointer checks first,
//! then every write, so a stale change writes nothing. At connect, `redis/pending.lua` points
//! every pair with a pending request at it, for requests stored before pending pointers
//! existed (the newest, where a double submit had opened two). Connections come from a
//! `ConnectionManager`, which reconnects by itself, behind a [`Link`] that also follows a
//! Sentinel failover (`redis+sentinel://` URLs); every command has a response timeout so an
//! unreachable server becomes [`StoreError::Unavailable`] in seconds, never a hang.

mod keys;
mod link;
mod people;
mod plan;
mod tokens;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManagerConfig;
use redis::{AsyncCommands, Script};
use tokio::sync::mpsc;

use self::keys::Keys;
use self::link::{Link, Target};
use super::codec::{decode, encode, parse_request_id};
use super::query::{MAX_PAGE, page_size};
use super::{AuditQuery, ChangeEvent, ChangeFeed, Page, RequestQuery, Store, StoreError};
use crate::api_token::ApiToken;
use crate::audit::AuditEvent;
use crate::ids::{AuditId, RequestId, ResourceName, TokenId, UserId};
use crate::outbox::{Notification, Outcome};
use crate::people::Person;
use crate::request::{AccessRequest, Grant};
use crate::session::{Session, SessionId};
use crate::time::Timestamp;
use crate::transition::Change;

/// How long one command may take before the store counts as unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a write waits for replicas (`store.wait_for_replicas`) before it fails.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(1);
/// Ids read per round trip when walking an index.
const WALK_BATCH: usize = 200;
const FEED_CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct RedisStore {
    conn: Link,
    keys: Keys,
    commit_script: Script,
    claim_script: Script,
    pending_script: Script,
    end_sessions_script: Script,
    /// The URL without credentials, for error messages.
    shown_url: String,
    /// Replicas every write waits for (`WAIT`); 0: none.
    replicas: u32,
}

/// Whether `url` names a server or a Sentinel group this store can connect to (configuration
/// checks, before anything connects); the reason when not.
pub fn check_url(url: &str) -> Result<(), String> {
    Target::parse(url).map(|_| ())
}

/// `redis://user:secret@host` → `redis://***@host`: URLs end up in logs and error messages.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl RedisStore {
    /// Connects and checks the server answers. Fails within a few seconds when it does not.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let shown_url = without_credentials(url);
        let unavailable =
            |detail: String| StoreError::Unavailable(format!("redis at {shown_url}: {detail}"));
        let target = Target::parse(url).map_err(&unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(CONNECT_TIMEOUT * 3, Link::connect(target, config))
            .await
            .map_err(|_| unavailable("timed out connecting".into()))?
            .map_err(unavailable)?;
        let store = Self {
            conn,
            keys: Keys::new(prefix),
            commit_script: Script::new(include_str!("redis/commit.lua")),
            claim_script: Script::new(include_str!("redis/claim.lua")),
            pending_script: Script::new(include_str!("redis/pending.lua")),
            end_sessions_script: Script::new(include_str!("redis/end_sessions.lua")),
            shown_url: shown_url.clone(),
            replicas: 0,
        };
        store.ping().await?;
        store.point_at_pending_requests().await?;
        Ok(store)
    }

    /// Makes every write wait until `replicas` replicas have it (Redis `WAIT`, at most
    /// [`REPLICA_TIMEOUT`]) and fail as unavailable when they do not: with asynchronous
    /// replication, a write only the failed primary had is lost in a failover.
    pub fn wait_for_replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// After a write: waits for the replicas [`RedisStore::wait_for_replicas`] asks for. `WAIT`
    /// covers every write sent before it on the (multiplexed) connection, this one included.
    async fn replicated(&self) -> Result<(), StoreError> {
        if self.replicas == 0 {
            return Ok(());
        }
        let acknowledged: u32 = redis::cmd("WAIT")
            .arg(self.replicas)
            .arg(REPLICA_TIMEOUT.as_millis() as u64)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        if acknowledged < self.replicas {
            return Err(StoreError::Unavailable(format!(
                "redis at {}: the write reached {acknowledged} of {} replica(s) within {REPLICA_TIMEOUT:?}",
                self.shown_url, self.replicas
            )));
        }
        Ok(())
    }

    /// Gives every (user, resource) with a pending request but no pending pointer one,
    /// naming its newest pending request: requests stored before pointers existed. Walks the
    /// pending index newest first a batch at a time; `pending.lua` sets each pointer only if
    /// none exists and the request is still pending, so it cannot race a commit into a wrong
    /// pointer. Idempotent, and cheap: pending requests time out.
    async fn point_at_pending_requests(&self) -> Result<(), StoreError> {
        let pending_index = self.keys.by_status(crate::request::Status::Pending);
        let mut upper: Option<String> = None;
        loop {
            let max = upper.as_ref().map(|u| format!("({u}")).unwrap_or_else(|| "+".into());
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(&pending_index)
                .arg(&max)
                .arg("-")
                .arg("BYLEX")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(WALK_BATCH)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.unavailable(e))?;
            let Some(last) = ids.last().cloned() else { return Ok(()) };
            let keys: Vec<String> = ids
                .iter()
                .map(|id| parse_request_id(&pending_index, id).map(|id| self.keys.request(id)))
                .collect::<Result<_, _>>()?;
            let requests = self.load_json::<AccessRequest>(&keys, Some("d")).await?;
            let mut invocation = self.pending_script.prepare_invoke();
            invocation.key(&pending_index);
            for request in requests.into_iter().flatten() {
                invocation
                    .key(self.keys.pending(&request.resource, &request.requester))
                    .arg(request.id.to_string())
                    .arg(request.pending_until.as_millis());
            }
            invocation
                .invoke_async::<()>(&mut self.conn.clone())
                .await
                .map_err(|e| self.unavailable(e))?;
            upper = Some(last);
        }
    }

    /// Runs `work` with a deadline; both failure and timeout mean the store is unavailable.
    async fn bounded<T>(
        &self,
        limit: Duration,
        what: &str,
        work: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result.map_err(|e| self.unavailable(e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis at {}: timed out {what}",
                self.shown_url
            ))),
        }
    }

    fn unavailable(&self, error: redis::RedisError) -> StoreError {
        StoreError::Unavailable(format!("redis at {}: {error}", self.shown_url))
    }

    async fn load_json<T: serde::de::DeserializeOwned>(
        &self,
        keys: &[String],
        field: Option<&str>,
    ) -> Result<Vec<Option<T>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in keys {
            match field {
                Some(field) => pipe.hget(key, field),
                None => pipe.get(key),
            };
        }
        let raw: Vec<Option<String>> =
            pipe.query_async(&mut self.conn.clone()).await.map_err(|e| self.unavailable(e))?;
        keys.iter()
            .zip(raw)
            .map(|(key, json)| json.map(|json| decode(key, &json)).transpose())
            .collect()
    }

    /// Walks the union of lexically ordered index sets from newest to oldest, below `upper`
    /// (exclusive) and down to `lower` (inclusive), loading and filtering records a batch at a
    /// time until `want` match. Never loads a whole index.
    async fn walk<T, L, Fut>(
        &self,
        index_keys: &[String],
        mut upper: Option<String>,
        lower: Option<String>,
        want: usize,
        load: L,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, StoreError>
    where
        L: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<Option<T>>, StoreError>>,
    {
        let mut found = Vec::new();
        let min = lower.map(|l| format!("[{l}")).unwrap_or_else(|| "-".into());
        loop {
            let max = upper.as_ref().map(|u| format!("({u}")).unwrap_or_else(|| "+".into());
            let mut batch: Vec<String> = Vec::new();
            for key in index_keys {
                let ids: Vec<String> = redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(&max)
                    .arg(&min)
                    .arg("BYLEX")
                    .arg("REV")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(WALK_BATCH)
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(|e| self.unavailable(e))?;
                batch.extend(ids);
            }
            // The newest WALK_BATCH of the union are exactly right: any id among them is
            // within the newest WALK_BATCH of its own set.
            batch.sort_unstable_by(|a, b| b.cmp(a));
            batch.dedup();
            batch.truncate(WALK_BATCH);
            let Some(last) = batch.last().cloned() else { return Ok(found) };
            for record in load(batch).await?.into_iter().flatten() {
                if keep(&record) {
                    found.push(record);
                    if found.len() == want {
                        return Ok(found);
                    }
                }
            }
            upper = Some(last);
        }
    }

    /// The outbox items with these ids; ids whose item is gone (delivered meanwhile) are
    /// skipped.
    async fn notifications(&self, ids: &[String]) -> Result<Vec<Notification>, StoreError> {
        let keys: Vec<String> = ids
            .iter()
            .filter_map(|id| id.parse().ok())
            .map(|id| self.keys.notification(id))
            .collect();
        Ok(self.load_json::<Notification>(&keys, None).await?.into_iter().flatten().collect())
    }

    /// Reads a user's session index: the members whose session has ended or expired (or that
    /// name no session at all), for pruning, and the latest expiry (ms) among the live ones,
    /// `i64::MAX` for one that never expires.
    async fn session_index(
        &self,
        user_sessions: &str,
    ) -> Result<(Vec<String>, Option<i64>), StoreError> {
        let members: Vec<String> =
            self.conn.clone().smembers(user_sessions).await.map_err(|e| self.unavailable(e))?;
        let (valid, mut ended): (Vec<String>, Vec<String>) =
            members.into_iter().partition(|id| SessionId::parse(id).is_ok());
        if valid.is_empty() {
            return Ok((ended, None));
        }
        let mut pipe = redis::pipe();
        for id in valid.iter().filter_map(|id| SessionId::parse(id).ok()) {
            pipe.cmd("PEXPIRETIME").arg(self.keys.session(&id));
        }
        // -2: no such key (ended, or expired by Redis); -1: no expiry (never written so).
        let expiries: Vec<i64> =
            pipe.query_async(&mut self.conn.clone()).await.map_err(|e| self.unavailable(e))?;
        let mut latest = None;
        for (id, expiry) in valid.into_iter().zip(expiries) {
            match expiry {
                -2 => ended.push(id),
                -1 => latest = Some(i64::MAX),
                at => latest = latest.max(Some(at)),
            }
        }
        Ok((ended, latest))
    }

    /// Runs a commit plan through `commit.lua`: all of it, or nothing on a conflict.
    async fn run(&self, plan: plan::Plan) -> Result<(), StoreError> {
        let mut invocation = self.commit_script.prepare_invoke();
        for key in plan.keys() {
            invocation.key(key);
        }
        invocation.arg(plan.to_json());
        let outcome: String = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        match outcome.as_str() {
            "ok" => self.replicated().await,
            "conflict" => Err(StoreError::Conflict),
            other if other.starts_with("pending:") => Err(StoreError::AlreadyPending(
                parse_request_id("pending pointer", &other["pending:".len()..])?,
            )),
            other => Err(StoreError::Unavailable(format!("unexpected commit reply {other:?}"))),
        }
    }

    /// Up to `want` requests matching `query` below its cursor, newest first, walking the
    /// narrowest index the query allows and filtering the rest in memory.
    async fn matching(
        &self,
        query: &RequestQuery,
        want: usize,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let index_keys: Vec<String> = if let Some(user) = &query.requester {
            vec![self.keys.by_user(user)]
        } else if let Some(group) = &query.group {
            vec![self.keys.by_group(group)]
        } else if !query.resources.is_empty() {
            query.resources.iter().map(|r| self.keys.by_resource(r)).collect()
        } else if !query.statuses.is_empty() {
            query.statuses.iter().map(|s| self.keys.by_status(*s)).collect()
        } else {
            vec![self.keys.all_requests()]
        };
        let needle =
            query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
        let keep = |request: &AccessRequest| {
            (query.statuses.is_empty() || query.statuses.contains(&request.recorded_status()))
                && query.requester.as_ref().is_none_or(|u| &request.requester == u)
                && (query.resources.is_empty() || query.resources.contains(&request.resource))
                && query.group.as_ref().is_none_or(|g| request.requester_groups.contains(g))
                && needle.as_deref().is_none_or(|n| request.matches_search(n))
        };
        let load = |ids: Vec<String>| async move {
            let keys: Vec<String> = ids
                .iter()
                .filter_map(|id| id.parse().ok())
                .map(|id| self.keys.request(id))
                .collect();
            self.load_json::<AccessRequest>(&keys, Some("d")).await
        };
        let upper = query.before.map(|id| id.to_string());
        self.walk(&index_keys, upper, None, want, load, keep).await
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn commit(&self, change: &Change) -> Result<(), StoreError> {
        self.run(plan::plan(&self.keys, change)).await
    }

    async fn request(&self, id: RequestId) -> Result<Option<AccessRequest>, StoreError> {
        let mut loaded = self.load_json(&[self.keys.request(id)], Some("d")).await?;
        Ok(loaded.pop().flatten())
    }

    async fn active_grant(
        &self,
        user: &UserId,
        resource: &ResourceName,
        now: Timestamp,
    ) -> Result<Option<Grant>, StoreError> {
        let mut loaded =
            self.load_json::<Grant>(&[self.keys.grant(resource, user)], Some("d")).await?;
        Ok(loaded.pop().flatten().filter(|grant| grant.is_active_at(now)))
    }

    async fn active_grants_for_user(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut resources: Vec<String> = self
            .conn
            .clone()
            .smembers(self.keys.user_grants(user))
            .await
            .map_err(|e| self.unavailable(e))?;
        resources.sort();
        let keys: Vec<String> = resources
            .iter()
            .filter_map(|r| ResourceName::parse(r).ok())
            .map(|resource| self.keys.grant(&resource, user))
            .collect();
        let grants = self.load_json::<Grant>(&keys, Some("d")).await?;
        Ok(grants.into_iter().flatten().filter(|grant| grant.is_active_at(now)).collect())
    }

    async fn list_requests(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<AccessRequest, RequestId>, StoreError> {
        let size = page_size(query.limit);
        let rows = self.matching(query, size + 1).await?;
        Ok(Page::from_rows(rows, size, |r| r.id))
    }

    async fn count_requests(&self, query: &RequestQuery, cap: usize) -> Result<usize, StoreError> {
        if cap == 0 {
            return Ok(0);
        }
        let needs_records = query.requester.is_some()
            || query.group.is_some()
            || query.search.as_deref().is_some_and(|s| !s.trim().is_empty());
        if needs_records {
            let all = RequestQuery { before: None, ..query.clone() };
            return Ok(self.matching(&all, cap).await?.len());
        }
        // Status sets are disjoint (a request sits in exactly one), so per-status counts add
        // up; with resources too, each pair is one ZINTERCARD.
        let status_keys: Vec<String> = if query.statuses.is_empty() {
            vec![self.keys.all_requests()]
        } else {
            query.statuses.iter().map(|s| self.keys.by_status(*s)).collect()
        };
        let mut pipe = redis::pipe();
        for status_key in &status_keys {
            if query.resources.is_empty() {
                pipe.zcard(status_key);
            } else {
                for resource in &query.resources {
                    pipe.cmd("ZINTERCARD")
                        .arg(2)
                        .arg(status_key)
                        .arg(self.keys.by_resource(resource))
                        .arg("LIMIT")
                        .arg(cap.min(i64::MAX as usize));
                }
            }
        }
        let counts: Vec<usize> = self
            .bounded(
                RESPONSE_TIMEOUT,
                "counting requests",
                pipe.query_async(&mut self.conn.clone()),
            )
            .await?;
        Ok(counts.into_iter().sum::<usize>().min(cap))
    }

    async fn list_audit(
        &self,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent, AuditId>, StoreError> {
        let size = page_size(query.limit);
        let index_key = if let Some(id) = query.request_id {
            self.keys.audit_by_request(id)
        } else if let Some(actor) = &query.actor {
            self.keys.audit_by_actor(actor)
        } else if let Some(resource) = &query.resource {
            self.keys.audit_by_resource(resource)
        } else {
            self.keys.all_audit()
        };
        let keep = |event: &AuditEvent| {
            query.actor.as_deref().is_none_or(|a| event.actor.key() == a)
                && query.resource.as_ref().is_none_or(|r| event.resource.as_ref() == Some(r))
                && query.request_id.is_none_or(|id| event.request_id == Some(id))
        };
        let load = |ids: Vec<String>| async move {
            let keys: Vec<String> =
                ids.iter().filter_map(|id| id.parse().ok()).map(|id| self.keys.audit(id)).collect();
            self.load_json::<AuditEvent>(&keys, None).await
        };
        let upper = match (query.before, query.to.map(AuditId::min_at)) {
            (Some(before), Some(to)) => Some(before.min(to)),
            (before, to) => before.or(to),
        };
        let lower = query.from.map(|from| AuditId::min_at(from).to_string());
        let rows = self
            .walk(&[index_key], upper.map(|id| id.to_string()), lower, size + 1, load, keep)
            .await?;
        Ok(Page::from_rows(rows, size, |e| e.id))
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.due())
            .arg("-inf")
            .arg(now.as_millis())
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        ids.iter().map(|id| parse_request_id(&self.keys.due(), id)).collect()
    }

    async fn subscribe(&self) -> Result<ChangeFeed, StoreError> {
        let mut pubsub = self
            .bounded(CONNECT_TIMEOUT, "subscribing", self.conn.client().await.get_async_pubsub())
            .await?;
        let channel = self.keys.events();
        self.bounded(RESPONSE_TIMEOUT, "subscribing", pubsub.subscribe(&channel)).await?;
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    // Nobody listens any more: let the connection go.
                    () = tx.closed() => return,
                };
                // The stream ends when the connection is lost; dropping `tx` then tells the
                // subscriber its feed is gone.
                let Some(message) = message else { return };
                let Ok(payload) = message.get_payload::<String>() else { continue };
                match decode::<ChangeEvent>(&channel, &payload) {
                    Ok(event) => {
                        if tx.try_send(event).is_err() {
                            return;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "ignoring an undecodable change event"),
                }
            }
        });
        Ok(rx)
    }

    async fn publish_heartbeat(&self, instance: &str, beat: u64) -> Result<(), StoreError> {
        let event = encode(&ChangeEvent::Heartbeat { instance: instance.to_owned(), beat });
        let mut conn = self.conn.clone();
        let publishing = conn.publish::<_, _, ()>(self.keys.events(), event);
        self.bounded(RESPONSE_TIMEOUT, "publishing a heartbeat", publishing).await
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let key = self.keys.session(&session.id);
        let user_sessions = self.keys.user_sessions(&session.identity.user);
        let expires = session.expires_at.as_millis();
        let (ended, latest) = self.session_index(&user_sessions).await?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(&key, encode(session))
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(expires)
            .ignore()
            .sadd(&user_sessions, session.id.as_str())
            .ignore();
        if !ended.is_empty() {
            pipe.srem(&user_sessions, &ended).ignore();
        }
        // The index lives as long as the longest of its sessions: NX gives a new (or older,
        // never-expiring) index that expiry, GT only ever extends it, so a racing sign-in
        // with a shorter session cannot cut it short.
        let until = latest.map_or(expires, |latest| latest.max(expires));
        if until < i64::MAX {
            for condition in ["NX", "GT"] {
                pipe.cmd("PEXPIREAT").arg(&user_sessions).arg(until).arg(condition).ignore();
            }
        } else {
            pipe.persist(&user_sessions).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(|e| self.unavailable(e))?;
        self.replicated().await
    }

    async fn record_person(&self, person: &Person) -> Result<Person, StoreError> {
        let stored = people::record(&mut self.conn.clone(), &self.keys, person)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.replicated().await?;
        Ok(stored)
    }

    async fn save_api_token(&self, token: &ApiToken) -> Result<(), StoreError> {
        tokens::save(&mut self.conn.clone(), &self.keys, token)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.replicated().await
    }

    async fn api_token(&self, id: TokenId, now: Timestamp) -> Result<Option<ApiToken>, StoreError> {
        tokens::get(&mut self.conn.clone(), &self.keys, id, now)
            .await
            .map_err(|e| self.unavailable(e))
    }

    async fn api_tokens_of(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiToken>, StoreError> {
        tokens::of_user(&mut self.conn.clone(), &self.keys, user, now)
            .await
            .map_err(|e| self.unavailable(e))
    }

    async fn delete_api_token(&self, id: TokenId) -> Result<Option<ApiToken>, StoreError> {
        let deleted = tokens::delete(&mut self.conn.clone(), &self.keys, id)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.replicated().await?;
        Ok(deleted)
    }

    async fn people(&self, limit: usize) -> Result<Vec<Person>, StoreError> {
        people::list(&mut self.conn.clone(), &self.keys, limit)
            .await
            .map_err(|e| self.unavailable(e))
    }

    async fn session(&self, id: &SessionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let mut loaded = self.load_json::<Session>(&[self.keys.session(id)], None).await?;
        Ok(loaded.pop().flatten().filter(|session| session.is_valid_at(now)))
    }

    async fn end_session(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = self.keys.session(id);
        let event = encode(&ChangeEvent::SessionEnded { session: id.clone() });
        // The session names its user, whose index loses it too. One already gone (expired)
        // names nobody; the next sign-in's pruning takes it out of the index.
        let stored: Option<String> =
            self.conn.clone().get(&key).await.map_err(|e| self.unavailable(e))?;
        let user =
            stored.and_then(|json| decode::<Session>(&key, &json).ok()).map(|s| s.identity.user);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        if let Some(user) = user {
            pipe.srem(self.keys.user_sessions(&user), id.as_str()).ignore();
        }
        pipe.publish(self.keys.events(), event).ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(|e| self.unavailable(e))?;
        self.replicated().await
    }

    async fn end_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        let event = encode(&ChangeEvent::SessionsEndedFor { user: user.clone() });
        let ended: usize = self
            .end_sessions_script
            .key(self.keys.user_sessions(user))
            .key(self.keys.events())
            .arg(self.keys.session_prefix())
            .arg(event)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        self.replicated().await?;
        Ok(ended)
    }

    async fn claim_once(
        &self,
        key: &str,
        until: Timestamp,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        let claimed: Option<String> = redis::cmd("SET")
            .arg(self.keys.claim(key))
            .arg(1)
            .arg("NX")
            .arg("PXAT")
            .arg(until.as_millis())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        self.replicated().await?;
        Ok(claimed.is_some())
    }

    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let ids: Vec<String> = self
            .claim_script
            .key(self.keys.outbox_due())
            .arg(now.as_millis())
            .arg(now.plus(lease).as_millis())
            .arg(limit.min(MAX_PAGE))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        self.notifications(&ids).await
    }

    async fn finish_notification(
        &self,
        item: &Notification,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        self.run(plan::finish(&self.keys, item, outcome)).await
    }

    async fn failed_notifications(&self, limit: usize) -> Result<Vec<Notification>, StoreError> {
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.outbox_failed())
            .arg("+")
            .arg("-")
            .arg("BYLEX")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit.min(MAX_PAGE))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        self.notifications(&ids).await
    }

    async fn pending_notifications(&self, cap: usize) -> Result<usize, StoreError> {
        let count: usize = self
            .conn
            .clone()
            .zcard(self.keys.outbox_due())
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(count.min(cap))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn credentials_never_reach_messages() {
        assert_eq!(without_credentials("redis://user:s3cret@db:6379/0"), "redis://***@db:6379/0");
        assert_eq!(without_credentials("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
