//! Raw config → validated model, section by section. Problems are collected, not thrown, so
//! one run of `check-config` shows all of them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::Problems;
use super::raw::{
    RawConfig, RawHeaders, RawIdentity, RawNotifications, RawPrincipals, RawServer, RawSmtp,
    RawStore, RawWebhook, S,
};
use super::secret::{RawSecret, Resolved, Secret};
use super::{
    BearerSettings, Config, ConfigError, DEFAULT_SHUTDOWN_GRACE, DEFAULT_SMTP_TIMEOUT,
    DEFAULT_WEBHOOK_TIMEOUT, HttpsListener, IdentityConfig, IdentityHeaders, MAX_NOTIFY_TIMEOUT,
    NotificationSettings, RequestDefaults, ServerConfig, SessionConfig, SmtpConfig, SmtpTls,
    StoreConfig, WebhookConfig, WebhookFormat,
};
use crate::ids::{GroupName, UserId};
use crate::outbox::{Backoff, EventKind};
use crate::policy::{Principals, Roles};

const DEFAULT_PENDING_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
const MIN_SESSION_SECRET_BYTES: usize = 32;

/// State shared by every section's validation.
pub(crate) struct Ctx<'a> {
    pub problems: Problems<'a>,
    /// The config file's directory: relative paths start there.
    pub base: PathBuf,
    pub warnings: Vec<String>,
}

impl Ctx<'_> {
    pub(crate) fn duration(&mut self, value: &S<String>, field: &str) -> Option<Duration> {
        match humantime::parse_duration(value.get_ref().trim()) {
            Ok(duration) if !duration.is_zero() => Some(duration),
            _ => {
                self.problems.add(
                    value.span(),
                    format!("{field} {:?} is not a duration (write e.g. \"90s\", \"30m\", \"12h\", \"7d\")", value.get_ref()),
                );
                None
            }
        }
    }

    pub(crate) fn principals(&mut self, raw: &RawPrincipals, field: &str) -> Principals {
        let mut principals = Principals::default();
        for group in &raw.groups {
            match GroupName::parse(group.get_ref()) {
                Ok(name) => {
                    principals.groups.insert(name);
                }
                Err(e) => self.problems.add(group.span(), format!("{field}.groups: {e}")),
            }
        }
        for email in &raw.emails {
            match UserId::parse(email.get_ref()) {
                Ok(user) => {
                    principals.emails.insert(user);
                }
                Err(e) => self.problems.add(email.span(), format!("{field}.emails: {e}")),
            }
        }
        principals
    }

    fn secret(&mut self, raw: &S<RawSecret>, field: &str) -> Option<Secret> {
        match raw.get_ref().resolve(&self.base) {
            Ok(Resolved::External(secret)) => Some(secret),
            Ok(Resolved::Inline(secret)) => {
                let at = self.problems.locate(raw.span(), format!(
                    "{field} is written inline; prefer {{ env = \"VAR\" }} or {{ file = \"path\" }}"
                ));
                self.warnings.push(at.to_string());
                Some(secret)
            }
            Err(message) => {
                self.problems.add(raw.span(), format!("{field}: {message}"));
                None
            }
        }
    }

    fn path(&self, value: &str) -> PathBuf {
        self.base.join(value)
    }
}

pub(crate) fn validate(file: &Path, text: &str, raw: RawConfig) -> Result<Config, ConfigError> {
    let base = file.parent().map(Path::to_owned).unwrap_or_default();
    let mut ctx =
        Ctx { problems: Problems::new(file.to_owned(), text), base, warnings: Vec::new() };

    let server = server(&mut ctx, &raw.server);
    let identity = identity(&mut ctx, &raw.identity);
    let session_secret = ctx.secret(&raw.session.secret, "session.secret");
    if let Some(secret) = &session_secret
        && secret.expose().len() < MIN_SESSION_SECRET_BYTES
    {
        ctx.problems.add(raw.session.secret.span(), format!(
            "session.secret must be at least {MIN_SESSION_SECRET_BYTES} bytes (generate one with `openssl rand -base64 48`)"
        ));
    }
    let ttl = raw
        .session
        .ttl
        .as_ref()
        .map_or(Some(DEFAULT_SESSION_TTL), |t| ctx.duration(t, "session.ttl"));
    let roles = Roles {
        admins: ctx.principals(&raw.roles.admins, "roles.admins"),
        reviewers: ctx.principals(&raw.roles.reviewers, "roles.reviewers"),
        admins_bypass_jit: raw.roles.admins_bypass_jit.unwrap_or(true),
    };
    let store = store(&mut ctx, &raw.store);
    let pending_timeout = match &raw.requests.pending_timeout {
        Some(value) => ctx.duration(value, "requests.pending_timeout"),
        None => Some(DEFAULT_PENDING_TIMEOUT),
    };
    let notifications = notifications(&mut ctx, &raw.notifications);
    let smtp = raw.smtp.as_ref().and_then(|s| smtp(&mut ctx, s));
    if let (Some(_), Some(dir)) = (&raw.smtp, &raw.notifications.mail_dir) {
        ctx.problems.add(
            dir.span(),
            "notifications.mail_dir writes mail to files instead of sending it: remove it, or \
             the [smtp] section",
        );
    }
    let webhooks = webhooks(&mut ctx, &raw.webhooks);
    let resources = super::policy::resources(
        &mut ctx,
        &raw.resources,
        pending_timeout.unwrap_or(DEFAULT_PENDING_TIMEOUT),
        server.as_ref().map(|s| s.portal_host.as_str()),
    );

    // Every section that yields `None` has recorded why, so problems are never empty then.
    let (
        Some(server),
        Some(identity),
        Some(secret),
        Some(ttl),
        Some(store),
        Some(pending_timeout),
        true,
    ) = (server, identity, session_secret, ttl, store, pending_timeout, ctx.problems.is_empty())
    else {
        return Err(ctx.problems.into_error());
    };
    Ok(Config {
        source: file.to_owned(),
        server,
        identity,
        roles,
        session: SessionConfig { secret, ttl },
        store,
        requests: RequestDefaults { pending_timeout },
        notifications,
        smtp,
        webhooks,
        resources,
        warnings: ctx.warnings,
    })
}

/// The outbox's retry schedule (the defaults ride out about 37 minutes of outage) and the
/// optional expiry reminder.
fn notifications(ctx: &mut Ctx<'_>, raw: &RawNotifications) -> NotificationSettings {
    let mut backoff = Backoff::default();
    if let Some(value) = &raw.max_attempts {
        match u32::try_from(*value.get_ref()) {
            Ok(n @ 1..=100) => backoff.attempts = n,
            _ => ctx
                .problems
                .add(value.span(), "notifications.max_attempts must be between 1 and 100"),
        }
    }
    if let Some(value) = &raw.first_retry {
        backoff.first = ctx.duration(value, "notifications.first_retry").unwrap_or(backoff.first);
    }
    if let Some(value) = &raw.max_retry {
        backoff.max = ctx.duration(value, "notifications.max_retry").unwrap_or(backoff.max);
    }
    let remind_before =
        raw.remind_before.as_ref().and_then(|v| ctx.duration(v, "notifications.remind_before"));
    let mail_dir = raw.mail_dir.as_ref().map(|dir| ctx.path(dir.get_ref()));
    NotificationSettings { retry: backoff, remind_before, mail_dir }
}

/// `http://host[:port]` or `https://host[:port]` with an optional trailing `/`: the scheme
/// and the lower-cased authority.
pub(crate) fn split_base_url(url: &str) -> Option<(&'static str, String)> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http", rest)
    } else {
        return None;
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let valid = !authority.is_empty()
        && authority.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c));
    valid.then(|| (scheme, authority.to_ascii_lowercase()))
}

fn socket_addr(ctx: &mut Ctx<'_>, value: &S<String>, field: &str) -> Option<SocketAddr> {
    match value.get_ref().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            ctx.problems.add(
                value.span(),
                format!("{field} {:?} is not an address like \"127.0.0.1:8080\"", value.get_ref()),
            );
            None
        }
    }
}

fn server(ctx: &mut Ctx<'_>, raw: &RawServer) -> Option<ServerConfig> {
    let listen_http =
        raw.listen_http.as_ref().and_then(|v| socket_addr(ctx, v, "server.listen_http"));
    let https = match (&raw.listen_https, &raw.tls_cert, &raw.tls_key) {
        (None, None, None) => None,
        (Some(listen), Some(cert), Some(key)) => {
            let listen = socket_addr(ctx, listen, "server.listen_https");
            let (cert_path, key_path) = (ctx.path(cert.get_ref()), ctx.path(key.get_ref()));
            // Certificates are often installed after the config is written (and renewed
            // under it), so a missing file is a warning here; `serve` refuses to start on it.
            for (value, path, field) in
                [(cert, &cert_path, "server.tls_cert"), (key, &key_path, "server.tls_key")]
            {
                if !path.is_file() {
                    let at = ctx.problems.locate(
                        value.span(),
                        format!("{field}: {} does not exist (yet)", path.display()),
                    );
                    ctx.warnings.push(at.to_string());
                }
            }
            listen.map(|listen| HttpsListener { listen, cert: cert_path, key: key_path })
        }
        (listen, _, _) => {
            let span = listen.as_ref().map(|l| l.span()).unwrap_or(raw.portal_url.span());
            ctx.problems.add(span, "server.listen_https, server.tls_cert and server.tls_key go together: set all three or none");
            None
        }
    };
    if raw.listen_http.is_none() && raw.listen_https.is_none() {
        ctx.problems
            .add(raw.portal_url.span(), "[server] needs listen_http, listen_https, or both");
    }
    let Some((_, portal_host)) = split_base_url(raw.portal_url.get_ref()) else {
        ctx.problems.add(raw.portal_url.span(), format!(
            "server.portal_url {:?} must be an http(s) URL with no path, like \"https://access.example.com\"",
            raw.portal_url.get_ref()
        ));
        return None;
    };
    let portal_url = raw.portal_url.get_ref().trim_end_matches('/').to_owned();
    let ops_listen = raw.ops_listen.as_ref().and_then(|v| socket_addr(ctx, v, "server.ops_listen"));
    if let (Some(ops), Some(value)) = (ops_listen, &raw.ops_listen)
        && (Some(ops) == listen_http || https.as_ref().is_some_and(|h| h.listen == ops))
    {
        ctx.problems.add(value.span(), "server.ops_listen must differ from the proxy's listeners");
    }
    let demo_listen =
        raw.demo_listen.as_ref().and_then(|v| socket_addr(ctx, v, "server.demo_listen"));
    if let (Some(demo), Some(value)) = (demo_listen, &raw.demo_listen)
        && [listen_http, ops_listen, https.as_ref().map(|h| h.listen)].contains(&Some(demo))
    {
        ctx.problems
            .add(value.span(), "server.demo_listen must differ from jitgate's other listeners");
    }
    let portal_listen =
        raw.portal_listen.as_ref().and_then(|v| socket_addr(ctx, v, "server.portal_listen"));
    if let (Some(portal), Some(value)) = (portal_listen, &raw.portal_listen)
        && [listen_http, ops_listen, demo_listen, https.as_ref().map(|h| h.listen)]
            .contains(&Some(portal))
    {
        ctx.problems
            .add(value.span(), "server.portal_listen must differ from jitgate's other listeners");
    }
    let portal_upstream = raw.portal_upstream.as_ref().and_then(|value| {
        let text = value.get_ref();
        let well_formed = text.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if well_formed && !text.contains('/') {
            Some(text.clone())
        } else {
            ctx.problems.add(
                value.span(),
                format!(
                    "server.portal_upstream {text:?} must be host:port, like \"10.0.0.5:8088\""
                ),
            );
            None
        }
    });
    let shutdown_grace = match &raw.shutdown_grace {
        None => DEFAULT_SHUTDOWN_GRACE,
        Some(value) => match ctx.duration(value, "server.shutdown_grace") {
            Some(grace) if grace <= Duration::from_secs(300) && grace.subsec_nanos() == 0 => grace,
            Some(_) => {
                ctx.problems
                    .add(value.span(), "server.shutdown_grace must be whole seconds, at most 5m");
                DEFAULT_SHUTDOWN_GRACE
            }
            None => DEFAULT_SHUTDOWN_GRACE,
        },
    };
    let headers = identity_headers(ctx, &raw.headers);
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .flatten()
        .filter_map(|value| {
            let text = value.get_ref().trim();
            let parsed = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(net) => Some(net.trunc()),
                Err(_) => {
                    ctx.problems.add(value.span(), format!(
                        "server.trusted_proxies: {text:?} is not an address or CIDR like \"10.0.0.0/8\""
                    ));
                    None
                }
            }
        })
        .collect();
    Some(ServerConfig {
        listen_http,
        https,
        portal_url,
        portal_host,
        ops_listen,
        demo_listen,
        portal_listen,
        portal_upstream,
        shutdown_grace,
        headers,
        trusted_proxies,
    })
}

fn identity_headers(ctx: &mut Ctx<'_>, raw: &RawHeaders) -> IdentityHeaders {
    let mut headers = IdentityHeaders::default();
    for (value, slot, field) in [
        (&raw.user, &mut headers.user, "user"),
        (&raw.email, &mut headers.email, "email"),
        (&raw.groups, &mut headers.groups, "groups"),
        (&raw.assertion, &mut headers.assertion, "assertion"),
    ] {
        let Some(value) = value else { continue };
        let name = value.get_ref().to_ascii_lowercase();
        let token = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let reserved = [
            "host",
            "cookie",
            "authorization",
            "content-length",
            "transfer-encoding",
            "connection",
        ];
        if !token || reserved.contains(&name.as_str()) {
            ctx.problems.add(value.span(), format!(
                "server.headers.{field} {:?} must be a header name like \"X-Auth-User\" (letters, digits, '-'), not a standard header",
                value.get_ref()
            ));
        } else {
            *slot = name;
        }
    }
    let names = [&headers.user, &headers.email, &headers.groups, &headers.assertion];
    if names.iter().enumerate().any(|(i, a)| names[i + 1..].contains(a))
        && let Some(value) =
            [&raw.user, &raw.email, &raw.groups, &raw.assertion].into_iter().flatten().next()
    {
        ctx.problems.add(value.span(), "server.headers: each identity header needs its own name");
    }
    headers
}

fn identity(ctx: &mut Ctx<'_>, raw: &RawIdentity) -> Option<IdentityConfig> {
    let provider = raw.provider.get_ref().as_str();
    let stray = |name: &str, present: bool| present.then(|| name.to_owned());
    match provider {
        "local" => {
            for field in [
                stray("issuer", raw.issuer.is_some()),
                stray("client_id", raw.client_id.is_some()),
                stray("client_secret", raw.client_secret.is_some()),
                stray("bearer_audiences", raw.bearer_audiences.is_some()),
                stray("bearer_algorithms", raw.bearer_algorithms.is_some()),
            ]
            .into_iter()
            .flatten()
            {
                ctx.problems.add(
                    raw.provider.span(),
                    format!("identity.{field} is only for provider = \"oidc\""),
                );
            }
            let Some(users_file) = &raw.users_file else {
                ctx.problems.add(
                    raw.provider.span(),
                    "identity.users_file is required with provider = \"local\"",
                );
                return None;
            };
            let path = ctx.path(users_file.get_ref());
            match super::users::load_users(&path) {
                Ok(users) => Some(IdentityConfig::Local { users_file: path, users }),
                Err(error) => {
                    ctx.problems.add(users_file.span(), format!("identity.users_file: {error}"));
                    None
                }
            }
        }
        "oidc" => {
            if raw.users_file.is_some() {
                ctx.problems.add(
                    raw.provider.span(),
                    "identity.users_file is only for provider = \"local\"",
                );
            }
            let (Some(issuer), Some(client_id), Some(client_secret)) =
                (&raw.issuer, &raw.client_id, &raw.client_secret)
            else {
                ctx.problems.add(
                    raw.provider.span(),
                    "provider = \"oidc\" needs issuer, client_id and client_secret",
                );
                return None;
            };
            let issuer_ok = match split_base_url(
                issuer.get_ref().split('/').take(3).collect::<Vec<_>>().join("/").as_str(),
            ) {
                Some(("https", _)) => true,
                Some(("http", host)) => {
                    host.starts_with("localhost") || host.starts_with("127.0.0.1")
                }
                _ => false,
            };
            if !issuer_ok {
                ctx.problems.add(
                    issuer.span(),
                    format!(
                        "identity.issuer {:?} must be an https URL (http only for localhost)",
                        issuer.get_ref()
                    ),
                );
            }
            let bearer = bearer(ctx, raw, client_id.get_ref());
            let secret = ctx.secret(client_secret, "identity.client_secret")?;
            Some(IdentityConfig::Oidc {
                // As written: OIDC compares issuers byte for byte, and some end in `/`.
                issuer: issuer.get_ref().clone(),
                client_id: client_id.get_ref().clone(),
                client_secret: secret,
                scopes: raw
                    .scopes
                    .clone()
                    .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]),
                groups_claim: raw.groups_claim.clone().unwrap_or_else(|| "groups".into()),
                bearer: bearer?,
            })
        }
        other => {
            ctx.problems.add(
                raw.provider.span(),
                format!("identity.provider {other:?} is not one of \"local\", \"oidc\""),
            );
            None
        }
    }
}

/// Signature algorithms an IdP may sign bearer tokens with. HMAC would make the shared client
/// secret a signing key anyone holding it could mint tokens with; `none` is no signature.
const BEARER_ALGORITHMS: [&str; 9] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

fn bearer(ctx: &mut Ctx<'_>, raw: &RawIdentity, client_id: &str) -> Option<BearerSettings> {
    let audiences = match &raw.bearer_audiences {
        Some(list) if list.get_ref().is_empty() || list.get_ref().iter().any(String::is_empty) => {
            ctx.problems.add(
                list.span(),
                "identity.bearer_audiences: list at least one audience, none empty",
            );
            return None;
        }
        Some(list) => list.get_ref().clone(),
        None => vec![client_id.to_owned()],
    };
    let Some(list) = &raw.bearer_algorithms else {
        return Some(BearerSettings {
            audiences,
            algorithms: vec![jsonwebtoken::Algorithm::RS256],
        });
    };
    let mut algorithms = Vec::new();
    for name in list.get_ref() {
        match name.parse::<jsonwebtoken::Algorithm>() {
            Ok(algorithm) if BEARER_ALGORITHMS.contains(&name.as_str()) => {
                algorithms.push(algorithm)
            }
            _ => ctx.problems.add(
                list.span(),
                format!(
                    "identity.bearer_algorithms: {name:?} is not one of {}",
                    BEARER_ALGORITHMS.join(", ")
                ),
            ),
        }
    }
    if list.get_ref().is_empty() {
        ctx.problems.add(list.span(), "identity.bearer_algorithms: list at least one algorithm");
    }
    (algorithms.len() == list.get_ref().len() && !algorithms.is_empty())
        .then_some(BearerSettings { audiences, algorithms })
}

fn store(ctx: &mut Ctx<'_>, raw: &RawStore) -> Option<StoreConfig> {
    let backend = raw.backend.as_ref().map_or("embedded", |b| b.get_ref().as_str());
    match backend {
        "embedded" => {
            if let Some(url) = &raw.url {
                ctx.problems.add(url.span(), "store.url is only for backend = \"redis\"");
            }
            if let Some(wait) = &raw.wait_for_replicas {
                ctx.problems
                    .add(wait.span(), "store.wait_for_replicas is only for backend = \"redis\"");
            }
            let path =
                raw.path.as_ref().map_or_else(|| "data/jitgate.db".into(), |p| p.get_ref().clone());
            Some(StoreConfig::Embedded { path: ctx.path(&path) })
        }
        "redis" => {
            let Some(url) = &raw.url else {
                let span = raw.backend.as_ref().map(|b| b.span()).unwrap_or(0..0);
                ctx.problems.add(span, "store.url is required with backend = \"redis\"");
                return None;
            };
            let url_span = url.span();
            let url = ctx.secret(url, "store.url")?;
            let scheme_ok = ["redis://", "rediss://", "redis+sentinel://"]
                .iter()
                .any(|scheme| url.expose().starts_with(scheme));
            if !scheme_ok {
                ctx.problems.add(
                    url_span,
                    "store.url must start with redis://, rediss:// or redis+sentinel://",
                );
            } else if let Err(reason) = crate::store::redis::check_url(url.expose()) {
                ctx.problems.add(url_span, format!("store.url: {reason}"));
            }
            let prefix =
                raw.prefix.as_ref().map_or_else(|| "jitgate".to_owned(), |p| p.get_ref().clone());
            if prefix.is_empty() || prefix.contains(['{', '}']) {
                let span = raw.prefix.as_ref().map(|p| p.span()).unwrap_or(0..0);
                ctx.problems.add(span, "store.prefix must be non-empty and contain no braces");
            }
            let wait_for_replicas = match &raw.wait_for_replicas {
                None => 0,
                Some(wait) => match u32::try_from(*wait.get_ref()) {
                    Ok(replicas) if replicas <= 16 => replicas,
                    _ => {
                        ctx.problems.add(
                            wait.span(),
                            "store.wait_for_replicas must be a whole number from 0 to 16",
                        );
                        0
                    }
                },
            };
            Some(StoreConfig::Redis { url, prefix, wait_for_replicas })
        }
        other => {
            let span = raw.backend.as_ref().map(|b| b.span()).unwrap_or(0..0);
            ctx.problems.add(
                span,
                format!("store.backend {other:?} is not one of \"embedded\", \"redis\""),
            );
            None
        }
    }
}

/// A notification channel's timeout: `default` when unset, never over [`MAX_NOTIFY_TIMEOUT`]
/// (the worker's batches are sized from it; see `portal/src/notify`).
fn notify_timeout(
    ctx: &mut Ctx<'_>,
    raw: Option<&S<String>>,
    field: &str,
    default: Duration,
) -> Duration {
    let Some(value) = raw else { return default };
    match ctx.duration(value, field) {
        Some(timeout) if timeout <= MAX_NOTIFY_TIMEOUT => timeout,
        Some(_) => {
            ctx.problems.add(
                value.span(),
                format!(
                    "{field} {:?} exceeds the {}s limit",
                    value.get_ref(),
                    MAX_NOTIFY_TIMEOUT.as_secs()
                ),
            );
            default
        }
        None => default,
    }
}

fn smtp(ctx: &mut Ctx<'_>, raw: &RawSmtp) -> Option<SmtpConfig> {
    let tls = match raw.tls.as_ref().map_or("starttls", |t| t.get_ref().as_str()) {
        "none" => SmtpTls::None,
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Tls,
        other => {
            let span = raw.tls.as_ref().map(|t| t.span()).unwrap_or(raw.host.span());
            ctx.problems.add(
                span,
                format!("smtp.tls {other:?} is not one of \"none\", \"starttls\", \"tls\""),
            );
            return None;
        }
    };
    let port = raw.port.as_ref().map(|p| *p.get_ref()).unwrap_or(match tls {
        SmtpTls::Tls => 465,
        SmtpTls::StartTls => 587,
        SmtpTls::None => 25,
    });
    if !raw.from.get_ref().contains('@') {
        ctx.problems.add(
            raw.from.span(),
            format!("smtp.from {:?} is not an email address", raw.from.get_ref()),
        );
    }
    let password = match &raw.password {
        Some(password) => Some(ctx.secret(password, "smtp.password")?),
        None => None,
    };
    let ca_file = match &raw.ca_file {
        Some(value) => {
            let path = ctx.path(value.get_ref());
            if !path.is_file() {
                ctx.problems
                    .add(value.span(), format!("smtp.ca_file: {} does not exist", path.display()));
                return None;
            }
            Some(path)
        }
        None => None,
    };
    let timeout = notify_timeout(ctx, raw.timeout.as_ref(), "smtp.timeout", DEFAULT_SMTP_TIMEOUT);
    Some(SmtpConfig {
        timeout,
        ca_file,
        host: raw.host.get_ref().clone(),
        port,
        tls,
        username: raw.username.clone(),
        password,
        from: raw.from.get_ref().clone(),
        notify_admins: raw.notify_admins.unwrap_or(true),
    })
}

fn webhooks(ctx: &mut Ctx<'_>, raw: &[RawWebhook]) -> Vec<WebhookConfig> {
    let mut names = BTreeSet::new();
    let mut webhooks = Vec::new();
    for hook in raw {
        let name = hook.name.get_ref().clone();
        if !names.insert(name.clone()) {
            ctx.problems.add(hook.name.span(), format!("webhook {name:?} is defined twice"));
        }
        if split_base_url(
            hook.url.get_ref().split('/').take(3).collect::<Vec<_>>().join("/").as_str(),
        )
        .is_none()
        {
            ctx.problems.add(
                hook.url.span(),
                format!("webhook {name:?}: url {:?} is not an http(s) URL", hook.url.get_ref()),
            );
        }
        let mut events = Vec::new();
        for event in &hook.events {
            match event.get_ref().parse::<EventKind>() {
                Ok(kind) => events.push(kind),
                Err(unknown) => {
                    ctx.problems.add(event.span(), format!("webhook {name:?}: {unknown}"))
                }
            }
        }
        let format = match hook.format.as_ref().map_or("json", |f| f.get_ref().as_str()) {
            "json" => WebhookFormat::Json,
            "slack" => WebhookFormat::Slack,
            other => {
                let span = hook.format.as_ref().map(|f| f.span()).unwrap_or(hook.name.span());
                ctx.problems.add(
                    span,
                    format!("webhook {name:?}: format {other:?} is not one of \"json\", \"slack\""),
                );
                WebhookFormat::Json
            }
        };
        let field = format!("webhook {name:?}: timeout");
        let timeout = notify_timeout(ctx, hook.timeout.as_ref(), &field, DEFAULT_WEBHOOK_TIMEOUT);
        let secret =
            hook.secret.as_ref().and_then(|s| ctx.secret(s, &format!("webhook {name:?}: secret")));
        webhooks.push(WebhookConfig {
            name,
            url: hook.url.get_ref().clone(),
            secret,
            events,
            format,
            timeout,
        });
    }
    webhooks
}
