//! `jitgate serve`: the proxy (and, once built, the portal) in one process.
//!
//! Everything an operator can get wrong is checked before anything listens: the config, the
//! listen addresses (Pingora would panic inside its listener thread on a bind conflict and keep
//! the process alive), and the store. Then Pingora takes over the main thread.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use jitgate_access::assertion::AssertionSigner;
use jitgate_access::bearer::BearerVerifier;
use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::config::{Config, HttpsListener, IdentityConfig, StoreConfig};
use jitgate_access::outbox::Routing;
use jitgate_access::service::AccessService;
use jitgate_access::store::{EmbeddedStore, RedisStore, Store};
use jitgate_access::token::TokenKeys;
use jitgate_portal::notify::routing::ConfigRouting;
use jitgate_portal::notify::{Notifier, NotifyMetrics};
use jitgate_portal::{Portal, PortalSettings};
use jitgate_proxy::{
    AccessCache, Assertions, Gate, HttpsRedirect, JitgateProxy, Metrics, OpsApp, ProxySettings,
    Router,
};
use pingora::apps::http_app::HttpServer;
use pingora::listeners::tls::TlsSettings;
use pingora::proxy::http_proxy_service_with_name;
use pingora::server::Server;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

/// How often expiries and timeouts are recorded in the store (and its audit log). Access
/// itself never waits for this: every check compares expiry with the clock.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

fn ensure_can_listen(address: SocketAddr) -> anyhow::Result<()> {
    TcpListener::bind(address).map(drop).with_context(|| format!("cannot listen on {address}"))
}

/// Loads the certificate and key the way the TLS listener will, so a bad pair is a clear
/// error now rather than a panic in a listener thread later.
fn check_certificate(https: &HttpsListener) -> anyhow::Result<()> {
    let (cert, key) = (https.cert.to_string_lossy(), https.key.to_string_lossy());
    let loaded = pingora::tls::load_certs_and_key_files(&cert, &key);
    let Ok(Some((certs, key_der))) = loaded else {
        bail!(
            "cannot load the TLS certificate {cert} and key {key}: they must be readable PEM files"
        );
    };
    if certs.is_empty() {
        bail!("{cert} holds no certificate");
    }
    pingora::tls::install_default_crypto_provider();
    pingora::tls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .with_context(|| format!("{cert} and {key} do not make a usable TLS identity"))?;
    Ok(())
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.store {
        StoreConfig::Embedded { path } => Arc::new(EmbeddedStore::open(path)?),
        StoreConfig::Redis { url, prefix } => {
            Arc::new(RedisStore::connect(url.expose(), prefix).await?)
        }
    })
}

/// Records what the clock has decided (expiries, timeouts), for the audit log and the portal.
async fn sweep_forever(service: AccessService) {
    loop {
        if let Err(error) = service.sweep(500).await {
            tracing::warn!(%error, "cannot record expiries yet");
        }
        tokio::time::sleep(SWEEP_INTERVAL).await;
    }
}

/// Starts the portal on a loopback port of its own; the proxy routes the portal's host there.
/// With an OIDC provider, discovery happens now: an unreachable IdP stops the start.
async fn start_portal(
    config: &Config,
    service: AccessService,
    clock: Arc<dyn Clock>,
    assertion_jwks: serde_json::Value,
    bearer: Option<BearerVerifier>,
) -> anyhow::Result<SocketAddr> {
    let settings = PortalSettings {
        config: Arc::new(config.clone()),
        service: Arc::new(service),
        clock,
        assertion_jwks,
        bearer,
    };
    let portal = Portal::new(settings).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open a loopback port for the portal")?;
    let address = listener.local_addr()?;
    let app = portal.router();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the portal stopped");
        }
    });
    tracing::info!(%address, "portal listening for the proxy");
    Ok(address)
}

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_config(path) else {
        return Ok(ExitCode::FAILURE);
    };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(listen) = config.server.listen_http {
        ensure_can_listen(listen)?;
    }
    if let Some(https) = &config.server.https {
        ensure_can_listen(https.listen)?;
        check_certificate(https)?;
    }
    if let Some(ops) = config.server.ops_listen {
        ensure_can_listen(ops)?;
    }
    if let Some(demo) = config.server.demo_listen {
        ensure_can_listen(demo)?;
    }

    // The store's connections, the change feed and the portal live on a runtime of their own,
    // alive for the whole process: Pingora gives each service its own runtime, and a Redis connection
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
    runtime.spawn(cache.clone().follow_changes());
    let policies = Arc::new(config.policy_set());
    let users = match &config.identity {
        IdentityConfig::Local { users, .. } => users.clone(),
        IdentityConfig::Oidc { .. } => Vec::new(),
    };
    let routing: Arc<dyn Routing> = Arc::new(ConfigRouting::new(Arc::new(config.clone()), users));
    let workflow = AccessService::new(store.clone(), clock.clone(), policies.clone())
        .with_routing(routing.clone());
    runtime.spawn(sweep_forever(workflow));
    let notifier = Notifier::new(&config, store.clone(), clock.clone(), config.notifications.retry)
        .map_err(|error| anyhow::anyhow!("notifications: {error}"))?
        .with_metrics(NotifyMetrics {
            attempts: metrics.notifications.clone(),
            queue: metrics.notification_queue.clone(),
        });
    runtime.spawn(notifier.run());
    if let Some(listen) = config.server.demo_listen {
        runtime.spawn(async move {
            if let Err(error) = jitgate_portal::demo::serve(listen).await {
                tracing::error!(%error, "the demo app stopped");
            }
        });
        tracing::info!(%listen, "demo app listening");
    }

    let keys_secret = config.session.secret.expose().as_bytes().to_vec();
    let signer = AssertionSigner::from_secret(&keys_secret, &config.server.portal_url);
    // One IdP key cache for every verifier in the process (proxy services and portal API).
    let bearer = BearerVerifier::for_identity(&config.identity, None);
    let idp_keys = bearer.as_ref().map(|verifier| verifier.keys().clone());
    let portal = runtime.block_on(start_portal(
        &config,
        AccessService::new(store, clock.clone(), policies).with_routing(routing),
        clock.clone(),
        signer.jwks(),
        bearer,
    ))?;
    let assertions = Arc::new(Assertions::new(signer));
    let router = Arc::new(Router::new(&config.resources));
    runtime.spawn(router.clone().check_upstreams_forever());
    let proxy = |tls: bool| {
        let verifier = BearerVerifier::for_identity(&config.identity, idp_keys.clone());
        let gate =
            Gate::new(TokenKeys::new(&keys_secret), config.roles.clone(), cache.clone(), verifier);
        let settings = ProxySettings {
            router: router.clone(),
            gate,
            portal_url: config.server.portal_url.clone(),
            portal_host: config.server.portal_host.clone(),
            headers: config.server.headers.clone(),
            assertions: assertions.clone(),
            tls,
            portal: Some(portal),
        };
        JitgateProxy::new(settings, clock.clone())
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
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
                router: Router::new(&config.resources),
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
    if let Some(ops) = config.server.ops_listen {
        let mut service =
            Service::new("jitgate ops".into(), HttpServer::new_app(OpsApp { metrics, cache }));
        service.add_tcp(&ops.to_string());
        server.add_service(service);
    }
    tracing::info!(
        http = ?config.server.listen_http,
        https = ?config.server.https.as_ref().map(|h| h.listen),
        config = %path.display(),
        "jitgate is serving"
    );
    // Pingora exits the process itself; the store runtime must simply outlive it.
    std::mem::forget(runtime);
    server.run_forever()
}
