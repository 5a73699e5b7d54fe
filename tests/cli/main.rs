//! The `jitgate` binary's commands as an operator runs them, in one test binary (each test
//! binary links the whole tree): `check-config` on the shipped and broken configs, and the
//! README's quickstart over HTTP. `cargo test --test cli check_config` or `… cli quickstart`
//! runs one of them.

mod check_config;
mod quickstart;
mod serve;
