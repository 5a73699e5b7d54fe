//! `jitgate check-config` as an operator runs it: the real binary on the shipped example
//! configs, and on broken ones.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check_config(path: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitgate"));
    command.arg("check-config").arg("--config").arg(path);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the jitgate binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn quickstart_config_is_valid_and_prints_the_policy_table() {
    let output = check_config(&repo().join("config/quickstart.toml"), &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    for expected in ["RESOURCE", "demo", "engineering", "sre", "auto", "manual", "SCHEDULE"] {
        assert!(stdout.contains(expected), "{expected:?} missing from:\n{stdout}");
    }
    assert!(stdout.contains("up to 14d ahead"), "schedule_ahead's default: {stdout}");
}

#[test]
fn production_example_is_valid_with_its_secrets_in_the_environment() {
    let config = repo().join("config/production.example.toml");
    let text_of_config = std::fs::read_to_string(&config).unwrap();
    // Every `{ env = "..." }` the example names gets a value long enough for any secret.
    let env: Vec<(String, String)> = text_of_config
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|name| {
            let value = if name.contains("REDIS") {
                "redis://127.0.0.1:6379".to_owned()
            } else {
                "x".repeat(48)
            };
            (name.to_owned(), value)
        })
        .collect();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let output = check_config(&config, &env_refs);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    assert!(stdout.contains("RESOURCE"), "{stdout}");
}

fn broken(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("jitgate.toml");
    std::fs::write(&path, body).unwrap();
    path
}

/// The quickstart with `replace` applied: a valid config to break in one place.
fn quickstart_with(dir: &Path, from: &str, to: &str) -> (PathBuf, usize) {
    let original = std::fs::read_to_string(repo().join("config/quickstart.toml")).unwrap();
    assert!(original.contains(from), "quickstart.toml no longer contains {from:?}");
    let changed = original.replacen(from, to, 1);
    let line = changed[..changed.find(to).unwrap()].matches('\n').count() + 1;
    // Relative paths in the config resolve against its directory: keep the users file reachable.
    std::fs::copy(repo().join("config/quickstart-users.toml"), dir.join("quickstart-users.toml"))
        .unwrap();
    (broken(dir, &changed), line)
}

#[test]
fn an_unknown_key_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, line) =
        quickstart_with(dir.path(), "[[resource]]\n", "[[resource]]\ncolour = \"blue\"\n");
    let output = check_config(&path, &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    let expected = format!("{}:{}:", path.display(), line + 1);
    assert!(stderr.starts_with(&expected), "expected {expected:?} at the start of:\n{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line for one error: {stderr}");
}

#[test]
fn a_duration_over_the_maximum_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (path, line) =
        quickstart_with(dir.path(), "max_duration = \"8h\"", "max_duration = \"9d\"");
    let output = check_config(&path, &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    let expected = format!(
        "{}:{line}: resource \"demo\": max_duration \"9d\" exceeds the 7d limit",
        path.display()
    );
    assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");
}

#[test]
fn a_missing_file_is_one_clear_line() {
    let output = check_config(Path::new("/nonexistent/jitgate.toml"), &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("/nonexistent/jitgate.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn hash_password_prints_an_argon2id_hash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse battery staple\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(text(&output.stdout).starts_with("$argon2id$"), "{}", text(&output.stdout));
}
