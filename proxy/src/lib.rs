//! The Pingora edge service. It routes by host to resources, checks the session and the grant
//! on every request (keep-alive connections carry many), and passes the user's identity to the
//! upstream.

mod assertions;
mod cache;
mod claim;
mod decide;
mod gate;
mod handoff;
mod in_flight;
mod lease;
mod live;
mod metrics;
mod no_access;
mod ops;
mod redirect;
mod refuse;
mod request_path;
mod respond;
mod route;
mod service;
mod upstream_headers;

pub use assertions::Assertions;
pub use cache::AccessCache;
pub use claim::FirstUse;
pub use decide::Answer;
pub use gate::{Credential, Decision, Gate, Principal, Verdict};
pub use in_flight::{Access, InFlight};
pub use live::{LiveConfig, ProxyConfig};
pub use metrics::Metrics;
pub use ops::OpsApp;
pub use redirect::HttpsRedirect;
pub use route::Router;
pub use service::{JitgateProxy, ProxySettings, RequestCtx};
pub use upstream_headers::UpstreamHeaders;
