//! `jitgate hash-password`: an argon2id PHC string for a `local` users file.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordHash};

/// Shorter passwords are refused: the users file is often the only gate in small setups.
const MIN_PASSWORD_LEN: usize = 12;

pub fn run() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Password (input is visible; pipe it in to avoid that):");
    }
    let mut password = String::new();
    stdin
        .lock()
        .read_line(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.chars().count() < MIN_PASSWORD_LEN {
        bail!("the password must have at least {MIN_PASSWORD_LEN} characters");
    }
    // A fresh random salt comes from the OS; the default parameters are argon2id's.
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}
