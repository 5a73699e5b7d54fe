//! The `jitgate` command-line client: `login`, `request`, `requests`, `approve`, `deny`,
//! `revoke` and `wait`, on the portal's JSON API with a personal API token (made on the
//! portal's API tokens page). Human output by default, the API's JSON with `--json`.

mod api;
mod login;
mod show;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use self::api::Api;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save the portal's URL and a personal API token for the other commands: pasted from the
    /// portal's API tokens page (read from standard input unless given), or made by signing in
    /// through the browser with --browser.
    Login {
        /// The portal, e.g. https://access.example.com.
        #[arg(long, value_name = "URL")]
        portal: String,
        /// The token (`jgt_…`); prefer standard input, which stays out of shell history.
        #[arg(long, value_name = "TOKEN", conflicts_with = "browser")]
        token: Option<String>,
        /// Sign in through the portal in a web browser instead (with its identity provider,
        /// OIDC included): the portal hands a new token to this command over 127.0.0.1.
        #[arg(long)]
        browser: bool,
        /// With --browser: only print the address, do not start a browser (remote shells).
        #[arg(long, requires = "browser")]
        no_open: bool,
    },
    /// Ask for access to a resource.
    Request {
        /// The resource's name, as the portal shows it.
        resource: String,
        /// How long, e.g. 30m, 1h, 4h.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why you need it (reviewers read this).
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// List requests: yours, and those you may review.
    Requests {
        /// Only this status: pending, active, denied, expired, revoked, …
        #[arg(long)]
        status: Option<String>,
        /// Only your own.
        #[arg(long)]
        mine: bool,
        #[arg(long)]
        json: bool,
    },
    /// Approve a request you review.
    Approve {
        id: String,
        /// Grant less time than asked, e.g. 30m.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        json: bool,
    },
    /// Deny a request you review.
    Deny {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an active grant (a reviewer's, or your own).
    Revoke {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        json: bool,
    },
    /// Wait until a request is decided. Exits 0 when access was granted, 1 when it was not
    /// (denied, cancelled, timed out), 2 when `--timeout` passed first.
    Wait {
        id: String,
        /// Give up after this long, e.g. 10m (default: wait as long as it takes).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// How often `wait` asks.
const POLL: Duration = Duration::from_secs(1);

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client's runtime")?;
    runtime.block_on(run_async(command))
}

async fn run_async(command: Command) -> anyhow::Result<ExitCode> {
    if let Command::Login { portal, token, browser, no_open } = command {
        if browser {
            return login::login_in_browser(&portal, !no_open).await;
        }
        return login::login(&portal, token).await;
    }
    let api = Api::from_saved()?;
    let (value, json) = match command {
        Command::Login { .. } => unreachable!("handled above"),
        Command::Request { resource, duration, reason, json } => {
            let body = json!({ "resource": resource, "reason": reason, "duration": duration });
            (api.post("/requests", &body).await?, json)
        }
        Command::Requests { status, mine, json } => {
            let mut query = vec![("limit", "100".to_owned())];
            query.extend(status.map(|status| ("status", status)));
            if mine {
                query.push(("mine", "true".to_owned()));
            }
            let page = api.get("/requests", &query).await?;
            if !json {
                show::requests(&page);
                return Ok(ExitCode::SUCCESS);
            }
            (page, json)
        }
        Command::Approve { id, duration, note, json } => {
            let mut body = json!({ "note": note });
            if let Some(duration) = duration {
                body["duration"] = Value::String(duration);
            }
            (api.post(&format!("/requests/{}/approve", api::segment(&id)), &body).await?, json)
        }
        Command::Deny { id, note, json } => {
            let body = json!({ "note": note });
            (api.post(&format!("/requests/{}/deny", api::segment(&id)), &body).await?, json)
        }
        Command::Revoke { id, note, json } => {
            let body = json!({ "note": note });
            (api.post(&format!("/requests/{}/revoke", api::segment(&id)), &body).await?, json)
        }
        Command::Wait { id, timeout, json } => return wait(&api, &id, timeout, json).await,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        show::request(&value);
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait(
    api: &Api,
    id: &str,
    timeout: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let limit = timeout
        .map(|text| humantime::parse_duration(&text).with_context(|| format!("--timeout {text:?}")))
        .transpose()?;
    let started = Instant::now();
    let path = format!("/requests/{}", api::segment(id));
    let mut told = false;
    loop {
        let request = api.get(&path, &[]).await?;
        let status = request["status"].as_str().unwrap_or_default().to_owned();
        if status != "pending" {
            if json {
                println!("{}", serde_json::to_string_pretty(&request)?);
            } else {
                show::request(&request);
            }
            let granted = matches!(status.as_str(), "active" | "expired" | "revoked");
            return Ok(if granted { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        if !told && !json {
            eprintln!("Waiting for a decision on {id}…");
            told = true;
        }
        if limit.is_some_and(|limit| started.elapsed() >= limit) {
            eprintln!("Still pending after {}.", humantime::format_duration(started.elapsed()));
            return Ok(ExitCode::from(2));
        }
        tokio::time::sleep(POLL).await;
    }
}
