//! Real receivers for notifications: an SMTP server (`aiosmtpd` from Debian, delivering into a
//! Maildir) and an HTTP webhook endpoint (Python's `http.server`), each recording what it got
//! for the test to read.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How the SMTP server speaks TLS.
pub enum SmtpTls {
    None,
    /// STARTTLS required before mail is accepted, with this certificate and key (PEM files).
    StartTls {
        cert: PathBuf,
        key: PathBuf,
    },
    /// TLS from the first byte (SMTPS).
    Implicit {
        cert: PathBuf,
        key: PathBuf,
    },
}

/// An SMTP server on a fixed port that can be stopped and started again (an outage).
pub struct SmtpServer {
    pub port: u16,
    /// The arguments of `smtp_server.py` after the port.
    args: Vec<std::ffi::OsString>,
    maildir: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    pub async fn start() -> Self {
        Self::start_with(SmtpTls::None, None).await
    }

    /// A server speaking `tls`, and requiring AUTH with `login` (user, password) when given.
    pub async fn start_with(tls: SmtpTls, login: Option<(&str, &str)>) -> Self {
        Self::start_full(tls, login, Duration::ZERO).await
    }

    /// A plain server that stores and acknowledges each message only `delay` after its data
    /// arrived: a relay in a brownout.
    pub async fn start_slow(delay: Duration) -> Self {
        Self::start_full(SmtpTls::None, None, delay).await
    }

    async fn start_full(tls: SmtpTls, login: Option<(&str, &str)>, delay: Duration) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("smtp_server.py"), include_str!("smtp_server.py"))
            .expect("write the SMTP server script");
        let maildir = dir.path().join("maildir");
        let (mode, cert, key) = match tls {
            SmtpTls::None => ("plain", PathBuf::new(), PathBuf::new()),
            SmtpTls::StartTls { cert, key } => ("starttls", cert, key),
            SmtpTls::Implicit { cert, key } => ("tls", cert, key),
        };
        let (user, password) = login.unwrap_or(("", ""));
        let args = vec![
            maildir.clone().into(),
            mode.into(),
            cert.into(),
            key.into(),
            user.into(),
            password.into(),
            delay.as_secs_f64().to_string().into(),
        ];
        let mut server = Self { port: crate::free_port(), args, maildir, child: None, dir };
        server.resume().await;
        server
    }

    /// Starts the server (again) on its port.
    pub async fn resume(&mut self) {
        // Debian's python3, which python3-aiosmtpd installs into (a pyenv python3 earlier on
        // PATH would not have it).
        let child = Command::new("/usr/bin/python3")
            .arg(self.dir.path().join("smtp_server.py"))
            .arg(self.port.to_string())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd runs (scripts/test installs python3-aiosmtpd)");
        self.child = Some(child);
        let port = self.port;
        crate::wait_until("the SMTP server to listen", Duration::from_secs(10), || {
            crate::listening(port)
        })
        .await;
    }

    /// Stops the server: connections are refused until [`SmtpServer::resume`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Every message received so far, as RFC 5322 text with quoted-printable bodies decoded
    /// (so a test can search for a long link), in no particular order.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else { continue };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    out.push(unquote(&text));
                }
            }
        }
        out
    }
}

/// Undoes quoted-printable: soft line breaks and `=XX` escapes.
fn unquote(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One POST the webhook receiver got.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    pub path: String,
    /// Header names lower-cased.
    pub headers: std::collections::HashMap<String, String>,
    pub body: String,
}

pub struct WebhookReceiver {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("webhook_receiver.py");
        std::fs::write(&script, include_str!("webhook_receiver.py")).expect("write the script");
        let port = crate::free_port();
        let child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the webhook receiver");
        crate::wait_until("the webhook receiver to listen", Duration::from_secs(10), || {
            crate::listening(port)
        })
        .await;
        Self { port, dir, _child: child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Makes every following POST answer `status` (and not be recorded unless 200).
    pub fn answer(&self, status: u16) {
        std::fs::write(self.dir.path().join("status"), status.to_string()).expect("status file");
    }

    /// What was received, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("receiver dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect()
    }
}
