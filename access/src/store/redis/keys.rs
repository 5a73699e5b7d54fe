//! The Redis key layout, in one place. Every key starts with `{prefix}`: the braces are a
//! Cluster hash tag, so all of jitgate's keys share one slot and a commit can touch any of
//! them atomically in one script.

use crate::ids::{AuditId, GroupName, NotificationId, RequestId, ResourceName, TokenId, UserId};
use crate::request::Status;
use crate::session::SessionId;

#[derive(Debug, Clone)]
pub(super) struct Keys {
    base: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self { base: format!("{{{prefix}}}") }
    }

    /// Hash: `v` version, `d` the request as JSON.
    pub(super) fn request(&self, id: RequestId) -> String {
        format!("{}:req:{id}", self.base)
    }

    /// Hash: `r` request id, `x` expiry (ms), `d` the grant as JSON; expires with PEXPIREAT.
    /// Resource names cannot hold ':', so the user part is unambiguous.
    pub(super) fn grant(&self, resource: &ResourceName, user: &UserId) -> String {
        format!("{}:grant:{resource}:{user}", self.base)
    }

    /// Hash: `r` the id of the user's pending request for the resource, `u` its deadline
    /// (ms); expires with PEXPIREAT at that deadline.
    pub(super) fn pending(&self, resource: &ResourceName, user: &UserId) -> String {
        format!("{}:pending:{resource}:{user}", self.base)
    }

    /// Set of resources for which `user` has a grant pointer (may hold stale members).
    pub(super) fn user_grants(&self, user: &UserId) -> String {
        format!("{}:ugrants:{user}", self.base)
    }

    // Request indexes: sorted sets, every score 0, members request ids (lexical = time order).
    pub(super) fn all_requests(&self) -> String {
        format!("{}:idx:all", self.base)
    }
    pub(super) fn by_status(&self, status: Status) -> String {
        format!("{}:idx:status:{status}", self.base)
    }
    pub(super) fn by_user(&self, user: &UserId) -> String {
        format!("{}:idx:user:{user}", self.base)
    }
    pub(super) fn by_resource(&self, resource: &ResourceName) -> String {
        format!("{}:idx:resource:{resource}", self.base)
    }
    pub(super) fn by_group(&self, group: &GroupName) -> String {
        format!("{}:idx:group:{group}", self.base)
    }

    /// Sorted set: score the next deadline (ms), member the request id.
    pub(super) fn due(&self) -> String {
        format!("{}:due", self.base)
    }

    /// String: an outbox notification as JSON.
    pub(super) fn notification(&self, id: NotificationId) -> String {
        format!("{}:outbox:{id}", self.base)
    }

    /// Sorted set: pending notification ids scored by their next attempt (ms); a claim moves
    /// the score to the lease's end.
    pub(super) fn outbox_due(&self) -> String {
        format!("{}:outbox:due", self.base)
    }

    /// Sorted set, scores 0: failed notification ids (lexical = time order).
    pub(super) fn outbox_failed(&self) -> String {
        format!("{}:outbox:failed", self.base)
    }

    /// String: the audit event as JSON.
    pub(super) fn audit(&self, id: AuditId) -> String {
        format!("{}:audit:{id}", self.base)
    }

    // Audit indexes: like the request indexes, members audit ids.
    pub(super) fn all_audit(&self) -> String {
        format!("{}:aidx:all", self.base)
    }
    pub(super) fn audit_by_actor(&self, actor: &str) -> String {
        format!("{}:aidx:actor:{actor}", self.base)
    }
    pub(super) fn audit_by_resource(&self, resource: &ResourceName) -> String {
        format!("{}:aidx:resource:{resource}", self.base)
    }
    pub(super) fn audit_by_request(&self, id: RequestId) -> String {
        format!("{}:aidx:request:{id}", self.base)
    }

    /// String: the session as JSON; expires with PEXPIREAT.
    pub(super) fn session(&self, id: &SessionId) -> String {
        format!("{}{}", self.session_prefix(), id.as_str())
    }

    /// What every session key starts with (a Lua script appends the ids it finds).
    pub(super) fn session_prefix(&self) -> String {
        format!("{}:session:", self.base)
    }

    /// Set of the user's session ids, expiring with the longest-lived of them; may hold ones
    /// that expired since the last sign-in.
    pub(super) fn user_sessions(&self, user: &UserId) -> String {
        format!("{}:usessions:{user}", self.base)
    }

    /// Hash: `f` first sign-in (ms), `d` the person as JSON at the latest sign-in.
    pub(super) fn person(&self, user: &UserId) -> String {
        format!("{}:person:{user}", self.base)
    }

    /// Sorted set, score 0: every user with a person record, in lexical order.
    pub(super) fn people(&self) -> String {
        format!("{}:people", self.base)
    }

    /// String with PXAT at the token's expiry: a personal API token as JSON (digest only).
    pub(super) fn token(&self, id: TokenId) -> String {
        format!("{}:token:{id}", self.base)
    }

    /// Set of the user's token ids; may hold expired ones until the next listing prunes them.
    pub(super) fn user_tokens(&self, user: &UserId) -> String {
        format!("{}:utokens:{user}", self.base)
    }

    /// String with PXAT: a single-use claim.
    pub(super) fn claim(&self, key: &str) -> String {
        format!("{}:claim:{key}", self.base)
    }

    /// Pub/sub channel of change events (JSON).
    pub(super) fn events(&self) -> String {
        format!("{}:events", self.base)
    }
}
