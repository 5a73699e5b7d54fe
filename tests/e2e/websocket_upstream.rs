//! The app for the WebSocket scenario: `websocket_upstream.py` (Python's standard library
//! only), a JSON echo for HTTP and an RFC 6455 echo for WebSockets that a browser accepts.

use std::process::Stdio;
use std::time::Duration;

use jitgate_testkit::{free_port, listening, wait_until};
use tokio::process::{Child, Command};

pub struct WebSocketUpstream {
    pub port: u16,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl WebSocketUpstream {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let script = dir.path().join("websocket_upstream.py");
        std::fs::write(&script, include_str!("websocket_upstream.py")).expect("write the script");
        let port = free_port();
        let child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the WebSocket upstream (scripts/test installs it)");
        wait_until("the WebSocket upstream to listen", Duration::from_secs(10), || listening(port))
            .await;
        Self { port, _child: child, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
