//! Reloading the config without a restart, on SIGHUP (`jitgate reload`, systemd's
//! `ExecReload=kill -HUP $MAINPID`).
//!
//! A reload reads and validates the file exactly as the start (and `check-config`) does. An
//! invalid file is refused with the same `file:line: field` error, logged, counted in
//! `jitgate_config_reload_failures_total`, and the config in force stays. A valid one is built
//! into every part this process runs — the proxy's routes, roles and headers, the portal's
//! app, workflow and notifications — before any part is swapped, so a part that cannot be
//! built refuses the reload as a whole; then each part swaps in one store, and
//! `jitgate_config_generation` says which generation is in force.
//!
//! What a running process cannot change (its listeners, the store, the session secret, the
//! identity provider, the portal's URL; see [`keep_restart_only`]) keeps its running value:
//! the reload applies everything else and warns, naming each such key, that it needs a restart.

use std::path::PathBuf;
use std::sync::Arc;

use jitgate_access::config::{self, Config, IdentityConfig, Overrides, ServerConfig};
use jitgate_access::outbox::Routing;
use jitgate_portal::notify::routing::ConfigRouting;
use jitgate_proxy::{AccessCache, LiveConfig, Metrics, ProxyConfig};

use super::live_portal::LivePortal;

/// Everything a reload replaces, and what it needs to read the file again.
pub struct Reloader {
    pub path: PathBuf,
    pub overrides: Overrides,
    /// The config in force, restart-only keys as the process started with them.
    pub running: Arc<Config>,
    pub generation: u64,
    pub metrics: Arc<Metrics>,
    /// The proxy's config, when this process runs the proxy.
    pub proxy: Option<Arc<LiveConfig>>,
    /// The portal, when this process runs it.
    pub portal: Option<LivePortal>,
    /// A proxy running alone: its cache announces the first-use claims it makes with the
    /// routing of the config in force (with the portal here, the portal's swap does it).
    pub claims_alone: Option<Arc<AccessCache>>,
}

/// Who a proxy running alone tells of the claims it makes: holders and webhooks, which need
/// no people records (the portal role delivers them).
pub fn proxy_alone_routing(config: &Arc<Config>) -> Arc<dyn Routing> {
    Arc::new(ConfigRouting::new(config.clone(), Vec::new(), Arc::default()))
}

impl Reloader {
    /// Reads the file again and puts it in force, or refuses it and keeps the config in force.
    pub async fn reload(&mut self) {
        tracing::info!(config = %self.path.display(), "reloading the config");
        let next = match config::load_with(&self.path, &self.overrides) {
            Ok(next) => next,
            Err(error) => return self.refuse(&error),
        };
        for warning in &next.warnings {
            tracing::warn!("{warning}");
        }
        let (next, needs_restart) = keep_restart_only(&self.running, next);
        let next = Arc::new(next);
        let generation = self.generation + 1;
        // Everything that can fail, before anything is swapped.
        let portal = match &self.portal {
            Some(live) => match live.prepare(&next).await {
                Ok(prepared) => Some(prepared),
                Err(error) => return self.refuse(&error),
            },
            None => None,
        };
        if let Some(proxy) = &self.proxy {
            proxy.swap(ProxyConfig::new(&next, generation));
        }
        if let Some(cache) = &self.claims_alone {
            cache.first_use().announce_with(proxy_alone_routing(&next));
        }
        if let (Some(live), Some(prepared)) = (&mut self.portal, portal) {
            live.swap(prepared);
        }
        for key in needs_restart {
            tracing::warn!(
                key,
                "{key} changed in the config file but needs a restart: the running value stays \
                 in force until then"
            );
        }
        self.running = next;
        self.generation = generation;
        self.metrics.config_generation.set(i64::try_from(generation).unwrap_or(i64::MAX));
        tracing::info!(generation, "config reloaded (generation {generation})");
    }

    fn refuse(&self, error: &dyn std::fmt::Display) {
        self.metrics.config_reload_failures.inc();
        tracing::error!(
            generation = self.generation,
            "config reload refused, generation {} stays in force: {error}",
            self.generation
        );
    }

    /// Reloads on every SIGHUP, for as long as the process runs. The handler is installed
    /// before this returns (so a SIGHUP from then on never kills the process); the loop runs on
    /// `runtime`.
    pub fn on_sighup(mut self, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = {
            let _entered = runtime.enter();
            signal(SignalKind::hangup())?
        };
        self.metrics.config_generation.set(i64::try_from(self.generation).unwrap_or(i64::MAX));
        runtime.spawn(async move {
            while hangups.recv().await.is_some() {
                self.reload().await;
            }
        });
        Ok(())
    }
}

/// `next` with every key a running process cannot change set back to its `running` value, and
/// the names of those that differed. Restart-only: the listeners (`server.listen_http`,
/// `server.https`, `server.ops_listen`, `server.portal_listen`, `server.demo_listen`), where
/// the portal is (`server.portal_url`, `server.portal_upstream`), `server.shutdown_grace`,
/// `[session]` (its secret signs every cookie), `[store]`, and `[identity]`'s provider. A local
/// users file is re-read: its users and groups change live.
pub fn keep_restart_only(running: &Config, mut next: Config) -> (Config, Vec<&'static str>) {
    let mut changed = Vec::new();
    let mut keep = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
        differs
    };
    let (old, new) = (&running.server, &mut next.server);
    let live_server = ServerConfig {
        headers: new.headers.clone(),
        trusted_proxies: new.trusted_proxies.clone(),
        ..old.clone()
    };
    keep("server.listen_http", old.listen_http != new.listen_http);
    keep("server.https", old.https != new.https);
    keep("server.ops_listen", old.ops_listen != new.ops_listen);
    keep("server.portal_listen", old.portal_listen != new.portal_listen);
    keep("server.demo_listen", old.demo_listen != new.demo_listen);
    keep("server.portal_url", old.portal_url != new.portal_url);
    keep("server.portal_upstream", old.portal_upstream != new.portal_upstream);
    keep("server.shutdown_grace", old.shutdown_grace != new.shutdown_grace);
    *new = live_server;
    if keep("session", running.session != next.session) {
        next.session = running.session.clone();
    }
    if keep("store", running.store != next.store) {
        next.store = running.store.clone();
    }
    let same_provider = matches!(
        (&running.identity, &next.identity),
        (IdentityConfig::Local { .. }, IdentityConfig::Local { .. })
    ) || running.identity == next.identity;
    if keep("identity", !same_provider) {
        next.identity = running.identity.clone();
    }
    (next, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quickstart config in `dir`, edited.
    fn quickstart(dir: &std::path::Path, edit: impl FnOnce(String) -> String) -> Config {
        let root = env!("CARGO_MANIFEST_DIR");
        let text = std::fs::read_to_string(format!("{root}/config/quickstart.toml")).unwrap();
        std::fs::copy(
            format!("{root}/config/quickstart-users.toml"),
            dir.join("quickstart-users.toml"),
        )
        .unwrap();
        let path = dir.join("quickstart.toml");
        std::fs::write(&path, edit(text)).unwrap();
        config::load_with(&path, &Overrides::default()).expect("the edited quickstart loads")
    }

    #[test]
    fn restart_only_keys_keep_their_running_value_and_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let running = quickstart(dir.path(), |text| text);
        let next = quickstart(dir.path(), |text| {
            text.replace("127.0.0.1:9090", "127.0.0.1:9191").replace("8080", "8181")
        });
        let (kept, changed) = keep_restart_only(&running, next);
        assert_eq!(kept.server, running.server, "the listeners stay as started");
        for key in ["server.listen_http", "server.ops_listen", "server.portal_url"] {
            assert!(changed.contains(&key), "{key} is named in {changed:?}");
        }
        assert!(!changed.contains(&"store") && !changed.contains(&"session"), "{changed:?}");
        assert_ne!(
            kept.resources[0].host, running.resources[0].host,
            "resources change live, hosts included"
        );

        let (same, changed) = keep_restart_only(&running, quickstart(dir.path(), |text| text));
        assert!(changed.is_empty(), "nothing changed: {changed:?}");
        assert_eq!(same.server, running.server);
    }
}
