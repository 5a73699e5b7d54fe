//! One portal in-process: the config the binary's portal tests use, an embedded store in a
//! temp dir, a manual clock, and `Portal::router()` called with `oneshot` (no socket, no
//! proxy, no peers). [`Browser`] keeps the portal's cookies the way a browser does and follows
//! no redirect, so a test sees each response as the portal sent it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, header};
use jitgate_access::clock::ManualClock;
use jitgate_access::config::StoreConfig;
use jitgate_access::service::AccessService;
use jitgate_access::store::{EmbeddedStore, Store};
use jitgate_portal::{Portal, PortalSettings};
use jitgate_testkit::config::{PORTAL_USERS, portal_site, users_file};
pub use jitgate_testkit::html::{csrf_of, field};
use tower::ServiceExt;

/// Every user's password.
pub const PASSWORD: &str = "portal-test-password";
/// `PASSWORD` hashed (`jitgate hash-password`): hashing is deliberately slow, and the users
/// file is data.
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$tETi5g1q7Hb7z4CHHsUFTA$1toixKi+8xPoPVWll0uEDqp+bdEoMmukZ6cYeGXpv/c";
pub const SECRET: &str = "portal-router-test-secret-0123456789abcdef";
/// The port in the portal's URL and the resources' hosts; nothing listens on it.
pub const PORT: u16 = 8080;

pub struct Site {
    router: Router,
    pub clock: Arc<ManualClock>,
    /// The portal's own workflow, for what happens elsewhere (a proxy claiming a grant).
    pub service: Arc<AccessService>,
    _dir: tempfile::TempDir,
}

impl Site {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), SECRET).unwrap();
        std::fs::write(dir.path().join("users.toml"), users_file(PORTAL_USERS, PASSWORD_HASH))
            .unwrap();
        let path = dir.path().join("jitgate.toml");
        std::fs::write(&path, portal_site(PORT, "http://127.0.0.1:9").build()).unwrap();
        let config = jitgate_access::config::load(&path).expect("the portal tests' config");
        let StoreConfig::Embedded { path } = &config.store else {
            panic!("the portal tests' config names the embedded store");
        };
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(path).unwrap());
        let clock = Arc::new(ManualClock::starting_now());
        let config = Arc::new(config);
        let service =
            Arc::new(AccessService::new(store, clock.clone(), Arc::new(config.policy_set())));
        let portal = Portal::new(PortalSettings {
            config,
            service: service.clone(),
            clock: clock.clone(),
            assertion_jwks: serde_json::json!({ "keys": [] }),
            bearer: None,
        })
        .await
        .unwrap();
        Self { router: portal.router(), clock, service, _dir: dir }
    }

    /// A fresh browser with no cookies.
    pub fn browser(&self) -> Browser {
        Browser { router: self.router.clone(), cookies: Mutex::default() }
    }

    /// A fresh browser signed in as `email` through the sign-in form.
    pub async fn signed_in(&self, email: &str) -> Browser {
        let browser = self.browser();
        let form = browser.get("/auth/sign-in").await;
        let signed_in = browser.sign_in(email, PASSWORD, &form.body).await;
        assert_eq!(signed_in.status, 303, "signed in as {email}: {signed_in:?}");
        browser
    }

    /// `who` asks for `resource` (one hour, `reason`) through the form; the new manual
    /// request's id.
    pub async fn ask(&self, who: &Browser, resource: &str, reason: &str) -> String {
        let path = format!("/request/{resource}");
        let form = who.get(&path).await;
        let csrf = csrf_of(&form.body);
        let pending = who
            .post_form(
                &path,
                &[("csrf", &csrf), ("rd", ""), ("duration", "3600"), ("reason", reason)],
            )
            .await;
        let location = pending.location();
        assert!(location.starts_with("/requests/"), "a waiting page: {pending:?}");
        let id = location.trim_start_matches("/requests/");
        id.split('?').next().unwrap_or(id).to_owned()
    }
}

/// A response: its status, headers and body as text.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}\n{}", self.status, self.headers, self.body)
    }
}

impl Reply {
    /// Where a redirect points (the path alone for the portal's own pages).
    pub fn location(&self) -> String {
        let location = self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok());
        let location = location.unwrap_or_else(|| panic!("a redirect: {self:?}"));
        location
            .strip_prefix(&format!("http://access.localhost:{PORT}"))
            .unwrap_or(location)
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("JSON ({e}): {self:?}"))
    }
}

/// A browser on the portal's host: keeps its cookies, follows no redirect.
pub struct Browser {
    router: Router,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    /// Plants cookie `name` as a hostile page or extension could.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies.lock().unwrap().insert(name.to_owned(), value.to_owned());
    }

    /// The value of cookie `name`, if the browser holds it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Body::empty()).await
    }

    /// A form POST of `fields`, URL-encoded.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body =
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let content_type = [("content-type", "application/x-www-form-urlencoded")];
        self.send(Method::POST, path, &content_type, Body::from(body)).await
    }

    /// Submits the sign-in form in `form_html` as `email` with `password`.
    pub async fn sign_in(&self, email: &str, password: &str, form_html: &str) -> Reply {
        let (csrf, rd) = (csrf_of(form_html), field(form_html, "rd"));
        let fields =
            [("csrf", csrf.as_str()), ("email", email), ("password", password), ("rd", &rd)];
        self.post_form("/auth/sign-in", &fields).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, format!("access.localhost:{PORT}"))
            .header(header::ACCEPT, "text/html,application/xhtml+xml");
        let cookies: Vec<String> = {
            let jar = self.cookies.lock().unwrap();
            jar.iter().map(|(name, value)| format!("{name}={value}")).collect()
        };
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        let mut request = request.body(body).unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        {
            let mut jar = self.cookies.lock().unwrap();
            for set in headers.get_all(header::SET_COOKIE) {
                let set = set.to_str().unwrap();
                let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
                let Some((name, value)) = pair.split_once('=') else { continue };
                let expired = attributes.to_ascii_lowercase().contains("max-age=0");
                if expired || value.is_empty() {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    }
}
