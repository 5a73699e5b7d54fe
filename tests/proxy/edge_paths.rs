//! Attacks on path-prefix routing, against two real upstreams that read paths differently:
//! nginx (decodes `%XX`, resolves dot segments and merges slashes before it picks a location)
//! and the Python echo (shows the request target byte for byte). One host is split into a
//! public resource (`/`, standing) and a just-in-time one (`/admin`): a request jitgate judged
//! "public" must never land in the upstream's admin section, whatever spelling it used.
//!
//! jitgate decides on the canonical path (RFC 3986: unreserved `%XX` decoded, kept escapes
//! upper-cased, `.`/`..` resolved, `//` merged) and forwards exactly that path with the query
//! as sent; what it cannot make unambiguous (encoded separators, encoded dots, NUL, bad UTF-8
//! or escapes, case/parameter/trailing-dot variants of a configured prefix) is a 400.
//!
//! Also the shared fixture of `edge_headers` and `edge_sessions`: [`Site`].

use std::sync::Arc;
use std::time::Duration;

use jitgate_access::clock::SystemClock;
use jitgate_access::policy::Identity;
use jitgate_access::service::AccessService;
use jitgate_testkit::config::{ConfigBuilder, Resource};
use jitgate_testkit::http::{Response, get, raw};
use jitgate_testkit::upstream::NginxUpstream;
use jitgate_testkit::{Jitgate, free_port};

use crate::BROWSER;
use crate::stack::{Stack, person};

/// A deployment of one split host and one prefix-only host, all behind `upstream`:
///
/// - `site.localhost:<port>`: `site` at `/` (standing, everyone signed in, plus `site_extra`
///   lines), `admin` at `/admin` (just-in-time, manual approval) and `files` at `/files`
///   (standing, `allow_encoded_slashes = true`);
/// - `tools.localhost:<port>`: only `tools` at `/admin` (standing), no `/` resource.
///
/// `listeners` holds the `[server]` listener lines (plain HTTP or HTTPS), with `server_extra`
/// after them (e.g. `trusted_proxies`).
pub fn site_config(
    listeners: ConfigBuilder,
    port: u16,
    ops_port: u16,
    upstream: &str,
    server_extra: &str,
    site_extra: &str,
) -> String {
    let site = format!("site.localhost:{port}");
    let standing =
        |name: &str, host: &str| Resource::new(name, host).upstream(upstream).standing().group("*");
    listeners
        .ops(ops_port)
        .server("shutdown_grace = \"3s\"")
        .server(server_extra)
        .redis_url_file("redis.url", "proxytest")
        .resource(standing("site", &site).line(site_extra))
        .resource(
            Resource::new("admin", &site)
                .path_prefix("/admin")
                .upstream(upstream)
                .policy("durations = [\"1h\"]\napproval = \"manual\"")
                .group("*"),
        )
        .resource(
            standing("files", &site).path_prefix("/files").line("allow_encoded_slashes = true"),
        )
        .resource(standing("tools", &format!("tools.localhost:{port}")).path_prefix("/admin"))
        .build()
}

/// A `jitgate serve` of its own on [`site_config`], sharing the stack's Redis and secret, with
/// an access service that knows its policies (to grant `admin`).
pub struct Site {
    /// Runs until the site is dropped.
    _jitgate: Jitgate,
    pub port: u16,
    /// `site.localhost:<port>`.
    pub host: String,
    pub service: AccessService,
}

impl Site {
    /// Plain HTTP in front of `upstream` (a URL).
    pub async fn start(
        stack: &Stack,
        upstream: &str,
        server_extra: &str,
        site_extra: &str,
    ) -> Self {
        let port = free_port();
        let config = site_config(
            ConfigBuilder::new().listen_http(port),
            port,
            free_port(),
            upstream,
            server_extra,
            site_extra,
        );
        Self::serve(stack, &config, port).await
    }

    /// `config` (a [`site_config`]) served, ready once `port` listens.
    pub async fn serve(stack: &Stack, config: &str, port: u16) -> Self {
        let name = format!("site-{port}.toml");
        let jitgate = stack.serve(&name, config, port).await;
        let policies = jitgate_access::config::load(&stack.dir.path().join(&name))
            .expect("the site config is valid")
            .policy_set();
        let service =
            AccessService::new(stack.store.clone(), Arc::new(SystemClock), Arc::new(policies));
        Self { _jitgate: jitgate, port, host: format!("site.localhost:{port}"), service }
    }

    pub fn tools_host(&self) -> String {
        format!("tools.localhost:{}", self.port)
    }

    /// Where the portal sends refused browsers, as a URL prefix.
    pub fn portal(&self) -> String {
        format!("http://access.localhost:{}/", self.port)
    }

    /// An approved one-hour grant on `admin` for `who` (asked for, then approved by an admin).
    pub async fn grant_admin(&self, who: &Identity) {
        let request = self
            .service
            .request_access(who, &"admin".parse().unwrap(), "edge tests", Duration::from_secs(3600))
            .await
            .expect("admin is requestable");
        let reviewer = person("admin@example.com", &["admins"]);
        self.service
            .approve(&reviewer, request.id, None, "ok")
            .await
            .expect("an admin approves the request");
    }
}

/// Paths that spell `/admin/secret` (or `/admin`) in a way a naive prefix match misses but an
/// upstream may well normalise into its admin section. Each must be refused like
/// `/admin/secret` itself (or be a 400).
const ADMIN_IN_DISGUISE: &[&str] = &[
    "/%61dmin/secret",
    "/%61%64%6d%69%6e/secret",
    "//admin/secret",
    "///admin/secret",
    "/x/../admin/secret",
    "/./admin/secret",
    "/../admin/secret",
    "/admin//secret",
    "/public/../admin/secret",
    "/public/x/../../admin/secret",
    "/admin/./secret",
    "/%61dmin",
    "//admin",
    "/admin/",
    "/admin?x=/public",
];

/// Refused with 400 before any routing, whoever asks (even someone granted `admin`).
const AMBIGUOUS: &[&str] = &[
    "/admin%2fsecret",
    "/admin%2Fsecret",
    "/admin%5Csecret",
    "/admin%5csecret",
    "/admin\\secret",
    "/%2e%2e/admin/secret",
    "/%2e/admin",
    "/.%2e/admin",
    "/%2E%2E/admin",
    "/x/%2e%2e/admin/secret",
    "/a%00b",
    "/%C0%AF",
    "/%FF",
    "/%ZZ",
    "/%4",
    "/Admin/secret",
    "/ADMIN/secret",
    "/aDmIn",
    "/admin;x=1/secret",
    "/admin;/secret",
    "/admin./secret",
    "/admin%20/secret",
];

/// Ordinary requests of three kinds: nobody, a signed-in user without a grant on `admin`, and
/// the same as a browser.
struct Callers {
    signed_in: String,
}

impl Callers {
    fn each(&self) -> [(&'static str, Vec<(&'static str, &str)>); 4] {
        [
            ("anonymous script", vec![]),
            ("anonymous browser", vec![BROWSER]),
            ("signed-in script", vec![("cookie", self.signed_in.as_str())]),
            ("signed-in browser", vec![BROWSER, ("cookie", self.signed_in.as_str())]),
        ]
    }
}

/// A refusal (302 to the portal, 401, 403) or a 400, and nothing of the admin section.
fn assert_refused(site: &Site, response: &Response, what: &str) {
    let refusal = match response.status {
        400 | 401 | 403 => true,
        302 => response.header("location").is_some_and(|l| l.starts_with(&site.portal())),
        _ => false,
    };
    assert!(
        refusal,
        "{what}: expected a refusal or 400, got {} {:?}: {}",
        response.status,
        response.header("location"),
        response.body
    );
    assert!(
        !response.body.contains("ADMIN"),
        "{what}: the admin section answered: {}",
        response.body
    );
}

/// The checks both upstreams share: every disguise of the admin path is refused for callers
/// without a grant, and every ambiguous path is a 400 even for someone granted `admin` (so the
/// 400 is not just a refusal by another name).
async fn no_spelling_reaches_admin(stack: &Stack, site: &Site) {
    let bob = person("bob@example.com", &["sre"]);
    let (_, signed_in) = stack.sign_in_on(&bob, &site.host).await;
    let callers = Callers { signed_in };
    for path in ADMIN_IN_DISGUISE {
        for (who, headers) in callers.each() {
            let response = get(site.port, &site.host, path, &headers).await;
            assert_refused(site, &response, &format!("{who} GET {path}"));
        }
    }
    let carol = person("carol@example.com", &["dev"]);
    site.grant_admin(&carol).await;
    let (_, granted) = stack.sign_in_on(&carol, &site.host).await;
    for path in AMBIGUOUS {
        for (who, headers) in callers
            .each()
            .into_iter()
            .chain([("granted script", vec![("cookie", granted.as_str())])])
        {
            let response = get(site.port, &site.host, path, &headers).await;
            assert_eq!(
                response.status, 400,
                "{who} GET {path}: ambiguous paths are refused before routing: {}",
                response.body
            );
            assert!(!response.body.contains("ADMIN"), "{who} GET {path}: {}", response.body);
        }
    }
}

/// nginx: no disguise reaches its admin location; prefixes match whole segments only; a
/// double-encoded `%2561` stays a different (public) path; with a grant, a disguised path is
/// forwarded canonical (nginx's `$request_uri` is what jitgate sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_spelling_reaches_nginx_s_admin_location_without_a_grant() {
    let stack = Stack::start(0).await;
    let nginx = NginxUpstream::start().await;
    let site = Site::start(&stack, &nginx.url(), "", "").await;
    no_spelling_reaches_admin(&stack, &site).await;

    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in_on(&bob, &site.host).await;
    for (path, uri) in [
        ("/administrator", "/administrator"),
        ("/admins", "/admins"),
        ("/admin-panel/x", "/admin-panel/x"),
        ("/%2561dmin", "/%61dmin"),
        ("/%2561dmin/secret", "/%61dmin/secret"),
    ] {
        let response = get(site.port, &site.host, path, &[("cookie", &cookie)]).await;
        assert_eq!(response.status, 200, "GET {path} is public: {}", response.body);
        assert!(
            response.body.starts_with(&format!("PUBLIC uri={uri} request_uri={path} ")),
            "GET {path}: {}",
            response.body
        );
    }

    let carol = person("carol@example.com", &["dev"]);
    let (_, granted) = stack.sign_in_on(&carol, &site.host).await;
    for (path, forwarded) in [
        ("/%61dmin/secret", "/admin/secret"),
        ("//admin//secret", "/admin/secret"),
        ("/public/../admin/secret?q=1", "/admin/secret?q=1"),
        ("/admin", "/admin"),
    ] {
        let response = get(site.port, &site.host, path, &[("cookie", &granted)]).await;
        assert_eq!(response.status, 200, "granted GET {path}: {}", response.body);
        let uri = forwarded.split('?').next().unwrap();
        assert!(
            response.body.starts_with(&format!("ADMIN uri={uri} request_uri={forwarded} ")),
            "granted GET {path}: {}",
            response.body
        );
        assert!(response.body.contains(" user=carol@example.com "), "{}", response.body);
    }
}

/// The Python echo shows the request target jitgate sent, byte for byte: the canonical path
/// and the query as the client wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_spelling_reaches_the_echo_s_admin_resource_and_paths_go_out_canonical() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    no_spelling_reaches_admin(&stack, &site).await;

    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in_on(&bob, &site.host).await;
    let carol = person("carol@example.com", &["dev"]);
    let (_, granted) = stack.sign_in_on(&carol, &site.host).await;
    for (who, cookie, path, forwarded) in [
        // Segment boundaries: these are the public resource's.
        ("bob", &cookie, "/administrator", "/administrator"),
        ("bob", &cookie, "/admins?x=1", "/admins?x=1"),
        ("bob", &cookie, "/%2561dmin", "/%2561dmin"),
        // Kept escapes go out upper-case; unreserved ones decoded.
        ("bob", &cookie, "/caf%c3%a9", "/caf%C3%A9"),
        ("bob", &cookie, "/%7Euser/%41%2d%5F", "/~user/A-_"),
        ("bob", &cookie, "/a/b/../c/./d", "/a/c/d"),
        // The query is not the path: passed on as written.
        ("bob", &cookie, "/search?q=/../%2e%2e//x&y=%2F", "/search?q=/../%2e%2e//x&y=%2F"),
        // `files` allows encoded slashes: kept, upper-cased, never decoded.
        ("bob", &cookie, "/files/a%2fb", "/files/a%2Fb"),
        ("bob", &cookie, "/files/group%2Fproject/raw", "/files/group%2Fproject/raw"),
        // A grant on admin: disguises are forwarded in their canonical form.
        ("carol", &granted, "/%61dmin/secret", "/admin/secret"),
        ("carol", &granted, "//admin/secret", "/admin/secret"),
        ("carol", &granted, "/x/../admin/secret?q=1", "/admin/secret?q=1"),
        ("carol", &granted, "/./admin/secret", "/admin/secret"),
        ("carol", &granted, "/admin//secret", "/admin/secret"),
        ("carol", &granted, "/public/../admin/secret", "/admin/secret"),
    ] {
        let response = get(site.port, &site.host, path, &[("cookie", cookie)]).await;
        assert_eq!(response.status, 200, "{who} GET {path}: {}", response.body);
        let seen = crate::upstream_saw(&response.body);
        assert_eq!(seen["path"], forwarded, "{who} GET {path}");
        let expected_user = format!("{who}@example.com");
        assert_eq!(seen["headers"]["x-jitgate-user"], serde_json::json!([expected_user]));
    }
    // Before the grant went through, carol's disguised request was refused (checked in
    // no_spelling_reaches_admin); bob still has none.
    let refused = get(site.port, &site.host, "/%61dmin/secret", &[("cookie", &cookie)]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(crate::upstream_saw(&refused.body)["error"], "locked");
}

/// Requests whose target is ambiguous in other ways than the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_or_an_authority_that_is_not_the_host_are_refused() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let carol = person("carol@example.com", &["dev"]);
    site.grant_admin(&carol).await;
    let (_, granted) = stack.sign_in_on(&carol, &site.host).await;
    let (port, host) = (site.port, &site.host);
    // Control: the same request, well-formed, goes through.
    let plain = format!("GET /admin/secret HTTP/1.1\r\nHost: {host}\r\nCookie: {granted}\r\n\r\n");
    assert_eq!(raw(port, plain.as_bytes()).await.status, 200);

    let other = format!("other.localhost:{port}");
    for (what, request) in [
        (
            "two Host headers",
            format!(
                "GET /admin/secret HTTP/1.1\r\nHost: {host}\r\nHost: {other}\r\nCookie: {granted}\r\n\r\n"
            ),
        ),
        (
            "two Host headers, the first foreign",
            format!(
                "GET /admin/secret HTTP/1.1\r\nHost: {other}\r\nHost: {host}\r\nCookie: {granted}\r\n\r\n"
            ),
        ),
        (
            "an absolute-form target for another authority",
            format!(
                "GET http://{other}/admin/secret HTTP/1.1\r\nHost: {host}\r\nCookie: {granted}\r\n\r\n"
            ),
        ),
        (
            "an absolute-form target naming the site, Host another",
            format!(
                "GET http://{host}/admin/secret HTTP/1.1\r\nHost: {other}\r\nCookie: {granted}\r\n\r\n"
            ),
        ),
    ] {
        let response = raw(port, request.as_bytes()).await;
        assert_eq!(response.status, 400, "{what}: {}", response.body);
    }
}

/// Dot segments beside an encoded slash, on the one resource that allows encoded slashes:
/// jitgate sees a single segment (`..%2Fadmin`) and routes to `files`, but nginx decodes `%2F`
/// and then resolves the dots, so `/files/..%2fadmin/secret` is its `/admin/secret`.
/// (`%5C` is `\`, a separator for Windows servers.)
const DOTS_BESIDE_ENCODED_SLASHES: &[&str] = &[
    "/files/..%2fadmin/secret",
    "/files/..%2Fadmin/secret",
    "/files/a%2F..%2F..%2Fadmin/secret",
    "/files/.%2F..%2Fadmin/secret",
    "/files/x/..%2F..%2F..%2Fadmin/secret",
    "/files/..%5Cadmin/secret",
];

/// Dot segments behind a `;parameter`: Tomcat and Jetty drop `;…` from each segment before
/// resolving dots, so `/public/..;/admin/secret` is their `/admin/secret` (the classic `..;/`
/// walk-around of proxies in front of servlet containers).
const DOTS_WITH_PARAMETERS: &[&str] = &[
    "/public/..;/admin/secret",
    "/public/..;x=1/admin/secret",
    "/public/.;/x/..;/..;/admin/secret",
    "/public/%2e%2e;/admin/secret",
    "/files/..;/admin/secret",
];

/// `paths` as bob (signed in, standing access to `site` and `files`, no grant on `admin`):
/// those not refused (302 to the portal, 400, 401, 403), with what answered. All are tried
/// before the test fails, so one run shows everything that got through.
async fn served_to_bob(stack: &Stack, site: &Site, paths: &[&str]) -> Vec<String> {
    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in_on(&bob, &site.host).await;
    let mut served = Vec::new();
    for path in paths {
        let response = get(site.port, &site.host, path, &[("cookie", &cookie)]).await;
        let refused = matches!(response.status, 400 | 401 | 403)
            || (response.status == 302
                && response.header("location").is_some_and(|l| l.starts_with(&site.portal())));
        if !refused {
            let body: String = response.body.trim_end().chars().take(160).collect();
            served.push(format!("{path} -> {} {body}", response.status));
        }
    }
    served
}

/// Beyond the canonical form's own rules (`allow_encoded_slashes` keeps `%2F` inside a
/// segment), proven against nginx, which serves its admin location for these.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_beside_encoded_slashes_never_reach_nginx_s_admin_location() {
    let stack = Stack::start(0).await;
    let nginx = NginxUpstream::start().await;
    let site = Site::start(&stack, &nginx.url(), "", "").await;
    // Control: bob may use `files`, encoded slashes and all, and nginx decodes them.
    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in_on(&bob, &site.host).await;
    let control = get(site.port, &site.host, "/files/a%2Fb", &[("cookie", &cookie)]).await;
    assert_eq!(control.status, 200, "{}", control.body);
    assert!(
        control.body.starts_with("PUBLIC uri=/files/a/b request_uri=/files/a%2Fb "),
        "{}",
        control.body
    );
    let served = served_to_bob(&stack, &site, DOTS_BESIDE_ENCODED_SLASHES).await;
    assert!(served.is_empty(), "served instead of refused:\n{}", served.join("\n"));
}

/// Servlet containers' path parameters: jitgate cannot know an upstream ignores them, so a
/// dot segment carrying one is as ambiguous as an encoded dot. Neither test peer strips
/// `;…`, so this asserts the refusal itself (the echo shows what would have been forwarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_with_path_parameters_are_refused() {
    let stack = Stack::start(0).await;
    let site = Site::start(&stack, &stack.upstream.url(), "", "").await;
    let served = served_to_bob(&stack, &site, DOTS_WITH_PARAMETERS).await;
    assert!(served.is_empty(), "served instead of refused:\n{}", served.join("\n"));
}
