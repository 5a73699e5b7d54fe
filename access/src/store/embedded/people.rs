//! The people table of the embedded store (see `access::people`).

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::{fetch_json, sqlite_error};
use crate::people::Person;
use crate::store::StoreError;
use crate::store::codec::encode;
use crate::time::Timestamp;

/// Upserts `person`, keeping an earlier `first_seen`. The caller holds the one connection, so
/// the read and the write cannot interleave with another sign-in's.
pub(super) fn record(
    conn: &Connection,
    path: &Path,
    person: &Person,
) -> Result<Person, StoreError> {
    let err = sqlite_error(path);
    let user = person.identity.user.as_str();
    let earlier: Option<i64> = conn
        .query_row("SELECT first_seen FROM people WHERE user = ?1", [user], |row| row.get(0))
        .optional()
        .map_err(&err)?;
    let first_seen = earlier
        .map(Timestamp::from_millis)
        .map_or(person.first_seen, |earlier| earlier.min(person.first_seen));
    let stored = Person { first_seen, ..person.clone() };
    conn.execute(
        "INSERT INTO people (user, first_seen, data) VALUES (?1, ?2, ?3)
         ON CONFLICT (user) DO UPDATE SET first_seen = excluded.first_seen, data = excluded.data",
        params![user, first_seen.as_millis(), encode(&stored)],
    )
    .map_err(&err)?;
    Ok(stored)
}

pub(super) fn list(
    conn: &Connection,
    path: &Path,
    limit: usize,
) -> Result<Vec<Person>, StoreError> {
    let limit = Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX));
    fetch_json(conn, path, "SELECT user, data FROM people ORDER BY user LIMIT ?1", vec![limit])
}
