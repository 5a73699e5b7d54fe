//! The config file as written: serde structs that reject unknown keys and keep the position of
//! every value that validation may complain about. Nothing here is trusted; `validate` turns
//! it into the model.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::secret::RawSecret;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub server: RawServer,
    pub identity: RawIdentity,
    pub session: RawSession,
    #[serde(default)]
    pub roles: RawRoles,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub requests: RawRequests,
    #[serde(default)]
    pub notifications: RawNotifications,
    pub smtp: Option<RawSmtp>,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<RawWebhook>,
    #[serde(default, rename = "resource")]
    pub resources: Vec<RawResource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen_http: Option<S<String>>,
    pub listen_https: Option<S<String>>,
    pub tls_cert: Option<S<String>>,
    pub tls_key: Option<S<String>>,
    pub portal_url: S<String>,
    pub ops_listen: Option<S<String>>,
    pub demo_listen: Option<S<String>>,
    pub portal_listen: Option<S<String>>,
    pub portal_upstream: Option<S<String>>,
    pub shutdown_grace: Option<S<String>>,
    pub trusted_proxies: Option<Vec<S<String>>>,
    #[serde(default)]
    pub headers: RawHeaders,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaders {
    pub user: Option<S<String>>,
    pub email: Option<S<String>>,
    pub groups: Option<S<String>>,
    pub assertion: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    pub provider: S<String>,
    pub users_file: Option<S<String>>,
    pub issuer: Option<S<String>>,
    pub client_id: Option<S<String>>,
    pub client_secret: Option<S<RawSecret>>,
    pub scopes: Option<Vec<String>>,
    pub groups_claim: Option<String>,
    pub bearer_audiences: Option<S<Vec<String>>>,
    pub bearer_algorithms: Option<S<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSession {
    pub secret: S<RawSecret>,
    pub ttl: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoles {
    #[serde(default)]
    pub admins: RawPrincipals,
    #[serde(default)]
    pub reviewers: RawPrincipals,
    pub admins_bypass_jit: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrincipals {
    #[serde(default)]
    pub groups: Vec<S<String>>,
    #[serde(default)]
    pub emails: Vec<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub backend: Option<S<String>>,
    pub path: Option<S<String>>,
    pub url: Option<S<RawSecret>>,
    pub prefix: Option<S<String>>,
    pub wait_for_replicas: Option<S<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifications {
    pub max_attempts: Option<S<i64>>,
    pub first_retry: Option<S<String>>,
    pub max_retry: Option<S<String>>,
    pub remind_before: Option<S<String>>,
    pub mail_dir: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequests {
    pub pending_timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    pub host: S<String>,
    pub port: Option<S<u16>>,
    pub tls: Option<S<String>>,
    pub username: Option<String>,
    pub password: Option<S<RawSecret>>,
    pub from: S<String>,
    pub notify_admins: Option<bool>,
    pub ca_file: Option<S<String>>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub name: S<String>,
    pub url: S<String>,
    pub secret: Option<S<RawSecret>>,
    #[serde(default)]
    pub events: Vec<S<String>>,
    pub format: Option<S<String>>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResource {
    pub name: S<String>,
    pub host: S<String>,
    pub path_prefix: Option<S<String>>,
    pub upstreams: S<Vec<S<String>>>,
    pub upstream_tls_verify: Option<bool>,
    pub upstream_sni: Option<S<String>>,
    pub allow_encoded_slashes: Option<bool>,
    pub accept_bearer: Option<bool>,
    pub websocket_origins: Option<Vec<S<String>>>,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default, rename = "assignment")]
    pub assignments: Vec<RawPolicy>,
}

/// The policy fields, shared by `[resource.policy]` (the defaults) and each
/// `[[resource.assignment]]` (which names a group and overrides any field).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub group: Option<S<String>>,
    pub mode: Option<S<String>>,
    pub durations: Option<S<Vec<S<String>>>>,
    pub allow_custom_duration: Option<bool>,
    pub max_duration: Option<S<String>>,
    pub approval: Option<S<String>>,
    pub approvals_needed: Option<S<i64>>,
    pub reviewers: Option<RawPrincipals>,
    pub reason_required: Option<S<bool>>,
    pub pending_timeout: Option<S<String>>,
    pub allow_pause: Option<bool>,
    pub allow_extension: Option<bool>,
    pub max_total: Option<S<String>>,
    pub break_glass: Option<S<RawBreakGlass>>,
    pub schedule_ahead: Option<S<String>>,
    /// `"on_approval"` (default) or `"on_first_use"`.
    pub starts: Option<S<String>>,
    /// With `starts = "on_first_use"`: how long an approved grant waits for its first use.
    pub claim_within: Option<S<String>>,
}

/// `break_glass = { groups = [...], max_duration = "1h" }`: both fields required, so a
/// policy never lets "someone" break glass "for a while".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBreakGlass {
    pub groups: Vec<S<String>>,
    pub max_duration: S<String>,
}
