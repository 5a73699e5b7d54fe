//! `jitgate check-config`: validate and explain.

use std::path::Path;
use std::process::ExitCode;

use jitgate_access::config;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_config(path) else {
        return Ok(ExitCode::FAILURE);
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    print!("{}", config::render_policy_table(&config));
    println!("{}: OK", path.display());
    Ok(ExitCode::SUCCESS)
}
