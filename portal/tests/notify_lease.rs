//! The notification worker in an SMTP brownout: two workers on one Redis store and a relay
//! that takes its time over every message still send each mail exactly once, because a
//! batch never outlasts the lease that keeps the other worker off it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgate_access::clock::SystemClock;
use jitgate_access::config::{self, Config};
use jitgate_access::ids::{GroupName, ResourceName, UserId};
use jitgate_access::outbox::Backoff;
use jitgate_access::policy::Identity;
use jitgate_access::service::AccessService;
use jitgate_access::store::{EmbeddedStore, RedisStore, Store};
use jitgate_portal::notify::routing::ConfigRouting;
use jitgate_portal::notify::{Notifier, Timing};
use jitgate_testkit::RedisServer;
use jitgate_testkit::notify::SmtpServer;

/// New requests, each mailed to the one reviewer.
const MAILS: usize = 10;
/// How long the relay takes over each message.
const RELAY_DELAY: Duration = Duration::from_millis(400);
/// The lease, scaled down from 120 s so that one worker sending the whole outbox in one
/// batch (20 items, as before batches were sized) would outlast it: 10 × 0.4 s = 4 s.
const LEASE: Duration = Duration::from_secs(3);

fn config_in(dir: &Path, store: &str, smtp: &str, webhooks: &str) -> Config {
    std::fs::write(dir.join("secret"), "s".repeat(40)).unwrap();
    std::fs::write(
        dir.join("users.toml"),
        "[[user]]\nemail = \"rev@example.com\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA\"\n",
    )
    .unwrap();
    let text = format!(
        r#"
[server]
listen_http = "127.0.0.1:1"
portal_url = "http://access.localhost"

[identity]
provider = "local"
users_file = "users.toml"

[session]
secret = {{ file = "secret" }}

[roles]
reviewers = {{ emails = ["rev@example.com"] }}

{store}

{smtp}

{webhooks}

[[resource]]
name = "app"
host = "app.example.com"
upstreams = ["http://127.0.0.1:1"]

[resource.policy]
mode = "jit"
durations = ["1h"]
approval = "manual"

[[resource.assignment]]
group = "dev"
"#
    );
    config::parse(&dir.join("jitgate.toml"), &text).unwrap()
}

fn smtp_section(port: u16, timeout: &str) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"jitgate@example.com\"\ntimeout = \"{timeout}\"\n"
    )
}

/// Runs rounds until the outbox is empty; how many items this worker handled. When it
/// returns, nothing it sent is still in flight.
async fn drain(notifier: Notifier, store: Arc<dyn Store>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut handled = 0;
    loop {
        let round = notifier.round().await.unwrap();
        handled += round;
        if round == 0 {
            if store.pending_notifications(1).await.unwrap() == 0 {
                return handled;
            }
            // What is left is leased to the other worker: look again shortly.
            assert!(Instant::now() < deadline, "the outbox did not empty");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn message_id(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.strip_prefix("Message-ID: ").or_else(|| l.strip_prefix("Message-Id: ")))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_a_slow_relay_send_each_mail_once() {
    let redis = RedisServer::start().await;
    let relay = SmtpServer::start_slow(RELAY_DELAY).await;
    let dir = tempfile::tempdir().unwrap();
    let store_section =
        format!("[store]\nbackend = \"redis\"\nurl = \"{}\"\nprefix = \"lease\"\n", redis.url());
    let smtp = smtp_section(relay.port, "1s");
    let config = Arc::new(config_in(dir.path(), &store_section, &smtp, ""));
    let clock = Arc::new(SystemClock);
    let instance = || async {
        let store = RedisStore::connect(&redis.url(), "lease").await.unwrap();
        Arc::new(store) as Arc<dyn Store>
    };
    let store = instance().await;
    let routing = Arc::new(ConfigRouting::new(config.clone(), Vec::new(), Default::default()));
    let service = AccessService::new(store.clone(), clock.clone(), Arc::new(config.policy_set()))
        .with_routing(routing);
    let app = ResourceName::parse("app").unwrap();
    let dev = GroupName::parse("dev").unwrap();
    for i in 0..MAILS {
        let user = UserId::parse(&format!("user{i}@example.com")).unwrap();
        let who = Identity::new(user, [dev.clone()]);
        service.request_access(&who, &app, "deploy", Duration::from_secs(3600)).await.unwrap();
    }
    assert_eq!(store.pending_notifications(100).await.unwrap(), MAILS);

    // A 1 s SMTP timeout and 0.25 s for the store per item: 2 items fit in the 3 s lease.
    let timing = Timing { lease: LEASE, store_allowance: Duration::from_millis(250) };
    let mut workers = Vec::new();
    for _ in 0..2 {
        let store = instance().await;
        let notifier = Notifier::new(&config, store.clone(), clock.clone(), Backoff::default())
            .unwrap()
            .with_timing(timing)
            .unwrap();
        assert_eq!(notifier.batch(), 2);
        workers.push(tokio::spawn(drain(notifier, store)));
    }
    let mut handled = Vec::new();
    for worker in workers {
        handled.push(worker.await.unwrap());
    }
    assert_eq!(handled.iter().sum::<usize>(), MAILS, "no item handled twice: {handled:?}");

    let mails = relay.messages();
    let ids: BTreeSet<String> = mails.iter().map(|m| message_id(m)).collect();
    assert_eq!(mails.len(), MAILS, "each mail sent once: {ids:?}");
    assert_eq!(ids.len(), MAILS, "each under its own Message-ID: {ids:?}");
    assert!(ids.iter().all(|id| id.ends_with("@jitgate>")), "{ids:?}");
    assert!(mails.iter().all(|m| m.contains("rev@example.com")));
}

#[tokio::test]
async fn batches_fit_the_lease_at_the_configured_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = "[store]\nbackend = \"embedded\"\npath = \"jitgate.db\"\n";
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path().join("db")).unwrap());
    let hook = |timeout: &str| {
        format!(
            "[[webhook]]\nname = \"siem\"\nurl = \"http://127.0.0.1:1/\"\ntimeout = \"{timeout}\"\n"
        )
    };
    let batch = |smtp: &str, webhooks: &str| {
        let config = config_in(dir.path(), embedded, smtp, webhooks);
        Notifier::new(&config, store.clone(), Arc::new(SystemClock), Backoff::default())
            .unwrap()
            .batch()
    };
    // The 120 s lease, with 5 s per item for the store besides the send.
    assert_eq!(batch("", ""), 20, "no channel to wait for: the most there is");
    assert_eq!(batch("", &hook("5s")), 11, "120 s / (5 s + 5 s), rounded down, less a hair");
    assert_eq!(batch(&smtp_section(25, "15s"), &hook("5s")), 5, "the default relay: 15 s + 5 s");
    assert_eq!(batch(&smtp_section(25, "60s"), ""), 1, "the slowest channel config allows");
    // A lease one item could outlast is refused.
    let config = config_in(dir.path(), embedded, &smtp_section(25, "60s"), "");
    let notifier =
        Notifier::new(&config, store.clone(), Arc::new(SystemClock), Backoff::default()).unwrap();
    let short = Timing { lease: Duration::from_secs(60), store_allowance: Duration::ZERO };
    assert!(notifier.with_timing(short).is_err());
}
