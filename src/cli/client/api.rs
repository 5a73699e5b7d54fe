//! The portal's JSON API as the client speaks it: the saved portal and token, a bearer header
//! on every call, and the API's error bodies turned into messages.

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

use super::login::Saved;

pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// `raw` as one path segment: a request id never needs escaping, but nothing typed on a
/// command line gets to add `/` or `?` to the URL.
pub fn segment(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// An HTTP client for `portal`. A `*.localhost` portal is reached on the loopback address
/// (RFC 6761, as browsers and curl do), whatever the system resolver knows of it.
pub fn client_for(portal: &str) -> anyhow::Result<reqwest::Client> {
    let url = reqwest::Url::parse(portal).with_context(|| format!("{portal:?} is not a URL"))?;
    let mut builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(host) = url.host_str()
        && (host == "localhost" || host.ends_with(".localhost"))
    {
        let port = url.port_or_known_default().unwrap_or(80);
        builder = builder.resolve(host, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    builder.build().context("cannot build an HTTP client")
}

impl Api {
    pub fn new(saved: Saved) -> anyhow::Result<Self> {
        let http = client_for(&saved.portal)?;
        let base = format!("{}/api/v1", saved.portal.trim_end_matches('/'));
        Ok(Self { base, token: saved.token, http })
    }

    /// The API as `jitgate login` saved it.
    pub fn from_saved() -> anyhow::Result<Self> {
        Self::new(Saved::load()?)
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let request = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(request).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the portal at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"].as_str().unwrap_or("no details").to_owned();
        match status.as_u16() {
            401 => bail!("the portal refused the token ({message}): run `jitgate login` again"),
            _ => Err(anyhow!("{message} (HTTP {status})")),
        }
    }
}
