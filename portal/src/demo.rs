//! The quickstart's protected resource: a page that shows who jitgate says you are, from the
//! headers the proxy added (like traefik's `whoami`). It trusts those headers because only
//! the proxy can reach it (it listens on loopback); a real app should verify the signed
//! `X-Jitgate-Assertion` against the portal's JWKS instead.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

#[derive(Template)]
#[template(path = "demo.html")]
struct DemoPage {
    email: String,
    groups: String,
    assertion: bool,
    headers: Vec<(String, String)>,
}

fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn whoami(headers: HeaderMap) -> Response {
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    all.sort();
    let wants_json = header_text(&headers, header::ACCEPT.as_str()).contains("application/json");
    if wants_json {
        let map: serde_json::Map<String, serde_json::Value> =
            all.into_iter().map(|(k, v)| (k, json!(v))).collect();
        return axum::Json(json!({ "app": "jitgate demo", "headers": map })).into_response();
    }
    let page = DemoPage {
        email: header_text(&headers, "x-jitgate-email"),
        groups: header_text(&headers, "x-jitgate-groups"),
        assertion: headers.contains_key("x-jitgate-assertion"),
        headers: all,
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response(),
    }
}

/// Serves the demo app on `listen` until the process ends.
pub async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = Router::new().fallback(get(whoami));
    axum::serve(listener, app).await
}
