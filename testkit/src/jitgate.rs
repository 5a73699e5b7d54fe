//! The real `jitgate serve` process, as tests run it: one config file, a log file beside it,
//! and the log on stderr when a test fails (the first thing anyone debugging it needs, and
//! gone with the temp dir otherwise).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::listening;

/// How long a start may take: a debug build with an OIDC discovery on a loaded 2-core machine.
const START_LIMIT: Duration = Duration::from_secs(30);

pub struct Jitgate {
    binary: PathBuf,
    config: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    ready_port: u16,
    process: Option<Child>,
}

impl Jitgate {
    /// Runs `binary serve --config config` with `args` added (e.g. `["--role", "proxy"]`) and
    /// waits until `ready_port` accepts connections. The log goes to `config` + `.log`.
    pub async fn serve(
        binary: impl AsRef<Path>,
        config: &Path,
        args: &[&str],
        ready_port: u16,
    ) -> Self {
        let mut log = config.as_os_str().to_owned();
        log.push(".log");
        let mut jitgate = Self {
            binary: binary.as_ref().to_owned(),
            config: config.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            log: log.into(),
            ready_port,
            process: None,
        };
        jitgate.start().await;
        jitgate
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the jitgate log");
        let process = Command::new(&self.binary)
            .args(["serve", "--config"])
            .arg(&self.config)
            .args(&self.args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn jitgate");
        self.process = Some(process);
        let deadline = std::time::Instant::now() + START_LIMIT;
        while !listening(self.ready_port).await {
            assert!(!self.exited(), "jitgate exited at start:\n{}", self.log());
            assert!(
                std::time::Instant::now() < deadline,
                "jitgate did not listen on {} within {START_LIMIT:?}:\n{}",
                self.ready_port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn exited(&mut self) -> bool {
        let process = self.process.as_mut().expect("a running jitgate");
        matches!(process.try_wait(), Ok(Some(_)))
    }

    /// Kills the process (no graceful shutdown: a crash) and starts it again on the same config.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.start().await;
    }

    /// Kills the process at once, as a crash or `kill -9` would.
    pub async fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill().await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.as_ref().and_then(Child::id).expect("a running jitgate")
    }

    /// Sends SIGTERM, as systemd or Kubernetes stop a service.
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends SIGHUP, as `jitgate reload` and systemd's `ExecReload=kill -HUP` do: reload the config.
    pub fn sighup(&self) {
        self.signal("HUP");
    }

    fn signal(&self, name: &str) {
        let signal = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(signal.success(), "kill -{name} failed");
    }

    /// Waits (up to `limit`) for the process to exit; returns how it ended.
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let mut process = self.process.take().expect("a running jitgate");
        tokio::time::timeout(limit, process.wait())
            .await
            .unwrap_or_else(|_| panic!("jitgate did not exit within {limit:?}"))
            .expect("wait for jitgate")
    }

    /// Sends SIGTERM and waits (up to `limit`) for the process to exit.
    pub async fn terminate(&mut self, limit: Duration) -> ExitStatus {
        self.sigterm();
        self.wait(limit).await
    }

    /// What the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Jitgate {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- jitgate log ({}) ---\n{}", self.config.display(), self.log());
        }
    }
}
