//! `jitgate reload`: check the config file exactly as `check-config` does, and only if it is
//! valid, ask the running `jitgate serve` to reload it (SIGHUP). An invalid file is reported
//! here, with its `file:line: field` error, and nothing is signalled: the running process never
//! sees it. (The process validates it again when it reloads, since the file may change in
//! between; it refuses it the same way.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use jitgate_access::config::Overrides;

/// Which process to signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The file `serve --pid-file` wrote.
    PidFile(PathBuf),
    Pid(u32),
}

pub fn run(path: &Path, overrides: &Overrides, target: &Target) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_config(path, overrides) else {
        return Ok(ExitCode::FAILURE);
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    let pid = match target {
        Target::Pid(pid) => *pid,
        Target::PidFile(file) => read_pid_file(file)?,
    };
    hang_up(pid)?;
    println!(
        "{}: OK; asked jitgate (pid {pid}) to reload it. Its log says \"config reloaded \
         (generation N)\", and /metrics shows jitgate_config_generation.",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn read_pid_file(file: &Path) -> anyhow::Result<u32> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the pid file {}", file.display()))?;
    match text.trim().parse::<u32>() {
        Ok(pid) if pid > 1 => Ok(pid),
        _ => bail!("{} does not hold a process id: {:?}", file.display(), text.trim()),
    }
}

fn hang_up(pid: u32) -> anyhow::Result<()> {
    let Ok(id) = libc::pid_t::try_from(pid) else { bail!("{pid} is not a process id") };
    if id <= 1 {
        bail!("{pid} is not a jitgate process id");
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(id, libc::SIGHUP) } != 0 {
        let error = std::io::Error::last_os_error();
        bail!("cannot signal jitgate (pid {pid}): {error}");
    }
    Ok(())
}
