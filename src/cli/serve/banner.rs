//! What `serve` tells the person who started it: where to go. Logs say what the process
//! does; this says what to open, once, on standard output.

use std::fmt::Write;

use jitgate_access::config::Config;

use super::Role;

/// The lines to print once jitgate is up: every app's address (the first one to open
/// first), the portal, and the ops endpoints.
pub fn where_to_go(config: &Config, role: Role) -> String {
    let scheme = if config.server.portal_url.starts_with("https://") { "https" } else { "http" };
    let mut out = String::new();
    if role.runs_proxy() {
        for (i, resource) in config.resources.iter().enumerate() {
            let verb = if i == 0 { "open" } else { "    " };
            let path = resource.path_prefix.trim_end_matches('/');
            let url = format!("{scheme}://{}{path}", resource.host);
            let _ = writeln!(out, "  {verb} {url:<40} {}", resource.name);
        }
    }
    let _ = writeln!(out, "  portal {:<38} sign-in, My access, reviews", config.server.portal_url);
    if let Some(ops) = config.server.ops_listen {
        let _ = writeln!(out, "  ops    {:<38} /healthz /readyz /metrics", format!("http://{ops}"));
    }
    format!("jitgate is serving ({role}):\n{out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quickstart_says_to_open_the_app_then_names_the_portal() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/quickstart.toml");
        let config = jitgate_access::config::load_with(
            std::path::Path::new(path),
            &jitgate_access::config::Overrides::default(),
        )
        .expect("the quickstart config loads");
        let text = where_to_go(&config, Role::All);
        assert!(text.contains("open http://app.localhost:8080 "), "{text}");
        assert!(text.contains("portal http://access.localhost:8080"), "{text}");
        assert!(text.contains("http://127.0.0.1:9090"), "{text}");
        let portal_only = where_to_go(&config, Role::Portal);
        assert!(
            !portal_only.contains("open "),
            "a portal-only process serves no app: {portal_only}"
        );
    }
}
