//! A plain Pingora pass-through: every request goes to one upstream, nothing is checked or
//! added. The baseline of the load benchmark (`benches/load/run`): what Pingora costs before
//! jitgate does anything.
//!
//! ```sh
//! cargo run --release -p jitgate-proxy --example passthrough -- \
//!     --listen 127.0.0.1:8090 --upstream 127.0.0.1:8081 [--threads N] \
//!     [--tls-cert CERT.pem --tls-key KEY.pem]
//! ```
//!
//! With `--tls-cert` and `--tls-key` it terminates HTTPS on `--listen` with the same settings
//! as jitgate's HTTPS listener (`TlsSettings::intermediate`).
//!
//! Threads default to what jitgate's `serve` uses: the available parallelism (which respects
//! `taskset`).

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session, http_proxy_service};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;

/// The same global allocator as the `jitgate` binary (see src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Passthrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: passthrough --listen ADDR --upstream ADDR [--threads N] [--tls-cert PEM --tls-key PEM]"
    );
    std::process::exit(2)
}

fn main() {
    let mut listen = None;
    let mut upstream = None;
    let (mut cert, mut key) = (None, None);
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--upstream" => upstream = value.parse::<SocketAddr>().ok(),
            "--threads" => threads = value.parse().unwrap_or_else(|_| usage()),
            "--tls-cert" => cert = Some(value),
            "--tls-key" => key = Some(value),
            _ => usage(),
        }
    }
    let (Some(listen), Some(upstream)) = (listen, upstream) else { usage() };

    // As jitgate's `serve` configures its server.
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(&server.configuration, Passthrough { upstream });
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let settings = TlsSettings::intermediate(&cert, &key).unwrap_or_else(|error| {
                eprintln!("passthrough: TLS settings: {error}");
                std::process::exit(1)
            });
            service.add_tls_with_settings(&listen, None, settings);
        }
        (None, None) => service.add_tcp(&listen),
        _ => usage(),
    }
    server.add_service(service);
    eprintln!("passthrough: {listen} -> {upstream}, {threads} threads");
    server.run_forever()
}
