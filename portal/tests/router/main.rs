//! The portal's request-level behaviour, in-process: `Portal::router()` on an embedded store in
//! a temp dir and a manual clock, driven with `oneshot` (no socket, no proxy, no peers). CSRF
//! refusals, 403s, status codes for bad input, return URLs and the sign-in throttle live here;
//! what needs the real binary, the proxy and real peers stays in the root crate's
//! `tests/portal/`.

mod break_glass;
mod cli_sign_in;
mod decisions;
mod extend_page;
mod first_use;
mod harness;
mod input;
mod lifecycle;
mod requester;
mod return_urls;
mod review;
mod reviewer_pages;
mod schedule;
mod signin;
