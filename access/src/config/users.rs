//! The `local` identity provider's users file: emails, argon2 password hashes and groups.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::error::Problems;
use super::raw::S;
use crate::ids::{GroupName, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub email: UserId,
    pub name: String,
    /// An argon2 PHC string (`$argon2id$…`), as `jitgate hash-password` prints.
    pub password_hash: String,
    pub groups: Vec<GroupName>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    #[serde(default, rename = "user")]
    users: Vec<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    email: S<String>,
    name: Option<String>,
    password_hash: S<String>,
    #[serde(default)]
    groups: Vec<S<String>>,
}

pub fn load_users(path: &Path) -> Result<Vec<LocalUser>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
    let raw: RawUsers =
        toml::from_str(&text).map_err(|e| Problems::from_toml(path.to_owned(), &text, &e))?;
    let mut problems = Problems::new(path.to_owned(), &text);
    let mut seen = BTreeSet::new();
    let mut users = Vec::new();
    for user in raw.users {
        let email = match UserId::parse(user.email.get_ref()) {
            Ok(email) => email,
            Err(e) => {
                problems.add(user.email.span(), e.to_string());
                continue;
            }
        };
        if !seen.insert(email.clone()) {
            problems.add(user.email.span(), format!("user {email} is listed twice"));
        }
        if !user.password_hash.get_ref().starts_with("$argon2") {
            problems.add(user.password_hash.span(), format!(
                "user {email}: password_hash must be an argon2 hash (make one with `jitgate hash-password`)"
            ));
        }
        let mut groups = Vec::new();
        for group in &user.groups {
            match GroupName::parse(group.get_ref()) {
                Ok(name) => groups.push(name),
                Err(e) => problems.add(group.span(), format!("user {email}: {e}")),
            }
        }
        users.push(LocalUser {
            name: user.name.unwrap_or_else(|| email.to_string()),
            email,
            password_hash: user.password_hash.into_inner(),
            groups,
        });
    }
    if users.is_empty() && problems.is_empty() {
        return Err(ConfigError::Invalid(vec![
            problems.locate(0..0, "the users file lists no [[user]]"),
        ]));
    }
    if problems.is_empty() { Ok(users) } else { Err(problems.into_error()) }
}
