//! The plain-HTTP listener when HTTPS is configured too: every request is sent to the same
//! address over HTTPS (308 keeps the method and body). Only hosts jitgate serves (its
//! resources' and the portal's) are redirected, so the listener cannot be used to bounce
//! browsers elsewhere.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::live::LiveConfig;
use crate::route::normalize_host;

pub struct HttpsRedirect {
    /// The resources in force, for their hosts: a reload's new hosts are redirected at once.
    pub config: Arc<LiveConfig>,
    /// The portal's host as browsers reach it over HTTPS (with its port unless 443).
    pub portal_host: String,
    /// The HTTPS port browsers use (443 is left out of URLs).
    pub https_port: u16,
}

#[async_trait]
impl ServeHttp for HttpsRedirect {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let header = session.req_header();
        let host = header.headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
        let name = normalize_host(host, false);
        let name = name.rsplit_once(':').map_or(name.as_str(), |(name, _)| name).to_owned();
        let port =
            if self.https_port == 443 { String::new() } else { format!(":{}", self.https_port) };
        let target_host = format!("{name}{port}");
        let path = header.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let builder =
            Response::builder().header("cache-control", "no-store").header("content-length", 0);
        let served =
            self.config.load().router.serves_host(&target_host) || target_host == self.portal_host;
        let response = if served {
            builder.status(308).header("location", format!("https://{target_host}{path}"))
        } else {
            builder.status(404)
        };
        response.body(Vec::new()).unwrap_or_default()
    }
}
