//! HTTP for the client API: the limits its server enforces, percent-coding
//! of keys, and [`HttpClient`], the keep-alive client of the CLI and the
//! bench (the server is in `api.rs`).
//!
//! The client is hyper's HTTP/1.1 client connection
//! (`hyper::client::conn::http1`) behind a blocking API: the CLI, the
//! bench's worker threads and the tests are plain threads. hyper rather
//! than a blocking client crate because its I/O is ours: [`Socket`] counts
//! the bytes written, so [`RequestError`] can tell "not sent" (no byte
//! left) from "maybe applied" (see there).
//! hyper needs no runtime for HTTP/1.1, so there is none: [`block_on`]
//! polls the connection and waits on its one socket with poll(2), which
//! costs the bench's client threads about what the hand-written client it
//! replaced did (a current-thread tokio runtime per client took twice the
//! CPU per request, and the bench shares the cores with the servers).
//! Hand-rolled on top: one kept-alive connection, checked before reuse, and
//! the connect and request timeouts.

use std::future::Future;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, LOCATION};
use hyper::Request;
use thiserror::Error;

use super::http_io::{block_on, Probe, Readiness, Socket};

/// At most this many request headers (more: 431).
pub const MAX_HEADERS: usize = 64;
/// At most this many bytes of request body, sent with Content-Length or
/// chunked (more: 413).
pub const MAX_BODY: usize = 1 << 20;

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

/// Why a request got no response, and whether the server may have acted on
/// it. Callers that retry must tell the two apart: resending a write after
/// [`RequestError::OutcomeUnknown`] may apply it twice (raftkv de-duplicates
/// writes that carry a client session; see `server::CLIENT_ID_HEADER`).
#[derive(Debug, Error)]
pub enum RequestError {
    /// No byte of the request reached the socket (the connect failed, or
    /// the connection broke before any was written), so it cannot have
    /// been applied: safe to send again, here or elsewhere.
    #[error("{addr}: request not sent ({io}); it was not applied, safe to retry")]
    NotSent { addr: String, io: io::Error },
    /// Some or all of the request was written but no complete response
    /// came back (the connection broke or timed out): the server may or
    /// may not have applied it.
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

    /// Did any of the request (possibly) reach the server?
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

/// A response as the client sees it.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

type Body = Full<Bytes>;
/// A connection's I/O half (see [`drive`]).
type Driver = Pin<Box<Connection<Socket, Body>>>;

/// One kept-alive connection.
struct Conn {
    sender: SendRequest<Body>,
    /// The connection's I/O, polled while a request is under way; `None`
    /// once it has ended.
    driver: Option<Driver>,
    probe: Probe,
}

impl Conn {
    /// Whether the next request can go on this connection: it has not
    /// ended, and no EOF, reset or unsolicited byte is pending (the server
    /// closed it while idle, say), so a request is not written into a
    /// connection that is already dead. (The socket is non-blocking.)
    fn usable(&self) -> bool {
        self.driver.is_some()
            && !self.sender.is_closed()
            && matches!(self.probe.stream.peek(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// A keep-alive HTTP/1.1 client for one server at a time.
///
/// It never resends a request the server may have received, except a
/// `GET` (which changes nothing): a failure after the request was written
/// is reported as [`RequestError::OutcomeUnknown`] for the caller to judge.
/// Connecting, and each request from sending it to the last byte of the
/// answer, give up after the timeout.
pub struct HttpClient {
    addr: String,
    conn: Option<Conn>,
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
        if self.conn.as_ref().is_some_and(|c| !c.usable()) {
            self.conn = None;
        }
        self.send_retrying(method, path, headers, body)
    }

    /// [`HttpClient::request_with`] after its check of a kept-alive
    /// connection (which a test needs to get past).
    fn send_retrying(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ClientResponse, RequestError> {
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
        let not_sent = |io| RequestError::NotSent {
            addr: self.addr.clone(),
            io,
        };
        let req = build_request(&self.addr, method, path, headers, body).map_err(not_sent)?;
        if self.conn.is_none() {
            self.conn = Some(connect(&self.addr, self.timeout).map_err(not_sent)?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        match exchange(conn, req, Instant::now() + self.timeout) {
            Ok((resp, keep)) => {
                if !keep {
                    self.conn = None;
                }
                Ok(resp)
            }
            Err((sent, io)) => {
                self.conn = None;
                let addr = self.addr.clone();
                Err(if sent {
                    RequestError::OutcomeUnknown { addr, io }
                } else {
                    RequestError::NotSent { addr, io }
                })
            }
        }
    }
}

fn build_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Request<Body>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr)
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{method} {path}: {e}")))
}

/// Connect to the first of `addr`'s addresses that answers within
/// `timeout` (each), and start HTTP/1.1 on it.
fn connect(addr: &str, timeout: Duration) -> io::Result<Conn> {
    let mut last = None;
    let mut stream = None;
    for sa in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(e),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{addr} resolves to no address"),
            ))
        }
    };
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    let readiness = Arc::new(Readiness::new());
    let probe = Probe {
        stream: stream.try_clone()?,
        readiness: readiness.clone(),
    };
    let socket = Socket {
        stream,
        readiness,
        scratch: Vec::new(),
    };
    let deadline = Instant::now() + timeout;
    let (sender, driver) = block_on(
        &probe,
        deadline,
        hyper::client::conn::http1::handshake(socket),
    )?
    .map_err(hyper_io)?;
    Ok(Conn {
        sender,
        driver: Some(Box::pin(driver)),
        probe,
    })
}

/// Send `req` on `conn` and read the whole answer by `deadline`: the
/// answer and whether the connection stays open, or the error and whether
/// the request may have reached the server.
fn exchange(
    conn: &mut Conn,
    req: Request<Body>,
    deadline: Instant,
) -> Result<(ClientResponse, bool), (bool, io::Error)> {
    let Conn {
        sender,
        driver,
        probe,
    } = conn;
    // Sent once any byte of it reached the socket: hyper may have taken
    // the request and failed to write any of it (a kept-alive connection
    // the server reset meanwhile), and then it cannot have been received.
    let written = &probe.readiness.written;
    let before = written.load(Ordering::Relaxed);
    let work = async {
        sender.ready().await.map_err(hyper_io)?;
        let resp = sender.send_request(req).await.map_err(hyper_io)?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(hyper_io)?.to_bytes();
        Ok::<_, io::Error>((parts, body))
    };
    let (parts, body) = match block_on(probe, deadline, drive(driver, work)) {
        Ok(Ok(answer)) => answer,
        Ok(Err(io)) | Err(io) => return Err((written.load(Ordering::Relaxed) > before, io)),
    };
    let closing = parts
        .headers
        .get(CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let keep = !closing && driver.is_some() && !sender.is_closed();
    let location = parts
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((
        ClientResponse {
            status: parts.status.as_u16(),
            location,
            body: body.to_vec(),
        },
        keep,
    ))
}

/// Run `work` while polling the connection's I/O. A connection that ends
/// is dropped, which fails whatever `work` still waits for on it.
async fn drive<T>(driver: &mut Option<Driver>, work: impl Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work);
    if let Some(d) = driver.as_mut() {
        let ended = std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            d.as_mut().poll(cx).map(Err)
        })
        .await;
        match ended {
            Ok(out) => return out,
            Err(Err(e)) => tracing::debug!("client connection ended: {e}"),
            Err(Ok(())) => {}
        }
        *driver = None;
    }
    work.await
}

/// hyper's error as an `io::Error` of the kind of the I/O error under it
/// (refused, reset, timed out), so callers can judge it; a connection
/// closed mid-answer is `UnexpectedEof`.
fn hyper_io(e: hyper::Error) -> io::Error {
    let mut msg = e.to_string();
    let mut kind = None;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        if let (None, Some(io)) = (kind, s.downcast_ref::<io::Error>()) {
            kind = Some(io.kind());
        }
        source = s.source();
    }
    let kind = kind.unwrap_or(
        if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
            io::ErrorKind::UnexpectedEof
        } else {
            io::ErrorKind::InvalidData
        },
    );
    io::Error::new(kind, msg)
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
