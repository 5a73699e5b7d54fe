//! One jitgate deployment for the portal tests, and a cookie-keeping client that reaches its
//! `*.localhost` hosts (which glibc does not resolve) on the loopback address.

use std::process::Stdio;

use jitgate_testkit::config::{PORTAL_USERS, portal_site, users_file};
pub use jitgate_testkit::html::{csrf_of, escaped, field};
use jitgate_testkit::upstream::EchoUpstream;
use jitgate_testkit::{Jitgate, free_port};

pub const PASSWORD: &str = "portal-test-password";
/// The deployment's session secret, for tests that check the tokens it signs.
pub const SECRET: &str = "portal-test-secret-0123456789abcdefghij";

pub struct Site {
    pub port: u16,
    /// Where `/metrics`, `/healthz` and `/readyz` answer.
    pub ops_port: u16,
    _upstream: EchoUpstream,
    /// Declared before the directory it logs to, so a failing test can still print the log.
    jitgate: Jitgate,
    _dir: tempfile::TempDir,
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
        Self::start_full(port, identity, None, "").await
    }

    /// [`Site::start_on`] with `extra` config after the resources.
    pub async fn start_on_with(
        port: u16,
        identity: impl FnOnce(u16) -> Option<String>,
        extra: &str,
    ) -> Self {
        Self::start_full(port, identity, None, extra).await
    }

    /// A site whose config ends with `extra` (e.g. `[smtp]` and `[[webhook]]` sections).
    pub async fn start_with_extra(extra: &str) -> Self {
        Self::start_full(free_port(), |_| None, None, extra).await
    }

    /// One of several instances sharing the Redis store at `redis_url`, with `extra` config.
    pub async fn start_on_redis(redis_url: &str, extra: &str) -> Self {
        Self::start_full(free_port(), |_| None, Some(redis_url), extra).await
    }

    async fn start_full(
        port: u16,
        identity: impl FnOnce(u16) -> Option<String>,
        redis_url: Option<&str>,
        extra: &str,
    ) -> Self {
        let upstream = EchoUpstream::start().await;
        let ops_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let hashed = hash(PASSWORD);
        std::fs::write(dir.path().join("client.secret"), "portal-oidc-client-secret").unwrap();
        std::fs::write(dir.path().join("users.toml"), users_file(PORTAL_USERS, &hashed)).unwrap();
        let mut config = portal_site(port, &upstream.url()).ops(ops_port).section(extra);
        if let Some(identity) = identity(port) {
            config = config.identity(&identity);
        }
        if let Some(url) = redis_url {
            config = config.redis(url, "portaltest");
        }
        let config = config.build();
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

    /// The config file jitgate runs on, for a test to rewrite and reload ([`Site::reload`]).
    pub fn config_path(&self) -> std::path::PathBuf {
        self._dir.path().join("jitgate.toml")
    }

    /// Has jitgate reload its config file (SIGHUP).
    pub fn reload(&self) {
        self.jitgate.sighup();
    }

    /// What jitgate has logged so far.
    pub fn log(&self) -> String {
        self.jitgate.log()
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
            // Deny and revoke as from inside their confirmation (`confirm=yes`).
            .form(&[
                ("csrf", csrf_of(&dashboard).as_str()),
                ("duration", "3600"),
                ("note", note),
                ("confirm", "yes"),
            ])
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
