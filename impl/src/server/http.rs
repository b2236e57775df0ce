//! A deliberately small HTTP/1.1 layer (keep-alive, Content-Length bodies,
//! no chunked encoding) for the client API, its CLI client and the bench.
//! Thread-per-connection on std sockets: no async runtime in the tree.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use thiserror::Error;

/// Limits on what a client may send.
pub const MAX_HEADER_LINE: u64 = 8 << 10;
pub const MAX_HEADERS: usize = 64;
pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request body of {0} bytes exceeds the {MAX_BODY}-byte limit")]
    TooLarge(usize),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl Request {
    /// `name=value` from the query string (`name` alone counts as "true").
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
            (k == name).then_some(v)
        })
    }
}

fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> Result<usize, HttpError> {
    line.clear();
    let n = r.take(MAX_HEADER_LINE).read_until(b'\n', line)?;
    if n > 0 && !line.ends_with(b"\n") {
        return Err(HttpError::Malformed(if n as u64 >= MAX_HEADER_LINE {
            "header line too long".into()
        } else {
            "connection closed mid-line".into()
        }));
    }
    while line.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
        line.pop();
    }
    Ok(n)
}

/// Read one request; `Ok(None)` on a clean close between requests.
pub fn read_request(r: &mut impl BufRead) -> Result<Option<Request>, HttpError> {
    let mut line = Vec::new();
    if read_line(r, &mut line)? == 0 {
        return Ok(None);
    }
    let text = String::from_utf8(line.clone())
        .map_err(|_| HttpError::Malformed("request line is not UTF-8".into()))?;
    let mut parts = text.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && t.starts_with('/') => (m, t, v),
        _ => {
            return Err(HttpError::Malformed(format!(
                "bad request line {text:?}; expected e.g. `GET /v1/kv/KEY HTTP/1.1`"
            )))
        }
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!(
            "unsupported version {version:?}"
        )));
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length = 0usize;
    let mut headers = 0;
    loop {
        if read_line(r, &mut line)? == 0 {
            return Err(HttpError::Malformed("connection closed in headers".into()));
        }
        if line.is_empty() {
            break;
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return Err(HttpError::Malformed("too many headers".into()));
        }
        let h = String::from_utf8_lossy(&line);
        let Some((name, value)) = h.split_once(':') else {
            return Err(HttpError::Malformed(format!("bad header line {h:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value
                .parse()
                .map_err(|_| HttpError::Malformed(format!("bad Content-Length {value:?}")))?;
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Malformed(
                "chunked bodies are not supported; send Content-Length".into(),
            ));
        }
    }
    if content_length > MAX_BODY {
        return Err(HttpError::TooLarge(content_length));
    }
    let mut body = vec![0; content_length];
    r.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        body,
        keep_alive,
    }))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Write a JSON response.
pub fn write_response(
    w: &mut impl Write,
    status: u16,
    body: &[u8],
    location: Option<&str>,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 160);
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    )?;
    if let Some(l) = location {
        write!(out, "Location: {l}\r\n")?;
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

/// Percent-decode a path segment (`%2F` -> `/`); `None` if malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encode everything but unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// A response as the client sees it.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 client for one server at a time.
pub struct HttpClient {
    addr: String,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
    timeout: Duration,
}

impl HttpClient {
    pub fn new(addr: impl Into<String>, timeout: Duration) -> Self {
        HttpClient {
            addr: addr.into(),
            conn: None,
            timeout,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Talk to another server from now on.
    pub fn set_addr(&mut self, addr: impl Into<String>) {
        let addr = addr.into();
        if addr != self.addr {
            self.addr = addr;
            self.conn = None;
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect(&self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        self.conn = Some((BufReader::new(s.try_clone()?), s));
        Ok(())
    }

    /// One request. A request on a reused connection that fails before any
    /// response byte is retried once on a fresh connection.
    pub fn request(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<ClientResponse> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, body) {
            Err(e)
                if reused
                    && e.kind() != io::ErrorKind::TimedOut
                    && e.kind() != io::ErrorKind::WouldBlock =>
            {
                self.conn = None;
                self.try_request(method, path, body)
            }
            r => r,
        }
    }

    fn try_request(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<ClientResponse> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let result = (|| {
            let (r, w) = self.conn.as_mut().expect("connected");
            let mut out = Vec::with_capacity(body.len() + 128);
            write!(
                out,
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                self.addr,
                body.len()
            )?;
            out.extend_from_slice(body);
            w.write_all(&out)?;
            read_response(r)
        })();
        match result {
            Ok((resp, keep)) => {
                if !keep {
                    self.conn = None;
                }
                Ok(resp)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

fn read_response(r: &mut impl BufRead) -> io::Result<(ClientResponse, bool)> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut line = Vec::new();
    let n = read_line(r, &mut line).map_err(|e| bad(e.to_string()))?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status_line = String::from_utf8_lossy(&line).to_string();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let mut len = 0usize;
    let mut location = None;
    let mut keep = true;
    loop {
        read_line(r, &mut line).map_err(|e| bad(e.to_string()))?;
        if line.is_empty() {
            break;
        }
        let h = String::from_utf8_lossy(&line);
        if let Some((name, value)) = h.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = value
                    .parse()
                    .map_err(|_| bad("bad Content-Length".into()))?;
            } else if name.eq_ignore_ascii_case("location") {
                location = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("connection") {
                keep = !value.eq_ignore_ascii_case("close");
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok((
        ClientResponse {
            status,
            location,
            body,
        },
        keep,
    ))
}
