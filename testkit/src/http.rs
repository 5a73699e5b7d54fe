//! A raw HTTP/1.1 client: no redirects followed, no cookies kept, every byte visible. Connects
//! to 127.0.0.1 and sends the `Host` it is given, which is how `*.localhost` names are tested.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header with this (case-insensitive) name, in order (e.g. each `Set-Cookie`).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection that can carry several requests.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub async fn open(port: u16) -> std::io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        Ok(Self { reader: BufReader::new(stream) })
    }

    /// Sends a request and reads its response (bodies with Content-Length only).
    pub async fn send(
        &mut self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Response> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.send_raw(request.as_bytes()).await
    }

    /// Sends `request` byte for byte (request line, headers, blank line, any body: nothing is
    /// added, checked or normalised, so hostile request lines reach the server as written) and
    /// reads the response. A response without `Content-Length` is read to the end of the
    /// connection.
    pub async fn send_raw(&mut self, request: &[u8]) -> std::io::Result<Response> {
        self.reader.get_mut().write_all(request).await?;
        tokio::time::timeout(Duration::from_secs(10), self.read_response()).await.map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no response within 10 s")
        })?
    }

    async fn read_response(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status =
            line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad status line {line:?}"),
                )
            })?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let closes = headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let mut body = Vec::new();
        match length {
            None if chunked => {
                // Chunks as they come, to the terminating empty chunk and its blank line.
                loop {
                    line.clear();
                    self.reader.read_line(&mut line).await?;
                    let size =
                        usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                            .map_err(|_| {
                                std::io::Error::new(
                                    std::io::ErrorKind::InvalidData,
                                    format!("bad chunk size {line:?}"),
                                )
                            })?;
                    let mut chunk = vec![0; size + 2];
                    self.reader.read_exact(&mut chunk).await?;
                    if size == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..size]);
                }
            }
            Some(length) => {
                body.resize(length, 0);
                self.reader.read_exact(&mut body).await?;
            }
            // No length on a closing connection: the body runs to its end.
            None if closes && status != 101 => {
                self.reader.read_to_end(&mut body).await?;
            }
            None => {}
        }
        Ok(Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

/// `request`, byte for byte, on a fresh connection (see [`Connection::send_raw`]).
pub async fn raw(port: u16, request: &[u8]) -> Response {
    let mut connection = Connection::open(port).await.expect("connect to the proxy");
    connection.send_raw(request).await.unwrap_or_else(|error| {
        panic!("no response to {:?}: {error}", String::from_utf8_lossy(request))
    })
}

/// One request on a fresh connection. `path` goes into the request line exactly as given (no
/// encoding or normalisation), so hostile paths reach the server unaltered.
pub async fn get(port: u16, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut connection = Connection::open(port).await.expect("connect to the proxy");
    connection.send("GET", host, path, headers).await.expect("a response")
}

/// Performs a WebSocket handshake and returns the open connection (after the 101), or the
/// refusal when the handshake is not accepted.
pub async fn open_websocket(
    port: u16,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<TcpStream, Response> {
    let mut all = vec![
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    all.extend_from_slice(headers);
    let mut connection = Connection::open(port).await.expect("connect to the proxy");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in &all {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    connection.reader.get_mut().write_all(request.as_bytes()).await.expect("send the handshake");
    let response = connection.read_response().await.expect("a handshake response");
    if response.status != 101 {
        return Err(response);
    }
    Ok(connection.reader.into_inner())
}
