//! `jitgate serve`: the proxy and the portal, in one process or split by `--role`.
//!
//! Everything an operator can get wrong is checked before anything listens (the config, the
//! role, the listen addresses, the store); then Pingora takes over the main thread, and its
//! signal handling is the process's: SIGTERM stops accepting, lets requests in flight finish
//! and exits 0; SIGINT exits at once. SIGHUP is jitgate's own: it reloads the config (see
//! `reload.rs`).

mod banner;
mod live_portal;
mod portal_service;
mod preflight;
mod reload;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jitgate_access::assertion::AssertionSigner;
use jitgate_access::bearer::BearerVerifier;
use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::config::{Config, Overrides, StoreConfig};
use jitgate_access::people::PeopleIndex;
use jitgate_access::store::{EmbeddedStore, RedisStore, Store};
use jitgate_access::token::TokenKeys;
use jitgate_proxy::{
    AccessCache, Assertions, Gate, HttpsRedirect, InFlight, JitgateProxy, LiveConfig, Metrics,
    OpsApp, ProxyConfig, ProxySettings,
};
use pingora::apps::http_app::HttpServer;
use pingora::listeners::tls::TlsSettings;
use pingora::proxy::http_proxy_service_with_name;
use pingora::server::Server;
use pingora::server::configuration::ServerConf;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use self::live_portal::{LivePortal, PortalParts};
use self::portal_service::PortalService;
use self::reload::Reloader;

/// The generation of the config a process starts with; each reload adds one.
const FIRST_GENERATION: u64 = 1;

/// Which parts of jitgate this process runs. Split roles share state through Redis: any
/// number of proxies at the edge, and the portal (with the sweeper and the notification
/// worker) where it suits, each scaled and restarted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Proxy and portal in one process (the default; the only role for the embedded store).
    All,
    /// Only the proxy: checks every request, forwards the portal's host to
    /// `server.portal_upstream`.
    Proxy,
    /// Only the portal, on `server.portal_listen`, with the expiry sweeper and notifications.
    Portal,
}

impl Role {
    fn runs_proxy(self) -> bool {
        self != Role::Portal
    }
}

/// As the command line spells it, so messages name the flag value the operator typed.
impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        let value = self.to_possible_value().expect("no role is hidden");
        f.write_str(value.get_name())
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.store {
        StoreConfig::Embedded { path } => Arc::new(EmbeddedStore::open(path)?),
        StoreConfig::Redis { url, prefix, wait_for_replicas } => Arc::new(
            RedisStore::connect(url.expose(), prefix).await?.wait_for_replicas(*wait_for_replicas),
        ),
    })
}

/// How often the portal rereads the people records (sign-ins at other instances).
const PEOPLE_REFRESH: Duration = Duration::from_secs(30);
/// The most people kept in memory for mail routing.
const PEOPLE_MAX: usize = 200_000;

async fn refresh_people(store: &Arc<dyn Store>, people: &PeopleIndex) {
    match store.people(PEOPLE_MAX).await {
        Ok(all) => people.replace_all(all),
        Err(error) => tracing::warn!(%error, "cannot read the people records yet"),
    }
}

async fn refresh_people_forever(store: Arc<dyn Store>, people: Arc<PeopleIndex>) {
    loop {
        tokio::time::sleep(PEOPLE_REFRESH).await;
        refresh_people(&store, &people).await;
    }
}

/// The quickstart's demo app (single-process only).
fn start_demo(config: &Config, role: Role, runtime: &tokio::runtime::Runtime) {
    if role == Role::All
        && let Some(listen) = config.server.demo_listen
    {
        runtime.spawn(async move {
            if let Err(error) = jitgate_portal::demo::serve(listen).await {
                tracing::error!(%error, "the demo app stopped");
            }
        });
        tracing::info!(%listen, "demo app listening");
    }
}

/// Writes this process's id to `path`, for `jitgate reload --pid-file` (and init scripts).
fn write_pid_file(path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, format!("{}\n", std::process::id()))
        .with_context(|| format!("cannot write the pid file {}", path.display()))
}

pub fn run(
    path: &Path,
    role: Role,
    overrides: &Overrides,
    pid_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_config(path, overrides) else {
        return Ok(ExitCode::FAILURE);
    };
    let config = Arc::new(config);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let ready = preflight::check(&config, role)?;

    // The store's connections and the change feed live on a runtime of their own, alive for
    // the whole process: Pingora gives each service its own runtime, and a Redis connection
    // must outlive the one it was created on.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("jitgate-store")
        .enable_all()
        .build()
        .context("cannot start the store runtime")?;
    let store = runtime.block_on(open_store(&config))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let metrics = Arc::new(Metrics::new());
    let cache = Arc::new(AccessCache::new(store.clone(), metrics.clone()));
    let keys_secret = config.session.secret.expose().as_bytes().to_vec();
    let signer = AssertionSigner::from_secret(&keys_secret, &config.server.portal_url);
    // One IdP client (discovery and keys) for the whole process: proxy services, the portal's
    // API and its sign-in.
    let bearer = BearerVerifier::for_identity(&config.identity, None);
    let idp = bearer.as_ref().map(|verifier| verifier.idp().clone());

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let conf = ServerConf {
        threads,
        // Pingora drains for the grace period, then stops its runtimes, dropping whatever
        // is still running; the timeout only bounds that stop.
        grace_period_seconds: Some(config.server.shutdown_grace.as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut portal = None;
    if let Some(listener) = ready.portal {
        // Everyone who has signed in, for mailing reviewers named by group: loaded now, then
        // refreshed from the store (sign-ins at other portal instances) and told of this
        // instance's own sign-ins at once.
        let people = Arc::new(PeopleIndex::default());
        runtime.block_on(refresh_people(&store, &people));
        runtime.spawn(refresh_people_forever(store.clone(), people.clone()));
        let parts = PortalParts {
            store: store.clone(),
            clock: clock.clone(),
            people,
            local_cache: role.runs_proxy().then(|| cache.clone()),
            assertion_jwks: signer.jwks(),
            idp: idp.clone(),
            metrics: metrics.clone(),
        };
        let live = runtime.block_on(LivePortal::start(parts, &config))?;
        // In one process the portal sits on a loopback port behind the proxy: browsers use
        // portal_url, never this address.
        tracing::info!(
            listen = %listener.local_addr()?,
            url = %config.server.portal_url,
            "portal app ready"
        );
        live.run_background(&runtime);
        start_demo(&config, role, &runtime);
        let mut service =
            background_service("jitgate portal", PortalService::new(listener, live.app()));
        service.threads = Some(threads);
        server.add_service(service);
        portal = Some(live);
    }

    let claims_alone = (role == Role::Proxy).then(|| cache.clone());
    if let Some(cache) = &claims_alone {
        cache.first_use().announce_with(reload::proxy_alone_routing(&config));
    }
    let mut proxy_config = None;
    if role.runs_proxy() {
        runtime.spawn(cache.clone().follow_changes());
        runtime.spawn(cache.clone().prune_forever(clock.clone()));
        let assertions = Arc::new(Assertions::new(signer));
        let live = Arc::new(LiveConfig::new(ProxyConfig::new(&config, FIRST_GENERATION)));
        runtime.spawn(live.clone().check_upstreams_forever());
        let in_flight = Arc::new(InFlight::new(cache.clone(), clock.clone()));
        runtime.spawn(in_flight.clone().supervise_forever(live.clone()));
        let proxy = |tls: bool| {
            let verifier = BearerVerifier::for_identity(&config.identity, idp.clone());
            let gate = Gate::new(TokenKeys::new(&keys_secret), cache.clone(), verifier);
            let settings = ProxySettings {
                config: live.clone(),
                gate,
                portal_url: config.server.portal_url.clone(),
                portal_host: config.server.portal_host.clone(),
                assertions: assertions.clone(),
                tls,
                in_flight: in_flight.clone(),
                portal: ready.portal_address,
            };
            JitgateProxy::new(settings, clock.clone())
        };
        add_proxy_services(&mut server, &config, &live, proxy)?;
        proxy_config = Some(live);
    }
    if let Some(ops) = config.server.ops_listen {
        let mut service = Service::new(
            "jitgate ops".into(),
            HttpServer::new_app(OpsApp { metrics: metrics.clone(), cache }),
        );
        service.add_tcp(&ops.to_string());
        server.add_service(service);
    }
    let plain = |addr: Option<std::net::SocketAddr>| addr.map_or("-".to_owned(), |a| a.to_string());
    tracing::info!(
        %role,
        http = %plain(config.server.listen_http.filter(|_| role.runs_proxy())),
        https = %plain(config.server.https.as_ref().filter(|_| role.runs_proxy()).map(|h| h.listen)),
        portal = %config.server.portal_url,
        config = %path.display(),
        "jitgate is serving"
    );
    let reloader = Reloader {
        path: path.to_owned(),
        overrides: *overrides,
        running: config.clone(),
        generation: FIRST_GENERATION,
        metrics: metrics.clone(),
        proxy: proxy_config,
        portal,
        claims_alone,
    };
    reloader.on_sighup(&runtime).context("cannot handle SIGHUP")?;
    if let Some(pid_file) = pid_file {
        write_pid_file(pid_file)?;
    }
    println!("{}", banner::where_to_go(&config, role));
    // Pingora exits the process itself; the store runtime must simply outlive it.
    std::mem::forget(runtime);
    server.run_forever()
}

/// The user-facing listeners: HTTPS with HTTP redirecting to it, or plain HTTP alone.
fn add_proxy_services(
    server: &mut Server,
    config: &Config,
    live: &Arc<LiveConfig>,
    proxy: impl Fn(bool) -> JitgateProxy,
) -> anyhow::Result<()> {
    if let Some(https) = &config.server.https {
        let mut service = http_proxy_service_with_name(
            &server.configuration,
            proxy(true),
            "jitgate proxy (https)",
        );
        let (cert, key) = (https.cert.to_string_lossy(), https.key.to_string_lossy());
        let settings = TlsSettings::intermediate(&cert, &key).context("TLS settings")?;
        service.add_tls_with_settings(&https.listen.to_string(), None, settings);
        server.add_service(service);
        if let Some(listen) = config.server.listen_http {
            let redirect = HttpsRedirect {
                config: live.clone(),
                portal_host: config.server.portal_host.clone(),
                https_port: https.listen.port(),
            };
            let mut service =
                Service::new("jitgate http to https".into(), HttpServer::new_app(redirect));
            service.add_tcp(&listen.to_string());
            server.add_service(service);
        }
    } else if let Some(listen) = config.server.listen_http {
        let mut service =
            http_proxy_service_with_name(&server.configuration, proxy(false), "jitgate proxy");
        service.add_tcp(&listen.to_string());
        server.add_service(service);
    }
    Ok(())
}
