//! Golden tests of the shipped example configs, and the error discipline: every problem names
//! file, line and field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::policy::{AccessMode, Approval, Audience, JitPolicy, Starts};

fn repo_config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config").join(name)
}

fn h(hours: u64) -> Duration {
    Duration::from_secs(hours * 3600)
}

fn m(minutes: u64) -> Duration {
    Duration::from_secs(minutes * 60)
}

fn jit(assignment: &crate::policy::Assignment) -> &JitPolicy {
    match &assignment.mode {
        AccessMode::Jit(policy) => policy,
        AccessMode::Standing => panic!("expected jit for {:?}", assignment.audience),
    }
}

fn group(name: &str) -> Audience {
    Audience::Group(crate::ids::GroupName::parse(name).unwrap())
}

#[test]
fn quickstart_golden() {
    let config = load(&repo_config("quickstart.toml")).unwrap();
    assert_eq!(config.server.listen_http, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(config.server.portal_host, "access.localhost:8080");
    assert!(matches!(&config.identity, IdentityConfig::Local { users, .. } if users.len() == 4));
    assert!(
        matches!(&config.store, StoreConfig::Embedded { path } if path.ends_with("data/quickstart.db"))
    );
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("session.secret is written inline"));

    let [demo] = config.resources.as_slice() else { panic!("one resource") };
    assert_eq!(demo.name.as_str(), "demo");
    assert_eq!(demo.host, "app.localhost:8080");
    assert_eq!(demo.path_prefix, "/");
    assert_eq!(
        demo.upstreams,
        vec![Upstream {
            address: "127.0.0.1:8081".into(),
            tls: false,
            sni: "127.0.0.1".into(),
            verify_cert: true
        }]
    );
    let [engineering, sre] = demo.policy.assignments.as_slice() else { panic!("two assignments") };
    assert_eq!(engineering.audience, group("engineering"));
    let engineering = jit(engineering);
    assert_eq!(engineering.durations, vec![m(15), h(1), h(8)]);
    assert_eq!(engineering.max_duration, h(8));
    assert!(engineering.allow_custom_duration);
    assert_eq!(engineering.approvals_needed(), 1);
    assert_eq!(engineering.pending_timeout, h(24));
    // The sre assignment overrides approval and durations and inherits the rest.
    let sre = jit(sre);
    assert_eq!(sre.approval, Approval::Auto);
    assert_eq!(sre.durations, vec![m(15), h(1)]);
    assert_eq!(sre.max_duration, h(1));
    assert!(sre.allow_custom_duration, "inherited from [resource.policy]");
    assert!(sre.reason_required);

    let table = render_policy_table(&config);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("demo") && l.contains("engineering") && l.contains("manual x1")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("demo") && l.contains("sre") && l.contains("auto")),
        "{table}"
    );
}

/// The production example with its env-based secrets written inline, so the test does not
/// have to mutate the process environment (racy across parallel tests).
fn production_text() -> String {
    let text = std::fs::read_to_string(repo_config("production.example.toml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.split_once("{ env = \"") {
            Some((key, rest)) if !line.trim_start().starts_with('#') => {
                let var = rest.split('"').next().unwrap_or_default();
                let value = if var.contains("REDIS") {
                    "redis://10.0.0.9:6379".to_owned()
                } else {
                    "s".repeat(40)
                };
                format!("{key}\"{value}\"")
            }
            _ => line.to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn production_example_golden() {
    let config = parse(&repo_config("production.example.toml"), &production_text()).unwrap();
    assert!(!config.roles.admins_bypass_jit);
    assert!(
        matches!(&config.identity, IdentityConfig::Oidc { groups_claim, scopes, .. } if groups_claim == "groups" && scopes.len() == 4)
    );
    let IdentityConfig::Oidc { bearer, .. } = &config.identity else { unreachable!() };
    assert_eq!(bearer.audiences, ["jitgate", "https://access.example.com"]);
    assert_eq!(bearer.algorithms, [jsonwebtoken::Algorithm::RS256, jsonwebtoken::Algorithm::ES256]);
    assert!(matches!(&config.store, StoreConfig::Redis { prefix, .. } if prefix == "jitgate-prod"));
    let smtp = config.smtp.as_ref().unwrap();
    assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::StartTls));
    assert_eq!(config.webhooks.len(), 2);
    assert_eq!(config.webhooks[1].format, WebhookFormat::Slack);
    assert_eq!(config.webhooks[1].events, [EventKind::RequestCreated, EventKind::GrantRevoked]);
    assert_eq!(config.server.https.as_ref().unwrap().listen, "0.0.0.0:443".parse().unwrap());
    assert_eq!(config.server.portal_upstream.as_deref(), Some("10.0.0.5:8088"));
    assert_eq!(config.server.portal_listen, Some("10.0.0.5:8088".parse().unwrap()));
    assert_eq!(config.server.shutdown_grace, Duration::from_secs(10));
    assert_eq!(config.server.trusted_proxies, ["10.0.0.0/24".parse::<ipnet::IpNet>().unwrap()]);
    assert_eq!(config.resources[0].websocket_origins, ["https://status.example.com"]);
    assert!(config.resources[0].accept_bearer);
    assert!(!config.resources[1].allow_encoded_slashes);

    let names: Vec<&str> = config.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["grafana", "prod-db-admin", "wiki"]);
    let grafana = &config.resources[0].policy.assignments;
    assert_eq!(grafana[0].audience, Audience::Everyone);
    assert_eq!(jit(&grafana[0]).durations, vec![h(1), h(8), h(12)]);
    assert_eq!(grafana[1].mode, AccessMode::Standing);
    assert_eq!(jit(&grafana[2]).approval, Approval::Auto);
    assert_eq!(jit(&grafana[2]).max_duration, h(12), "inherited");
    assert!(!jit(&grafana[0]).allow_pause, "the resource's default");
    assert!(jit(&grafana[2]).allow_pause, "overridden for sre");
    let table = render_policy_table(&config);
    // The five last columns, PAUSE, EXTEND, BREAK GLASS, SCHEDULE and STARTS, read from the
    // end of each row.
    let tail = |line: &str| -> Vec<String> {
        let cells: Vec<&str> = line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        cells[cells.len() - 5..].iter().map(|c| (*c).to_owned()).collect()
    };
    let header = tail(table.lines().next().unwrap());
    assert_eq!(header, ["PAUSE", "EXTEND", "BREAK GLASS", "SCHEDULE", "STARTS"]);
    let row = |resource: &str, who: &str| {
        tail(table.lines().find(|l| l.starts_with(resource) && l.contains(who)).unwrap())
    };
    assert_eq!(
        row("grafana", " * "),
        ["no", "no", "no", "up to 14d ahead", "on approval"],
        "{table}"
    );
    assert_eq!(
        row("grafana", " sre "),
        ["yes", "up to 1d", "no", "up to 14d ahead", "on approval"]
    );
    let dba_row = row("prod-db-admin", " dba ");
    assert_eq!(
        dba_row,
        ["no", "no", "group:oncall up to 1h", "up to 7d ahead", "on approval"],
        "{table}"
    );
    let backend_row = row("prod-db-admin", " backend ");
    assert_eq!(backend_row[2], "group:backend-oncall up to 30m", "overridden: {table}");
    assert_eq!(backend_row[3], "no", "schedule_ahead = \"off\" overrides: {table}");
    assert_eq!(backend_row[4], "first use within 12h", "inherited: {table}");
    assert!(jit(&grafana[2]).allow_extension);
    assert_eq!(jit(&grafana[2]).max_total, Some(h(24)));

    let db = &config.resources[1];
    assert_eq!(db.path_prefix, "/admin");
    assert_eq!(db.upstreams[0].address, "pgadmin.internal.example.com:443");
    assert!(db.upstreams[0].tls);
    let (dba, backend) = (jit(&db.policy.assignments[0]), jit(&db.policy.assignments[1]));
    assert_eq!(dba.approvals_needed(), 1);
    assert_eq!(backend.approvals_needed(), 2);
    assert_eq!(backend.pending_timeout, h(4));
    assert_eq!(backend.reviewers.emails.len(), 1);
    let rule = dba.break_glass.as_ref().expect("inherited from the resource's policy");
    assert_eq!((rule.groups.len(), rule.max_duration), (1, h(1)));
    assert_eq!(config.resources[2].policy.assignments[0].mode, AccessMode::Standing);
}

/// A small valid config in a temp dir; `resource` is appended as the file's tail.
struct Scratch {
    dir: tempfile::TempDir,
}

const HEAD: &str = r#"[server]
listen_http = "127.0.0.1:8080"
portal_url = "http://access.localhost:8080"

[identity]
provider = "local"
users_file = "users.toml"

[session]
secret = { env = "JITGATE_TEST_NEVER_SET" }
"#;

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "k".repeat(40)).unwrap();
        std::fs::write(
            dir.path().join("users.toml"),
            "[[user]]\nemail = \"a@example.com\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA\"\n",
        )
        .unwrap();
        Self { dir }
    }

    fn parse(&self, tail: &str) -> Result<Config, ConfigError> {
        let text =
            HEAD.replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "{ file = \"secret\" }") + tail;
        parse(&self.dir.path().join("jitgate.toml"), &text)
    }

    /// The single error line for `tail`, with the scratch directory stripped.
    fn error(&self, tail: &str) -> String {
        let message = self.parse(tail).expect_err("the config is invalid").to_string();
        message.replace(&format!("{}/", self.dir.path().display()), "")
    }
}

const RESOURCE: &str = "\n[[resource]]\nname = \"app\"\nhost = \"app.example.com\"\nupstreams = [\"http://10.0.0.1:80\"]\n";

#[test]
fn a_minimal_config_is_valid() {
    let config = Scratch::new().parse(RESOURCE).unwrap();
    assert!(config.resources[0].policy.assignments.is_empty());
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn unknown_keys_are_reported_where_they_are() {
    let scratch = Scratch::new();
    let top = parse(&scratch.dir.path().join("j.toml"), &format!("colour = \"blue\"\n{HEAD}"))
        .err()
        .unwrap()
        .to_string();
    assert!(top.ends_with("j.toml:1: unknown field `colour`, expected one of `server`, `identity`, `session`, `roles`, `store`, `requests`, `notifications`, `smtp`, `webhook`, `resource`"), "{top}");
    assert_eq!(
        scratch.error("[roles]\ncolour = \"blue\"\n"),
        "jitgate.toml:12: unknown field `colour`, expected one of `admins`, `reviewers`, `admins_bypass_jit`"
    );
    let nested =
        format!("{RESOURCE}[[resource.assignment]]\ngroup = \"dev\"\napprovel = \"auto\"\n");
    let error = scratch.error(&nested);
    assert!(error.starts_with("jitgate.toml:18: unknown field `approvel`"), "{error}");
}

#[test]
fn durations_are_checked_with_their_field() {
    let scratch = Scratch::new();
    let over = format!("{RESOURCE}[resource.policy]\nmax_duration = \"9d\"\n");
    assert_eq!(
        scratch.error(&over),
        "jitgate.toml:17: resource \"app\": max_duration \"9d\" exceeds the 7d limit"
    );
    let garbage = format!("{RESOURCE}[resource.policy]\ndurations = [\"1h\", \"soon\"]\n");
    assert!(
        scratch
            .error(&garbage)
            .starts_with("jitgate.toml:17: resource \"app\": durations \"soon\" is not a duration")
    );
    let preset_over_max = format!(
        "{RESOURCE}[resource.policy]\ndurations = [\"1h\", \"12h\"]\nmax_duration = \"8h\"\n"
    );
    assert_eq!(
        scratch.error(&preset_over_max),
        "jitgate.toml:17: resource \"app\": duration \"12h\" exceeds max_duration 8h"
    );
}

#[test]
fn notification_retries_are_configurable_within_bounds() {
    let scratch = Scratch::new();
    let config = scratch.parse(RESOURCE).unwrap();
    assert_eq!(config.notifications.retry, crate::outbox::Backoff::default());
    assert_eq!(config.notifications.remind_before, None);
    let tuned = format!(
        "[notifications]\nmax_attempts = 3\nfirst_retry = \"1s\"\nmax_retry = \"1m\"\nremind_before = \"15m\"\n{RESOURCE}"
    );
    let settings = scratch.parse(&tuned).unwrap().notifications;
    assert_eq!(settings.remind_before, Some(m(15)));
    let backoff = settings.retry;
    assert_eq!((backoff.attempts, backoff.first, backoff.max), (3, Duration::from_secs(1), m(1)));
    assert_eq!(
        scratch.error(&format!("[notifications]\nmax_attempts = 0\n{RESOURCE}")),
        "jitgate.toml:12: notifications.max_attempts must be between 1 and 100"
    );
    assert!(
        scratch
            .error(&format!("[notifications]\nfirst_retry = \"soon\"\n{RESOURCE}"))
            .starts_with("jitgate.toml:12: notifications.first_retry \"soon\" is not a duration")
    );
}

#[test]
fn an_smtp_ca_file_must_exist() {
    let scratch = Scratch::new();
    let smtp =
        "[smtp]\nhost = \"mail.internal\"\nfrom = \"jitgate@example.com\"\nca_file = \"ca.pem\"\n";
    assert_eq!(
        scratch.error(&format!("{smtp}{RESOURCE}")),
        "jitgate.toml:14: smtp.ca_file: ca.pem does not exist"
    );
    std::fs::write(scratch.dir.path().join("ca.pem"), "pem").unwrap();
    let config = scratch.parse(&format!("{smtp}{RESOURCE}")).unwrap();
    assert_eq!(config.smtp.unwrap().ca_file, Some(scratch.dir.path().join("ca.pem")));
}

#[test]
fn notification_timeouts_are_bounded() {
    let scratch = Scratch::new();
    let smtp = "[smtp]\nhost = \"mail.internal\"\nfrom = \"jitgate@example.com\"\n";
    let hook = "[[webhook]]\nname = \"siem\"\nurl = \"https://siem.example.com/in\"\n";
    let config = scratch.parse(&format!("{smtp}{hook}{RESOURCE}")).unwrap();
    assert_eq!(config.smtp.unwrap().timeout, Duration::from_secs(15));
    assert_eq!(config.webhooks[0].timeout, Duration::from_secs(5));
    let tuned = format!("{smtp}timeout = \"1m\"\n{hook}timeout = \"500ms\"\n{RESOURCE}");
    let config = scratch.parse(&tuned).unwrap();
    assert_eq!(config.smtp.unwrap().timeout, super::MAX_NOTIFY_TIMEOUT);
    assert_eq!(config.webhooks[0].timeout, Duration::from_millis(500));
    assert_eq!(
        scratch.error(&format!("{smtp}timeout = \"61s\"\n{RESOURCE}")),
        "jitgate.toml:14: smtp.timeout \"61s\" exceeds the 60s limit"
    );
    assert_eq!(
        scratch.error(&format!("{hook}timeout = \"1h\"\n{RESOURCE}")),
        "jitgate.toml:14: webhook \"siem\": timeout \"1h\" exceeds the 60s limit"
    );
}

#[test]
fn policy_rules_are_enforced() {
    let scratch = Scratch::new();
    let auto_without_reason = format!(
        "{RESOURCE}[[resource.assignment]]\ngroup = \"dev\"\napproval = \"auto\"\nreason_required = false\n"
    );
    assert!(scratch.error(&auto_without_reason).starts_with("jitgate.toml:19: resource \"app\", assignment \"dev\": approval = \"auto\" always requires a reason"));
    let group_in_defaults = format!("{RESOURCE}[resource.policy]\ngroup = \"dev\"\n");
    assert!(
        scratch.error(&group_in_defaults).contains(
            "jitgate.toml:17: resource \"app\": group belongs in a [[resource.assignment]]"
        )
    );
    let twice = format!(
        "{RESOURCE}[[resource.assignment]]\ngroup = \"dev\"\n[[resource.assignment]]\ngroup = \"dev\"\n"
    );
    assert_eq!(
        scratch.error(&twice),
        "jitgate.toml:19: resource \"app\": group \"dev\" is assigned twice"
    );
    let zero = format!("{RESOURCE}[resource.policy]\napprovals_needed = 0\n");
    assert_eq!(
        scratch.error(&zero),
        "jitgate.toml:17: resource \"app\": approvals_needed must be at least 1"
    );
    // Presets are at least 1m; so is the ceiling they and custom durations live under.
    let too_short = format!("{RESOURCE}[resource.policy]\nmax_duration = \"10s\"\n");
    assert!(
        scratch.error(&too_short).starts_with(
            "jitgate.toml:17: resource \"app\": max_duration \"10s\" is shorter than 1m"
        ),
        "{}",
        scratch.error(&too_short)
    );
}

#[test]
fn resources_must_be_unique_and_well_formed() {
    let scratch = Scratch::new();
    let twice = format!("{RESOURCE}{RESOURCE}");
    let error = scratch.error(&twice);
    assert!(error.contains("jitgate.toml:18: resource \"app\" is defined twice"), "{error}");
    assert!(
        error.contains(
            "jitgate.toml:19: resource \"app\": another resource already serves app.example.com/"
        ),
        "{error}"
    );
    let scheme = RESOURCE.replace("app.example.com", "https://app.example.com");
    assert!(scratch.error(&scheme).starts_with(
        "jitgate.toml:14: resource \"app\": host \"https://app.example.com\" must be a host name"
    ));
    let portal = RESOURCE.replace("app.example.com", "access.localhost:8080");
    assert!(scratch.error(&portal).contains("is the portal's host"));
    let upstream = RESOURCE.replace("http://10.0.0.1:80", "10.0.0.1:80");
    assert!(
        scratch.error(&upstream).starts_with(
            "jitgate.toml:15: resource \"app\": upstream \"10.0.0.1:80\" must look like"
        )
    );
}

#[test]
fn path_prefixes_are_canonical_and_edge_settings_are_checked() {
    let scratch = Scratch::new();
    let with = |line: &str| RESOURCE.replace("upstreams =", &format!("{line}\nupstreams ="));
    let trailing = scratch.parse(&with("path_prefix = \"/admin/\"")).unwrap();
    assert_eq!(trailing.resources[0].path_prefix, "/admin", "stored without its trailing slash");
    for hostile in ["/a/../b", "/a//b", "/%61dmin", "/admin;x", "admin", "/./a", "/a b"] {
        let error = scratch.error(&with(&format!("path_prefix = \"{hostile}\"")));
        assert!(error.contains("must be a plain path"), "{hostile}: {error}");
        assert!(error.starts_with("jitgate.toml:15:"), "{hostile}: {error}");
    }
    let origins = scratch.error(&with("websocket_origins = [\"evil.example\"]"));
    assert!(origins.contains("websocket_origins entry \"evil.example\""), "{origins}");
    let listed =
        scratch.parse(&with("websocket_origins = [\"https://Status.Example.com/\"]")).unwrap();
    assert_eq!(listed.resources[0].websocket_origins, ["https://status.example.com"]);
    let proxies = HEAD
        .replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "{ file = \"secret\" }")
        .replace("[server]\n", "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"nope\"]\n");
    let error = parse(&scratch.dir.path().join("jitgate.toml"), &format!("{proxies}{RESOURCE}"))
        .expect_err("a bad CIDR")
        .to_string();
    assert!(
        error.contains(":2: server.trusted_proxies: \"nope\" is not an address or CIDR"),
        "{error}"
    );
}

#[test]
fn secrets_come_from_env_or_file_and_never_show() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.toml"),
        "[[user]]\nemail = \"a@example.com\"\npassword_hash = \"$argon2id$x\"\n",
    )
    .unwrap();
    let missing = parse(&dir.path().join("j.toml"), HEAD).err().unwrap().to_string();
    assert!(
        missing.ends_with(
            "j.toml:10: session.secret: environment variable JITGATE_TEST_NEVER_SET is not set"
        ),
        "{missing}"
    );
    let short = HEAD.replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "\"too-short\"");
    let error = parse(&dir.path().join("j.toml"), &short).err().unwrap().to_string();
    assert!(error.contains("session.secret must be at least 32 bytes"), "{error}");
    assert!(!error.contains("too-short"), "a secret never appears in messages: {error}");
}

#[test]
fn the_users_file_is_validated_with_its_own_lines() {
    let scratch = Scratch::new();
    std::fs::write(
        scratch.dir.path().join("users.toml"),
        "[[user]]\nemail = \"a@example.com\"\npassword_hash = \"plaintext\"\n",
    )
    .unwrap();
    let error = scratch.error(RESOURCE);
    assert!(error.starts_with("jitgate.toml:7: identity.users_file: users.toml:3: user a@example.com: password_hash must be an argon2 hash"), "{error}");
}

#[test]
fn https_needs_its_certificate_pair() {
    let scratch = Scratch::new();
    let text = HEAD
        .replace("listen_http = \"127.0.0.1:8080\"", "listen_https = \"127.0.0.1:8443\"")
        .replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "{ file = \"secret\" }");
    let error = parse(&scratch.dir.path().join("j.toml"), &text).err().unwrap().to_string();
    assert!(
        error.contains(
            "j.toml:2: server.listen_https, server.tls_cert and server.tls_key go together"
        ),
        "{error}"
    );
}

#[test]
fn split_roles_name_where_the_portal_is() {
    let scratch = Scratch::new();
    let with = |server_lines: &str| {
        let text = HEAD
            .replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "{ file = \"secret\" }")
            .replace("[identity]", &format!("{server_lines}\n\n[identity]"));
        let path = scratch.dir.path().join("j.toml");
        parse(&path, &(text + RESOURCE)).map_err(|e| e.to_string())
    };
    let config =
        with("portal_listen = \"10.0.0.5:8088\"\nportal_upstream = \"portal.internal:8088\"")
            .unwrap();
    assert_eq!(config.server.portal_listen, Some("10.0.0.5:8088".parse().unwrap()));
    assert_eq!(config.server.portal_upstream.as_deref(), Some("portal.internal:8088"));

    let clash = with("portal_listen = \"127.0.0.1:8080\"").unwrap_err();
    assert!(
        clash.contains("j.toml:5: server.portal_listen must differ from jitgate's other listeners"),
        "{clash}"
    );
    assert_eq!(config.server.shutdown_grace, Duration::from_secs(10), "the default");
    let grace = with("shutdown_grace = \"30s\"").unwrap();
    assert_eq!(grace.server.shutdown_grace, Duration::from_secs(30));
    for bad in ["1500ms", "6m"] {
        let error = with(&format!("shutdown_grace = \"{bad}\"")).unwrap_err();
        assert!(error.contains("j.toml:5: server.shutdown_grace must be whole seconds"), "{error}");
    }
    for bad in ["http://portal:8088", "portal", "portal:0", ":8088"] {
        let error = with(&format!("portal_upstream = \"{bad}\"")).unwrap_err();
        assert!(error.contains("j.toml:5: server.portal_upstream"), "{bad}: {error}");
        assert!(error.contains("must be host:port"), "{bad}: {error}");
    }
}

#[test]
fn identity_header_names_are_configurable_within_reason() {
    let scratch = Scratch::new();
    let custom = HEAD
        .replace(
            "[identity]",
            "[server.headers]\nuser = \"X-Auth-User\"\ngroups = \"X-Auth-Groups\"\n\n[identity]",
        )
        .replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "{ file = \"secret\" }");
    let config = parse(&scratch.dir.path().join("j.toml"), &custom).unwrap();
    assert_eq!(config.server.headers.user, "x-auth-user");
    assert_eq!(config.server.headers.groups, "x-auth-groups");
    assert_eq!(
        config.server.headers.assertion, "x-jitgate-assertion",
        "unset names keep their default"
    );

    let standard = custom.replace("X-Auth-User", "Cookie");
    let error = parse(&scratch.dir.path().join("j.toml"), &standard).err().unwrap().to_string();
    assert!(
        error.contains("j.toml:6: server.headers.user \"Cookie\" must be a header name"),
        "{error}"
    );
    let clash = custom.replace("X-Auth-Groups", "x-auth-user");
    let error = parse(&scratch.dir.path().join("j.toml"), &clash).err().unwrap().to_string();
    assert!(error.contains("each identity header needs its own name"), "{error}");
}

#[test]
fn bearer_tokens_are_pinned_to_asymmetric_algorithms() {
    let scratch = Scratch::new();
    let oidc = |extra: &str| {
        let text = HEAD
            .replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "{ file = \"secret\" }")
            .replace(
                "provider = \"local\"\nusers_file = \"users.toml\"",
                &format!(
                    "provider = \"oidc\"\nissuer = \"https://idp.example.com\"\nclient_id = \"jg\"\nclient_secret = {{ file = \"secret\" }}\n{extra}"
                ),
            );
        parse(&scratch.dir.path().join("jitgate.toml"), &text)
    };
    let config = oidc("").unwrap();
    let IdentityConfig::Oidc { bearer, .. } = &config.identity else { panic!("oidc") };
    assert_eq!(bearer.audiences, ["jg"], "the client id by default");
    assert_eq!(bearer.algorithms, [jsonwebtoken::Algorithm::RS256]);

    let error = oidc("bearer_algorithms = [\"RS256\", \"HS256\"]").unwrap_err().to_string();
    assert!(
        error
            .contains("jitgate.toml:10: identity.bearer_algorithms: \"HS256\" is not one of RS256"),
        "{error}"
    );
    let error = oidc("bearer_audiences = []").unwrap_err().to_string();
    assert!(
        error.contains("jitgate.toml:10: identity.bearer_audiences: list at least one"),
        "{error}"
    );
    let local =
        HEAD.replace("{ env = \"JITGATE_TEST_NEVER_SET\" }", "{ file = \"secret\" }").replace(
            "users_file = \"users.toml\"",
            "users_file = \"users.toml\"\nbearer_audiences = [\"x\"]",
        );
    let error = parse(&scratch.dir.path().join("jitgate.toml"), &local).unwrap_err().to_string();
    assert!(error.contains("identity.bearer_audiences is only for provider = \"oidc\""), "{error}");
}

#[test]
fn redis_sentinel_urls_and_replica_waits_are_checked() {
    let scratch = Scratch::new();
    let store = |lines: &str| format!("\n[store]\nbackend = \"redis\"\n{lines}{RESOURCE}");
    let sentinel = store(
        "url = \"redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/jitgate\"\nwait_for_replicas = 1\n",
    );
    let config = scratch.parse(&sentinel).unwrap();
    assert!(
        matches!(config.store, StoreConfig::Redis { wait_for_replicas: 1, .. }),
        "{:?}",
        config.store
    );
    assert_eq!(
        scratch.error(&store("url = \"redis+sentinel://10.0.0.1:26379\"\n")),
        "jitgate.toml:14: store.url: name the master after the sentinels: redis+sentinel://host:26379,…/<master>"
    );
    assert_eq!(
        scratch.error(&store("url = \"redis://10.0.0.1\"\nwait_for_replicas = 99\n")),
        "jitgate.toml:15: store.wait_for_replicas must be a whole number from 0 to 16"
    );
    assert_eq!(
        scratch.error(&format!("\n[store]\nwait_for_replicas = 1\n{RESOURCE}")),
        "jitgate.toml:13: store.wait_for_replicas is only for backend = \"redis\""
    );
}

#[test]
fn lifecycle_options_are_inherited_overridden_and_checked() {
    let scratch = Scratch::new();
    let policy = "[resource.policy]\nallow_pause = true\nallow_extension = true\nmax_duration = \"4h\"\nmax_total = \"12h\"\n";
    let dev = "[[resource.assignment]]\ngroup = \"dev\"\n";
    let sre = "[[resource.assignment]]\ngroup = \"sre\"\nallow_pause = false\nmax_total = \"6h\"\n";
    let config = scratch.parse(&format!("{RESOURCE}{policy}{dev}{sre}")).unwrap();
    let assignments = &config.resources[0].policy.assignments;
    let (dev, sre) = (jit(&assignments[0]), jit(&assignments[1]));
    assert!(dev.allow_pause && dev.allow_extension);
    assert_eq!(dev.max_total, Some(h(12)));
    assert!(!sre.allow_pause && sre.allow_extension, "overridden, and inherited");
    assert_eq!(sre.max_total, Some(h(6)));
    let short = "[[resource.assignment]]\ngroup = \"ops\"\nmax_total = \"1h\"\n";
    assert_eq!(
        scratch.error(&format!("{RESOURCE}{policy}{short}")),
        "jitgate.toml:23: resource \"app\", assignment \"ops\": max_total \"1h\" is shorter than max_duration 4h"
    );
    let typo = "[[resource.assignment]]\ngroup = \"ops\"\nallow_pause = \"yes\"\n";
    assert!(scratch.error(&format!("{RESOURCE}{typo}")).starts_with("jitgate.toml:"));
}

#[test]
fn break_glass_is_inherited_overridden_and_checked_with_its_field() {
    let scratch = Scratch::new();
    let policy =
        "[resource.policy]\nbreak_glass = { groups = [\"oncall\"], max_duration = \"1h\" }\n";
    let dev = "[[resource.assignment]]\ngroup = \"dev\"\n";
    let sre = "[[resource.assignment]]\ngroup = \"sre\"\nbreak_glass = { groups = [\"sre\"], max_duration = \"30m\" }\n";
    let config = scratch.parse(&format!("{RESOURCE}{policy}{dev}{sre}")).unwrap();
    let assignments = &config.resources[0].policy.assignments;
    let (dev, sre) = (jit(&assignments[0]), jit(&assignments[1]));
    let dev = dev.break_glass.as_ref().expect("inherited");
    assert_eq!((dev.groups.iter().next().unwrap().as_str(), dev.max_duration), ("oncall", h(1)));
    assert_eq!(sre.break_glass.as_ref().unwrap().max_duration, Duration::from_secs(1800));
    let long =
        "[resource.policy]\nbreak_glass = { groups = [\"oncall\"], max_duration = \"8d\" }\n";
    assert_eq!(
        scratch.error(&format!("{RESOURCE}{long}")),
        "jitgate.toml:17: resource \"app\": break_glass.max_duration \"8d\" must be between 1m and 7d"
    );
    let nobody = "[resource.policy]\nbreak_glass = { groups = [], max_duration = \"1h\" }\n";
    assert_eq!(
        scratch.error(&format!("{RESOURCE}{nobody}")),
        "jitgate.toml:17: resource \"app\": break_glass.groups needs at least one group"
    );
    let missing = "[resource.policy]\nbreak_glass = { groups = [\"oncall\"] }\n";
    let error = scratch.error(&format!("{RESOURCE}{missing}"));
    assert!(error.starts_with("jitgate.toml:17") && error.contains("max_duration"), "{error}");
}

#[test]
fn schedule_ahead_defaults_to_two_weeks_is_overridden_switched_off_and_checked() {
    let scratch = Scratch::new();
    let policy = "[resource.policy]\nschedule_ahead = \"2d\"\n";
    let dev = "[[resource.assignment]]\ngroup = \"dev\"\n";
    let ops = "[[resource.assignment]]\ngroup = \"ops\"\nschedule_ahead = \"off\"\n";
    let config = scratch.parse(&format!("{RESOURCE}{policy}{dev}{ops}")).unwrap();
    let assignments = &config.resources[0].policy.assignments;
    assert_eq!(jit(&assignments[0]).schedule_ahead, Some(h(48)), "inherited");
    assert_eq!(jit(&assignments[1]).schedule_ahead, None, "switched off");
    let plain = scratch.parse(&format!("{RESOURCE}{dev}")).unwrap();
    assert_eq!(jit(&plain.resources[0].policy.assignments[0]).schedule_ahead, Some(h(14 * 24)));
    let far = "[resource.policy]\nschedule_ahead = \"91d\"\n";
    assert_eq!(
        scratch.error(&format!("{RESOURCE}{far}")),
        "jitgate.toml:17: resource \"app\": schedule_ahead \"91d\" must be \"off\" or between 1m and 90d"
    );
    let word = "[resource.policy]\nschedule_ahead = \"soon\"\n";
    let error = scratch.error(&format!("{RESOURCE}{word}"));
    assert!(error.starts_with("jitgate.toml:17") && error.contains("not a duration"), "{error}");
}

#[test]
fn starts_on_first_use_is_inherited_overridden_and_checked_with_its_field() {
    let scratch = Scratch::new();
    let policy = "[resource.policy]\nstarts = \"on_first_use\"\n";
    let dev = "[[resource.assignment]]\ngroup = \"dev\"\n";
    let sre = "[[resource.assignment]]\ngroup = \"sre\"\nclaim_within = \"2h\"\n";
    let ops = "[[resource.assignment]]\ngroup = \"ops\"\nstarts = \"on_approval\"\n";
    let config = scratch.parse(&format!("{RESOURCE}{policy}{dev}{sre}{ops}")).unwrap();
    let assignments = &config.resources[0].policy.assignments;
    let starts: Vec<Starts> = assignments.iter().map(|a| jit(a).starts).collect();
    assert_eq!(
        starts,
        [
            Starts::OnFirstUse { claim_within: Starts::DEFAULT_CLAIM_WITHIN },
            Starts::OnFirstUse { claim_within: h(2) },
            Starts::OnApproval,
        ]
    );
    let typo = "[resource.policy]\nstarts = \"on_first_request\"\n";
    assert_eq!(
        scratch.error(&format!("{RESOURCE}{typo}")),
        "jitgate.toml:17: resource \"app\": starts \"on_first_request\" is not one of \"on_approval\", \"on_first_use\""
    );
    let stray = "[resource.policy]\nclaim_within = \"1h\"\n";
    assert_eq!(
        scratch.error(&format!("{RESOURCE}{stray}")),
        "jitgate.toml:17: resource \"app\": claim_within applies only with starts = \"on_first_use\""
    );
    let long = "[resource.policy]\nstarts = \"on_first_use\"\nclaim_within = \"8d\"\n";
    assert_eq!(
        scratch.error(&format!("{RESOURCE}{long}")),
        "jitgate.toml:18: resource \"app\": claim_within \"8d\" must be between 1s and 7d"
    );
}
