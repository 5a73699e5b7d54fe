//! The api_tokens table of the embedded store (see `access::api_token`).

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::{fetch_json, sqlite_error};
use crate::api_token::ApiToken;
use crate::ids::{TokenId, UserId};
use crate::store::StoreError;
use crate::store::codec::encode;
use crate::time::Timestamp;

pub(super) fn save(conn: &Connection, path: &Path, token: &ApiToken) -> Result<(), StoreError> {
    let err = sqlite_error(path);
    // Expired tokens are of no use to anyone; clear them out as new ones arrive.
    conn.execute("DELETE FROM api_tokens WHERE expires_at <= ?1", [token.created_at.as_millis()])
        .map_err(&err)?;
    conn.execute(
        "INSERT INTO api_tokens (id, user, expires_at, data) VALUES (?1, ?2, ?3, ?4)",
        params![
            token.id.to_string(),
            token.identity.user.as_str(),
            token.expires_at.as_millis(),
            encode(token)
        ],
    )
    .map_err(&err)?;
    Ok(())
}

pub(super) fn get(
    conn: &Connection,
    path: &Path,
    id: TokenId,
    now: Timestamp,
) -> Result<Option<ApiToken>, StoreError> {
    let sql = "SELECT id, data FROM api_tokens WHERE id = ?1 AND expires_at > ?2";
    let params = vec![Value::Text(id.to_string()), Value::Integer(now.as_millis())];
    Ok(fetch_json(conn, path, sql, params)?.pop())
}

pub(super) fn of_user(
    conn: &Connection,
    path: &Path,
    user: &UserId,
    now: Timestamp,
) -> Result<Vec<ApiToken>, StoreError> {
    let sql = "SELECT id, data FROM api_tokens WHERE user = ?1 AND expires_at > ?2 ORDER BY id";
    fetch_json(
        conn,
        path,
        sql,
        vec![Value::Text(user.to_string()), Value::Integer(now.as_millis())],
    )
}

pub(super) fn delete(
    conn: &Connection,
    path: &Path,
    id: TokenId,
) -> Result<Option<ApiToken>, StoreError> {
    let found: Option<ApiToken> = fetch_json(
        conn,
        path,
        "SELECT id, data FROM api_tokens WHERE id = ?1",
        vec![Value::Text(id.to_string())],
    )?
    .pop();
    conn.execute("DELETE FROM api_tokens WHERE id = ?1", [id.to_string()])
        .map_err(sqlite_error(path))?;
    Ok(found)
}
