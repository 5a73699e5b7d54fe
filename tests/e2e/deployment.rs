//! What a scenario runs against: the peers a company already has (an OpenID provider, Redis,
//! a mail relay, the app behind jitgate) and one or more `jitgate serve` processes with their
//! configs, all on free loopback ports and all stopped when the test ends.
//!
//! [`Stack`] is the usual single-process deployment. Scenarios with several jitgate processes
//! (e.g. `--role proxy` instances and a `--role portal` sharing one Redis) start [`Peers`]
//! themselves, build each config from [`config`], and start each
//! process with [`Deployment::serve`].

use std::path::PathBuf;

use jitgate_testkit::config::{ConfigBuilder, Resource};
use jitgate_testkit::notify::SmtpServer;
use jitgate_testkit::oidc::{OidcClient, OidcProvider, OidcUser};
use jitgate_testkit::upstream::EchoUpstream;
use jitgate_testkit::{Jitgate, RedisServer, free_port};

/// The people at the IdP. Any password signs in at its development login form.
pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
pub const DAVE: &str = "dave@example.com";

const CLIENT_SECRET: &str = "e2e-oidc-client-secret";

fn people() -> Vec<OidcUser> {
    let person = |sub: &str, email: &str, group: &str, name: &str| OidcUser {
        sub: sub.into(),
        email: email.into(),
        groups: vec![group.into()],
        name: name.into(),
    };
    vec![
        // Asks for access; a reviewer decides.
        person("u-alice", ALICE, "dev", "Alice Developer"),
        // Asks for access and gets it at once.
        person("u-bob", BOB, "sre", "Bob SRE"),
        // Reviews everything (the global reviewers are the `security` group).
        person("u-dave", DAVE, "security", "Dave Reviewer"),
    ]
}

/// The services around jitgate, each on its own free port.
pub struct Peers {
    /// The port browsers reach jitgate on (`app.localhost`, `access.localhost`).
    pub port: u16,
    pub idp: OidcProvider,
    pub redis: RedisServer,
    pub smtp: SmtpServer,
    pub upstream: EchoUpstream,
}

impl Peers {
    /// Peers for a deployment that browsers reach on `port`: the IdP knows jitgate's callback
    /// there.
    pub async fn start(port: u16) -> Self {
        let client = OidcClient {
            client_id: "jitgate".into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![format!("http://access.localhost:{port}/auth/callback")],
            post_logout_redirect_uris: vec![format!(
                "http://access.localhost:{port}/auth/signed-out"
            )],
        };
        let idp = OidcProvider::start(vec![client], people()).await;
        let redis = RedisServer::start().await;
        let smtp = SmtpServer::start().await;
        let upstream = EchoUpstream::start().await;
        Self { port, idp, redis, smtp, upstream }
    }
}

/// The deployment's config for a process listening on `listen` (ops on `ops`) that browsers
/// reach on the peers' port: sign-in at the IdP, sessions, reviewers, the Redis store, mail,
/// and the app (the echo upstream) with its policy. A split role adds its `[server]` line.
/// Secrets are read from files [`Deployment::new`] writes.
pub fn config(peers: &Peers, listen: u16, ops: u16) -> ConfigBuilder {
    ConfigBuilder::new()
        .listen_behind(listen, peers.port)
        .ops(ops)
        .oidc_identity(peers.idp.issuer(), "jitgate", "client.secret")
        // jitgate cannot list an IdP group's members, so the reviewer to mail is named by
        // email too.
        .role("reviewers", &format!(r#"{{ groups = ["security"], emails = ["{DAVE}"] }}"#))
        .redis(&peers.redis.url(), "e2e")
        .resource(
            Resource::local("app", peers.port)
                .upstream(&peers.upstream.url())
                .policy(r#"durations = ["15m", "1h"]"#)
                // One minute, the shortest grant jitgate allows, lets a test watch a grant
                // expire.
                .policy("allow_custom_duration = true")
                .policy(r#"max_duration = "8h""#)
                .policy(r#"approval = "manual""#)
                .policy("reason_required = true")
                .group("dev")
                .assignment("group = \"sre\"\napproval = \"auto\""),
        )
        .section(&format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             from = \"jitgate <jitgate@example.com>\"",
            peers.smtp.port
        ))
}

/// A scratch directory of configs and the jitgate processes running them.
pub struct Deployment {
    /// Dropped first: each prints its log if the test failed, while the directory still exists.
    instances: Vec<Jitgate>,
    dir: tempfile::TempDir,
}

impl Deployment {
    /// An empty directory holding the secrets [`config`] refers to.
    pub fn new() -> Self {
        let deployment =
            Self { instances: Vec::new(), dir: tempfile::tempdir().expect("a temp dir") };
        deployment.write("client.secret", CLIENT_SECRET);
        deployment.write("session.secret", "e2e-session-secret-0123456789abcdefghijklmn");
        deployment
    }

    /// Writes `contents` to `name` in the directory; its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Writes `config` to `name` and runs `jitgate serve --config name args…` (e.g.
    /// `["--role", "proxy"]`) until `ready_port` accepts connections. Several processes may
    /// run side by side, each on its own config.
    pub async fn serve(
        &mut self,
        name: &str,
        config: &str,
        args: &[&str],
        ready_port: u16,
    ) -> &mut Jitgate {
        let path = self.write(name, config);
        let jitgate = Jitgate::serve(env!("CARGO_BIN_EXE_jitgate"), &path, args, ready_port).await;
        self.instances.push(jitgate);
        self.instances.last_mut().expect("the process just started")
    }
}

/// The usual deployment: one `jitgate serve` (proxy and portal in one process) on Redis, in
/// front of the echo upstream.
pub struct Stack {
    pub port: u16,
    /// Declared first, so jitgate stops (and shows its log on failure) before its peers.
    _deployment: Deployment,
    pub peers: Peers,
}

impl Stack {
    /// In front of the echo upstream.
    pub async fn start() -> Self {
        Self::start_with(|_, config| config).await
    }

    /// [`Stack::start`] with one more resource, `ops` in front of the same upstream for group
    /// `dev`: one preset (1h), manual approval, and `policy` lines on top.
    pub async fn start_with_ops(policy: &[&str]) -> Self {
        Self::start_with(|peers, config| {
            let ops = Resource::local("ops", peers.port)
                .upstream(&peers.upstream.url())
                .policy(r#"durations = ["1h"]"#)
                .policy(r#"approval = "manual""#);
            config.resource(policy.iter().fold(ops, |ops, line| ops.policy(line)).group("dev"))
        })
        .await
    }

    /// [`Stack::start`] with the config changed by `change` (e.g. another resource), given
    /// the peers.
    pub async fn start_with(change: impl FnOnce(&Peers, ConfigBuilder) -> ConfigBuilder) -> Self {
        let port = free_port();
        let peers = Peers::start(port).await;
        let config = change(&peers, config(&peers, port, free_port())).build();
        let mut deployment = Deployment::new();
        deployment.serve("jitgate.toml", &config, &[], port).await;
        Self { port, _deployment: deployment, peers }
    }

    /// [`Stack::start`] with a second app, `name`, in front of the same echo upstream, its
    /// policy and assignments added by `policy`, and the config's other sections by `more`.
    pub async fn with_app(
        name: &str,
        policy: impl FnOnce(Resource) -> Resource,
        more: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Self {
        Self::start_with(|peers, config| {
            let app = Resource::local(name, peers.port).upstream(&peers.upstream.url());
            more(config.resource(policy(app)))
        })
        .await
    }

    /// `http://{host}.localhost:{port}{path}`: `app` or `access`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}.localhost:{}{path}", self.port)
    }
}

/// A file of the repository's `config/` folder.
fn shipped(name: &str) -> String {
    let path = format!("{}/config/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// `config/quickstart.toml` as shipped, running: moved to free ports, its store and mail
/// folder inside the deployment's directory. The deployment and the port browsers use.
pub async fn quickstart() -> (Deployment, u16) {
    let (port, ops, demo) = (free_port(), free_port(), free_port());
    let config = shipped("quickstart.toml")
        .replace("8080", &port.to_string())
        .replace("9090", &ops.to_string())
        .replace("8081", &demo.to_string())
        .replace("../data/quickstart.db", "quickstart.db")
        .replace("../data/mail", "mail");
    let mut deployment = Deployment::new();
    deployment.write("quickstart-users.toml", &shipped("quickstart-users.toml"));
    deployment.serve("quickstart.toml", &config, &[], port).await;
    let listens = || jitgate_testkit::listening(demo);
    jitgate_testkit::wait_until(
        "the demo app to listen",
        std::time::Duration::from_secs(20),
        listens,
    )
    .await;
    (deployment, port)
}
