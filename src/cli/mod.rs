//! Subcommands.

mod check_config;
mod client;
mod hash_password;
mod reload;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jitgate_access::config::Overrides;

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
        /// Check the config as `serve --port PORT` would run it.
        #[arg(long, value_name = "PORT", value_parser = port_number)]
        port: Option<u16>,
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
        /// Serve plain HTTP on this port instead of the one in `server.listen_http`, and move
        /// the portal's URL and every resource host that used the old port along with it.
        #[arg(long, value_name = "PORT", value_parser = port_number)]
        port: Option<u16>,
        /// How logs are written to standard error: `text` for people (coloured only on a
        /// terminal), `json` (one object a line) for log collectors in production.
        /// `JITGATE_LOG_FORMAT=json` does the same.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Write the process id here once serving, for `jitgate reload --pid-file`.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
    },
    /// Validate a config file like `check-config`, then have the running `jitgate serve`
    /// reload it (SIGHUP). Nothing is signalled when the file is invalid.
    Reload {
        /// The config file the running process was started with.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Check the config as `serve --port PORT` runs it.
        #[arg(long, value_name = "PORT", value_parser = port_number)]
        port: Option<u16>,
        /// The file `serve --pid-file` wrote.
        #[arg(long, value_name = "FILE", required_unless_present = "pid", conflicts_with = "pid")]
        pid_file: Option<PathBuf>,
        /// The running process's id.
        #[arg(long, value_name = "PID")]
        pid: Option<u32>,
    },
    #[command(flatten)]
    Client(client::Command),
}

/// The shape of `serve`'s logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A TCP port to listen on: 1 to 65535.
fn port_number(value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{value:?} is not a port between 1 and 65535")),
    }
}

/// What the command line changes in the config file.
fn overrides(port: Option<u16>) -> Overrides {
    Overrides { http_port: port }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::CheckConfig { config, port } => check_config::run(&config, &overrides(port)),
        Command::HashPassword => hash_password::run(),
        Command::Client(command) => client::run(command),
        Command::Serve { config, role, port, log_format, pid_file } => {
            let from_env = std::env::var("JITGATE_LOG_FORMAT").is_ok_and(|f| f == "json");
            init_logging(if from_env { LogFormat::Json } else { log_format });
            serve::run(&config, role, &overrides(port), pid_file.as_deref())
        }
        Command::Reload { config, port, pid_file, pid } => {
            let target = match (pid, pid_file) {
                (Some(pid), _) => reload::Target::Pid(pid),
                (None, Some(file)) => reload::Target::PidFile(file),
                (None, None) => anyhow::bail!("say which process: --pid or --pid-file"),
            };
            reload::run(&config, &overrides(port), &target)
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`). Text has colour codes only when
/// stderr is a terminal, so a redirected log stays plain.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;

    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// Loads the config with the command line's `overrides`, or prints why not (file, line and
/// field, as the error says) and returns `None`: an operator's mistake gets a message, never a
/// backtrace.
fn load_config(
    path: &std::path::Path,
    overrides: &Overrides,
) -> Option<jitgate_access::config::Config> {
    match jitgate_access::config::load_with(path, overrides) {
        Ok(config) => Some(config),
        Err(error) => {
            eprintln!("{error}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("jitgate").chain(args.iter().copied()))
    }

    #[test]
    fn serve_takes_a_port_that_overrides_the_files() {
        let args = parse(&["serve", "--config", "c.toml", "--port", "9000"]).unwrap();
        let Command::Serve { port, role, .. } = args.command else { panic!("serve") };
        assert_eq!((port, role), (Some(9000), serve::Role::All));
        assert_eq!(overrides(port), Overrides { http_port: Some(9000) });

        let args = parse(&["serve", "--config", "c.toml"]).unwrap();
        let Command::Serve { port, .. } = args.command else { panic!("serve") };
        assert_eq!(overrides(port), Overrides::default(), "the file's port by default");

        let args = parse(&["check-config", "--config", "c.toml", "--port", "80"]).unwrap();
        assert!(matches!(args.command, Command::CheckConfig { port: Some(80), .. }));

        let args = parse(&["reload", "--config", "c.toml", "--pid", "42"]).unwrap();
        assert!(matches!(args.command, Command::Reload { pid: Some(42), .. }));
        assert!(parse(&["reload", "--config", "c.toml"]).is_err(), "which process to signal");
        let both = parse(&["reload", "-c", "c.toml", "--pid", "4", "--pid-file", "p"]);
        assert!(both.is_err(), "one target");

        for bad in ["0", "65536", "http"] {
            let error = parse(&["serve", "--config", "c.toml", "--port", bad]).unwrap_err();
            assert!(error.to_string().contains("is not a port"), "{bad}: {error}");
        }
    }
}
