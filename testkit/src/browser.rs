//! A real browser for end-to-end tests: Debian's headless Chromium driven over WebDriver
//! (`chromedriver` from `chromium-driver`, spoken to with fantoccini). Each [`Browser`] is one
//! person at one device: its own chromedriver on a free port, its own empty profile
//! (cookies, storage), a desktop (1280x800) or phone (390x844) [`Viewport`]. Everything it started is killed when it is dropped.
//!
//! Waits are polls against a deadline, never fixed sleeps. When a test fails while a browser
//! is open, the browser prints where it was (URL and page source) and saves a last screenshot,
//! so the failure can be read without running it again.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

pub use fantoccini::Locator;
pub use fantoccini::elements::Element;

/// Debian's Chromium (package `chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`), the same version as the browser.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to load, an element to appear or a condition to hold by default:
/// generous, for a debug build of jitgate and a browser sharing two busy cores.
pub const PAGE_LIMIT: Duration = Duration::from_secs(20);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);
/// The page area a browser shows (and every screenshot of it): the two sizes the portal is
/// held to, a laptop and a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewport {
    /// 1280x800 CSS pixels.
    Desktop,
    /// 390x844 CSS pixels (an iPhone 12-15), emulated as a touch device so media queries and
    /// `pointer: coarse` see a phone.
    Phone,
}

impl Viewport {
    /// Width and height in CSS pixels.
    pub const fn size(self) -> (u32, u32) {
        match self {
            Viewport::Desktop => (1280, 800),
            Viewport::Phone => (390, 844),
        }
    }

    /// `desktop` or `phone`, for screenshot names.
    pub const fn label(self) -> &'static str {
        match self {
            Viewport::Desktop => "desktop",
            Viewport::Phone => "phone",
        }
    }
}

/// Both viewports, for tests that walk a page at each.
pub const VIEWPORTS: [Viewport; 2] = [Viewport::Desktop, Viewport::Phone];
/// `null` when the document is no wider than the viewport; otherwise the widths and the
/// element reaching furthest right.
const OVERFLOW: &str = r#"
const width = document.documentElement.clientWidth;
if (document.documentElement.scrollWidth <= width) { return null; }
let worst = null, right = width;
for (const element of document.querySelectorAll('body *')) {
  const box = element.getBoundingClientRect();
  if (box.right > right + 0.5) { right = box.right; worst = element; }
}
const name = worst ? worst.tagName.toLowerCase() + (worst.id ? '#' + worst.id : '') +
  (worst.className && typeof worst.className === 'string' ? '.' + worst.className.trim().split(/\s+/).join('.') : '') : '?';
return { viewport: width, document: document.documentElement.scrollWidth, widest: name, right: right };
"#;
/// How much wider and taller the window is than the page in it.
const FRAME_SIZE: &str =
    "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];";

/// Numbered screenshots of one scenario, `<root>/<scenario>/<NN>-<who>-<step>.png`, shared by
/// every browser in it so the numbers follow the story across profiles.
#[derive(Clone)]
pub struct Screenshots {
    dir: PathBuf,
    taken: Arc<AtomicU32>,
}

impl Screenshots {
    /// The folder for `scenario` under `root`, emptied of an earlier run's pictures.
    pub fn new(root: &Path, scenario: &str) -> Self {
        let dir = root.join(scenario);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create the screenshot folder {}: {e}", dir.display()));
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|ext| ext == "png") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Self { dir, taken: Arc::new(AtomicU32::new(0)) }
    }

    fn next(&self, step: &str) -> PathBuf {
        let number = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        self.dir.join(format!("{number:02}-{step}.png"))
    }
}

/// What a page showed at one moment: where the browser was and the text a person sees.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: reqwest::Url,
    /// `document.body.innerText`: visible text only, no markup.
    pub text: String,
}

impl Page {
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }

    pub fn path(&self) -> &str {
        self.url.path()
    }

    pub fn shows(&self, text: &str) -> bool {
        self.text.contains(text)
    }
}

impl std::fmt::Display for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at {}, showing:\n{}", self.url, self.text)
    }
}

/// One browser profile: a chromedriver, the Chromium it runs, and a WebDriver session.
pub struct Browser {
    /// Which person this is in the test (`requester`, `reviewer`), for messages and files.
    name: String,
    client: Client,
    session: String,
    driver_port: u16,
    /// Stops chromedriver and its Chromium when the browser goes.
    _driver: Driver,
    shots: Screenshots,
    log: tempfile::NamedTempFile,
    closed: bool,
    /// Removed last, once nothing writes to it any more.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium with an empty profile.
    pub async fn start(name: &str, shots: &Screenshots) -> Self {
        Self::start_with(name, shots, &[]).await
    }

    /// Like [`Browser::start`], at `viewport`.
    pub async fn start_at(name: &str, shots: &Screenshots, viewport: Viewport) -> Self {
        Self::launch(name, shots, &[], viewport).await
    }

    /// Like [`Browser::start`], with Chromium's `extra` flags, e.g. `--host-resolver-rules`
    /// to send a host to one of several proxies, as a sticky load balancer would.
    pub async fn start_with(name: &str, shots: &Screenshots, extra: &[String]) -> Self {
        Self::launch(name, shots, extra, Viewport::Desktop).await
    }

    async fn launch(name: &str, shots: &Screenshots, extra: &[String], viewport: Viewport) -> Self {
        let window = viewport.size();
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: run scripts/test (it installs the Debian package {package})"
            );
        }
        let profile = tempfile::tempdir().expect("a temp dir for the browser profile");
        let log = tempfile::NamedTempFile::new().expect("a temp file for chromedriver's log");
        let driver_port = crate::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .arg(format!("--log-path={}", log.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Chromium's processes join this group, so one signal ends them all.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        // From here on, whatever happens, the driver and its browser go when this does.
        let driver = Driver(driver);
        let status_url = format!("http://127.0.0.1:{driver_port}/status");
        let status_url = &status_url;
        crate::wait_until("chromedriver to be ready", PAGE_LIMIT, || async move {
            match reqwest::get(status_url).await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == json!(true)),
                Err(_) => false,
            }
        })
        .await;

        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        let mut options =
            json!({ "binary": CHROMIUM, "args": chromium_args(profile.path(), extra, window) });
        if viewport == Viewport::Phone {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": window.0, "height": window.1, "pixelRatio": 1.0, "touch": true, "mobile": true }
            });
        }
        capabilities.insert("goog:chromeOptions".into(), options);
        let limit = PAGE_LIMIT.as_millis() as u64;
        capabilities.insert("timeouts".into(), json!({ "pageLoad": limit, "script": limit }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(log.path()).unwrap_or_default();
                panic!("chromedriver could not start Chromium for {name}: {e}\n{log}")
            });
        let session =
            client.session_id().await.ok().flatten().expect("chromedriver names the new session");
        // --window-size is the whole window; make the page itself (what a screenshot shows)
        // `window` by adding what the window's frame takes.
        let frame = client.execute(FRAME_SIZE, vec![]).await.expect("the window's frame size");
        let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
        client
            .set_window_size(window.0 + extra(0), window.1 + extra(1))
            .await
            .expect("resize the window");
        Self {
            name: name.to_owned(),
            client,
            session,
            driver_port,
            _driver: driver,
            shots: shots.clone(),
            log,
            closed: false,
            _profile: profile,
        }
    }

    /// The WebDriver client, for what these helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for the page (and any redirects) to load.
    pub async fn goto(&self, url: &str) {
        if let Err(error) = self.client.goto(url).await {
            panic!("{}: opening {url} failed: {error}\n{}", self.name, self.describe().await);
        }
    }

    /// Reloads the current page.
    pub async fn refresh(&self) {
        if let Err(error) = self.client.refresh().await {
            panic!("{}: reload failed: {error}\n{}", self.name, self.describe().await);
        }
    }

    /// Where the browser is and what it shows, now: both read by one script in one document,
    /// so a navigation in between cannot pair one page's URL with another page's text.
    pub async fn page(&self) -> Page {
        let script = "return [location.href, document.body ? document.body.innerText : ''];";
        let deadline = Instant::now() + PAGE_LIMIT;
        loop {
            // A script sent while a page is being replaced can fail; the next one finds the new
            // page.
            let read = self.client.execute(script, vec![]).await;
            let parsed = read.as_ref().ok().and_then(|pair| {
                let url = reqwest::Url::parse(pair[0].as_str()?).ok()?;
                Some(Page { url, text: pair[1].as_str()?.to_owned() })
            });
            match parsed {
                Some(page) => return page,
                None if Instant::now() > deadline => {
                    panic!("{}: cannot read the page within {PAGE_LIMIT:?}: {read:?}", self.name)
                }
                None => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap_or_else(|e| format!("(no page source: {e})"))
    }

    /// Polls the page until `ready` holds, up to `limit`; the page that satisfied it. On
    /// timeout panics with `what`, the URL and the visible text.
    pub async fn wait_for_page(
        &self,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut(&Page) -> bool,
    ) -> Page {
        let deadline = Instant::now() + limit;
        loop {
            let page = self.page().await;
            if ready(&page) {
                return page;
            }
            if Instant::now() > deadline {
                panic!("{}: {what} did not happen within {limit:?}; the page is {page}", self.name);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Opens `url` again and again (twice a second at most) until the page satisfies
    /// `ready`, up to `limit`: for pages that do not update themselves.
    pub async fn reload_until(
        &self,
        url: &str,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut(&Page) -> bool,
    ) -> Page {
        let deadline = Instant::now() + limit;
        loop {
            let opened = Instant::now();
            self.goto(url).await;
            let page = self.page().await;
            if ready(&page) {
                return page;
            }
            if Instant::now() > deadline {
                panic!("{}: {what} did not happen within {limit:?}; the page is {page}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(500).saturating_sub(opened.elapsed())).await;
        }
    }

    /// Waits (up to [`PAGE_LIMIT`]) for a page on `host` whose visible text has every one of
    /// `texts`.
    pub async fn wait_for_text(&self, host: &str, texts: &[&str]) -> Page {
        let what = format!("a page on {host} showing {texts:?}");
        self.wait_for_page(&what, PAGE_LIMIT, |page| {
            page.host() == host && texts.iter().all(|text| page.shows(text))
        })
        .await
    }

    /// Waits (up to [`PAGE_LIMIT`]) for an element to be there, e.g. after a navigation.
    pub async fn find(&self, locator: Locator<'_>) -> Element {
        let deadline = Instant::now() + PAGE_LIMIT;
        loop {
            match self.client.find(locator).await {
                Ok(element) => return element,
                Err(error) if Instant::now() > deadline => panic!(
                    "{}: no {locator:?} within {PAGE_LIMIT:?} ({error}); the page is {}",
                    self.name,
                    self.page().await
                ),
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// The visible text of what `locator` finds (waiting for it as [`Browser::find`] does).
    pub async fn text_of(&self, locator: Locator<'_>) -> String {
        let element = self.find(locator).await;
        match element.text().await {
            Ok(text) => text,
            Err(error) => {
                panic!(
                    "{}: reading {locator:?} failed: {error}\n{}",
                    self.name,
                    self.describe().await
                )
            }
        }
    }

    /// Types `value` into the field `locator` finds, replacing what it held.
    pub async fn fill(&self, locator: Locator<'_>, value: &str) {
        let field = self.find(locator).await;
        let typed = async {
            field.clear().await?;
            field.send_keys(value).await
        };
        if let Err(error) = typed.await {
            panic!(
                "{}: typing into {locator:?} failed: {error}\n{}",
                self.name,
                self.describe().await
            );
        }
    }

    /// Clicks what `locator` finds (a button, a link, a radio button).
    pub async fn click(&self, locator: Locator<'_>) {
        let element = self.find(locator).await;
        if let Err(error) = element.click().await {
            panic!(
                "{}: clicking {locator:?} failed: {error}\n{}",
                self.name,
                self.describe().await
            );
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; what it returned.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(value) => value,
            Err(error) => {
                panic!("{}: script failed: {error}\n{script}\n{}", self.name, self.describe().await)
            }
        }
    }

    /// Polls `script` until it returns `true`, up to `limit`.
    pub async fn wait_for_script(&self, what: &str, limit: Duration, script: &str) {
        let deadline = Instant::now() + limit;
        while self.execute(script, vec![]).await != json!(true) {
            if Instant::now() > deadline {
                panic!(
                    "{}: {what} did not happen within {limit:?}; the page is {}",
                    self.name,
                    self.page().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fails unless the page fits the viewport's width: nothing scrolls sideways. Names the
    /// widest element that sticks out, so the failure says what to fix.
    pub async fn assert_no_horizontal_overflow(&self) {
        let found = self.execute(OVERFLOW, vec![]).await;
        if found != Value::Null {
            panic!(
                "{}: the page is wider than the viewport: {found}\n{}",
                self.name,
                self.describe().await
            );
        }
    }

    /// Saves a PNG of the window as the scenario's next numbered step,
    /// `<NN>-<browser name>-<step>.png`; its path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(error) => panic!("{}: screenshot failed: {error}", self.name),
        };
        let path = self.shots.next(&format!("{}-{step}", self.name));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The URL and the visible text, for a failure message.
    async fn describe(&self) -> String {
        match tokio::time::timeout(Duration::from_secs(5), self.page()).await {
            Ok(page) => format!("the page is {page}"),
            Err(_) => "the browser does not answer".to_owned(),
        }
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(mut self) {
        self.closed = true;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }

    /// A WebDriver GET on this session, blocking: usable in `Drop`, where nothing can await.
    fn blocking_get(&self, command: &str) -> Option<Value> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.driver_port));
        let mut stream =
            std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let request = format!(
            "GET /session/{}/{command} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.session, self.driver_port
        );
        stream.write_all(request.as_bytes()).ok()?;
        // chromedriver keeps the connection open: read what Content-Length says, no more.
        let mut response = Vec::new();
        let mut buffer = [0u8; 64 * 1024];
        loop {
            let text = String::from_utf8_lossy(&response);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                });
                if length.is_some_and(|length: usize| body.len() >= length) {
                    break;
                }
            }
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
        let response = String::from_utf8_lossy(&response);
        let body = response.split_once("\r\n\r\n")?.1;
        let json = &body[body.find('{')?..=body.rfind('}')?];
        serde_json::from_str::<Value>(json).ok().map(|reply| reply["value"].clone())
    }

    /// Where the browser was when the test failed: printed, with a last screenshot.
    fn report_failure(&self) {
        let url = self.blocking_get("url");
        let source = self.blocking_get("source");
        let screenshot = self
            .blocking_get("screenshot")
            .and_then(|png| STANDARD.decode(png.as_str()?).ok())
            .map(|png| {
                let path = self.shots.next(&format!("{}-failed", self.name));
                let _ = std::fs::write(&path, png);
                path.display().to_string()
            });
        let source = source.as_ref().and_then(Value::as_str).unwrap_or("(unavailable)");
        let source: String = source.chars().take(20_000).collect();
        eprintln!(
            "--- browser {} at the failure ---\nURL: {}\nscreenshot: {}\npage source:\n{source}",
            self.name,
            url.as_ref().and_then(Value::as_str).unwrap_or("(unavailable)"),
            screenshot.as_deref().unwrap_or("(unavailable)"),
        );
        // Keep chromedriver's log to read: the temp file goes with the browser.
        let _ = self.log.as_file().sync_all();
        let kept = std::env::temp_dir().join(format!("chromedriver-{}.log", self.session));
        if std::fs::copy(self.log.path(), &kept).is_ok() {
            eprintln!("--- chromedriver's log: {} ---", kept.display());
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.closed {
            self.report_failure();
        }
    }
}

/// chromedriver, leader of a process group that holds the Chromium it started too.
struct Driver(Child);

impl Drop for Driver {
    /// Ends the whole group, by its id. (Chromium's crash handler leaves the group, but exits
    /// with the browser.)
    fn drop(&mut self) {
        if let Some(group) = self.0.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.0.start_kill();
    }
}

/// What Chromium runs with: headless, this profile, and none of its own background traffic,
/// which a closed network refuses (and which has no place in a test).
fn chromium_args(profile: &Path, extra: &[String], window: (u32, u32)) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        // The sandbox needs user namespaces or a setuid helper, which containers and root
        // lack; the pages a test opens are its own.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--password-store=basic",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    args.push(format!("--window-size={},{}", window.0, window.1));
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend_from_slice(extra);
    args
}
