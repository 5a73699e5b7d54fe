//! Everything an operator can get wrong, checked before anything listens: the role against
//! the config, the listen addresses (Pingora would panic inside its listener thread on a bind
//! conflict and keep the process alive), the certificate, and where the portal is.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use anyhow::{Context, bail};
use jitgate_access::config::{Config, HttpsListener, StoreConfig};

use super::Role;

/// What the checks found and hold on to for the start.
pub struct Ready {
    /// The portal's listening socket, bound now so a clash is an error before the start;
    /// `None` when this process runs no portal.
    pub portal: Option<TcpListener>,
    /// Where this process's proxies send the portal's host.
    pub portal_address: Option<SocketAddr>,
}

pub fn check(config: &Config, role: Role) -> anyhow::Result<Ready> {
    let server = &config.server;
    if role != Role::All && matches!(config.store, StoreConfig::Embedded { .. }) {
        bail!(
            "--role {role} shares grants and sessions with other processes through Redis, but \
             [store] backend is \"embedded\", which serves one process: set backend = \"redis\", \
             or run --role all"
        );
    }
    if role.runs_proxy() {
        if let Some(listen) = server.listen_http {
            ensure_can_listen(listen)?;
        }
        if let Some(https) = &server.https {
            ensure_can_listen(https.listen)?;
            check_certificate(https)?;
        }
    }
    if let Some(ops) = server.ops_listen {
        ensure_can_listen(ops)?;
    }
    if role == Role::All
        && let Some(demo) = server.demo_listen
    {
        ensure_can_listen(demo)?;
    }
    let portal = match (role, server.portal_listen) {
        (Role::Proxy, _) => None,
        (_, Some(listen)) => Some(bind(listen)?),
        (Role::All, None) => Some(bind(SocketAddr::from(([127, 0, 0, 1], 0)))?),
        (Role::Portal, None) => bail!(
            "--role portal serves the portal on server.portal_listen, which is not set: add \
             it to [server], e.g. portal_listen = \"10.0.0.5:8088\""
        ),
    };
    let portal_address = match role {
        Role::Portal => None,
        Role::All => Some(portal.as_ref().expect("bound above").local_addr()?),
        Role::Proxy => Some(resolve_portal_upstream(config)?),
    };
    Ok(Ready { portal, portal_address })
}

fn ensure_can_listen(address: SocketAddr) -> anyhow::Result<()> {
    bind(address).map(drop)
}

fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))
}

/// Resolved once, at the start: a portal that moves needs the proxies restarted.
fn resolve_portal_upstream(config: &Config) -> anyhow::Result<SocketAddr> {
    let Some(upstream) = &config.server.portal_upstream else {
        bail!(
            "--role proxy forwards the portal's host ({}) to server.portal_upstream, which is \
             not set: add it to [server], e.g. portal_upstream = \"10.0.0.5:8088\"",
            config.server.portal_host
        );
    };
    upstream
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve server.portal_upstream {upstream:?}"))?
        .next()
        .with_context(|| format!("server.portal_upstream {upstream:?} has no address"))
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
