//! One jitgate deployment for the portal tests, and a cookie-keeping client that reaches its
//! `*.localhost` hosts (which glibc does not resolve) on the loopback address.

use std::process::Stdio;

use jitgate_testkit::upstream::EchoUpstream;
use jitgate_testkit::{Jitgate, free_port};

pub const PASSWORD: &str = "portal-test-password";
/// The deployment's session secret, for tests that check the tokens it signs.
pub const SECRET: &str = "portal-test-secret-0123456789abcdefghij";
const EMBEDDED: &str = "[store]\nbackend = \"embedded\"\npath = \"jitgate.db\"";

pub struct Site {
    pub port: u16,
    /// Where `/metrics`, `/healthz` and `/readyz` answer.
    pub ops_port: u16,
    _upstream: EchoUpstream,
    /// Declared before the directory it logs to, so a failing test can still print the log.
    jitgate: Jitgate,
    _dir: tempfile::TempDir,
}

/// The value of the first hidden input named `name` in `html`.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let value = html.split(&marker).nth(1).and_then(|rest| rest.split('"').next());
    value
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        .replace("&#x2f;", "/")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Whether `html` shows `text` escaped (askama writes `<` as `&#60;`).
pub fn escaped(html: &str, text: &str) -> bool {
    let numeric = text.replace('<', "&#60;").replace('>', "&#62;").replace('\'', "&#39;");
    html.contains(&numeric) || html.contains(&text.replace('<', "&lt;").replace('>', "&gt;"))
}

pub fn csrf_of(html: &str) -> String {
    field(html, "csrf")
}

fn hash(password: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(password.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl Site {
    pub async fn start() -> Self {
        Self::start_with(|_| None).await
    }

    /// `identity` gets the port and may return an `[identity]` section replacing the local one.
    pub async fn start_with(identity: impl FnOnce(u16) -> Option<String>) -> Self {
        Self::start_on(free_port(), identity).await
    }

    pub async fn start_on(port: u16, identity: impl FnOnce(u16) -> Option<String>) -> Self {
        Self::start_full(port, identity, EMBEDDED, "").await
    }

    /// A site whose config ends with `extra` (e.g. `[smtp]` and `[[webhook]]` sections).
    pub async fn start_with_extra(extra: &str) -> Self {
        Self::start_full(free_port(), |_| None, EMBEDDED, extra).await
    }

    /// One of several instances sharing the Redis store at `redis_url`, with `extra` config.
    pub async fn start_on_redis(redis_url: &str, extra: &str) -> Self {
        let store = format!(
            "[store]\nbackend = \"redis\"\nurl = \"{redis_url}\"\nprefix = \"portaltest\"\n"
        );
        Self::start_full(free_port(), |_| None, &store, extra).await
    }

    async fn start_full(
        port: u16,
        identity: impl FnOnce(u16) -> Option<String>,
        store: &str,
        extra: &str,
    ) -> Self {
        let upstream = EchoUpstream::start().await;
        let ops_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let hashed = hash(PASSWORD);
        std::fs::write(dir.path().join("client.secret"), "portal-oidc-client-secret").unwrap();
        let users: String = [
            ("bob@example.com", "sre"),
            ("alice@example.com", "dev"),
            ("carol@example.com", "security\", \"dev"),
            ("dave@example.com", "security"),
            ("erin@example.com", "admins"),
        ]
        .iter()
        .map(|(email, groups)| {
            format!("[[user]]\nemail = \"{email}\"\npassword_hash = \"{hashed}\"\ngroups = [\"{groups}\"]\n\n")
        })
        .collect();
        std::fs::write(dir.path().join("users.toml"), users).unwrap();
        let config = format!(
            r#"
[server]
listen_http = "127.0.0.1:{port}"
portal_url = "http://access.localhost:{port}"
ops_listen = "127.0.0.1:{ops_port}"

{identity}

[session]
secret = {{ file = "secret" }}

[roles]
reviewers = {{ groups = ["security"] }}
admins = {{ groups = ["admins"] }}

{store}

[[resource]]
name = "app"
host = "app.localhost:{port}"
upstreams = ["{upstream}"]

[resource.policy]
durations = ["1h", "4h"]
allow_custom_duration = true
max_duration = "8h"
approval = "manual"

[[resource.assignment]]
group = "dev"

[[resource.assignment]]
group = "sre"
approval = "auto"
durations = ["15m", "1h"]
max_duration = "1h"

[[resource]]
name = "vault"
host = "vault.localhost:{port}"
upstreams = ["{upstream}"]

[resource.policy]
durations = ["1h"]
approval = "manual"
approvals_needed = 2

[[resource.assignment]]
group = "dev"

{extra}
"#,
            upstream = upstream.url(),
            identity = identity(port).unwrap_or_else(|| {
                "[identity]\nprovider = \"local\"\nusers_file = \"users.toml\"".to_owned()
            }),
        );
        std::fs::write(dir.path().join("secret"), SECRET).unwrap();
        std::fs::write(dir.path().join("jitgate.toml"), config).unwrap();
        let config = dir.path().join("jitgate.toml");
        let jitgate = Jitgate::serve(env!("CARGO_BIN_EXE_jitgate"), &config, &[], port).await;
        Self { port, ops_port, _upstream: upstream, _dir: dir, jitgate }
    }

    /// Kills jitgate (no graceful shutdown: a crash) and starts it again on the same config
    /// and store.
    pub async fn restart(&mut self) {
        self.jitgate.restart().await;
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}.localhost:{}{path}", self.port)
    }

    /// A fresh browser: its own cookie jar, redirects followed, `*.localhost` on loopback.
    pub fn browser(&self) -> reqwest::Client {
        self.browser_with(reqwest::redirect::Policy::default())
    }

    /// A browser that stops before following a redirect to the IdP on `idp_port`, so the test
    /// can play the user there.
    pub fn browser_stopping_at(&self, idp_port: u16) -> reqwest::Client {
        self.browser_with(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().port() == Some(idp_port) { attempt.stop() } else { attempt.follow() }
        }))
    }

    /// A browser that follows redirects only while they stay on the portal, so a test sees
    /// where the portal sends it (a resource, a handoff, the IdP) as the response itself.
    pub fn browser_staying_on_portal(&self) -> reqwest::Client {
        self.browser_with(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().host_str() == Some("access.localhost") {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
    }

    /// A browser that follows no redirect at all.
    pub fn browser_not_following(&self) -> reqwest::Client {
        self.browser_with(reqwest::redirect::Policy::none())
    }

    fn browser_with(&self, redirects: reqwest::redirect::Policy) -> reqwest::Client {
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(redirects)
            .default_headers(reqwest::header::HeaderMap::from_iter([(
                reqwest::header::ACCEPT,
                reqwest::header::HeaderValue::from_static("text/html,application/xhtml+xml"),
            )]))
            .resolve("access.localhost", loopback)
            .resolve("app.localhost", loopback)
            .resolve("vault.localhost", loopback)
            .build()
            .unwrap()
    }

    /// A fresh browser signed in as `email` through the local sign-in form.
    pub async fn signed_in(&self, email: &str) -> reqwest::Client {
        let browser = self.browser();
        let form = self.page(&browser, "/auth/sign-in").await;
        self.sign_in(&browser, email, &form).await;
        browser
    }

    /// The text of the portal page at `path`, as `browser` sees it.
    pub async fn page(&self, browser: &reqwest::Client, path: &str) -> String {
        let url = self.url("access", path);
        browser.get(url).send().await.unwrap().text().await.unwrap()
    }

    /// `who` asks for `resource` (one hour, `reason`) through the form and lands on the
    /// waiting page of a manual request; the new request's id.
    pub async fn ask(&self, who: &reqwest::Client, resource: &str, reason: &str) -> String {
        let path = format!("/request/{resource}");
        let form = self.page(who, &path).await;
        let pending = who
            .post(self.url("access", &path))
            .form(&[
                ("csrf", csrf_of(&form).as_str()),
                ("rd", ""),
                ("duration", "3600"),
                ("reason", reason),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(pending.status(), 200);
        let path = pending.url().path().to_owned();
        assert!(path.starts_with("/requests/"), "a waiting page: {path}");
        path.trim_start_matches("/requests/").to_owned()
    }

    /// `reviewer` posts `action` (approve, deny, revoke) on request `id` from the dashboard,
    /// with its CSRF token; the page the browser ends on.
    pub async fn decide(
        &self,
        reviewer: &reqwest::Client,
        id: &str,
        action: &str,
        note: &str,
    ) -> reqwest::Response {
        let dashboard = self.page(reviewer, "/review").await;
        reviewer
            .post(self.url("access", &format!("/review/{id}/{action}")))
            .form(&[("csrf", csrf_of(&dashboard).as_str()), ("duration", "3600"), ("note", note)])
            .send()
            .await
            .unwrap()
    }

    /// Submits the sign-in form in `form_html` as `email`; the response after redirects.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        email: &str,
        form_html: &str,
    ) -> reqwest::Response {
        let rd = field(form_html, "rd");
        let response = browser
            .post(self.url("access", "/auth/sign-in"))
            .form(&[
                ("csrf", csrf_of(form_html).as_str()),
                ("email", email),
                ("password", PASSWORD),
                ("rd", rd.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "signed in as {email}");
        response
    }
}
