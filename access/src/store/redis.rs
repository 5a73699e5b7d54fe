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

mod feed;
mod keys;
mod link;
mod lists;
mod outbox;
mod people;
mod plan;
mod sessions;
mod tokens;

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManagerConfig;
use redis::{AsyncCommands, Script};

use self::keys::Keys;
use self::link::{Link, Target};
use super::codec::{decode, parse_request_id};
use super::{AuditQuery, ChangeFeed, Page, RequestQuery, Store, StoreError};
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
        lists::requests(self, query).await
    }

    async fn count_requests(&self, query: &RequestQuery, cap: usize) -> Result<usize, StoreError> {
        lists::count_requests(self, query, cap).await
    }

    async fn list_audit(
        &self,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent, AuditId>, StoreError> {
        lists::audit(self, query).await
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
        feed::subscribe(self).await
    }

    async fn publish_heartbeat(&self, instance: &str, beat: u64) -> Result<(), StoreError> {
        feed::publish_heartbeat(self, instance, beat).await
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sessions::create(self, session).await
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
        sessions::get(self, id, now).await
    }

    async fn end_session(&self, id: &SessionId) -> Result<(), StoreError> {
        sessions::end(self, id).await
    }

    async fn end_sessions_of(&self, user: &UserId) -> Result<usize, StoreError> {
        sessions::end_all_of(self, user).await
    }

    async fn claim_once(
        &self,
        key: &str,
        until: Timestamp,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        sessions::claim_once(self, key, until).await
    }

    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        outbox::claim(self, now, lease, limit).await
    }

    async fn finish_notification(
        &self,
        item: &Notification,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        self.run(plan::finish(&self.keys, item, outcome)).await
    }

    async fn failed_notifications(&self, limit: usize) -> Result<Vec<Notification>, StoreError> {
        outbox::failed(self, limit).await
    }

    async fn pending_notifications(&self, cap: usize) -> Result<usize, StoreError> {
        outbox::pending_count(self, cap).await
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
