//! `jitgate login`: takes a token (pasted, or through the browser with `--browser`), checks it
//! against the portal and saves both for the other commands,
//! in `$JITGATE_CLI_CONFIG`, else `$XDG_CONFIG_HOME/jitgate/cli.json`, else
//! `~/.config/jitgate/cli.json`, readable by its owner only.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{StatusCode, header};
use axum::routing::post;
use jitgate_access::cli_sign_in;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

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
    finish(portal, token.trim().to_owned()).await
}

/// Checks `token` against the portal, then saves both.
async fn finish(portal: &str, token: String) -> anyhow::Result<ExitCode> {
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

/// How long `login --browser` waits for the browser.
const BROWSER_WAIT: Duration = Duration::from_secs(10 * 60);

/// `jitgate login --browser`: the loopback flow of `jitgate_access::cli_sign_in`. Listens on
/// a port of 127.0.0.1 the system picks, sends the user to the portal (where they sign in with
/// whatever the portal uses, an OIDC provider included), and takes the token the portal's page
/// posts back with the same state.
pub async fn login_in_browser(portal: &str, open: bool) -> anyhow::Result<ExitCode> {
    let portal = portal.trim_end_matches('/');
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on the loopback interface for the browser's answer")?;
    let port = listener.local_addr()?.port();
    let state = cli_sign_in::new_state();
    let url = format!("{portal}{}?port={port}&state={state}", cli_sign_in::PORTAL_PATH);
    eprintln!(
        "Sign in with your browser at\n\n  {url}\n\nand allow it if the page shows the code {}.",
        cli_sign_in::code(&state)
    );
    if open {
        open_in_browser(&url);
    }
    let (sender, mut received) = mpsc::channel::<String>(1);
    let app = Router::new()
        .route(cli_sign_in::CALLBACK_PATH, post(callback))
        .with_state(Arc::new(Waiting { state, sender }));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let token = tokio::time::timeout(BROWSER_WAIT, received.recv()).await;
    server.abort();
    match token {
        Ok(Some(token)) => finish(portal, token).await,
        _ => bail!("no answer from the browser within {} minutes", BROWSER_WAIT.as_secs() / 60),
    }
}

struct Waiting {
    state: String,
    sender: mpsc::Sender<String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    state: String,
    #[serde(default)]
    token: String,
}

/// `POST /callback` on the loopback port: the portal's form, with the token.
async fn callback(
    State(waiting): State<Arc<Waiting>>,
    Form(answer): Form<Answer>,
) -> (StatusCode, [(header::HeaderName, &'static str); 2], &'static str) {
    let headers =
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")];
    let ours = cli_sign_in::state_matches(&waiting.state, &answer.state);
    if !ours || !answer.token.starts_with(jitgate_access::api_token::PREFIX) {
        let page = "<!doctype html><title>jitgate</title><h1>Not this sign-in</h1>\
                    <p>This answer is not for the <code>jitgate login</code> waiting here.</p>";
        return (StatusCode::BAD_REQUEST, headers, page);
    }
    let _ = waiting.sender.try_send(answer.token);
    let page = "<!doctype html><title>jitgate</title><h1>The command line is signed in</h1>\
                <p>You can close this tab and go back to your terminal.</p>";
    (StatusCode::OK, headers, page)
}

/// Best effort: the address is printed either way (a remote shell has no browser to open).
fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("(could not start a browser: open the address yourself)");
    }
}
