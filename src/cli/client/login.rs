//! `jitgate login`: checks a token against the portal and saves both for the other commands,
//! in `$JITGATE_CLI_CONFIG`, else `$XDG_CONFIG_HOME/jitgate/cli.json`, else
//! `~/.config/jitgate/cli.json`, readable by its owner only.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::api::Api;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub portal: String,
    pub token: String,
}

fn path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("JITGATE_CLI_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".config"),
    };
    Ok(base.join("jitgate").join("cli.json"))
}

impl Saved {
    pub fn load() -> anyhow::Result<Self> {
        let path = path()?;
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "not logged in ({} is missing): run `jitgate login --portal URL`",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not readable", path.display()))
    }

    fn save(&self) -> anyhow::Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = path()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::io::Write::write_all(&mut file, serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(path)
    }
}

pub async fn login(portal: &str, token: Option<String>) -> anyhow::Result<ExitCode> {
    let token = match token {
        Some(token) => token,
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!("Paste a token from {portal}/tokens and press Enter:");
            }
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the token")?;
            text
        }
    };
    let token = token.trim().to_owned();
    if !token.starts_with(jitgate_access::api_token::PREFIX) {
        bail!(
            "that is not a jitgate API token (they start with jgt_): make one at {portal}/tokens"
        );
    }
    let saved = Saved { portal: portal.trim_end_matches('/').to_owned(), token };
    let me = Api::new(saved.clone())?.get("/me", &[]).await?;
    let path = saved.save()?;
    println!(
        "Logged in to {} as {} (saved in {}).",
        saved.portal,
        me["email"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
