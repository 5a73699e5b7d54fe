//! Real peers for integration tests, each started on a free loopback port and stopped when
//! dropped: `redis-server`, two HTTP upstreams (a Python echo and nginx, which normalises
//! paths), and a raw HTTP/1.1 client that shows exactly what went over the wire; a real OpenID
//! provider; a real SMTP server and webhook receiver; and the `jitgate serve` process itself.

pub mod browser;
pub mod http;
mod jitgate;
pub mod nginx;
pub mod notify;
pub mod oidc;
mod redis_server;
pub mod relay;
pub mod upstream;

pub use jitgate::Jitgate;
pub use redis_server::RedisServer;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Polls `ready` until it holds or `limit` passes; panics with `what` on timeout.
pub async fn wait_until<F, Fut>(what: &str, limit: std::time::Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !ready().await {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Whether something accepts TCP connections on `port`.
pub async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}
