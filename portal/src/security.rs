//! Headers every portal response carries. The CSP allows nothing inline and nothing from
//! elsewhere: styles and the one script are served from `/assets`, embedded in the binary.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use jitgate_access::config::Config;

use crate::state::Portal;

/// The policy for this deployment. `form-action` lists the resource origins because browsers
/// apply it to the redirects that follow a form, and sign-in ends with one to the resource;
/// with an OIDC provider, its origin too, where sign-out goes on to end the IdP session.
pub fn content_security_policy(config: &Config) -> HeaderValue {
    let scheme = if config.server.portal_url.starts_with("https://") { "https" } else { "http" };
    let mut origins: Vec<String> =
        config.resources.iter().map(|r| format!("{scheme}://{}", r.host)).collect();
    if let jitgate_access::config::IdentityConfig::Oidc { issuer, .. } = &config.identity
        && let Some(origin) = origin_of(issuer)
    {
        origins.push(origin);
    }
    origins.sort();
    origins.dedup();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self' {}; base-uri 'none'; frame-ancestors 'none'",
        origins.join(" ")
    );
    // Hosts are validated config values: visible ASCII only.
    HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'none'"))
}

/// `scheme://host[:port]` of a URL, or `None` when it has no usable host.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let valid = !authority.is_empty()
        && authority.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    valid.then(|| format!("{scheme}://{authority}"))
}

/// One more origin a response's forms may post to, set by the handler as a response
/// extension: the CLI's loopback address, on the one page that hands it a token.
#[derive(Debug, Clone)]
pub struct FormTarget(pub String);

/// `csp` with `origin` added to its `form-action`.
fn with_form_target(csp: &HeaderValue, origin: &str) -> Option<HeaderValue> {
    let csp = csp.to_str().ok()?;
    let valid = origin_of(origin).is_some_and(|o| o == origin);
    let extended = csp.replacen("form-action 'self'", &format!("form-action 'self' {origin}"), 1);
    valid.then(|| HeaderValue::from_str(&extended).ok()).flatten()
}

pub async fn headers(State(portal): State<Portal>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let csp = match response.extensions().get::<FormTarget>() {
        Some(FormTarget(origin)) => with_form_target(&portal.csp, origin),
        None => None,
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.unwrap_or_else(|| portal.csp.clone()));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Portal URLs carry request ids and return URLs: none of it should leak onwards.
        (header::REFERRER_POLICY, "no-referrer"),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    // Pages show live access state: never serve them from a cache.
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
