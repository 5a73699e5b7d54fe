//! Real peers for integration tests, each started on a free loopback port and stopped when
//! dropped: `redis-server`, two HTTP upstreams (a Python echo and nginx, which normalises
//! paths), and a raw HTTP/1.1 client that shows exactly what went over the wire; a real OpenID
//! provider; a real SMTP server and webhook receiver; and the `jitgate serve` process itself.

pub mod browser;
pub mod config;
pub mod html;
pub mod http;
mod jitgate;
pub mod nginx;
pub mod notify;
pub mod oidc;
pub mod redis_sentinel;
mod redis_server;
pub mod relay;
pub mod tls;
pub mod upstream;

pub use jitgate::Jitgate;
pub use redis_server::RedisServer;

/// A port nothing listens on right now, and one this process has not handed out before: the
/// kernel may offer a port again as soon as its probe socket closes, and two of a test's ports
/// (e.g. a listener and its ops port) must never be the same.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
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
