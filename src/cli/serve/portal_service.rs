//! The portal as one of Pingora's services, so SIGTERM stops it the way it stops the proxy:
//! no new connections, requests in flight finish within the grace period. Each request is
//! served by the portal app in force when it arrives (a reload swaps it, see `live_portal`).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use axum::extract::Request;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tower::ServiceExt;

pub struct PortalService {
    /// Bound by the preflight checks; taken once, when Pingora starts the service.
    listener: Mutex<Option<TcpListener>>,
    app: Arc<ArcSwap<axum::Router>>,
}

impl PortalService {
    pub fn new(listener: TcpListener, app: Arc<ArcSwap<axum::Router>>) -> Self {
        Self { listener: Mutex::new(Some(listener)), app }
    }

    /// Hands every request to the app in force when it arrives.
    fn dispatcher(&self) -> axum::Router {
        let live = self.app.clone();
        axum::Router::new().fallback(move |request: Request| {
            let app = axum::Router::clone(&live.load());
            async move { app.oneshot(request).await.unwrap_or_else(|never| match never {}) }
        })
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
            axum::serve(listener, self.dispatcher()).with_graceful_shutdown(stopping).await
        {
            tracing::error!(%error, "the portal stopped");
        }
    }
}
