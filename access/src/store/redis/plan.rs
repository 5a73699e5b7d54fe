//! Turns a [`Change`] into the plan `commit.lua` executes: the keys it declares and the checks
//! and writes it performs. All decisions stay in Rust; the script only checks and applies.

use std::collections::HashMap;

use serde::Serialize;

use super::keys::Keys;
use crate::outbox::{Delivery, Notification, Outcome};
use crate::request::Status;
use crate::store::codec::encode;
use crate::store::events_of;
use crate::transition::{Change, GrantPointerUpdate, PendingPointerUpdate};

#[derive(Default, Serialize)]
pub(crate) struct Plan {
    #[serde(skip)]
    keys: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    checks: Vec<Vec<String>>,
    ops: Vec<Vec<String>>,
}

impl Plan {
    pub(super) fn keys(&self) -> &[String] {
        &self.keys
    }

    pub(super) fn to_json(&self) -> String {
        encode(self)
    }

    /// The 1-based KEYS index of `key`, declaring it on first use.
    fn key(&mut self, key: String) -> String {
        let next = self.keys.len() + 1;
        let at = *self.index.entry(key.clone()).or_insert_with(|| {
            self.keys.push(key);
            next
        });
        at.to_string()
    }

    fn op(&mut self, command: &str, key: String, args: &[String]) {
        let key = self.key(key);
        let mut op = vec![command.to_owned(), key];
        op.extend_from_slice(args);
        self.ops.push(op);
    }

    fn index(&mut self, key: String, member: String) {
        self.op("ZADD", key, &["0".into(), member]);
    }
}

pub(super) fn plan(keys: &Keys, change: &Change) -> Plan {
    let mut plan = Plan::default();
    match &change.pending_pointer {
        Some(
            PendingPointerUpdate::Set { user, resource, at, .. }
            | PendingPointerUpdate::Vacant { user, resource, at },
        ) => {
            let pointer = plan.key(keys.pending(resource, user));
            let pending = plan.key(keys.by_status(Status::Pending));
            plan.checks.push(vec!["vacant".into(), pointer, at.as_millis().to_string(), pending]);
        }
        Some(PendingPointerUpdate::ClearIf { .. }) | None => {}
    }
    for write in &change.requests {
        let request = &write.request;
        let id = request.id.to_string();
        let key = plan.key(keys.request(request.id));
        let expected = write.expected_version.map(|v| v.to_string()).unwrap_or_default();
        plan.checks.push(vec!["version".into(), key, expected]);

        plan.op(
            "HSET",
            keys.request(request.id),
            &["v".into(), request.version.to_string(), "d".into(), encode(request)],
        );
        let status = request.recorded_status();
        for other in Status::ALL.into_iter().filter(|s| *s != status) {
            plan.op("ZREM", keys.by_status(other), std::slice::from_ref(&id));
        }
        plan.index(keys.by_status(status), id.clone());
        match request.next_deadline() {
            Some(at) => plan.op("ZADD", keys.due(), &[at.as_millis().to_string(), id.clone()]),
            None => plan.op("ZREM", keys.due(), std::slice::from_ref(&id)),
        }
        if write.expected_version.is_none() {
            plan.index(keys.all_requests(), id.clone());
            plan.index(keys.by_user(&request.requester), id.clone());
            plan.index(keys.by_resource(&request.resource), id.clone());
            for group in &request.requester_groups {
                plan.index(keys.by_group(group), id.clone());
            }
        }
    }
    match &change.grant_pointer {
        Some(GrantPointerUpdate::Set { grant, expected }) => {
            let pointer = keys.grant(&grant.resource, &grant.user);
            let at = plan.key(pointer.clone());
            let expected = expected.map(|id| id.to_string()).unwrap_or_default();
            plan.checks.push(vec![
                "holder".into(),
                at,
                expected,
                grant.granted_at.as_millis().to_string(),
            ]);
            plan.op("DEL", pointer.clone(), &[]);
            let expires = grant.expires_at.as_millis().to_string();
            plan.op(
                "HSET",
                pointer.clone(),
                &[
                    "r".into(),
                    grant.request_id.to_string(),
                    "x".into(),
                    expires.clone(),
                    "d".into(),
                    encode(grant),
                ],
            );
            plan.op("PEXPIREAT", pointer, &[expires]);
            plan.op("SADD", keys.user_grants(&grant.user), &[grant.resource.to_string()]);
        }
        Some(GrantPointerUpdate::ClearIf { user, resource, request_id }) => {
            let pointer = plan.key(keys.grant(resource, user));
            let user_grants = plan.key(keys.user_grants(user));
            plan.ops.push(vec![
                "clear_if".into(),
                pointer,
                request_id.to_string(),
                user_grants,
                resource.to_string(),
            ]);
        }
        None => {}
    }
    match &change.pending_pointer {
        Some(PendingPointerUpdate::Set { user, resource, request_id, pending_until, .. }) => {
            let pointer = keys.pending(resource, user);
            let until = pending_until.as_millis().to_string();
            plan.op("DEL", pointer.clone(), &[]);
            plan.op(
                "HSET",
                pointer.clone(),
                &["r".into(), request_id.to_string(), "u".into(), until.clone()],
            );
            plan.op("PEXPIREAT", pointer, &[until]);
        }
        Some(PendingPointerUpdate::ClearIf { user, resource, request_id }) => {
            let pointer = plan.key(keys.pending(resource, user));
            plan.ops.push(vec!["clear_pending_if".into(), pointer, request_id.to_string()]);
        }
        Some(PendingPointerUpdate::Vacant { .. }) | None => {}
    }
    for event in &change.audit {
        let id = event.id.to_string();
        plan.op("SET", keys.audit(event.id), &[encode(event)]);
        plan.index(keys.all_audit(), id.clone());
        plan.index(keys.audit_by_actor(event.actor.key()), id.clone());
        // Session events concern no resource or request: only the time and actor indexes.
        if let Some(resource) = &event.resource {
            plan.index(keys.audit_by_resource(resource), id.clone());
        }
        if let Some(request) = event.request_id {
            plan.index(keys.audit_by_request(request), id);
        }
    }
    for item in &change.outbox {
        plan.op("SET", keys.notification(item.id), &[encode(item)]);
        plan.op(
            "ZADD",
            keys.outbox_due(),
            &[item.next_attempt_at.as_millis().to_string(), item.id.to_string()],
        );
    }
    for event in events_of(change) {
        plan.op("PUBLISH", keys.events(), &[encode(&event)]);
    }
    plan
}

/// The plan recording one delivery attempt's outcome (and, on giving up, its audit event).
pub(super) fn finish(keys: &Keys, item: &Notification, outcome: &Outcome) -> Plan {
    let audit = match outcome {
        Outcome::GaveUp { audit, .. } => vec![audit.clone()],
        _ => Vec::new(),
    };
    let mut plan = plan(keys, &Change { audit, ..Change::default() });
    let id = item.id.to_string();
    let key = keys.notification(item.id);
    match outcome {
        Outcome::Delivered => {
            plan.op("DEL", key, &[]);
            plan.op("ZREM", keys.outbox_due(), std::slice::from_ref(&id));
        }
        Outcome::RetryAt { at, error } => {
            let mut next = item.clone();
            next.attempts += 1;
            next.next_attempt_at = *at;
            next.last_error = Some(error.clone());
            plan.op("SET", key, &[encode(&next)]);
            plan.op("ZADD", keys.outbox_due(), &[at.as_millis().to_string(), id]);
        }
        Outcome::GaveUp { at, error, .. } => {
            let mut failed = item.clone();
            failed.attempts += 1;
            failed.last_error = Some(error.clone());
            failed.delivery = Delivery::Failed { at: *at };
            plan.op("SET", key, &[encode(&failed)]);
            plan.op("ZREM", keys.outbox_due(), std::slice::from_ref(&id));
            plan.index(keys.outbox_failed(), id);
        }
    }
    plan
}
