//! What a person does in the browser, step by step, each step checked on the page they see.

use std::time::{Duration, Instant};

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT, Page};
use jitgate_testkit::notify::SmtpServer;
use serde_json::Value;

/// At the IdP's own sign-in form (the `oidc-provider` development login), signs in as
/// `email`. The browser must be on its way there.
pub async fn sign_in_at_idp(browser: &Browser, email: &str) {
    let form = browser
        .wait_for_page("the IdP's sign-in form", PAGE_LIMIT, |page| {
            page.host() == "127.0.0.1" && page.shows("Sign-in")
        })
        .await;
    assert!(form.path().starts_with("/interaction/"), "the IdP's login interaction: {form}");
    browser.fill(Locator::Css("input[name=login]"), email).await;
    browser.fill(Locator::Css("input[name=password]"), "any password").await;
    browser.screenshot("idp-sign-in").await;
    browser.click(Locator::Css("button[type=submit]")).await;
}

/// At jitgate's own sign-in form (the `local` provider), signs in.
pub async fn sign_in_locally(browser: &Browser, email: &str, password: &str) {
    browser.wait_for_text("access.localhost", &["Sign in", "Password"]).await;
    browser.fill(Locator::Id("email"), email).await;
    browser.fill(Locator::Id("password"), password).await;
    browser.screenshot("sign-in").await;
    browser.click(Locator::Css("form[action='/auth/sign-in'] button[type=submit]")).await;
}

/// The portal's page for a locked app: the request form for `resource`.
pub async fn expect_locked(browser: &Browser, resource: &str) -> Page {
    let page = browser
        .wait_for_page(&format!("the locked page of {resource}"), PAGE_LIMIT, |page| {
            page.host() == "access.localhost"
                && page.path() == format!("/request/{resource}")
                && page.shows(&format!("Request access to {resource}"))
        })
        .await;
    assert!(page.shows("Request access"), "a button to ask: {page}");
    page
}

/// How long to ask for, as the request form offers it.
pub enum Asking<'a> {
    /// One of the offered durations, by its label (`15m`, `1h`).
    Preset(&'a str),
    /// "Custom…" with this text in the custom duration field.
    Custom(&'a str),
}

/// Fills in the request form (duration and reason) and submits it.
pub async fn ask(browser: &Browser, duration: Asking<'_>, reason: &str) {
    match duration {
        Asking::Preset(label) => {
            let radio = format!(
                "//label[contains(@class,'choice')][normalize-space()='{label}']/input[@name='duration']"
            );
            browser.click(Locator::XPath(&radio)).await;
        }
        Asking::Custom(text) => {
            browser.click(Locator::Css("input[name=duration][value=custom]")).await;
            browser.fill(Locator::Id("custom"), text).await;
        }
    }
    browser.fill(Locator::Id("reason"), reason).await;
    browser.screenshot("request-form").await;
    browser.click(Locator::XPath("//button[normalize-space()='Request access']")).await;
}

/// The requester's waiting page for a manual request; the request's id, from its URL.
pub async fn expect_waiting(browser: &Browser, reason: &str) -> String {
    let page = browser.wait_for_text("access.localhost", &["Waiting for approval", reason]).await;
    assert!(page.path().starts_with("/requests/"), "the request's own page: {page}");
    assert!(page.shows("pending"), "its status: {page}");
    page.path().trim_start_matches("/requests/").to_owned()
}

/// The app (the echo upstream's JSON of the request it got) as `email`: the identity headers
/// jitgate added. The headers object.
pub async fn expect_echo_app(browser: &Browser, email: &str) -> Value {
    let page = browser
        .wait_for_page(&format!("the app, as {email}"), PAGE_LIMIT, |page| {
            page.host() == "app.localhost" && page.shows("x-jitgate-email")
        })
        .await;
    let json = page.text.find('{').zip(page.text.rfind('}')).map(|(a, b)| &page.text[a..=b]);
    let echo: Value = json
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("the app's JSON echo: {page}"));
    let headers = &echo["headers"];
    assert_eq!(headers["x-jitgate-email"], serde_json::json!([email]), "{page}");
    assert_eq!(headers["x-jitgate-user"], serde_json::json!([email]), "{page}");
    let assertion = headers["x-jitgate-assertion"][0].as_str().unwrap_or("");
    assert_eq!(assertion.split('.').count(), 3, "a signed assertion (a JWT): {page}");
    let cookies = headers["cookie"].to_string();
    assert!(!cookies.contains("jitgate"), "jitgate's own cookie stays with jitgate: {cookies}");
    headers.clone()
}

/// The first mail to `to` whose text has every one of `texts`, waited for up to 30 s.
pub async fn mail(smtp: &SmtpServer, to: &str, texts: &[&str]) -> String {
    let wanted = |message: &String| {
        let recipient = message.lines().find_map(|l| l.strip_prefix("To: ")).unwrap_or("");
        recipient.contains(to) && texts.iter().all(|text| message.contains(text))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = smtp.messages();
        if let Some(message) = messages.iter().find(|m| wanted(m)) {
            return message.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {to} with {texts:?} within 30 s; the SMTP server got:\n{}",
            messages.join("\n-----\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first link in `mail` that starts with `prefix`, `&amp;` undone.
pub fn link(mail: &str, prefix: &str) -> String {
    let start = mail.find(prefix).unwrap_or_else(|| panic!("no {prefix} link in {mail}"));
    let rest = &mail[start..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '<').unwrap_or(rest.len());
    rest[..end].replace("&amp;", "&")
}

/// What a reviewer does to a request on the page they are on.
#[derive(Debug, Clone, Copy)]
pub enum Undo {
    Deny,
    Revoke,
}

impl Undo {
    fn action(self) -> &'static str {
        match self {
            Undo::Deny => "deny",
            Undo::Revoke => "revoke",
        }
    }
}

/// Opens the confirmation of `what` on request `id` (a `<details>` around the real button) and
/// returns without deciding: one click must change nothing.
pub async fn open_confirmation(browser: &Browser, id: &str, what: Undo) {
    let action = what.action();
    let summary = format!("details:has(form[action='/review/{id}/{action}']) > summary");
    browser.click(Locator::Css(&summary)).await;
    let button = format!("form[action='/review/{id}/{action}'] button[type=submit]");
    browser
        .wait_for_script(
            "the confirmation to open",
            PAGE_LIMIT,
            &format!("const b = document.querySelector(\"{button}\"); return !!b && b.offsetParent !== null;"),
        )
        .await;
}

/// Denies or revokes request `id` from the page the browser is on, with `note`: opens the
/// confirmation, writes the note, and presses the deliberate second button.
pub async fn confirm(browser: &Browser, id: &str, what: Undo, note: &str) {
    open_confirmation(browser, id, what).await;
    let action = what.action();
    let form = format!("form[action='/review/{id}/{action}']");
    browser.fill(Locator::Css(&format!("{form} textarea[name=note]")), note).await;
    browser.click(Locator::Css(&format!("{form} button[type=submit]"))).await;
}

/// Waits for the flash message that confirms an action, on the portal; the page.
pub async fn expect_flash(browser: &Browser, text: &str) -> Page {
    let page = browser.wait_for_text("access.localhost", &[text]).await;
    let banner = browser.text_of(Locator::Css("p.flash")).await;
    assert!(banner.contains(text), "the message is the flash banner: {banner}");
    page
}

/// The echo upstream behind `resource` (`<resource>.localhost`), as jitgate lets `email`
/// through to it; the page.
pub async fn expect_app_as(browser: &Browser, resource: &str, email: &str) -> Page {
    let host = format!("{resource}.localhost");
    let app = browser
        .wait_for_page(&format!("{resource}, as {email}"), PAGE_LIMIT, |page| {
            page.host() == host && page.shows("x-jitgate-email")
        })
        .await;
    assert!(app.shows(email), "{app}");
    app
}

/// Opens a WebSocket from the page to `arguments[0]` and sends "ping" once it is open;
/// records what happens in `window.socket` (`closedAt`: when it closed, epoch ms), and on the
/// page (`window.note` adds a line) for the screenshots.
const OPEN_SOCKET: &str = r#"
const url = arguments[0];
const log = document.createElement('pre');
log.id = 'socket-log';
log.style = 'font-size:20px;border:2px solid #0969da;padding:12px;margin:40px 12px 12px;white-space:pre-wrap';
document.body.prepend(log);
const note = (line) => { log.textContent += new Date().toISOString().slice(11, 23) + '  ' + line + '\n'; };
const state = { open: false, echoed: null, closed: false, code: null, error: false };
window.socket = state;
window.note = note;
const ws = new WebSocket(url);
ws.onopen = () => { state.open = true; note('WebSocket open: ' + url); ws.send('ping'); note('sent: ping'); };
ws.onmessage = (event) => { state.echoed = String(event.data); note('the app echoed: ' + event.data); };
ws.onerror = () => { state.error = true; note('WebSocket error'); };
ws.onclose = (event) => { state.closed = true; state.closedAt = Date.now(); state.code = event.code; note('WebSocket closed (code ' + event.code + ')'); };
"#;

/// Opens a WebSocket from the app page the browser is on to `url` ([`OPEN_SOCKET`]) and waits
/// for it to echo "ping"; it is still open.
pub async fn open_socket(browser: &Browser, url: &str) {
    browser.execute(OPEN_SOCKET, vec![serde_json::json!(url)]).await;
    browser
        .wait_for_script(
            "the app to echo over the WebSocket",
            PAGE_LIMIT,
            "return window.socket.echoed !== null || window.socket.closed;",
        )
        .await;
    let state = browser.execute("return window.socket;", vec![]).await;
    assert_eq!(state["echoed"], "ping", "echoed through jitgate: {state}");
    assert_eq!(state["closed"], false, "and still open: {state}");
}
