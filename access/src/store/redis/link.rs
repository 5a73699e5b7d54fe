//! The store's connection to the Redis primary: one server named by a `redis://` URL, or the
//! current master of a Sentinel-monitored group named by a `redis+sentinel://` URL.
//!
//! With Sentinel, the primary can change under a running jitgate. [`Link`] keeps one
//! `ConnectionManager` to the address the sentinels last named; when a command fails the way a
//! failed-over primary fails (connection refused or dropped, a timeout, `READONLY` from a
//! demoted primary), it asks the sentinels again in the background and, if they name another
//! address, swaps in a manager for it. The failing command itself is not retried: it reaches
//! the caller as an error, so a decision that cannot be proved fails closed, and the next
//! command goes to the new primary. Lookups are spaced [`RESOLVE_INTERVAL`] apart.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};

/// Sentinel lookups at most this often, however many commands fail at once.
const RESOLVE_INTERVAL: Duration = Duration::from_millis(250);
/// One lookup (sentinels asked in turn, the named master's `ROLE` checked) may take this long.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the primary is found, as the store URL says.
pub enum Target {
    /// `redis://` or `rediss://`: this server.
    Direct(Client),
    /// `redis+sentinel://[[user]:password@]host:port[,host:port…]/<master>[/<db>]`: the master
    /// the sentinels at these addresses name. Credentials and db are the master's.
    Sentinel { sentinels: Vec<String>, master: String, node: SentinelNodeConnectionInfo },
}

impl Target {
    /// The URL's target; the reason when it names none.
    pub fn parse(url: &str) -> Result<Self, String> {
        let Some(rest) = url.strip_prefix("redis+sentinel://") else {
            return Client::open(url).map(Target::Direct).map_err(|e| e.to_string());
        };
        let (credentials, rest) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (master, db) = path.split_once('/').unwrap_or((path, ""));
        if master.is_empty() {
            return Err(
                "name the master after the sentinels: redis+sentinel://host:26379,…/<master>"
                    .into(),
            );
        }
        let sentinels: Vec<String> = hosts
            .split(',')
            .filter(|host| !host.is_empty())
            .map(|host| format!("redis://{host}"))
            .collect();
        if sentinels.is_empty() {
            return Err("list at least one sentinel: redis+sentinel://host:26379,…/<master>".into());
        }
        for sentinel in &sentinels {
            sentinel.as_str().into_connection_info().map_err(|e| format!("{sentinel}: {e}"))?;
        }
        // The master's settings (credentials, db), read by the crate's own URL parser.
        let master_url = match credentials {
            Some(credentials) => format!("redis://{credentials}@sentinel-master/{db}"),
            None => format!("redis://sentinel-master/{db}"),
        };
        let settings = master_url.as_str().into_connection_info().map_err(|e| e.to_string())?;
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(settings.redis_settings().clone());
        Ok(Target::Sentinel { sentinels, master: master.to_owned(), node })
    }
}

/// The manager in use and the client it was made from (pub/sub needs a connection of its own).
#[derive(Clone)]
struct Current {
    client: Client,
    manager: ConnectionManager,
}

struct Inner {
    sentinel: Option<tokio::sync::Mutex<SentinelClient>>,
    config: ConnectionManagerConfig,
    current: RwLock<Current>,
    /// When the sentinels were last asked.
    last_resolve: Mutex<Option<Instant>>,
}

/// A connection to the primary that follows a Sentinel failover; cheap to clone, and usable
/// wherever `redis` takes a connection (`query_async(&mut link.clone())`).
#[derive(Clone)]
pub struct Link(Arc<Inner>);

impl Link {
    /// Connects to the target's primary (asking the sentinels first).
    pub async fn connect(target: Target, config: ConnectionManagerConfig) -> Result<Self, String> {
        let (sentinel, client) = match target {
            Target::Direct(client) => (None, client),
            Target::Sentinel { sentinels, master, node } => {
                let mut sentinel = SentinelClient::build(
                    sentinels,
                    master,
                    Some(node),
                    SentinelServerType::Master,
                )
                .map_err(|e| e.to_string())?;
                let client = ask(&mut sentinel).await?;
                (Some(tokio::sync::Mutex::new(sentinel)), client)
            }
        };
        let manager = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self(Arc::new(Inner {
            sentinel,
            config,
            current: RwLock::new(Current { client, manager }),
            last_resolve: Mutex::new(Some(Instant::now())),
        })))
    }

    /// A client for the primary, for connections of their own (pub/sub). With Sentinel the
    /// sentinels are asked first, so a feed that ended with a failed primary resubscribes on
    /// the new one.
    pub async fn client(&self) -> Client {
        if self.0.sentinel.is_some() {
            self.resolve().await;
        }
        self.current().client
    }

    fn current(&self) -> Current {
        self.0.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// After a failed command: look for a new primary in the background if it failed the way a
    /// failed-over primary does.
    fn failed(&self, error: &RedisError) {
        let moved = error.is_io_error()
            || error.is_connection_refusal()
            || error.is_connection_dropped()
            || error.is_timeout()
            || error.code() == Some("READONLY");
        if moved && self.0.sentinel.is_some() {
            let link = self.clone();
            tokio::spawn(async move { link.resolve().await });
        }
    }

    /// Asks the sentinels where the primary is, unless that happened moments ago; switches to
    /// it when it moved.
    async fn resolve(&self) {
        let Some(sentinel) = &self.0.sentinel else { return };
        {
            let mut last = self.0.last_resolve.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < RESOLVE_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let client = match ask(&mut *sentinel.lock().await).await {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(%error, "the Redis sentinels do not name a usable primary");
                return;
            }
        };
        let address = client.get_connection_info().addr().to_string();
        if self.current().client.get_connection_info().addr().to_string() == address {
            return;
        }
        match ConnectionManager::new_with_config(client.clone(), self.0.config.clone()).await {
            Ok(manager) => {
                tracing::warn!(primary = %address, "the Redis primary moved (Sentinel failover); using the new one");
                *self.0.current.write().unwrap_or_else(|p| p.into_inner()) =
                    Current { client, manager };
            }
            Err(error) => {
                tracing::warn!(%error, primary = %address, "cannot connect to the new Redis primary")
            }
        }
    }
}

/// The master's client as the sentinels name it, its `ROLE` checked by the crate.
async fn ask(sentinel: &mut SentinelClient) -> Result<Client, String> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, sentinel.async_get_client()).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("timed out asking the sentinels".into()),
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let mut manager = self.current().manager;
        Box::pin(async move {
            let result = manager.req_packed_command(cmd).await;
            if let Err(error) = &result {
                self.failed(error);
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let mut manager = self.current().manager;
        Box::pin(async move {
            let result = manager.req_packed_commands(pipeline, offset, count).await;
            if let Err(error) = &result {
                self.failed(error);
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.current().manager.get_db()
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn sentinel_urls_name_the_sentinels_and_the_master() {
        let Target::Sentinel { sentinels, master, .. } =
            Target::parse("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/jitgate/2")
                .unwrap()
        else {
            panic!("a sentinel target");
        };
        assert_eq!(sentinels, ["redis://10.0.0.1:26379", "redis://10.0.0.2:26380"]);
        assert_eq!(master, "jitgate");
        assert!(matches!(Target::parse("redis://127.0.0.1:6379"), Ok(Target::Direct(_))));
    }

    #[test]
    fn sentinel_urls_without_master_or_sentinels_are_refused() {
        for bad in ["redis+sentinel://10.0.0.1:26379", "redis+sentinel:///jitgate"] {
            let error = Target::parse(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(error.contains("redis+sentinel://host:26379"), "{bad}: {error}");
        }
    }
}
