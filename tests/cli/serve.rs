//! What `jitgate serve` tells the person who started it, on the quickstart config: where to
//! go (the app, the portal) on standard output; plain logs when they go to a file; JSON logs
//! with `--log-format json`; and the quickstart's mail written as files a newcomer can read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jitgate_testkit::{free_port, listening, wait_until};

/// A `jitgate serve` whose stdout and stderr go to files (not a terminal); killed on drop.
struct Served {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Served {
    async fn start(dir: &Path, name: &str, port: u16, extra: &[&str]) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let port_arg = port.to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_jitgate"))
            .args(["serve", "--config"])
            .arg(dir.join("quickstart.toml"))
            .args(["--port", &port_arg])
            .args(extra)
            .env_remove("JITGATE_LOG_FORMAT")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .expect("start jitgate");
        let served = Self { child, stdout, stderr };
        wait_until("jitgate to listen", Duration::from_secs(30), || listening(port)).await;
        // The banner is printed once every service is set up, just before they run.
        wait_until("serve to say where to go", Duration::from_secs(10), || async {
            served.stdout().contains("portal")
        })
        .await;
        served
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped quickstart config in `dir`, its ops and demo ports free, store and mail inside.
fn quickstart_in(dir: &Path) -> u16 {
    let (ops, demo) = (free_port(), free_port());
    let config = std::fs::read_to_string("config/quickstart.toml")
        .unwrap()
        .replace("\"127.0.0.1:9090\"", &format!("\"127.0.0.1:{ops}\""))
        .replace("127.0.0.1:8081\"", &format!("127.0.0.1:{demo}\""))
        .replace("\"../data/quickstart.db\"", "\"quickstart.db\"")
        .replace("\"../data/mail\"", "\"mail\"");
    std::fs::write(dir.join("quickstart.toml"), config).unwrap();
    std::fs::copy("config/quickstart-users.toml", dir.join("quickstart-users.toml")).unwrap();
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_says_where_to_go_and_logs_plainly_to_a_file_or_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let ops = quickstart_in(dir.path());
    let port = free_port();
    let text = Served::start(dir.path(), "text", port, &[]).await;
    let out = text.stdout();
    assert!(out.contains(&format!("open http://app.localhost:{port} ")), "the app first: {out}");
    assert!(out.contains(&format!("portal http://access.localhost:{port} ")), "{out}");
    assert!(out.contains(&format!("http://127.0.0.1:{ops}")), "the ops address: {out}");
    let log = text.stderr();
    assert!(!log.contains('\u{1b}'), "no colour codes in a redirected log: {log}");
    assert!(log.contains(&format!("http=127.0.0.1:{port}")), "plain host:port: {log}");
    assert!(!log.contains("Some("), "no debug formatting: {log}");
    assert!(log.contains(&format!("url=http://access.localhost:{port}")), "{log}");
    drop(text);

    let port = free_port();
    let json = Served::start(dir.path(), "json", port, &["--log-format", "json"]).await;
    let log = json.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "something was logged");
    for line in &lines {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{log}"));
        assert!(entry["level"].is_string() && entry["fields"].is_object(), "{line}");
    }
    assert!(log.contains("\"jitgate is serving\""), "{log}");
    assert!(json.stdout().contains("open http://app.localhost"), "still says where to go");
}

fn field(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let value = html.split(&marker).nth(1).and_then(|rest| rest.split('"').next());
    value.unwrap_or_else(|| panic!("no {name} in {html}")).replace("&#x2f;", "/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_mails_the_reviewer_into_files_to_read() {
    let dir = tempfile::tempdir().unwrap();
    quickstart_in(dir.path());
    let port = free_port();
    let _served = Served::start(dir.path(), "mail", port, &[]).await;
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let alice = reqwest::Client::builder()
        .cookie_store(true)
        .resolve("app.localhost", loopback)
        .resolve("access.localhost", loopback)
        .build()
        .unwrap();
    let portal = |path: &str| format!("http://access.localhost:{port}{path}");
    let form = alice.get(portal("/auth/sign-in")).send().await.unwrap().text().await.unwrap();
    let signed_in = alice
        .post(portal("/auth/sign-in"))
        .form(&[
            ("csrf", field(&form, "csrf")),
            ("rd", portal("/request/demo")),
            ("email", "alice@example.com".into()),
            ("password", "alice-demo-pass".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.url().path(), "/request/demo", "signed in");
    let form = signed_in.text().await.unwrap();
    let reason = "CHG-99: reading the mail folder";
    let waiting = alice
        .post(portal("/request/demo"))
        .form(&[("csrf", field(&form, "csrf").as_str()), ("duration", "900"), ("reason", reason)])
        .send()
        .await
        .unwrap();
    assert!(waiting.url().path().starts_with("/requests/"), "a manual request waits");
    let page = waiting.text().await.unwrap();
    assert!(page.contains("mailed reviewer@example.com"), "the page says who was told: {page}");

    let mail = dir.path().join("mail");
    let read = || {
        std::fs::read_dir(&mail)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                name.ends_with("reviewer@example.com.txt") && !name.starts_with('.')
            })
            .and_then(|p| std::fs::read_to_string(p).ok())
    };
    wait_until("the reviewer's mail file", Duration::from_secs(20), || async { read().is_some() })
        .await;
    let text = read().unwrap_or_default();
    assert!(text.contains("To: reviewer@example.com"), "{text}");
    assert!(text.contains("alice@example.com") && text.contains(reason), "{text}");
    assert!(text.contains(&format!("http://access.localhost:{port}/review")), "a link: {text}");
    let eml = std::fs::read_dir(&mail)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with("reviewer@example.com.eml"));
    assert!(eml, "and the whole message for a mail client");
}
