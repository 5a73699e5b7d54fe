//! Config errors that point at the file, line and field.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// One or more problems, each on its own line.
    #[error("{}", Located::lines(.0))]
    Invalid(Vec<Located>),
}

/// One problem at one place: displayed as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl Located {
    fn lines(all: &[Located]) -> String {
        all.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// The 1-based line holding `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
}

/// Collects problems found in one file, so an operator sees all of them in one run.
pub(crate) struct Problems<'a> {
    file: PathBuf,
    text: &'a str,
    found: Vec<Located>,
    reported: std::collections::BTreeSet<usize>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(file: PathBuf, text: &'a str) -> Self {
        Self { file, text, found: Vec::new(), reported: Default::default() }
    }

    pub(crate) fn locate(&self, span: Range<usize>, message: impl Into<String>) -> Located {
        Located {
            file: self.file.clone(),
            line: line_of(self.text, span.start),
            message: message.into(),
        }
    }

    pub(crate) fn add(&mut self, span: Range<usize>, message: impl Into<String>) {
        // A bad value that several assignments inherit is found once per assignment; the
        // first report (the resource's own) is the one worth reading.
        if !self.reported.insert(span.start) {
            return;
        }
        let located = self.locate(span, message);
        self.found.push(located);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub(crate) fn into_error(self) -> ConfigError {
        ConfigError::Invalid(self.found)
    }

    /// A TOML syntax or shape error (unknown key, wrong type, missing field).
    pub(crate) fn from_toml(file: PathBuf, text: &str, error: &toml::de::Error) -> ConfigError {
        let line = error.span().map(|span| line_of(text, span.start)).unwrap_or(1);
        let message = error.message().lines().next().unwrap_or("invalid TOML").trim().to_owned();
        ConfigError::Invalid(vec![Located { file, line, message }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let text = "a = 1\nb = 2\nc = 3\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, 13), 3);
        assert_eq!(line_of(text, 999), 4);
    }
}
