//! Subcommands.

mod check_config;
mod hash_password;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "jitgate",
    version,
    about = "Identity-aware reverse proxy with just-in-time access"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file and print who gets what on every resource.
    CheckConfig {
        /// The config file.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Hash a password for a `local` users file (reads the password from standard input).
    HashPassword,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::CheckConfig { config } => check_config::run(&config),
        Command::HashPassword => hash_password::run(),
    }
}
