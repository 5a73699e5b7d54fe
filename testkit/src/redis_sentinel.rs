//! A real Redis high-availability group for failover tests: a primary, two replicas and three
//! sentinels (`redis-server --sentinel`), all on free loopback ports, killed when dropped.
//! Sentinels decide quickly here (down after 1 s), so a failover takes a few seconds.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::RedisServer;

/// The master name the sentinels monitor.
pub const MASTER: &str = "jitgate";

/// The replica and the sentinels; the primary is handed out apart, to be stopped, frozen or
/// restarted by the test like any [`RedisServer`].
pub struct SentinelGroup {
    /// Two, so that after a failover the new primary still has a replica to acknowledge
    /// writes (`store.wait_for_replicas = 1`).
    pub replicas: Vec<RedisServer>,
    pub sentinel_ports: Vec<u16>,
    _sentinels: Vec<Child>,
    _dir: tempfile::TempDir,
}

/// What `redis-cli -p <port> <args>` printed; empty when it failed.
pub async fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await;
    match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).into(),
        Ok(_) => String::new(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            panic!("redis-cli is not installed: run scripts/test (it installs redis-tools)")
        }
        Err(error) => panic!("cannot run redis-cli: {error}"),
    }
}

/// A field of `SENTINEL MASTER`'s answer (name and value on alternate lines).
fn field<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = answer.lines();
    while let Some(line) = lines.next() {
        if line == name {
            return lines.next();
        }
    }
    None
}

impl SentinelGroup {
    /// Starts the group and waits until every sentinel sees the replicas and the two other
    /// sentinels, so a failover can be authorised. The primary comes first.
    pub async fn start() -> (RedisServer, Self) {
        let primary = RedisServer::start().await;
        let primary_port = primary.port.to_string();
        let mut replicas = Vec::new();
        for _ in 0..2 {
            replicas
                .push(RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary_port]).await);
        }
        crate::wait_until("the replicas to be in sync", Duration::from_secs(30), || async {
            cli(primary.port, &["INFO", "replication"]).await.matches("state=online").count() == 2
        })
        .await;
        let dir = tempfile::tempdir().expect("a temp dir for the sentinels");
        let mut sentinels = Vec::new();
        let mut sentinel_ports = Vec::new();
        for index in 0..3 {
            let port = crate::free_port();
            let config = dir.path().join(format!("sentinel-{index}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 5000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir = dir.path().display()
            );
            std::fs::write(&config, text).expect("write a sentinel config");
            let child = Command::new("redis-server")
                .arg(&config)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("start redis-server --sentinel");
            sentinels.push(child);
            sentinel_ports.push(port);
        }
        let group = Self { replicas, sentinel_ports, _sentinels: sentinels, _dir: dir };
        for &port in &group.sentinel_ports {
            crate::wait_until(
                "a sentinel to see the replicas and the other sentinels",
                Duration::from_secs(30),
                || async move {
                    let answer = cli(port, &["SENTINEL", "MASTER", MASTER]).await;
                    field(&answer, "num-slaves") == Some("2")
                        && field(&answer, "num-other-sentinels") == Some("2")
                },
            )
            .await;
        }
        (primary, group)
    }

    /// The store URL naming the group: `redis+sentinel://…/jitgate`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> =
            self.sentinel_ports.iter().map(|port| format!("127.0.0.1:{port}")).collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// The port the sentinels currently name as the primary's.
    pub async fn primary_port(&self) -> Option<u16> {
        let answer =
            cli(self.sentinel_ports[0], &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER]).await;
        answer.lines().nth(1).and_then(|port| port.trim().parse().ok())
    }
}
