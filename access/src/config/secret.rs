//! Secrets: inline, from the environment or from a file. Never printed.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How a secret is written in the config: `"inline"`, `{ env = "VAR" }` or `{ file = "path" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSecret {
    Inline(String),
    Source(SecretSource),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretSource {
    env: Option<String>,
    file: Option<String>,
}

/// Where a resolved secret came from; inline ones earn a warning.
pub(crate) enum Resolved {
    Inline(Secret),
    External(Secret),
}

impl RawSecret {
    /// Reads the secret. `base` is the config file's directory, for relative file paths.
    pub(crate) fn resolve(&self, base: &Path) -> Result<Resolved, String> {
        match self {
            RawSecret::Inline(value) => Ok(Resolved::Inline(Secret::new(value.clone()))),
            RawSecret::Source(SecretSource { env: Some(var), file: None }) => {
                match std::env::var(var) {
                    Ok(value) if !value.is_empty() => Ok(Resolved::External(Secret::new(value))),
                    Ok(_) => Err(format!("environment variable {var} is empty")),
                    Err(_) => Err(format!("environment variable {var} is not set")),
                }
            }
            RawSecret::Source(SecretSource { env: None, file: Some(file) }) => {
                let path = base.join(file);
                let value = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
                let value = value.trim_end_matches(['\r', '\n']).to_owned();
                if value.is_empty() {
                    return Err(format!("secret file {} is empty", path.display()));
                }
                Ok(Resolved::External(Secret::new(value)))
            }
            RawSecret::Source(_) => {
                Err("a secret is a string, { env = \"VAR\" } or { file = \"path\" }".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn files_are_read_relative_to_the_config_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.txt"), "abc\n").unwrap();
        let raw = RawSecret::Source(SecretSource { env: None, file: Some("s.txt".into()) });
        match raw.resolve(dir.path()).unwrap() {
            Resolved::External(secret) => assert_eq!(secret.expose(), "abc"),
            Resolved::Inline(_) => panic!("a file secret is external"),
        }
        let missing = RawSecret::Source(SecretSource {
            env: Some("JITGATE_TEST_UNSET_VAR".into()),
            file: None,
        });
        assert_eq!(
            missing.resolve(dir.path()).err().unwrap(),
            "environment variable JITGATE_TEST_UNSET_VAR is not set"
        );
    }
}
