//! The operations endpoint, on its own listener so its paths never shadow an app's:
//! `/healthz` (the process serves), `/readyz` (the store answers) and `/metrics`.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::cache::AccessCache;
use crate::metrics::Metrics;

pub struct OpsApp {
    pub metrics: Arc<Metrics>,
    pub cache: Arc<AccessCache>,
}

fn reply(status: u16, content_type: &str, body: String) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body.into_bytes())
        .unwrap_or_default()
}

#[async_trait]
impl ServeHttp for OpsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => reply(200, "text/plain", "ok\n".into()),
            "/readyz" => match self.cache.store().ping().await {
                Ok(()) => reply(200, "text/plain", "ready\n".into()),
                Err(error) => reply(503, "text/plain", format!("not ready: {error}\n")),
            },
            "/metrics" => reply(200, "text/plain; version=0.0.4", self.metrics.render()),
            _ => reply(404, "text/plain", "not found\n".into()),
        }
    }
}
