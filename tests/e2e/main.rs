//! jitgate end to end in a real browser: Debian's headless Chromium, driven over WebDriver
//! (`testkit::browser`), against the real `jitgate serve` binary, a real OpenID provider, Redis,
//! an SMTP server and the app behind jitgate. Every scenario starts its own peers on free ports
//! and stops them, and saves a screenshot of each page it reaches under
//! `target/e2e-screenshots/<scenario>/<NN>-<who>-<step>.png`; `docs/screenshots/` holds copies
//! for the README.
//!
//! `deployment.rs` has what scenarios run against, including several jitgate processes on one
//! Redis; `flows.rs` has the steps people take (sign in, ask, wait), each checked on the page.

mod auto_approval;
mod break_glass;
mod cli_sign_in;
mod deny;
mod deployment;
mod extend;
mod flows;
mod manual_approval;
mod pause_websocket;
mod quickstart;
mod requester_pages;
mod reviewer_pages;
mod revoke_websocket;
mod scheduled;
mod split_roles;

use std::path::PathBuf;

use jitgate_testkit::browser::Screenshots;

/// `target/e2e-screenshots/<scenario>`, or under `$CARGO_TARGET_DIR` when that is set.
fn screenshots(scenario: &str) -> Screenshots {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    Screenshots::new(&target.join("e2e-screenshots"), scenario)
}
