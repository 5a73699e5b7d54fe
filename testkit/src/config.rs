//! The test configs, built instead of copied: [`ConfigBuilder`] writes the TOML text of a
//! jitgate config from its parts (listeners, identity, session, roles, store, resources with
//! their policies and assignments, extra sections), so each fixture says only how its
//! deployment differs.
//!
//! ```
//! use jitgate_testkit::config::{ConfigBuilder, Resource};
//!
//! let toml = ConfigBuilder::new()
//!     .listen_http(8080)
//!     .ops(9090)
//!     .resource(Resource::local("app", 8080).upstream("http://127.0.0.1:8081").group("dev"))
//!     .build();
//! assert!(toml.contains("host = \"app.localhost:8080\""));
//! ```

use std::fmt::Write;

/// A jitgate config's text. Defaults: the `local` provider on `users.toml`, the session
/// secret in the file `session.secret`, admins (`admins` group) and reviewers (`security`
/// group), the embedded store in `jitgate.db`. Secret files are the fixture's to write.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    server: Vec<String>,
    identity: String,
    session: Vec<String>,
    roles: Vec<(String, String)>,
    store: String,
    resources: Vec<Resource>,
    sections: Vec<String>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    pub fn new() -> Self {
        Self {
            server: Vec::new(),
            identity: String::new(),
            session: Vec::new(),
            roles: vec![
                ("admins".into(), r#"{ groups = ["admins"] }"#.into()),
                ("reviewers".into(), r#"{ groups = ["security"] }"#.into()),
            ],
            store: String::new(),
            resources: Vec::new(),
            sections: Vec::new(),
        }
        .local_identity("users.toml")
        .session_secret_file("session.secret")
        .embedded("jitgate.db")
    }

    /// Plain HTTP on `port`, where browsers reach the portal too.
    pub fn listen_http(self, port: u16) -> Self {
        self.listen_behind(port, port)
    }

    /// Plain HTTP on `listen`, for browsers that reach jitgate on `public_port` (instances
    /// behind one address differ only in the port they listen on).
    pub fn listen_behind(self, listen: u16, public_port: u16) -> Self {
        self.server(&format!("listen_http = \"127.0.0.1:{listen}\""))
            .server(&format!("portal_url = \"http://access.localhost:{public_port}\""))
    }

    /// HTTPS on `https_port` with `cert` and `key` (PEM files), and plain HTTP on `http_port`
    /// redirecting to it.
    pub fn listen_https(self, http_port: u16, https_port: u16, cert: &str, key: &str) -> Self {
        self.server(&format!("listen_http = \"127.0.0.1:{http_port}\""))
            .server(&format!("listen_https = \"127.0.0.1:{https_port}\""))
            .server(&format!("tls_cert = \"{cert}\""))
            .server(&format!("tls_key = \"{key}\""))
            .server(&format!("portal_url = \"https://access.localhost:{https_port}\""))
    }

    /// `/healthz`, `/readyz` and `/metrics` on `port`.
    pub fn ops(self, port: u16) -> Self {
        self.server(&format!("ops_listen = \"127.0.0.1:{port}\""))
    }

    /// Any other `[server]` line(s), e.g. `shutdown_grace = "3s"`.
    pub fn server(mut self, lines: &str) -> Self {
        if !lines.trim().is_empty() {
            self.server.push(lines.trim().to_owned());
        }
        self
    }

    /// The `local` provider on the users file `users_file`.
    pub fn local_identity(self, users_file: &str) -> Self {
        self.identity(&format!("[identity]\nprovider = \"local\"\nusers_file = \"{users_file}\""))
    }

    /// The `oidc` provider at `issuer`, with the client secret in the file `secret_file`, asking
    /// for the groups scope too.
    pub fn oidc_identity(self, issuer: &str, client_id: &str, secret_file: &str) -> Self {
        self.identity(&format!(
            "[identity]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"{client_id}\"\n\
             client_secret = {{ file = \"{secret_file}\" }}\n\
             scopes = [\"openid\", \"email\", \"profile\", \"groups\"]"
        ))
    }

    /// A whole `[identity]` section of the test's own.
    pub fn identity(mut self, section: &str) -> Self {
        self.identity = section.trim().to_owned();
        self
    }

    /// The session secret read from the file `name`.
    pub fn session_secret_file(mut self, name: &str) -> Self {
        self.session = vec![format!("secret = {{ file = \"{name}\" }}")];
        self
    }

    /// Another `[session]` line, e.g. `ttl = "12h"`.
    pub fn session(mut self, line: &str) -> Self {
        self.session.push(line.trim().to_owned());
        self
    }

    /// Sets `role` (`admins` or `reviewers`) to `value`, e.g. `{ groups = ["security"] }`.
    pub fn role(mut self, role: &str, value: &str) -> Self {
        match self.roles.iter_mut().find(|(name, _)| name == role) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.roles.push((role.to_owned(), value.to_owned())),
        }
        self
    }

    /// The embedded store in the SQLite file `path` (relative to the config's directory).
    pub fn embedded(mut self, path: &str) -> Self {
        self.store = format!("backend = \"embedded\"\npath = \"{path}\"");
        self
    }

    /// The Redis store at `url`, its keys under `prefix`.
    pub fn redis(mut self, url: &str, prefix: &str) -> Self {
        self.store = format!("backend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"");
        self
    }

    /// The Redis store whose URL is in the file `url_file`, its keys under `prefix`.
    pub fn redis_url_file(mut self, url_file: &str, prefix: &str) -> Self {
        self.store = format!(
            "backend = \"redis\"\nurl = {{ file = \"{url_file}\" }}\nprefix = \"{prefix}\""
        );
        self
    }

    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Whole sections after the resources, e.g. `[smtp]`, `[[webhook]]`, `[requests]`.
    pub fn section(mut self, text: &str) -> Self {
        if !text.trim().is_empty() {
            self.sections.push(text.trim().to_owned());
        }
        self
    }

    /// The config's text.
    pub fn build(&self) -> String {
        let mut text = String::from("[server]\n");
        for line in &self.server {
            let _ = writeln!(text, "{line}");
        }
        let _ = writeln!(text, "\n{}\n\n[session]", self.identity);
        for line in &self.session {
            let _ = writeln!(text, "{line}");
        }
        text.push_str("\n[roles]\n");
        for (role, value) in &self.roles {
            let _ = writeln!(text, "{role} = {value}");
        }
        let _ = writeln!(text, "\n[store]\n{}", self.store);
        for resource in &self.resources {
            text.push('\n');
            resource.write(&mut text);
        }
        for section in &self.sections {
            let _ = writeln!(text, "\n{section}");
        }
        text
    }
}

/// One `[[resource]]` with its policy and assignments.
#[derive(Clone, Debug)]
pub struct Resource {
    lines: Vec<String>,
    upstreams: Vec<String>,
    policy: Vec<String>,
    assignments: Vec<String>,
}

impl Resource {
    /// `name` served on `host` (`name.localhost:port`, or any other).
    pub fn new(name: &str, host: &str) -> Self {
        Self {
            lines: vec![format!("name = \"{name}\""), format!("host = \"{host}\"")],
            upstreams: Vec::new(),
            policy: Vec::new(),
            assignments: Vec::new(),
        }
    }

    /// `name` on `name.localhost:port`.
    pub fn local(name: &str, port: u16) -> Self {
        Self::new(name, &format!("{name}.localhost:{port}"))
    }

    /// Adds an upstream URL.
    pub fn upstream(mut self, url: &str) -> Self {
        self.upstreams.push(url.to_owned());
        self
    }

    pub fn path_prefix(self, prefix: &str) -> Self {
        self.line(&format!("path_prefix = \"{prefix}\""))
    }

    /// Any other line(s) of the resource itself, e.g. `allow_encoded_slashes = true`.
    pub fn line(mut self, lines: &str) -> Self {
        if !lines.trim().is_empty() {
            self.lines.push(lines.trim().to_owned());
        }
        self
    }

    /// A `[resource.policy]` line, e.g. `durations = ["1h"]`.
    pub fn policy(mut self, line: &str) -> Self {
        self.policy.push(line.trim().to_owned());
        self
    }

    /// `mode = "standing"`: everyone assigned is let in without a request.
    pub fn standing(self) -> Self {
        self.policy("mode = \"standing\"")
    }

    /// An assignment to `group` with the resource's policy.
    pub fn group(self, group: &str) -> Self {
        self.assignment(&format!("group = \"{group}\""))
    }

    /// An assignment of the test's own: its lines, e.g. `group = "sre"\napproval = "auto"`.
    pub fn assignment(mut self, lines: &str) -> Self {
        self.assignments.push(lines.trim().to_owned());
        self
    }

    fn write(&self, text: &mut String) {
        text.push_str("[[resource]]\n");
        for line in &self.lines {
            let _ = writeln!(text, "{line}");
        }
        let upstreams: Vec<String> =
            self.upstreams.iter().map(|url| format!("\"{url}\"")).collect();
        let _ = writeln!(text, "upstreams = [{}]", upstreams.join(", "));
        if !self.policy.is_empty() {
            text.push_str("\n[resource.policy]\n");
            for line in &self.policy {
                let _ = writeln!(text, "{line}");
            }
        }
        for assignment in &self.assignments {
            let _ = writeln!(text, "\n[[resource.assignment]]\n{assignment}");
        }
    }
}

/// The portal tests' people (the in-process router tests and the binary's `tests/portal`):
/// bob auto-approved (`sre`), alice a requester (`dev`), carol a reviewer who also requests
/// (`security`, `dev`), dave a reviewer (`security`), erin an admin (`admins`).
pub const PORTAL_USERS: &[(&str, &[&str])] = &[
    ("bob@example.com", &["sre"]),
    ("alice@example.com", &["dev"]),
    ("carol@example.com", &["security", "dev"]),
    ("dave@example.com", &["security"]),
    ("erin@example.com", &["admins"]),
    ("fay@example.com", &["ops"]),
];

/// A `local` users file of `users`, each with `password_hash`.
pub fn users_file(users: &[(&str, &[&str])], password_hash: &str) -> String {
    users
        .iter()
        .map(|(email, groups)| {
            let groups: Vec<String> = groups.iter().map(|group| format!("\"{group}\"")).collect();
            format!(
                "[[user]]\nemail = \"{email}\"\npassword_hash = \"{password_hash}\"\n\
                 groups = [{}]\n\n",
                groups.join(", ")
            )
        })
        .collect()
}

/// The portal tests' deployment on `port`, in front of `upstream`: `app` (manual for `dev`,
/// auto-approved for `sre` up to 1h) and `vault` (two approvals, `dev`, who may also break
/// glass on it for up to 1h), the session secret in the file `secret`, the embedded store.
pub fn portal_site(port: u16, upstream: &str) -> ConfigBuilder {
    ConfigBuilder::new()
        .listen_http(port)
        .session_secret_file("secret")
        .resource(
            Resource::local("app", port)
                .upstream(upstream)
                .policy(r#"durations = ["1h", "4h"]"#)
                .policy("allow_custom_duration = true")
                .policy(r#"max_duration = "8h""#)
                .policy(r#"approval = "manual""#)
                .policy("allow_extension = true")
                .group("dev")
                .assignment(
                    "group = \"sre\"\napproval = \"auto\"\n\
                     durations = [\"15m\", \"1h\"]\nmax_duration = \"1h\"\n\
                     allow_pause = true\nmax_total = \"3h\"",
                ),
        )
        .resource(
            Resource::local("vault", port)
                .upstream(upstream)
                .policy(r#"durations = ["1h"]"#)
                .policy(r#"approval = "manual""#)
                .policy("approvals_needed = 2")
                .policy(r#"break_glass = { groups = ["dev"], max_duration = "1h" }"#)
                .group("dev")
                // Operators' access starts with their first request, within 2h of approval.
                .assignment(
                    "group = \"ops\"\napprovals_needed = 1\nstarts = \"on_first_use\"\n\
                     claim_within = \"2h\"",
                ),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_come_in_the_order_jitgate_documents_them() {
        let toml = ConfigBuilder::new()
            .listen_http(8080)
            .ops(9090)
            .server("shutdown_grace = \"3s\"")
            .redis_url_file("redis.url", "t")
            .resource(
                Resource::local("app", 8080)
                    .upstream("http://127.0.0.1:1")
                    .policy("durations = [\"1h\"]")
                    .group("dev")
                    .assignment("group = \"sre\"\napproval = \"auto\""),
            )
            .resource(
                Resource::local("wiki", 8080).upstream("http://127.0.0.1:1").standing().group("*"),
            )
            .section("[requests]\npending_timeout = \"1h\"")
            .build();
        let order = [
            "[server]",
            "[identity]",
            "[session]",
            "[roles]",
            "[store]",
            "[[resource]]",
            "[requests]",
        ];
        let positions: Vec<usize> = order.iter().map(|s| toml.find(s).expect(s)).collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{toml}");
        assert!(toml.contains("listen_http = \"127.0.0.1:8080\"\nportal_url = \"http://access.localhost:8080\"\nops_listen = \"127.0.0.1:9090\"\nshutdown_grace = \"3s\"\n"), "{toml}");
        assert!(
            toml.contains(
                "[resource.policy]\nmode = \"standing\"\n\n[[resource.assignment]]\ngroup = \"*\"\n"
            ),
            "{toml}"
        );
        assert_eq!(toml.matches("[[resource.assignment]]").count(), 3, "{toml}");
        assert!(toml.contains("url = { file = \"redis.url\" }"), "{toml}");
    }
}
