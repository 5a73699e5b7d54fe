//! The few responses the proxy writes itself: redirects, JSON errors for API clients, plain
//! text for WebSocket handshakes, and a minimal HTML page. Anything richer is the portal's job.

use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;

/// Who is asking, which decides how a refusal is phrased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// A browser navigating: gets redirects and pages.
    Browser,
    /// Scripts and XHR: get JSON, never redirects.
    Api,
    /// A WebSocket handshake: browsers do not follow redirects there, so a plain status.
    WebSocket,
}

impl Client {
    pub fn of(request: &RequestHeader) -> Self {
        let header = |name: http::HeaderName| {
            request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
        };
        if header(http::header::UPGRADE).eq_ignore_ascii_case("websocket") {
            return Client::WebSocket;
        }
        let method = &request.method;
        let navigating = (method == "GET" || method == "HEAD")
            && header(http::header::ACCEPT).contains("text/html");
        if navigating && header(http::header::AUTHORIZATION).is_empty() {
            Client::Browser
        } else {
            Client::Api
        }
    }
}

pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Bytes,
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

impl Reply {
    pub fn redirect(location: &str) -> Self {
        let body = format!("<!doctype html><a href=\"{0}\">Continue</a>", escape(location));
        Self {
            status: 302,
            headers: vec![("location", location.to_owned())],
            content_type: "text/html; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn json(status: u16, code: &str, message: &str, extra: Option<(&str, &str)>) -> Self {
        let mut object = serde_json::json!({ "error": code, "message": message });
        if let Some((key, value)) = extra {
            object[key] = serde_json::Value::String(value.to_owned());
        }
        Self {
            status,
            headers: Vec::new(),
            content_type: "application/json",
            body: object.to_string().into(),
        }
    }

    pub fn raw(status: u16, content_type: &'static str, body: String) -> Self {
        Self { status, headers: Vec::new(), content_type, body: body.into() }
    }

    pub fn text(status: u16, message: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "text/plain; charset=utf-8",
            body: format!("{message}\n").into(),
        }
    }

    pub fn page(status: u16, title: &str, message: &str) -> Self {
        Self::page_html(
            status,
            title,
            &format!("<h1>{t}</h1><p>{m}</p>", t = escape(title), m = escape(message)),
        )
    }

    /// A page around `body`, which the caller has escaped.
    pub fn page_html(status: u16, title: &str, body: &str) -> Self {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}}\
             h1{{font-size:1.4rem}}p{{color:#57606a}}strong{{color:#1f2328}}\
             a.button{{display:inline-block;padding:.4rem .8rem;border-radius:6px;background:#0969da;color:#fff;text-decoration:none}}</style></head>\
             <body>{body}</body></html>",
            t = escape(title),
        );
        Self {
            status,
            headers: Vec::new(),
            content_type: "text/html; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Writes the reply and ends the exchange.
    pub async fn send(self, session: &mut Session) -> pingora::Result<()> {
        let mut header = ResponseHeader::build(self.status, Some(self.headers.len() + 4))?;
        header.insert_header("content-type", self.content_type)?;
        header.insert_header("content-length", self.body.len().to_string())?;
        header.insert_header("cache-control", "no-store")?;
        for (name, value) in self.headers {
            header.append_header(name, value)?;
        }
        session.write_response_header(Box::new(header), false).await?;
        session.write_response_body(Some(self.body), true).await
    }
}
