//! The portal users and reviewers see: sign-in (OIDC or local users), requesting access, the
//! review dashboard. An axum app rendered with askama; forms work without JavaScript.
//!
//! In the one-binary deployment the proxy routes the portal's host to this app on a loopback
//! port, so it sees the proxy's `X-Forwarded-*` headers; split out, it listens on its own.

pub mod api;
mod assets;
mod audit_filter;
mod audit_words;
mod csrf;
pub mod demo;
mod draft;
mod error;
mod export;
mod flash;
pub mod notify;
mod outcome;
mod pages;
mod paths;
mod policy_view;
mod security;
mod signin;
mod start_time;
mod state;
mod summary;
mod viewer;

pub use signin::oidc::OidcError;
pub use state::{Portal, PortalSettings, StartError};
