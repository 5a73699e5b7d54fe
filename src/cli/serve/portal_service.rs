//! The portal as one of Pingora's services, so SIGTERM stops it the way it stops the proxy:
//! no new connections, requests in flight finish within the grace period.

use std::net::TcpListener;
use std::sync::Mutex;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

pub struct PortalService {
    /// Bound by the preflight checks; taken once, when Pingora starts the service.
    listener: Mutex<Option<TcpListener>>,
    app: axum::Router,
}

impl PortalService {
    pub fn new(listener: TcpListener, app: axum::Router) -> Self {
        Self { listener: Mutex::new(Some(listener)), app }
    }
}

#[async_trait]
impl BackgroundService for PortalService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(listener) = self.listener.lock().ok().and_then(|mut slot| slot.take()) else {
            return;
        };
        let listener = listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpListener::from_std(listener));
        let listener = match listener {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "the portal cannot use its socket");
                return;
            }
        };
        let stopping = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(error) =
            axum::serve(listener, self.app.clone()).with_graceful_shutdown(stopping).await
        {
            tracing::error!(%error, "the portal stopped");
        }
    }
}
