//! Raw HTTP/1.1 for tests: fake servers that misbehave on purpose (answer,
//! then close; read a request and never answer), which no HTTP library
//! offers. Requests are parsed with `httparse`.

use std::io::{self, BufRead, Write};

/// A request as a fake server read it.
#[derive(Debug)]
pub struct RawRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one request (a Content-Length body, if any); `None` at EOF or on
/// anything unparsable.
pub fn read_request(r: &mut impl BufRead) -> Option<RawRequest> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if r.read_until(b'\n', &mut head).ok()? == 0 {
            return None;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if !req.parse(&head).ok()?.is_complete() {
        return None;
    }
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).to_string();
            (h.name.to_string(), value)
        })
        .collect();
    let mut raw = RawRequest {
        headers,
        body: Vec::new(),
    };
    let len: usize = raw
        .header("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    raw.body = vec![0; len];
    r.read_exact(&mut raw.body).ok()?;
    Some(raw)
}

/// Write a JSON answer (with `Connection: close` if `close`).
pub fn write_response(w: &mut impl Write, status: u16, body: &[u8], close: bool) -> io::Result<()> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    write!(
        w,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{connection}\r\n",
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()
}

/// An answer: status, headers (names in lower case) and body.
pub type RawResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// Read one answer (a Content-Length body); `None` at EOF or on anything
/// unparsable.
pub fn read_response(r: &mut impl BufRead) -> Option<RawResponse> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if r.read_until(b'\n', &mut head).ok()? == 0 {
            return None;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    if !resp.parse(&head).ok()?.is_complete() {
        return None;
    }
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).to_string(),
            )
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(Some(0), |(_, v)| v.parse().ok())?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((resp.code?, headers, body))
}

/// `n` loopback addresses where nobody listens, so a connect is refused.
/// Taken from the ports below 1024, which `bind(":0")` never hands out: a
/// port bound and released would race with every other test's
/// `bind(":0")`, which may be given that very port and then receive
/// connections meant to be refused.
pub fn refused_addrs(n: usize) -> Vec<String> {
    let out: Vec<String> = (1..1024u16)
        .map(|port| std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .filter(|addr| {
            matches!(
                std::net::TcpStream::connect_timeout(addr, std::time::Duration::from_millis(200)),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused
            )
        })
        .take(n)
        .map(|addr| addr.to_string())
        .collect();
    assert_eq!(out.len(), n, "fewer than {n} refusing ports below 1024");
    out
}
