//! A real nginx upstream: a second HTTP server that, unlike the Python echo (which echoes the
//! raw request target), routes on its own normalised path. nginx decodes `%XX` (including
//! `%2F`), resolves `.`/`..` segments and merges `//` before it matches a `location`, so a
//! path the proxy judged "public" may land in nginx's `/admin/` location: exactly the gap a
//! path-prefix gate must close.
//!
//! Every response is `200 text/plain`, one line:
//! `ADMIN|PUBLIC uri=<$uri> request_uri=<$request_uri> user=… email=… groups=… xff=…
//! real_ip=… forwarded=…`, the last six being the request headers `X-Jitgate-User`,
//! `X-Jitgate-Email`, `X-Jitgate-Groups`, `X-Forwarded-For`, `X-Real-IP` and `Forwarded` as
//! nginx received them (empty when absent). `ADMIN` is answered for `/admin` and `/admin/…`
//! after nginx's normalisation, `PUBLIC` for everything else.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Where Debian installs nginx; `/usr/sbin` is often not on a non-root user's `PATH`.
const DEBIAN_NGINX: &str = "/usr/sbin/nginx";

const ECHO: &str = "uri=$uri request_uri=$request_uri user=$http_x_jitgate_user \
                    email=$http_x_jitgate_email groups=$http_x_jitgate_groups \
                    xff=$http_x_forwarded_for real_ip=$http_x_real_ip forwarded=$http_forwarded";

pub struct NginxUpstream {
    pub port: u16,
    _child: Child,
    dir: tempfile::TempDir,
}

/// `nginx` from `PATH`, else Debian's `/usr/sbin/nginx`.
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from(DEBIAN_NGINX))
}

fn config(dir: &std::path::Path, port: u16) -> String {
    let dir = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        location = /admin {{ return 200 "ADMIN {ECHO}\n"; }}
        location /admin/ {{ return 200 "ADMIN {ECHO}\n"; }}
        location / {{ return 200 "PUBLIC {ECHO}\n"; }}
    }}
}}
"#
    )
}

impl NginxUpstream {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for nginx");
        let port = crate::free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port)).expect("write nginx.conf");
        let binary = binary();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "nginx is not installed ({}): run scripts/test (it installs it) or `apt-get install nginx`",
                binary.display()
            ),
            Err(error) => panic!("cannot start nginx: {error}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !crate::listening(port).await {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nginx exited at start ({status}):\n{}", error_log(dir.path()));
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not listen on {port} within 10 s:\n{}",
                error_log(dir.path())
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self { port, _child: child, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What nginx has logged so far.
    pub fn log(&self) -> String {
        error_log(self.dir.path())
    }
}

fn error_log(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
}

impl Drop for NginxUpstream {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- nginx error log ---\n{}", self.log());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The point of this peer: nginx normalises paths before routing, so these all reach its
    /// admin location even though none starts with `/admin/` byte for byte.
    #[tokio::test]
    async fn nginx_routes_on_its_own_normalised_path() {
        let nginx = NginxUpstream::start().await;
        let host = "site.localhost";
        for (path, location, uri) in [
            ("/admin/secret", "ADMIN", "/admin/secret"),
            ("/admin", "ADMIN", "/admin"),
            ("/%61dmin/secret", "ADMIN", "/admin/secret"),
            ("//admin//secret", "ADMIN", "/admin/secret"),
            ("/x/../admin/secret", "ADMIN", "/admin/secret"),
            ("/admin%2Fsecret", "ADMIN", "/admin/secret"),
            ("/%2561dmin", "PUBLIC", "/%61dmin"),
            ("/administrator", "PUBLIC", "/administrator"),
        ] {
            let response =
                crate::http::get(nginx.port, host, path, &[("x-real-ip", "192.0.2.1")]).await;
            assert_eq!(response.status, 200, "{path}");
            assert!(
                response.body.starts_with(&format!("{location} uri={uri} request_uri={path} ")),
                "{path}: {}",
                response.body
            );
            assert!(response.body.contains(" real_ip=192.0.2.1 "), "{}", response.body);
        }
    }
}
