//! Ending open connections with the grant.
//!
//! A WebSocket (or an event stream) can sit idle for hours, and an idle connection runs no
//! Pingora filter, so checking on each chunk cannot end it. Instead, for such requests the
//! upstream connection is made through `PeerOptions::custom_l4`: the TCP stream becomes a
//! virtual socket whose reads and writes fail once its lease ends. A supervisor task ends the
//! lease at the grant's expiry, or as soon as a change event shows the grant is gone (checking
//! every second while the change feed is down). Pingora is waiting on the upstream read
//! whenever the connection is idle, so the failure surfaces at once and it closes both sides.
//! Ordinary requests never take this path: their connections stay pooled and unwrapped.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use jitgate_access::clock::Clock;
use jitgate_access::ids::{ResourceName, UserId};
use jitgate_access::time::Timestamp;
use pingora::connectors::L4Connect;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::l4::stream::Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use pingora::{Error, ErrorType, OrErr, Result};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

use crate::cache::AccessCache;

/// How often a lease re-checks its grant while the change feed is down.
const RECHECK_WITHOUT_FEED: Duration = Duration::from_secs(1);
/// With the feed up, events wake a lease; this is only a backstop.
const IDLE_RECHECK: Duration = Duration::from_secs(60);

/// The grant a connection lives under.
#[derive(Clone)]
pub struct Lease {
    pub user: UserId,
    pub resource: ResourceName,
    pub expires_at: Timestamp,
    pub cache: Arc<AccessCache>,
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease({} on {} until {})", self.user, self.resource, self.expires_at)
    }
}

impl Lease {
    /// Resolves when the grant has ended: expired, revoked, or no longer findable.
    async fn ended(mut self) {
        let mut changes = self.cache.grant_changes();
        loop {
            let remaining = self.clock.now().until(self.expires_at);
            let recheck = if self.cache.is_live() { IDLE_RECHECK } else { RECHECK_WITHOUT_FEED };
            tokio::select! {
                () = tokio::time::sleep(remaining) => {}
                () = tokio::time::sleep(recheck) => {}
                changed = changes.recv() => match changed {
                    Ok((user, resource)) if user != self.user || resource != self.resource => continue,
                    // Ours, or events were missed: look again below.
                    _ => {}
                },
            }
            match self.cache.grant_expiry(&self.user, &self.resource, self.clock.now()).await {
                Ok(Some(expires_at)) => self.expires_at = expires_at,
                // Gone, or it cannot be verified: fail closed.
                Ok(None) | Err(_) => return,
            }
        }
    }
}

/// Works around Pingora 0.9's cloudflare/pingora#946: when the upstream's `101` is read before
/// the proxy has handled the upgrade request's own (empty) body, Pingora mistakes that body's
/// end for the end of the tunnel and closes it at once (clients see the `101`, then EOF). So
/// the first read from an upgraded upstream waits until the request body's end has been handed
/// to Pingora (`request_body_filter` raises the flag right before Pingora queues it), plus
/// [`SETTLE_MARGIN`] for Pingora to consume it; never longer than [`SETTLE_LIMIT`].
/// Remove once a Pingora release carries the fix.
const SETTLE_MARGIN: Duration = Duration::from_millis(2);
const SETTLE_LIMIT: Duration = Duration::from_millis(500);

/// Resolves once an upgraded upstream's first read may proceed (see [`SETTLE_MARGIN`]).
type Settle = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

fn settle(mut body_sent: watch::Receiver<bool>) -> Settle {
    Box::pin(async move {
        let _ = tokio::time::timeout(SETTLE_LIMIT, body_sent.wait_for(|sent| *sent)).await;
        tokio::time::sleep(SETTLE_MARGIN).await;
    })
}

/// Connects to the upstream for a long-lived request: through a socket that dies with the
/// lease when there is one (JIT access), and that lets upgrades settle (see [`SETTLE_MARGIN`]).
#[derive(Debug)]
pub struct LeasedConnect {
    pub lease: Option<Lease>,
    /// For an upgrade: raised once the request's own body end has been handed to Pingora.
    pub body_sent: Option<watch::Receiver<bool>>,
}

#[async_trait]
impl L4Connect for LeasedConnect {
    async fn connect(&self, address: &SocketAddr) -> Result<Stream> {
        let inet = address.as_inet().ok_or_else(|| {
            Error::explain(ErrorType::ConnectError, "upstream is not an inet address")
        })?;
        let tcp = TcpStream::connect(inet)
            .await
            .or_err(ErrorType::ConnectError, "connecting to the upstream")?;
        let _ = tcp.set_nodelay(true);
        let ended = self.lease.clone().map(supervise);
        let settle = self.body_sent.clone().map(settle);
        let socket = LeasedSocket { tcp, ended, over: false, settle };
        Ok(Stream::from(VirtualSocketStream::new(Box::new(socket))))
    }
}

/// Starts the task that watches `lease`; the receiver fires when the grant has ended.
fn supervise(lease: Lease) -> oneshot::Receiver<()> {
    let (mut end, ended) = oneshot::channel();
    let open = lease.cache.metrics().leased_connections.clone();
    open.inc();
    tokio::spawn(async move {
        let who = format!("{} on {}", lease.user, lease.resource);
        tokio::select! {
            () = lease.ended() => {
                tracing::info!(grant = %who, "grant ended: closing an open connection");
                let _ = end.send(());
            }
            // The connection closed first: nothing left to supervise.
            () = end.closed() => {}
        }
        open.dec();
    });
    ended
}

/// An upstream socket whose reads and writes fail once its lease has ended.
struct LeasedSocket {
    tcp: TcpStream,
    ended: Option<oneshot::Receiver<()>>,
    over: bool,
    /// Holds back the first read of an upgraded connection (see [`SETTLE_MARGIN`]).
    settle: Option<Settle>,
}

impl fmt::Debug for LeasedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeasedSocket")
            .field("tcp", &self.tcp)
            .field("leased", &self.ended.is_some())
            .field("over", &self.over)
            .field("settling", &self.settle.is_some())
            .finish()
    }
}

impl LeasedSocket {
    /// Whether the lease has ended, registering for a wake-up when it does.
    fn lease_over(&mut self, cx: &mut Context<'_>) -> bool {
        if let (false, Some(ended)) = (self.over, self.ended.as_mut()) {
            // A dropped sender means the supervisor is gone; failing closed is the safe reading.
            self.over = Pin::new(ended).poll(cx).is_ready();
        }
        self.over
    }
}

fn grant_ended() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the grant for this connection has ended",
    )
}

impl VirtualSocket for LeasedSocket {
    fn set_socket_option(&self, option: VirtualSockOpt) -> std::io::Result<()> {
        match option {
            VirtualSockOpt::NoDelay => self.tcp.set_nodelay(true),
            _ => Ok(()),
        }
    }
}

impl AsyncRead for LeasedSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.lease_over(cx) {
            return Poll::Ready(Err(grant_ended()));
        }
        if let Some(settle) = self.settle.as_mut() {
            if settle.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.settle = None;
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for LeasedSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.lease_over(cx) {
            return Poll::Ready(Err(grant_ended()));
        }
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
