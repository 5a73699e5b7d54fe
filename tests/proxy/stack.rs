//! One jitgate deployment for a test: real Redis, a real upstream, the real `jitgate serve`
//! binary (one or more instances), and the test's own handle on the store and tokens, standing
//! in for the portal until it exists.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::config;
use jitgate_access::policy::Identity;
use jitgate_access::service::AccessService;
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{RedisStore, Store};
use jitgate_access::token::TokenKeys;
use jitgate_testkit::config::{ConfigBuilder, Resource};
use jitgate_testkit::redis_sentinel::SentinelGroup;
use jitgate_testkit::upstream::EchoUpstream;
use jitgate_testkit::{Jitgate, RedisServer, free_port};

pub const SECRET: &str = "proxy-test-session-secret-0123456789abcdef";

pub struct Instance {
    pub port: u16,
    pub ops_port: u16,
    pub jitgate: Jitgate,
}

pub struct Stack {
    /// First, so instances stop (and can print their logs) before the directory goes.
    pub instances: Vec<Instance>,
    /// The Redis server, or with [`Stack::start_sentinel`] the group's first primary.
    pub redis: RedisServer,
    /// The replicas and sentinels, with [`Stack::start_sentinel`].
    pub sentinels: Option<SentinelGroup>,
    pub upstream: EchoUpstream,
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub service: AccessService,
    pub keys: TokenKeys,
}

/// The test config: plain HTTP on `port`, or, with `tls` (HTTP port, certificate, key), HTTPS
/// on `port` with the HTTP port redirecting to it.
pub fn config_text(
    port: u16,
    ops_port: u16,
    upstream: &str,
    tls: Option<(u16, &str, &str)>,
) -> String {
    let listeners = match tls {
        None => ConfigBuilder::new().listen_http(port),
        Some((http_port, cert, key)) => {
            ConfigBuilder::new().listen_https(http_port, port, cert, key)
        }
    };
    config(listeners, port, ops_port, upstream).build()
}

/// The stack's deployment on `listeners`, browsers reaching it on `port`: `app` (manual for
/// `dev`, auto-approved, pausable and extendable for `sre`, auto-approved starting on first
/// use, claimed within 2s, for `ops`) and `wiki` (standing, for everyone) on the Redis store.
pub fn config(listeners: ConfigBuilder, port: u16, ops_port: u16, upstream: &str) -> ConfigBuilder {
    listeners
        .ops(ops_port)
        .server("shutdown_grace = \"3s\"")
        .redis_url_file("redis.url", "proxytest")
        .resource(
            Resource::local("app", port)
                .upstream(upstream)
                .policy("durations = [\"1h\"]\napproval = \"manual\"")
                .group("dev")
                .assignment(
                    "group = \"sre\"\napproval = \"auto\"\nallow_pause = true\nallow_extension = true",
                )
                .assignment(
                    "group = \"ops\"\napproval = \"auto\"\nstarts = \"on_first_use\"\nclaim_within = \"2s\"",
                ),
        )
        .resource(Resource::local("wiki", port).upstream(upstream).standing().group("*"))
}

pub fn person(email: &str, groups: &[&str]) -> Identity {
    Identity::new(email.parse().unwrap(), groups.iter().map(|g| g.parse().unwrap()))
}

impl Stack {
    pub async fn start(instances: usize) -> Self {
        Self::assemble(RedisServer::start().await, None, instances).await
    }

    /// The stack on a Sentinel-monitored primary and replicas (`redis+sentinel://`).
    pub async fn start_sentinel(instances: usize) -> Self {
        let (primary, group) = SentinelGroup::start().await;
        Self::assemble(primary, Some(group), instances).await
    }

    async fn assemble(
        redis: RedisServer,
        sentinels: Option<SentinelGroup>,
        instances: usize,
    ) -> Self {
        let url = sentinels.as_ref().map_or_else(|| redis.url(), SentinelGroup::url);
        let upstream = EchoUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("session.secret"), SECRET).unwrap();
        std::fs::write(dir.path().join("redis.url"), &url).unwrap();
        std::fs::write(
            dir.path().join("users.toml"),
            "[[user]]\nemail = \"admin@example.com\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA\"\n",
        )
        .unwrap();
        // On a replicated primary, every write waits for the replica, as jitgate's do.
        let replicas = u32::from(sentinels.is_some());
        let store: Arc<dyn Store> = Arc::new(
            RedisStore::connect(&url, "proxytest").await.unwrap().wait_for_replicas(replicas),
        );
        let mut stack = Stack {
            redis,
            sentinels,
            upstream,
            dir,
            instances: Vec::new(),
            store: store.clone(),
            service: AccessService::new(store, Arc::new(SystemClock), Arc::default()),
            keys: TokenKeys::new(SECRET.as_bytes()),
        };
        for _ in 0..instances {
            stack.add_instance().await;
        }
        // Policies are the same in every instance's config (only ports differ).
        let policies_path = stack.dir.path().join("policies.toml");
        let text = config_text(free_port(), free_port(), &stack.upstream.url(), None);
        std::fs::write(&policies_path, text).unwrap();
        let policies = config::load(&policies_path).unwrap().policy_set();
        stack.service =
            AccessService::new(stack.store.clone(), Arc::new(SystemClock), Arc::new(policies));
        stack
    }

    fn config_path(&self, instance: usize) -> PathBuf {
        self.dir.path().join(format!("jitgate-{instance}.toml"))
    }

    pub async fn add_instance(&mut self) {
        let (port, ops_port) = (free_port(), free_port());
        let path = self.config_path(self.instances.len());
        let mut config = config_text(port, ops_port, &self.upstream.url(), None);
        if self.sentinels.is_some() {
            config = config.replacen(
                "prefix = \"proxytest\"",
                "prefix = \"proxytest\"\nwait_for_replicas = 1",
                1,
            );
        }
        std::fs::write(&path, config).unwrap();
        let jitgate = Jitgate::serve(env!("CARGO_BIN_EXE_jitgate"), &path, &[], port).await;
        self.instances.push(Instance { port, ops_port, jitgate });
    }

    /// Runs `jitgate serve` on a config of the test's own (written as `name`), waiting until
    /// `port` listens. The process ends with the returned handle.
    pub async fn serve(&self, name: &str, config: &str, port: u16) -> Jitgate {
        self.serve_with(name, config, &[], port).await
    }

    /// [`Stack::serve`] with more arguments after `serve` (e.g. `--role proxy`).
    pub async fn serve_with(&self, name: &str, config: &str, args: &[&str], port: u16) -> Jitgate {
        let path = self.dir.path().join(name);
        std::fs::write(&path, config).unwrap();
        Jitgate::serve(env!("CARGO_BIN_EXE_jitgate"), &path, args, port).await
    }

    pub fn port(&self) -> u16 {
        self.instances[0].port
    }

    pub fn host(&self, resource: &str) -> String {
        format!("{resource}.localhost:{}", self.port())
    }

    /// An hour on `app` for `who`, who must be in a group with automatic approval (`sre`).
    pub async fn grant_app(&self, who: &Identity) -> jitgate_access::request::AccessRequest {
        let app = "app".parse().unwrap();
        self.service.request_access(who, &app, "r", Duration::from_secs(3600)).await.unwrap()
    }

    /// Signs `who` in as the portal would and returns the session cookie for `resource`'s host.
    pub async fn sign_in(&self, who: &Identity, resource: &str) -> (SessionId, String) {
        self.sign_in_on(who, &self.host(resource)).await
    }

    /// Like [`Stack::sign_in`], for any host (an instance the test started itself).
    pub async fn sign_in_on(&self, who: &Identity, host: &str) -> (SessionId, String) {
        self.session_on(who, host).await.unwrap()
    }

    /// Like [`Stack::sign_in`]; `None` while the store cannot take the session.
    pub async fn try_sign_in(&self, who: &Identity, resource: &str) -> Option<(SessionId, String)> {
        self.session_on(who, &self.host(resource)).await.ok()
    }

    async fn session_on(
        &self,
        who: &Identity,
        host: &str,
    ) -> Result<(SessionId, String), jitgate_access::store::StoreError> {
        let now = SystemClock.now();
        let session = Session {
            id: SessionId::random(),
            identity: who.clone(),
            created_at: now,
            expires_at: now.plus(Duration::from_secs(3600)),
        };
        self.store.create_session(&session).await?;
        let cookie = self.keys.session_cookie(&session.id, host, session.expires_at);
        Ok((session.id, format!("jitgate_session={cookie}")))
    }
}
