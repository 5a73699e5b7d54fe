//! A real OpenID provider for tests: the `oidc-provider` npm package (an OpenID-certified
//! implementation we did not write) run by `tests/peers/oidc/provider.mjs` on a free loopback
//! port, with the clients and users a test names. `scripts/test` installs it with `npm ci`.
//!
//! [`OidcProvider::authorize`] plays the browser at the provider's development login form, so
//! tests can drive a relying party's (jitgate's portal's) sign-in; [`OidcProvider::sign_in`]
//! runs a whole authorization-code + PKCE flow itself to obtain real IdP-issued tokens.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

#[derive(Debug, Clone, Serialize)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OidcUser {
    /// Deliberately unlike the email: relying parties must identify users by email.
    pub sub: String,
    pub email: String,
    pub groups: Vec<String>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
}

pub struct OidcProvider {
    port: u16,
    issuer: String,
    config: tempfile::NamedTempFile,
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

/// The `action` of the first form in `html`, and its hidden `prompt` value.
fn form(html: &str) -> Option<(String, String)> {
    let start = html.find("<form")?;
    let action = html[start..].split("action=\"").nth(1)?.split('"').next()?.replace("&amp;", "&");
    let prompt =
        html[start..].split("name=\"prompt\" value=\"").nth(1)?.split('"').next()?.to_owned();
    Some((action, prompt))
}

impl OidcProvider {
    pub async fn start(clients: Vec<OidcClient>, users: Vec<OidcUser>) -> Self {
        let dir = peer_dir();
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the OIDC test peer is not installed: run scripts/test (it installs it with npm ci)"
        );
        let port = crate::free_port();
        let config = tempfile::NamedTempFile::new().expect("a temp file");
        let body = serde_json::json!({ "port": port, "clients": clients, "users": users });
        std::fs::write(config.path(), body.to_string()).expect("write the peer's config");
        let process = Self::spawn(config.path()).await;
        let mut provider =
            Self { port, issuer: format!("http://127.0.0.1:{port}"), config, process };
        provider.wait_ready().await;
        provider
    }

    async fn spawn(config: &std::path::Path) -> Child {
        Command::new("node")
            .arg("provider.mjs")
            .arg(config)
            .current_dir(peer_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (scripts/test installs nodejs)")
    }

    async fn wait_ready(&mut self) {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = reqwest::get(&url).await
                && response.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.process.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.process.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
                panic!("the OIDC test peer exited ({status}): {stderr}");
            }
            assert!(std::time::Instant::now() < deadline, "the OIDC test peer did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Restarts the provider on the same port: same clients and users, a new signing key.
    pub async fn restart(&mut self) {
        let _ = self.process.kill().await;
        self.process = Self::spawn(self.config.path()).await;
        self.wait_ready().await;
    }

    /// Plays the browser through an authorization request some relying party generated:
    /// signs in as `email` at the development login form and returns the URL the provider
    /// finally redirects to (the relying party's callback with `code` and `state`). `Err`
    /// when the provider does not let the user through.
    pub async fn authorize(&self, authorization_url: &str, email: &str) -> Result<String, String> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let mut url = authorization_url.to_owned();
        let mut logins = 0;
        for _ in 0..12 {
            if !url.starts_with(&self.issuer) {
                return Ok(url);
            }
            let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
            if let Some(next) = response.headers().get("location") {
                url = self.absolute(next.to_str().unwrap_or_default());
                continue;
            }
            let html = response.text().await.map_err(|e| e.to_string())?;
            let (action, prompt) =
                form(&html).ok_or_else(|| format!("no form at {url}: {html}"))?;
            let fields: Vec<(&str, &str)> = match prompt.as_str() {
                "login" => {
                    logins += 1;
                    if logins > 1 {
                        return Err(format!("the provider did not accept {email}"));
                    }
                    vec![("prompt", "login"), ("login", email), ("password", "any")]
                }
                other => vec![("prompt", other)],
            };
            let submitted = http
                .post(self.absolute(&action))
                .form(&fields)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let next = submitted.headers().get("location").ok_or_else(|| {
                format!("the {prompt} form at {url} did not redirect ({})", submitted.status())
            })?;
            url = self.absolute(next.to_str().unwrap_or_default());
        }
        Err(format!("too many redirects, last at {url}"))
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_owned()
        }
    }

    /// A whole authorization-code + PKCE flow as `client`, returning real IdP-issued tokens.
    pub async fn sign_in(&self, client: &OidcClient, email: &str) -> Tokens {
        let (state, nonce, verifier) = (random(), random(), random());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let redirect = &client.redirect_uris[0];
        let query = [
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", redirect),
            ("scope", "openid email profile groups"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let url = reqwest::Url::parse_with_params(&format!("{}/auth", self.issuer), query)
            .expect("a valid URL");
        let callback = self.authorize(url.as_str(), email).await.expect("sign-in at the IdP");
        let callback = reqwest::Url::parse(&callback).expect("a callback URL");
        let param = |name: &str| {
            callback.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
        };
        assert_eq!(
            param("state").as_deref(),
            Some(state.as_str()),
            "state round-trips: {callback}"
        );
        let code = param("code").unwrap_or_else(|| panic!("a code in {callback}"));
        let response: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .expect("the token endpoint answers")
            .json()
            .await
            .expect("a JSON token response");
        let field = |name: &str| {
            response[name].as_str().unwrap_or_else(|| panic!("{name} in {response}")).to_owned()
        };
        Tokens { id_token: field("id_token"), access_token: field("access_token") }
    }
}
