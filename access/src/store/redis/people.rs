//! Person records in Redis (see `access::people`): `{P}:person:<user>` hashes and the
//! `{P}:people` index, as laid out in the module docs of the Redis store.

use redis::RedisResult;
use redis::aio::ConnectionLike;

use super::keys::Keys;
use crate::ids::UserId;
use crate::people::Person;
use crate::time::Timestamp;

/// Upserts `person` in one MULTI: the first sign-in is set only if there is none (`HSETNX`),
/// the rest replaced; the record as stored.
pub(super) async fn record(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    person: &Person,
) -> RedisResult<Person> {
    let key = keys.person(&person.identity.user);
    let json = serde_json::to_string(person).expect("a person serialises");
    let (first,): (i64,) = redis::pipe()
        .atomic()
        .hset_nx(&key, "f", person.first_seen.as_millis())
        .ignore()
        .hset(&key, "d", json)
        .ignore()
        .zadd(keys.people(), person.identity.user.as_str(), 0)
        .ignore()
        .hget(&key, "f")
        .query_async(conn)
        .await?;
    Ok(Person { first_seen: Timestamp::from_millis(first), ..person.clone() })
}

/// Up to `limit` people in lexical order of their email. A record that does not decode (a
/// newer jitgate's, say) is skipped rather than failing the whole list.
pub(super) async fn list(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    limit: usize,
) -> RedisResult<Vec<Person>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let users: Vec<String> =
        redis::cmd("ZRANGE").arg(keys.people()).arg(0).arg(limit - 1).query_async(conn).await?;
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for user in users.iter().filter_map(|user| user.parse::<UserId>().ok()) {
        pipe.cmd("HMGET").arg(keys.person(&user)).arg("f").arg("d");
    }
    let rows: Vec<(Option<i64>, Option<String>)> = pipe.query_async(conn).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(first, json)| {
            let person: Person = serde_json::from_str(&json?).ok()?;
            Some(Person {
                first_seen: first.map_or(person.first_seen, Timestamp::from_millis),
                ..person
            })
        })
        .collect())
}
