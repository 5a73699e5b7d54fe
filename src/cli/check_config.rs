//! `jitgate check-config`: validate and explain.

use std::path::Path;
use std::process::ExitCode;

use jitgate_access::config::{self, Overrides};

pub fn run(path: &Path, overrides: &Overrides) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_config(path, overrides) else {
        return Ok(ExitCode::FAILURE);
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    print!("{}", config::render_policy_table(&config));
    println!("{}: OK", path.display());
    Ok(ExitCode::SUCCESS)
}
