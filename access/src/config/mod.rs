//! The operator's config file: TOML in, a validated [`Config`] out.
//!
//! Two layers: `raw` mirrors the file (unknown keys rejected, positions kept), `validate`
//! builds the model below, which cannot hold an invalid value. Every error names the file,
//! the line and the field. Relative paths are relative to the config file's directory.

mod error;
mod overrides;
mod policy;
mod raw;
mod secret;
mod table;
mod users;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, Located, line_of};
pub use overrides::Overrides;
pub use secret::Secret;
pub use table::render_policy_table;
pub use users::{LocalUser, load_users};

use crate::ids::ResourceName;
use crate::outbox::EventKind;
use crate::policy::{PolicySet, ResourcePolicy, Roles};

/// The longest a notification channel may take for one delivery (`smtp.timeout`, a webhook's
/// `timeout`): the notification worker sizes its batches so that a whole batch, each item
/// taking this long, ends within the lease its claim holds (see `portal/src/notify`).
pub const MAX_NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// `smtp.timeout` when unset.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(15);
/// A webhook's `timeout` when unset.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    pub server: ServerConfig,
    pub identity: IdentityConfig,
    pub roles: Roles,
    pub session: SessionConfig,
    pub store: StoreConfig,
    pub requests: RequestDefaults,
    pub notifications: NotificationSettings,
    pub smtp: Option<SmtpConfig>,
    pub webhooks: Vec<WebhookConfig>,
    pub resources: Vec<Resource>,
    /// Things that work but deserve the operator's attention (e.g. inline secrets).
    pub warnings: Vec<String>,
}

impl Config {
    /// Whether jitgate mails people: over SMTP, or into `notifications.mail_dir`.
    pub fn sends_mail(&self) -> bool {
        self.smtp.is_some() || self.notifications.mail_dir.is_some()
    }

    pub fn resource(&self, name: &ResourceName) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.name == name)
    }

    /// The policy part of the config, as the access workflow consumes it.
    pub fn policy_set(&self) -> PolicySet {
        PolicySet {
            roles: self.roles.clone(),
            resources: self.resources.iter().map(|r| (r.name.clone(), r.policy.clone())).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen_http: Option<SocketAddr>,
    pub https: Option<HttpsListener>,
    /// The portal's external URL, e.g. `https://access.example.com`.
    pub portal_url: String,
    /// Its host (and port, when not the scheme's default), lower-case.
    pub portal_host: String,
    /// Where `/healthz`, `/readyz` and `/metrics` are served, apart from user traffic.
    pub ops_listen: Option<SocketAddr>,
    /// Where the built-in demo app listens (the quickstart's protected resource): a page
    /// showing the identity headers each request arrived with.
    pub demo_listen: Option<SocketAddr>,
    /// Where the portal serves HTTP itself. Needed by `serve --role portal`; without it, a
    /// single-process jitgate runs the portal on a loopback port only its proxy reaches.
    pub portal_listen: Option<SocketAddr>,
    /// `host:port` of the portal, for `serve --role proxy`: proxies forward the portal's
    /// host there, so one DNS name and one TLS certificate front everything.
    pub portal_upstream: Option<String>,
    /// How long requests in flight may finish after SIGTERM (whole seconds, default 10 s,
    /// like Traefik's). The process exits after it even when nothing is in flight.
    pub shutdown_grace: Duration,
    pub headers: IdentityHeaders,
    /// Load balancers in front of jitgate (CIDRs): from one of these, the client address is
    /// taken from the `X-Forwarded-For` it sends; from anyone else, forwarding headers are
    /// replaced, never trusted.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// What `server.shutdown_grace` defaults to.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The request headers that tell an upstream who the user is (lower-case names). Whatever a
/// client sends under these names is dropped at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub user: String,
    pub email: String,
    pub groups: String,
    /// The signed assertion (a JWT) an upstream can verify against the portal's JWKS.
    pub assertion: String,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            user: "x-jitgate-user".into(),
            email: "x-jitgate-email".into(),
            groups: "x-jitgate-groups".into(),
            assertion: "x-jitgate-assertion".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsListener {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityConfig {
    Local {
        users_file: PathBuf,
        users: Vec<LocalUser>,
    },
    Oidc {
        issuer: String,
        client_id: String,
        client_secret: Secret,
        scopes: Vec<String>,
        groups_claim: String,
        bearer: BearerSettings,
    },
}

/// How `Authorization: Bearer` tokens from the IdP are accepted (see [`crate::bearer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerSettings {
    /// A token must name one of these as its audience (default: the client id).
    pub audiences: Vec<String>,
    /// Pinned signature algorithms (default RS256); HMAC and `none` are never accepted.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Signs session cookies and handoff tokens; at least 32 bytes.
    pub secret: Secret,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Embedded {
        path: PathBuf,
    },
    Redis {
        url: Secret,
        prefix: String,
        /// Every write waits (Redis `WAIT`) until this many replicas have it, and fails when
        /// they do not within a second: what a failover can then never lose. 0: no wait.
        wait_for_replicas: u32,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationSettings {
    /// How the outbox retries failed deliveries.
    pub retry: crate::outbox::Backoff,
    /// Remind a grant's holder this long before it expires; `None`: no reminders.
    pub remind_before: Option<Duration>,
    /// Development mail: every mail is written as files in this directory instead of being
    /// sent (`notifications.mail_dir`; exclusive with `[smtp]`).
    pub mail_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDefaults {
    pub pending_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub notify_admins: bool,
    /// Extra trusted CA (PEM) for a relay with a private certificate; the public roots
    /// are trusted either way.
    pub ca_file: Option<PathBuf>,
    /// The longest one mail's whole SMTP conversation may take, at most
    /// [`MAX_NOTIFY_TIMEOUT`].
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Json,
    Slack,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    pub secret: Option<Secret>,
    /// Subscribed events; empty means all of [`EventKind::ALL`].
    pub events: Vec<EventKind>,
    pub format: WebhookFormat,
    /// The longest one call may take, at most [`MAX_NOTIFY_TIMEOUT`].
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: ResourceName,
    /// Lower-case host, with `:port` when the resource is reached on a non-default port.
    pub host: String,
    /// `/` serves the whole host; otherwise `/segment[/segment…]` without a trailing slash,
    /// matched on whole segments of the canonical request path.
    pub path_prefix: String,
    pub upstreams: Vec<Upstream>,
    pub policy: ResourcePolicy,
    /// Pass `%2F` and `%5C` in paths to the upstream, encoded, instead of refusing them (for
    /// apps that put slashes in path segments, e.g. GitLab project paths). Off by default:
    /// upstreams disagree on whether they separate segments.
    pub allow_encoded_slashes: bool,
    /// Whether an IdP-issued `Authorization: Bearer` token is a credential here (scripts),
    /// when the request has no valid session cookie; default true. A session cookie always
    /// wins, and with it the `Authorization` header passes to the app untouched (apps with
    /// API keys or their own JWTs). Off: the header is always the app's.
    pub accept_bearer: bool,
    /// Origins besides the resource's own whose pages may open WebSockets to it
    /// (`scheme://host[:port]`, lower-case). Other cross-origin handshakes are refused, so a
    /// hostile page cannot ride the user's cookie into the app's socket.
    pub websocket_origins: Vec<String>,
}

/// One upstream address, written in the config as `http://host:port` or `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`
    pub address: String,
    pub tls: bool,
    /// The name sent in TLS SNI and verified against the certificate.
    pub sni: String,
    pub verify_cert: bool,
}

/// Reads, parses and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &Overrides::default())
}

/// [`load`], with the command line's `overrides` applied to the file's values before they are
/// validated.
pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
    parse_with(path, &text, overrides)
}

/// Parses and validates config `text`; `file` names it in errors and anchors relative paths.
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_with(file, text, &Overrides::default())
}

/// [`parse`], with `overrides` applied before validation.
pub fn parse_with(file: &Path, text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut raw: raw::RawConfig =
        toml::from_str(text).map_err(|e| error::Problems::from_toml(file.to_owned(), text, &e))?;
    if let Err((span, message)) = overrides::apply(&mut raw, overrides) {
        let mut problems = error::Problems::new(file.to_owned(), text);
        problems.add(span, message);
        return Err(problems.into_error());
    }
    validate::validate(file, text, raw)
}

#[cfg(test)]
mod tests;
