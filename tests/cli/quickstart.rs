//! The README's quickstart, as a newcomer runs it: `config/quickstart.toml` (served with
//! `--port`, its other addresses moved to free ports, a scratch store), its users file, the
//! built-in demo app. Visit the app, sign in, request access, get in.

use std::time::Duration;

use jitgate_testkit::{Jitgate, free_port, listening, wait_until};

fn field<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!(r#"name="{name}" value=""#);
    html.split(&marker).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_signs_in_requests_access_and_sees_the_demo_app() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ops, demo) = (free_port(), free_port(), free_port());
    // The listener, the portal's URL and the app's host move with `--port`, as the README
    // tells a newcomer; the ops and demo addresses and the store are rewritten whole (never
    // as bare numbers: `.replace("8081", …)` also rewrote a free port such as 38081 handed
    // out for another line, and jitgate refused the six-digit port at start).
    let mut config = std::fs::read_to_string("config/quickstart.toml").unwrap();
    for (from, to, count) in [
        ("\"127.0.0.1:9090\"", format!("\"127.0.0.1:{ops}\""), 1),
        ("127.0.0.1:8081\"", format!("127.0.0.1:{demo}\""), 2),
        ("\"../data/quickstart.db\"", "\"quickstart.db\"".to_owned(), 1),
        ("\"../data/mail\"", "\"mail\"".to_owned(), 1),
    ] {
        assert_eq!(config.matches(from).count(), count, "{from} in config/quickstart.toml");
        config = config.replace(from, &to);
    }
    std::fs::write(dir.path().join("quickstart.toml"), config).unwrap();
    std::fs::copy("config/quickstart-users.toml", dir.path().join("quickstart-users.toml"))
        .unwrap();
    let config = dir.path().join("quickstart.toml");
    let port_arg = port.to_string();
    let _jitgate =
        Jitgate::serve(env!("CARGO_BIN_EXE_jitgate"), &config, &["--port", &port_arg], port).await;
    wait_until("the demo app to listen", Duration::from_secs(20), || listening(demo)).await;

    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(reqwest::header::HeaderMap::from_iter([(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("text/html"),
        )]))
        .resolve("app.localhost", loopback)
        .resolve("access.localhost", loopback)
        .build()
        .unwrap();
    let app = format!("http://app.localhost:{port}/");
    let sign_in = browser.get(&app).send().await.unwrap();
    assert_eq!(sign_in.url().path(), "/auth/sign-in", "the app sends newcomers to sign in");
    let form = sign_in.text().await.unwrap();
    let locked = browser
        .post(format!("http://access.localhost:{port}/auth/sign-in"))
        .form(&[
            ("csrf", field(&form, "csrf")),
            ("rd", &field(&form, "rd").replace("&#x2f;", "/")),
            ("email", "bob@example.com"),
            ("password", "bob-demo-pass"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(locked.url().path(), "/request/demo", "signed in; the app is locked");
    let form = locked.text().await.unwrap();
    let demo_page = browser
        .post(format!("http://access.localhost:{port}/request/demo"))
        .form(&[
            ("csrf", field(&form, "csrf")),
            ("rd", app.as_str()),
            ("duration", "900"),
            ("reason", "trying jitgate"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(demo_page.url().as_str(), app, "auto-approved: straight to the app");
    let html = demo_page.text().await.unwrap();
    assert!(html.contains("You are in.") && html.contains("bob@example.com"), "{html}");
    assert!(html.contains("x-jitgate-assertion"), "the headers the app received are listed");
}
