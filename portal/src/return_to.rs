//! Where to send a browser after sign-in or a request: only to the portal itself or to a
//! configured resource host, over the deployment's own scheme. Anything else is an open
//! redirect waiting to be used in phishing, so it is replaced by the portal's home page.

use jitgate_access::config::Config;
use url::Url;

/// A vetted return destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTo {
    /// A path on the portal.
    Portal(String),
    /// A URL on a resource host: reached through a handoff so the host gets its cookie.
    Resource { host: String, path: String },
}

impl ReturnTo {
    pub fn home() -> Self {
        ReturnTo::Portal("/".into())
    }

    /// `rd` if it names the portal or a configured resource host, else the home page.
    pub fn vet(config: &Config, rd: Option<&str>) -> Self {
        rd.and_then(|rd| Self::parse(config, rd)).unwrap_or_else(Self::home)
    }

    fn parse(config: &Config, rd: &str) -> Option<Self> {
        if rd.starts_with('/') {
            let path = jitgate_access::routes::local_path(rd);
            return (path == rd).then(|| ReturnTo::Portal(path.to_owned()));
        }
        let url = Url::parse(rd).ok()?;
        let portal = Url::parse(&config.server.portal_url).ok()?;
        if url.scheme() != portal.scheme() || !url.username().is_empty() || url.password().is_some()
        {
            return None;
        }
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}:{port}", host.to_ascii_lowercase()),
            (Some(host), None) => host.to_ascii_lowercase(),
            _ => return None,
        };
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        if host == config.server.portal_host {
            return Some(ReturnTo::Portal(path));
        }
        config.resources.iter().any(|r| r.host == host).then_some(ReturnTo::Resource { host, path })
    }

    /// The URL form, for `rd` parameters carried across pages.
    pub fn to_url(&self, config: &Config) -> String {
        match self {
            ReturnTo::Portal(path) => format!("{}{path}", config.server.portal_url),
            ReturnTo::Resource { host, path } => {
                let scheme =
                    if config.server.portal_url.starts_with("https://") { "https" } else { "http" };
                format!("{scheme}://{host}{path}")
            }
        }
    }
}
