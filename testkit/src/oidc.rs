//! A real OpenID provider for tests: the `oidc-provider` npm package (a certified OpenID
//! Connect implementation we did not write), run by `tests/peers/oidc/provider.mjs` on a free
//! loopback port with the clients and users a test names. Testing jitgate's sign-in against
//! its own idea of OIDC would prove nothing; this peer holds it to the standard as an
//! independent implementation reads it. `scripts/test` installs the package with `npm ci`.
//!
//! [`OidcProvider::authorize`] plays the browser at the provider's development login form, so
//! tests can drive a relying party's (jitgate's portal's) sign-in; [`OidcProvider::sign_in`]
//! runs a whole authorization-code + PKCE flow itself to obtain real IdP-issued tokens, e.g.
//! for `Authorization: Bearer` tests.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A relying party registered at the provider (a confidential web client).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout (`end_session_endpoint`) may send the browser back to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
}

/// Someone who can sign in; the development login form takes the email as the login.
#[derive(Debug, Clone, Serialize)]
pub struct OidcUser {
    /// Deliberately unlike the email: relying parties must identify users by email.
    pub sub: String,
    pub email: String,
    pub groups: Vec<String>,
    pub name: String,
}

/// What the token endpoint issued for one sign-in.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// An RS256 JWT with `email`, `email_verified`, `name` and `groups` besides the standard
    /// claims, audience = the client's id.
    pub id_token: String,
    /// Opaque to relying parties (not a JWT), good for the provider's userinfo endpoint.
    pub access_token: String,
}

/// The running provider; dropping it kills the process.
pub struct OidcProvider {
    port: u16,
    issuer: String,
    config: tempfile::NamedTempFile,
    /// The peer's stdout and stderr, across restarts: shown when it fails to start.
    log: tempfile::NamedTempFile,
    process: Child,
}

fn peer_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/oidc"))
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("random bytes");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of `attribute="…"` in the first tag of `html`, with the escapes the provider's
/// templates produce undone.
fn attribute(html: &str, attribute: &str) -> Option<String> {
    let tag = &html[..html.find('>')?];
    let value = tag.split(&format!(" {attribute}=\"")).nth(1)?.split('"').next()?;
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// A page of the development interactions: the form's target, and which prompt it answers
/// (`login` or `consent`, from its hidden `prompt` input).
struct InteractionPage {
    action: String,
    prompt: String,
    /// The page's "[ Cancel ]" link, which ends the interaction with `access_denied`.
    cancel: Option<String>,
}

impl InteractionPage {
    fn parse(html: &str) -> Option<Self> {
        let form = &html[html.find("<form")?..];
        let action = attribute(form, "action")?;
        let prompt_input = &form[form.find("name=\"prompt\"")?..];
        let prompt = attribute(&format!("<input {prompt_input}"), "value")?;
        let cancel = html
            .find(">[ Cancel ]</a>")
            .and_then(|end| html[..end].rfind("<a ").map(|start| &html[start..]))
            .and_then(|link| attribute(link, "href"));
        Some(Self { action, prompt, cancel })
    }
}

impl OidcProvider {
    /// Starts the provider with these clients and users and waits until its discovery
    /// document answers.
    pub async fn start(clients: Vec<OidcClient>, users: Vec<OidcUser>) -> Self {
        assert!(
            peer_dir().join("node_modules/oidc-provider").exists(),
            "the OIDC test peer is not installed in tests/peers/oidc: \
             run scripts/test (it installs the OIDC test peer with npm ci)"
        );
        let port = crate::free_port();
        let config = tempfile::NamedTempFile::new().expect("a temp file for the peer's config");
        let body = serde_json::json!({ "port": port, "clients": clients, "users": users });
        std::fs::write(config.path(), body.to_string()).expect("write the peer's config");
        let log = tempfile::NamedTempFile::new().expect("a temp file for the peer's log");
        let process = spawn(config.path(), log.path()).await;
        let provider =
            Self { port, issuer: format!("http://127.0.0.1:{port}"), config, log, process };
        provider.wait_ready().await;
        provider
    }

    /// The discovery document must answer too, not just the port: that is what relying
    /// parties fetch first.
    async fn wait_ready(&self) {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let url = &url;
        crate::wait_until(
            "the OIDC test peer's discovery document",
            Duration::from_secs(10),
            || async move {
                reqwest::get(url).await.is_ok_and(|response| response.status().is_success())
            },
        )
        .await;
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Restarts the provider on the same port with the same clients and users. Its signing
    /// key is new (new `kid`), which is how tests make relying parties refresh the JWKS; its
    /// sessions, codes and tokens are gone, as after a real IdP restart.
    pub async fn restart(&mut self) {
        let _ = self.process.kill().await;
        self.process = spawn(self.config.path(), self.log.path()).await;
        self.wait_ready().await;
    }

    /// The provider's discovery document (endpoints, `jwks_uri`, supported algorithms).
    pub async fn discovery(&self) -> serde_json::Value {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        get_json(&reqwest::Client::new(), &url).await
    }

    /// Plays a fresh browser through an authorization request that a relying party generated:
    /// signs in as `email` at the development login form (and confirms a consent page should
    /// one appear) and returns the URL the provider finally redirects to, off its own origin:
    /// the relying party's callback with `code`, `state` and `iss`. An `email` the provider
    /// does not know gets the login form again; this browser then cancels, so the callback
    /// carries `error=access_denied` instead. `Err` when the provider never sends the browser
    /// back (an invalid request, say an unregistered redirect URI, ends on an error page).
    pub async fn authorize(&self, authorization_url: &str, email: &str) -> Result<String, String> {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let own_origin = Url::parse(&self.issuer).expect("the issuer is a URL").origin();
        let mut url =
            Url::parse(authorization_url).map_err(|e| format!("{authorization_url}: {e}"))?;
        let mut submitted_login = false;
        for _ in 0..20 {
            if url.origin() != own_origin {
                return Ok(url.into());
            }
            let response =
                browser.get(url.clone()).send().await.map_err(|e| format!("{url}: {e}"))?;
            if let Some(location) = location(&url, &response)? {
                url = location;
                continue;
            }
            let status = response.status();
            let html = response.text().await.map_err(|e| e.to_string())?;
            let page = InteractionPage::parse(&html)
                .ok_or_else(|| format!("{url} answered {status} without a form: {html}"))?;
            let submitted = match page.prompt.as_str() {
                "login" if !submitted_login => {
                    submitted_login = true;
                    let fields = [("prompt", "login"), ("login", email), ("password", "any")];
                    browser.post(url.join(&page.action).map_err(|e| e.to_string())?).form(&fields)
                }
                "login" => {
                    let cancel = page.cancel.ok_or_else(|| format!("no Cancel link at {url}"))?;
                    browser.get(url.join(&cancel).map_err(|e| e.to_string())?)
                }
                "consent" => browser
                    .post(url.join(&page.action).map_err(|e| e.to_string())?)
                    .form(&[("prompt", "consent")]),
                other => return Err(format!("unexpected prompt {other:?} at {url}")),
            };
            let response = submitted.send().await.map_err(|e| format!("{url}: {e}"))?;
            url = location(&url, &response)?.ok_or_else(|| {
                format!(
                    "the {} page at {url} did not redirect ({})",
                    page.prompt,
                    response.status()
                )
            })?;
        }
        Err(format!("still at the provider after 20 steps, last at {url}"))
    }

    /// A whole authorization-code flow with PKCE (S256), `state` and `nonce`, as `client`
    /// with its first redirect URI, authenticating with client_secret_basic. Panics when
    /// `email` cannot sign in.
    pub async fn sign_in(&self, client: &OidcClient, email: &str) -> Tokens {
        let discovery = self.discovery().await;
        let endpoint = |name: &str| {
            discovery[name].as_str().unwrap_or_else(|| panic!("{name} in {discovery}")).to_owned()
        };
        let (state, nonce, verifier) = (random(), random(), random());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let redirect_uri = &client.redirect_uris[0];
        let request = Url::parse_with_params(
            &endpoint("authorization_endpoint"),
            [
                ("response_type", "code"),
                ("client_id", &client.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", "openid email profile groups"),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .expect("an authorization URL");
        let callback = self
            .authorize(request.as_str(), email)
            .await
            .unwrap_or_else(|e| panic!("signing in as {email}: {e}"));
        let callback = Url::parse(&callback).expect("a callback URL");
        let param = |name: &str| {
            callback.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
        };
        assert_eq!(
            param("state").as_deref(),
            Some(state.as_str()),
            "state round-trips: {callback}"
        );
        let code = param("code").unwrap_or_else(|| panic!("{email} could not sign in: {callback}"));
        let response = reqwest::Client::new()
            .post(endpoint("token_endpoint"))
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .expect("the token endpoint answers");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("a JSON token response");
        assert!(status.is_success(), "the token endpoint refused the code ({status}): {body}");
        let field = |name: &str| {
            body[name].as_str().unwrap_or_else(|| panic!("{name} in {body}")).to_owned()
        };
        Tokens { id_token: field("id_token"), access_token: field("access_token") }
    }
}

/// Starts `node provider.mjs` and returns once it says it listens. Its output goes to `log`
/// rather than to a pipe nobody reads, which would block it once full.
async fn spawn(config: &Path, log: &Path) -> Child {
    let append = || OpenOptions::new().append(true).open(log).expect("open the peer's log");
    let mut process = Command::new("node")
        .arg("provider.mjs")
        .arg(config)
        .current_dir(peer_dir())
        .stdout(Stdio::piped())
        .stderr(append())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node ({e}); scripts/test installs it"));
    let mut stdout = BufReader::new(process.stdout.take().expect("piped stdout")).lines();
    let failure = match tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await {
        Ok(Ok(Some(line))) if line.starts_with("ready ") => None,
        Ok(Ok(Some(line))) => Some(format!("it said {line:?} instead of ready")),
        Ok(Ok(None)) => Some(format!("it exited ({:?})", process.wait().await)),
        Ok(Err(error)) => Some(format!("reading its stdout: {error}")),
        Err(_) => Some("it was not ready within 20 s".to_owned()),
    };
    if let Some(failure) = failure {
        let _ = process.kill().await;
        let log = std::fs::read_to_string(log).unwrap_or_default();
        panic!("the OIDC test peer did not start: {failure}; its log:\n{log}");
    }
    // Whatever else it prints (oidc-provider's notices go to stdout) joins the log.
    let mut log = tokio::fs::File::from_std(append());
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            let _ = log.write_all(format!("{line}\n").as_bytes()).await;
        }
    });
    process
}

/// Where a redirect points, resolved against the URL that answered; `None` if no redirect.
fn location(from: &Url, response: &reqwest::Response) -> Result<Option<Url>, String> {
    if !response.status().is_redirection() {
        return Ok(None);
    }
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| format!("{from} redirected without a Location"))?;
    from.join(location).map(Some).map_err(|e| format!("Location {location}: {e}"))
}

async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = http.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    response.json().await.unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}
