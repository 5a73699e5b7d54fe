//! Commits in the embedded store: one immediate transaction per change, its checks first
//! (version, grant holder, pending pointer), so a stale change writes nothing.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sqlite_error;
use crate::audit::AuditEvent;
use crate::store::StoreError;
use crate::store::codec::{encode, parse_request_id};
use crate::time::Timestamp;
use crate::transition::{Change, GrantPointerUpdate, PendingPointerUpdate};

pub(super) fn commit_in(
    conn: &mut Connection,
    path: &Path,
    change: &Change,
) -> Result<(), StoreError> {
    let err = sqlite_error(path);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
    match &change.pending_pointer {
        Some(
            PendingPointerUpdate::Set { user, resource, at, .. }
            | PendingPointerUpdate::Vacant { user, resource, at },
        ) => {
            // A pointer whose request is no longer pending (a writer that did not clear it)
            // holds nothing either.
            let holder: Option<String> = tx
                .query_row(
                    "SELECT p.request_id FROM pending_requests p
                     JOIN requests r ON r.id = p.request_id AND r.status = 'pending'
                     WHERE p.requester = ?1 AND p.resource = ?2 AND p.pending_until > ?3",
                    params![user.as_str(), resource.as_str(), at.as_millis()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&err)?;
            if let Some(holder) = holder {
                return Err(StoreError::AlreadyPending(parse_request_id(
                    "pending_requests.request_id",
                    &holder,
                )?));
            }
        }
        Some(PendingPointerUpdate::ClearIf { .. }) | None => {}
    }
    for write in &change.requests {
        let request = &write.request;
        let id = request.id.to_string();
        let stored: Option<i64> = tx
            .query_row("SELECT version FROM requests WHERE id = ?1", [&id], |r| r.get(0))
            .optional()
            .map_err(&err)?;
        let expected = write.expected_version.map(|v| v as i64);
        if stored != expected {
            return Err(StoreError::Conflict);
        }
        tx.execute(
            "INSERT INTO requests (id, version, requester, resource, status, reason, deadline, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status,
                 deadline = excluded.deadline, data = excluded.data",
            params![
                id,
                request.version as i64,
                request.requester.as_str(),
                request.resource.as_str(),
                request.recorded_status().as_str(),
                request.reason,
                request.next_deadline().map(Timestamp::as_millis),
                encode(request),
            ],
        )
        .map_err(&err)?;
        if expected.is_none() {
            for group in &request.requester_groups {
                tx.execute(
                    "INSERT OR IGNORE INTO request_groups (group_name, request_id) VALUES (?1, ?2)",
                    params![group.as_str(), id],
                )
                .map_err(&err)?;
            }
        }
    }
    match &change.grant_pointer {
        Some(GrantPointerUpdate::Set { grant, expected }) => {
            // A pointer to a grant that has run out by the time this one starts counts as
            // absent: expiry is decided by the clock, not by the sweeper having run.
            let holder: Option<String> = tx
                .query_row(
                    "SELECT request_id FROM active_grants
                     WHERE requester = ?1 AND resource = ?2 AND expires_at > ?3",
                    params![
                        grant.user.as_str(),
                        grant.resource.as_str(),
                        grant.granted_at.as_millis()
                    ],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&err)?;
            if holder != expected.map(|id| id.to_string()) {
                return Err(StoreError::Conflict);
            }
            tx.execute(
                "INSERT OR REPLACE INTO active_grants (requester, resource, request_id, expires_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    grant.user.as_str(),
                    grant.resource.as_str(),
                    grant.request_id.to_string(),
                    grant.expires_at.as_millis(),
                    encode(grant),
                ],
            )
            .map_err(&err)?;
        }
        Some(GrantPointerUpdate::ClearIf { user, resource, request_id }) => {
            tx.execute(
                "DELETE FROM active_grants WHERE requester = ?1 AND resource = ?2 AND request_id = ?3",
                params![user.as_str(), resource.as_str(), request_id.to_string()],
            )
            .map_err(&err)?;
        }
        None => {}
    }
    match &change.pending_pointer {
        Some(PendingPointerUpdate::Set { user, resource, request_id, pending_until, .. }) => {
            tx.execute(
                "INSERT OR REPLACE INTO pending_requests (requester, resource, request_id, pending_until)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    user.as_str(),
                    resource.as_str(),
                    request_id.to_string(),
                    pending_until.as_millis()
                ],
            )
            .map_err(&err)?;
        }
        Some(PendingPointerUpdate::ClearIf { user, resource, request_id }) => {
            tx.execute(
                "DELETE FROM pending_requests WHERE requester = ?1 AND resource = ?2 AND request_id = ?3",
                params![user.as_str(), resource.as_str(), request_id.to_string()],
            )
            .map_err(&err)?;
        }
        Some(PendingPointerUpdate::Vacant { .. }) | None => {}
    }
    for event in &change.audit {
        insert_audit(&tx, path, event)?;
    }
    for item in &change.outbox {
        tx.execute(
            "INSERT INTO outbox (id, state, next_at, data) VALUES (?1, 'pending', ?2, ?3)",
            params![item.id.to_string(), item.next_attempt_at.as_millis(), encode(item)],
        )
        .map_err(&err)?;
    }
    tx.commit().map_err(&err)
}

pub(super) fn insert_audit(
    conn: &Connection,
    path: &Path,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit (id, at, actor, resource, request_id, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            event.id.to_string(),
            event.at.as_millis(),
            event.actor.key(),
            // Session events name neither: "" matches no resource or request filter.
            event.resource.as_ref().map_or("", |r| r.as_str()),
            event.request_id.map(|id| id.to_string()).unwrap_or_default(),
            encode(event),
        ],
    )
    .map_err(sqlite_error(path))?;
    Ok(())
}
