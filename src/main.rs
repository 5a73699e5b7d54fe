//! The `jitgate` binary: command-line parsing and wiring only. Everything it does lives in the
//! workspace crates.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // One line (plus causes) for the operator, never a panic trace.
            eprintln!("jitgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
