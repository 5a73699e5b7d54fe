//! jitgate's domain, free of web and proxy frameworks: the config model and its validation,
//! policy resolution, the request/grant state machine, the audit trail, and the [`store::Store`]
//! trait with its embedded (SQLite) and Redis backends.
//!
//! The proxy and the portal depend on this crate; it depends on neither.

pub mod api_token;
pub mod assertion;
pub mod audit;
pub mod bearer;
pub mod cli_sign_in;
pub mod clock;
pub mod config;
pub mod cookies;
pub mod idp;
pub mod ids;
pub mod keys;
pub mod outbox;
pub mod people;
pub mod policy;
pub mod request;
pub mod return_to;
pub mod routes;
pub mod service;
pub mod session;
pub mod store;
pub mod time;
pub mod token;
pub mod transition;
