//! Personal API tokens in Redis (see `access::api_token`): `{P}:token:<id>` strings expiring
//! with the token, and the owner's `{P}:utokens:<user>` set of ids.

use redis::RedisResult;
use redis::aio::ConnectionLike;

use super::keys::Keys;
use crate::api_token::ApiToken;
use crate::ids::{TokenId, UserId};
use crate::store::ChangeEvent;
use crate::store::codec::encode;
use crate::time::Timestamp;

fn decode(json: Option<String>) -> Option<ApiToken> {
    serde_json::from_str(&json?).ok()
}

pub(super) async fn save(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    token: &ApiToken,
) -> RedisResult<()> {
    let key = keys.token(token.id);
    let json = serde_json::to_string(token).expect("a token serialises");
    redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&key)
        .arg(json)
        .arg("PXAT")
        .arg(token.expires_at.as_millis())
        .ignore()
        .sadd(keys.user_tokens(&token.identity.user), token.id.to_string())
        .ignore()
        .query_async(conn)
        .await
}

pub(super) async fn get(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    id: TokenId,
    now: Timestamp,
) -> RedisResult<Option<ApiToken>> {
    let json: Option<String> = redis::cmd("GET").arg(keys.token(id)).query_async(conn).await?;
    // Key expiry is Redis's clock; the token's own expiry is checked against ours too.
    Ok(decode(json).filter(|token| now < token.expires_at))
}

pub(super) async fn of_user(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    user: &UserId,
    now: Timestamp,
) -> RedisResult<Vec<ApiToken>> {
    let set = keys.user_tokens(user);
    let mut ids: Vec<String> = redis::cmd("SMEMBERS").arg(&set).query_async(conn).await?;
    ids.sort();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<TokenId> = ids.iter().filter_map(|id| id.parse().ok()).collect();
    let keys_of: Vec<String> = ids.iter().map(|id| keys.token(*id)).collect();
    let found: Vec<Option<String>> = redis::cmd("MGET").arg(&keys_of).query_async(conn).await?;
    let mut gone = Vec::new();
    let mut tokens = Vec::new();
    for (id, json) in ids.iter().zip(found) {
        match decode(json).filter(|token| now < token.expires_at) {
            Some(token) => tokens.push(token),
            None => gone.push(id.to_string()),
        }
    }
    if !gone.is_empty() {
        // Expired (the key is gone): prune the index as we pass.
        let () = redis::cmd("SREM").arg(&set).arg(gone).query_async(conn).await?;
    }
    Ok(tokens)
}

pub(super) async fn delete(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    id: TokenId,
) -> RedisResult<Option<ApiToken>> {
    let key = keys.token(id);
    let json: Option<String> = redis::cmd("GETDEL").arg(&key).query_async(conn).await?;
    let token = decode(json);
    if let Some(token) = &token {
        let set = keys.user_tokens(&token.identity.user);
        let event = encode(&ChangeEvent::ApiTokenRevoked { id });
        redis::pipe()
            .atomic()
            .srem(set, id.to_string())
            .ignore()
            .publish(keys.events(), event)
            .ignore()
            .query_async::<()>(conn)
            .await?;
    }
    Ok(token)
}
