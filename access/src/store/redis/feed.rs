//! The change feed over Redis pub/sub: the `{P}:events` channel carries change events
//! (and heartbeats) to every instance.

use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, RedisStore};
use crate::store::codec::{decode, encode};
use crate::store::{ChangeEvent, ChangeFeed, StoreError};

const FEED_CAPACITY: usize = 1024;

pub(super) async fn subscribe(store: &RedisStore) -> Result<ChangeFeed, StoreError> {
    let mut pubsub = store
        .bounded(CONNECT_TIMEOUT, "subscribing", store.conn.client().await.get_async_pubsub())
        .await?;
    let channel = store.keys.events();
    store.bounded(RESPONSE_TIMEOUT, "subscribing", pubsub.subscribe(&channel)).await?;
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

pub(super) async fn publish_heartbeat(
    store: &RedisStore,
    instance: &str,
    beat: u64,
) -> Result<(), StoreError> {
    let event = encode(&ChangeEvent::Heartbeat { instance: instance.to_owned(), beat });
    let mut conn = store.conn.clone();
    let publishing = conn.publish::<_, _, ()>(store.keys.events(), event);
    store.bounded(RESPONSE_TIMEOUT, "publishing a heartbeat", publishing).await
}
