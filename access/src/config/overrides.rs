//! What the command line changes in the config file (`jitgate serve --port N`). Applied to the
//! file's values before validation, so every check (clashing listeners, a resource on the
//! portal's host, two resources on one route) holds for the config as it will run, and every
//! error still names the file and line of the value it concerns.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::ops::Range;

use super::raw::{RawConfig, S};

/// Changes to the file's values, from the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Moves jitgate's plain-HTTP port: `server.listen_http`, and every address browsers reach
    /// jitgate by on the old port: `server.portal_url`, each resource `host`, and the
    /// `websocket_origins` that name one of those. A host written without a port is on port
    /// 80. Only for plain-HTTP configs (no `server.listen_https`).
    pub http_port: Option<u16>,
}

/// Where in the file an override cannot apply, and why.
pub(crate) type Refusal = (Range<usize>, String);

pub(crate) fn apply(raw: &mut RawConfig, overrides: &Overrides) -> Result<(), Refusal> {
    match overrides.http_port {
        Some(port) => http_port(raw, port),
        None => Ok(()),
    }
}

fn http_port(raw: &mut RawConfig, port: u16) -> Result<(), Refusal> {
    let server = &mut raw.server;
    if port == 0 {
        return Err((server.portal_url.span(), "--port must be between 1 and 65535".into()));
    }
    if let Some(https) = &server.listen_https {
        return Err((
            https.span(),
            format!(
                "--port {port} moves the plain-HTTP listener and the URLs on it, but \
                 server.listen_https is set: browsers reach this deployment over HTTPS; change \
                 its ports in the file"
            ),
        ));
    }
    let Some(listen) = &server.listen_http else {
        return Err((
            server.portal_url.span(),
            format!("--port {port} moves server.listen_http, which is not set"),
        ));
    };
    // An address that does not parse is validation's to report, as written.
    let Ok(mut address) = listen.get_ref().parse::<SocketAddr>() else { return Ok(()) };
    let old = address.port();
    if old == port {
        return Ok(());
    }
    address.set_port(port);
    server.listen_http = Some(S::new(listen.span(), address.to_string()));

    // The host names (lower-case) whose address moved, for the origins below.
    let mut moved = BTreeSet::new();
    if let Some(authority) = server.portal_url.get_ref().strip_prefix("http://") {
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if let Some((name, new)) = move_authority(authority, old, port) {
            moved.insert(name);
            server.portal_url = S::new(server.portal_url.span(), format!("http://{new}"));
        }
    }
    for resource in &mut raw.resources {
        if let Some((name, new)) = move_authority(resource.host.get_ref(), old, port) {
            moved.insert(name);
            resource.host = S::new(resource.host.span(), new);
        }
    }
    for resource in &mut raw.resources {
        for origin in resource.websocket_origins.iter_mut().flatten() {
            let Some(authority) = origin.get_ref().strip_prefix("http://") else { continue };
            let authority = authority.strip_suffix('/').unwrap_or(authority);
            if let Some((name, new)) = move_authority(authority, old, port)
                && moved.contains(&name)
            {
                *origin = S::new(origin.span(), format!("http://{new}"));
            }
        }
    }
    Ok(())
}

/// `host[:port]` on plain HTTP, if it is on port `old`: its lower-case host name, and the
/// authority on port `new` (without a port when that is 80, as browsers send it).
fn move_authority(authority: &str, old: u16, new: u16) -> Option<(String, String)> {
    let (name, port) = match authority.rsplit_once(':') {
        // `[::1]` alone: the colon is inside the brackets.
        Some((_, port)) if port.contains(']') => (authority, None),
        Some((name, port)) => (name, Some(port)),
        None => (authority, None),
    };
    let port = match port {
        Some(port) => port.parse::<u16>().ok()?,
        None => 80,
    };
    if name.is_empty() || port != old {
        return None;
    }
    let moved = if new == 80 { name.to_owned() } else { format!("{name}:{new}") };
    Some((name.to_ascii_lowercase(), moved))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::config::{Config, ConfigError, load_with, parse_with};

    fn quickstart(port: u16) -> Result<Config, ConfigError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/quickstart.toml");
        load_with(&path, &Overrides { http_port: Some(port) })
    }

    fn config(text: &str, port: u16) -> Result<Config, ConfigError> {
        parse_with(&PathBuf::from("jitgate.toml"), text, &Overrides { http_port: Some(port) })
    }

    const OIDC: &str = r#"
[identity]
provider = "oidc"
issuer = "https://login.example.com"
client_id = "jitgate"
client_secret = "client-secret"

[session]
secret = "0123456789abcdef0123456789abcdef0123456789"
"#;

    /// The quickstart on another port: the listener, the portal's URL and the app's host all
    /// move together; the demo app, the ops endpoint and the upstream stay where they were.
    #[test]
    fn the_quickstart_moves_to_another_port_in_one_place() {
        let config = quickstart(9000).unwrap();
        assert_eq!(config.server.listen_http, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(config.server.portal_url, "http://access.localhost:9000");
        assert_eq!(config.server.portal_host, "access.localhost:9000");
        let [demo] = config.resources.as_slice() else { panic!("one resource") };
        assert_eq!(demo.host, "app.localhost:9000");
        assert_eq!(demo.upstreams[0].address, "127.0.0.1:8081");
        assert_eq!(config.server.ops_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(config.server.demo_listen, Some("127.0.0.1:8081".parse().unwrap()));

        let unchanged = quickstart(8080).unwrap();
        assert_eq!(unchanged.server.portal_url, "http://access.localhost:8080");
        assert_eq!(unchanged.resources[0].host, "app.localhost:8080");
    }

    /// Browsers leave port 80 out of `Host`, so hosts moved to 80 lose their port.
    #[test]
    fn port_80_is_left_out_of_hosts() {
        let config = quickstart(80).unwrap();
        assert_eq!(config.server.listen_http, Some("127.0.0.1:80".parse().unwrap()));
        assert_eq!(config.server.portal_url, "http://access.localhost");
        assert_eq!(config.resources[0].host, "app.localhost");
    }

    /// From port 80, hosts written without a port move; hosts on other ports (another
    /// listener in front, say) and origins that are not jitgate's stay as written.
    #[test]
    fn only_addresses_on_the_old_port_move() {
        let text = format!(
            r#"
[server]
listen_http = "0.0.0.0:80"
portal_url = "http://Access.example.com/"
{OIDC}
[[resource]]
name = "app"
host = "app.example.com"
upstreams = ["http://10.0.0.1:80"]
websocket_origins = ["http://wiki.example.com", "http://status.example.com", "https://wiki.example.com"]

[[resource]]
name = "wiki"
host = "WIKI.example.com:80"
upstreams = ["http://10.0.0.2:80"]

[[resource]]
name = "grafana"
host = "grafana.example.com:3000"
upstreams = ["http://10.0.0.3:3000"]
"#
        );
        let config = config(&text, 8080).unwrap();
        assert_eq!(config.server.listen_http, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(config.server.portal_url, "http://Access.example.com:8080");
        assert_eq!(config.server.portal_host, "access.example.com:8080");
        let hosts: Vec<&str> = config.resources.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(
            hosts,
            ["app.example.com:8080", "wiki.example.com:8080", "grafana.example.com:3000"]
        );
        assert_eq!(
            config.resources[0].websocket_origins,
            [
                "http://wiki.example.com:8080",
                "http://status.example.com",
                "https://wiki.example.com"
            ]
        );
    }

    /// What the new port collides with is reported like any config error, at its line.
    #[test]
    fn a_clash_or_an_https_config_is_an_error_with_its_line() {
        let error = quickstart(8081).unwrap_err().to_string();
        assert!(
            error.contains("quickstart.toml:") && error.contains("server.demo_listen must differ"),
            "{error}"
        );

        let text = format!(
            r#"
[server]
listen_http = "0.0.0.0:80"
listen_https = "0.0.0.0:443"
tls_cert = "cert.pem"
tls_key = "key.pem"
portal_url = "https://access.example.com"
{OIDC}"#
        );
        let error = config(&text, 8080).unwrap_err().to_string();
        assert!(error.starts_with("jitgate.toml:4: --port 8080"), "{error}");
        assert!(error.contains("server.listen_https is set"), "{error}");

        let text = format!("[server]\nportal_url = \"http://access.localhost\"\n{OIDC}");
        let error = config(&text, 8080).unwrap_err().to_string();
        assert!(
            error.contains("--port 8080 moves server.listen_http, which is not set"),
            "{error}"
        );
    }
}
