//! The outbox table of the embedded store: claiming due notifications under a lease and
//! recording how a delivery went.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params};

use super::commit::insert_audit;
use super::{fetch_json, sqlite_error};
use crate::outbox::{Delivery, Notification, Outcome};
use crate::store::StoreError;
use crate::store::codec::encode;
use crate::store::query::MAX_PAGE;
use crate::time::Timestamp;

pub(super) fn claim_in(
    conn: &mut Connection,
    path: &Path,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let err = sqlite_error(path);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
    let mut items: Vec<Notification> = fetch_json(
        &tx,
        path,
        &format!(
            "SELECT id, data FROM outbox WHERE state = 'pending' AND next_at <= ?1
             ORDER BY next_at, id LIMIT {}",
            limit.min(MAX_PAGE)
        ),
        vec![Value::Integer(now.as_millis())],
    )?;
    let until = now.plus(lease).as_millis();
    for item in &mut items {
        tx.execute(
            "UPDATE outbox SET next_at = ?1 WHERE id = ?2",
            params![until, item.id.to_string()],
        )
        .map_err(&err)?;
    }
    tx.commit().map_err(&err)?;
    Ok(items)
}

pub(super) fn finish_in(
    conn: &mut Connection,
    path: &Path,
    item: &Notification,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let err = sqlite_error(path);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
    let id = item.id.to_string();
    match outcome {
        Outcome::Delivered => {
            tx.execute("DELETE FROM outbox WHERE id = ?1", [&id]).map_err(&err)?;
        }
        Outcome::RetryAt { at, error } => {
            let mut next = item.clone();
            next.attempts += 1;
            next.next_attempt_at = *at;
            next.last_error = Some(error.clone());
            tx.execute(
                "UPDATE outbox SET next_at = ?1, data = ?2 WHERE id = ?3",
                params![at.as_millis(), encode(&next), id],
            )
            .map_err(&err)?;
        }
        Outcome::GaveUp { at, error, audit } => {
            let mut failed = item.clone();
            failed.attempts += 1;
            failed.last_error = Some(error.clone());
            failed.delivery = Delivery::Failed { at: *at };
            tx.execute(
                "UPDATE outbox SET state = 'failed', data = ?1 WHERE id = ?2",
                params![encode(&failed), id],
            )
            .map_err(&err)?;
            insert_audit(&tx, path, audit)?;
        }
    }
    tx.commit().map_err(&err)
}
