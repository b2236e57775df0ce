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
    /// Headers other than Content-Length, Connection and Transfer-Encoding.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

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
    let mut headers = Vec::new();
    loop {
        if read_line(r, &mut line)? == 0 {
            return Err(HttpError::Malformed("connection closed in headers".into()));
        }
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
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
        } else {
            headers.push((name.trim().to_string(), value.to_string()));
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
        headers,
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

/// Why a request got no response, and whether the server may have acted on
/// it. Callers that retry must tell the two apart: resending a write after
/// [`RequestError::OutcomeUnknown`] may apply it twice (raftkv de-duplicates
/// writes that carry a client session; see `server::CLIENT_ID_HEADER`).
#[derive(Debug, Error)]
pub enum RequestError {
    /// No complete request reached the server (the connect failed, or the
    /// request could not be written in full), so it cannot have been
    /// applied: safe to send again, here or elsewhere.
    #[error("{addr}: request not sent ({io}); it was not applied, safe to retry")]
    NotSent { addr: String, io: io::Error },
    /// The request was sent but no complete response came back (the
    /// connection broke or timed out): the server may or may not have
    /// applied it.
    #[error("{addr}: request sent but no response ({io}); it may or may not have taken effect")]
    OutcomeUnknown { addr: String, io: io::Error },
}

impl RequestError {
    pub fn io(&self) -> &io::Error {
        match self {
            RequestError::NotSent { io, .. } | RequestError::OutcomeUnknown { io, .. } => io,
        }
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.io().kind()
    }

    /// Did (possibly) the server receive the whole request?
    pub fn was_sent(&self) -> bool {
        matches!(self, RequestError::OutcomeUnknown { .. })
    }

    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        )
    }
}

/// A keep-alive HTTP/1.1 client for one server at a time.
///
/// It never resends a request the server may have received, except a
/// `GET` (which changes nothing): a failure after the request was written
/// is reported as [`RequestError::OutcomeUnknown`] for the caller to judge.
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

    /// Drop the kept-alive connection if the server has closed it (or sent
    /// bytes nobody asked for), so the next request goes on a fresh one
    /// instead of being written into a dead socket. A non-blocking peek:
    /// no byte and no EOF pending means the connection is still usable.
    fn drop_conn_if_closed(&mut self) {
        let Some((r, w)) = &self.conn else { return };
        let usable = r.buffer().is_empty() && crate::transport::is_open_for_writing(w);
        if !usable {
            self.conn = None;
        }
    }

    /// One request (see [`HttpClient::request_with`]).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<ClientResponse, RequestError> {
        self.request_with(method, path, &[], body)
    }

    /// One request with extra headers. On a kept-alive connection that
    /// turns out to be broken, it is sent again on a fresh connection only
    /// if the first copy cannot have been received in full, or it is a
    /// `GET`; otherwise the error says the outcome is unknown.
    pub fn request_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ClientResponse, RequestError> {
        self.drop_conn_if_closed();
        let reused = self.conn.is_some();
        match self.try_request(method, path, headers, body) {
            Err(e) if reused && !e.is_timeout() && (!e.was_sent() || method == "GET") => {
                let first_sent = e.was_sent();
                self.try_request(method, path, headers, body)
                    .map_err(|e| match e {
                        RequestError::NotSent { addr, io } if first_sent => {
                            RequestError::OutcomeUnknown { addr, io }
                        }
                        e => e,
                    })
            }
            r => r,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ClientResponse, RequestError> {
        let addr = self.addr.clone();
        if self.conn.is_none() {
            self.connect().map_err(|io| RequestError::NotSent {
                addr: addr.clone(),
                io,
            })?;
        }
        let (r, w) = self.conn.as_mut().expect("connected");
        let mut out = Vec::with_capacity(body.len() + 160);
        write!(
            out,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
        .expect("write to a Vec");
        for (name, value) in headers {
            write!(out, "{name}: {value}\r\n").expect("write to a Vec");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        // A failed write_all means the kernel did not take every byte, so
        // the server holds at most a strict prefix of the request: with
        // its Content-Length it never treats that as a request.
        if let Err(io) = w.write_all(&out) {
            self.conn = None;
            return Err(RequestError::NotSent { addr, io });
        }
        match read_response(r) {
            Ok((resp, keep)) => {
                if !keep {
                    self.conn = None;
                }
                Ok(resp)
            }
            Err(io) => {
                self.conn = None;
                Err(RequestError::OutcomeUnknown { addr, io })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Clone, Copy)]
    enum Action {
        Answer,
        /// Answer as if keeping the connection, then close it.
        AnswerThenClose,
        /// Read the request, then close without answering.
        Swallow,
    }

    /// A server that acts on the n-th request it reads as `script[n]`
    /// (then answers), counting requests.
    fn fake_server(script: Vec<Action>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                while let Ok(Some(_)) = read_request(&mut r) {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let action = script.get(n).copied().unwrap_or(Action::Answer);
                    if !matches!(action, Action::Swallow) {
                        write_response(&mut w, 200, b"{}", None, true).unwrap();
                    }
                    if !matches!(action, Action::Answer) {
                        break;
                    }
                }
            }
        });
        (addr, count)
    }

    fn client(addr: &str) -> HttpClient {
        HttpClient::new(addr, Duration::from_secs(2))
    }

    #[test]
    fn a_refused_connect_is_not_sent() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let err = client(&addr).request("PUT", "/x", b"{}").unwrap_err();
        assert!(!err.was_sent(), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn a_write_that_got_no_answer_is_not_sent_again() {
        let (addr, count) = fake_server(vec![Action::Answer, Action::Swallow]);
        let mut http = client(&addr);
        assert_eq!(http.request("PUT", "/x", b"{}").unwrap().status, 200);
        let err = http.request("PUT", "/x", b"{}").unwrap_err();
        assert!(err.was_sent(), "{err}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(count.load(Ordering::SeqCst), 2, "sent once, not resent");
    }

    #[test]
    fn a_read_that_got_no_answer_is_sent_again_on_a_fresh_connection() {
        let (addr, count) = fake_server(vec![Action::Answer, Action::Swallow]);
        let mut http = client(&addr);
        http.request("GET", "/x", b"").unwrap();
        assert_eq!(http.request("GET", "/x", b"").unwrap().status, 200);
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_connection_the_server_closed_is_replaced_before_a_write_is_sent() {
        let (addr, count) = fake_server(vec![Action::AnswerThenClose]);
        let mut http = client(&addr);
        http.request("PUT", "/x", b"{}").unwrap();
        std::thread::sleep(Duration::from_millis(100)); // the FIN arrives
        assert_eq!(http.request("PUT", "/x", b"{}").unwrap().status, 200);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}
