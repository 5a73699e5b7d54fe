//! A real HTTP upstream: Python's `http.server`, echoing each request as JSON. nginx, the
//! other upstream, lives in [`crate::nginx`].

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

pub use crate::nginx::NginxUpstream;

pub struct EchoUpstream {
    pub port: u16,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl EchoUpstream {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("echo_upstream.py");
        std::fs::write(&script, include_str!("echo_upstream.py"))
            .expect("write the upstream script");
        let port = crate::free_port();
        let child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the echo upstream (scripts/test installs it)");
        crate::wait_until("the echo upstream to listen", Duration::from_secs(10), || {
            crate::listening(port)
        })
        .await;
        Self { port, _child: child, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
