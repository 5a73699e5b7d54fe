//! Subcommands.

mod check_config;
mod hash_password;
mod serve;

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
    /// Run jitgate: the proxy in front of every configured resource, and the portal.
    Serve {
        /// The config file.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Which parts to run; `proxy` and `portal` share state through Redis.
        #[arg(long, value_enum, default_value_t = serve::Role::All)]
        role: serve::Role,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::CheckConfig { config } => check_config::run(&config),
        Command::HashPassword => hash_password::run(),
        Command::Serve { config, role } => {
            init_logging();
            serve::run(&config, role)
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`), `JITGATE_LOG_FORMAT=json` for JSON.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("JITGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Loads the config, or prints why not (file, line and field, as the error says) and returns
/// `None`: an operator's mistake gets a message, never a backtrace.
fn load_config(path: &std::path::Path) -> Option<jitgate_access::config::Config> {
    match jitgate_access::config::load(path) {
        Ok(config) => Some(config),
        Err(error) => {
            eprintln!("{error}");
            None
        }
    }
}
