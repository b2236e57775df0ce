//! The client API: HTTP/1.1 + JSON on the client address, served by hyper
//! on a current-thread tokio runtime of its own. Followers redirect writes and
//! linearizable reads to the leader; the leader turns each request into a
//! command for the Raft loop (a plain thread, see [`super`]) and answers
//! once it is committed and applied. Handlers never wait on the runtime
//! thread for more than a few field copies: a proposal's answer comes back
//! on a tokio oneshot; the status lock is only held to copy a few fields;
//! the Raft loop holds the kv lock for one entry at a time, and a stale
//! read that finds it held waits for it with `spawn_blocking`, as does a
//! proposal that finds the event queue full (the Raft loop far behind).

use std::convert::Infallible;
use std::io;
use std::net::TcpListener;
use std::sync::mpsc::TrySendError;
use std::sync::{Arc, TryLockError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::sync::{oneshot, Notify};

use super::http::{percent_decode, MAX_BODY, MAX_HEADERS};
use super::{Event, ProposeFailure, Shared, CLIENT_ID_HEADER, SEQ_HEADER};
use crate::kv::{ClientId, Command, CommandResult, KvStore};
use raft_core::{LogIndex, NodeId};

/// How long a shutdown waits for in-flight requests to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long a client may take to send a request's head (hyper's default;
/// it needs a timer to apply): a client that sends half a head, or opens a
/// connection and sends nothing, does not hold it for ever.
pub(super) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The running client API (see [`ClientApi::start`]).
pub(super) struct ClientApi {
    stop: Arc<Notify>,
    thread: std::thread::JoinHandle<()>,
}

impl ClientApi {
    /// Serve the client API on `listener` from a thread of its own,
    /// closing connections that take longer than `header_read_timeout` to
    /// send a request's head ([`HEADER_READ_TIMEOUT`] but in tests).
    pub(super) fn start(
        listener: TcpListener,
        shared: Arc<Shared>,
        header_read_timeout: Duration,
    ) -> io::Result<ClientApi> {
        listener.set_nonblocking(true)?;
        // One thread serves every connection: HTTP is a sliver of a
        // request's cost next to the Raft loop's, and on few cores this
        // measured best (`raftkv bench`, 3 nodes on 2 cores, put at 64
        // connections: 51-57 us of server CPU per op against 62-77 with a
        // worker per core and 80-83 with the old thread per connection).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let stop = Arc::new(Notify::new());
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("client-accept".into())
                .spawn(move || {
                    runtime.block_on(accept_loop(listener, shared, stop, header_read_timeout))
                })?
        };
        Ok(ClientApi { stop, thread })
    }

    /// Stop accepting, let in-flight requests finish (for at most
    /// [`SHUTDOWN_GRACE`]), close every connection and stop the runtime.
    pub(super) fn shutdown(self) {
        self.stop.notify_one();
        let _ = self.thread.join();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    header_read_timeout: Duration,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("client listener: {e}");
            return;
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_headers(MAX_HEADERS)
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: back off, keep serving.
                    tracing::warn!("client accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.notified() => break,
        };
        // Small requests and answers: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        let shared = shared.clone();
        let service = hyper::service::service_fn(move |req| serve(shared.clone(), req));
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(?peer, "client connection: {e}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("client connections still open after {SHUTDOWN_GRACE:?}; closing them");
        }
    }
}

type HttpAnswer = (u16, serde_json::Value, Option<String>);

fn error(status: u16, msg: impl Into<String>) -> HttpAnswer {
    (status, json!({ "error": msg.into() }), None)
}

const USAGE: &str = "endpoints: GET /v1/status; GET|PUT|DELETE /v1/kv/KEY \
    (PUT body {\"value\": \"...\"}; GET ?stale=true for a local read); \
    POST /v1/cas/KEY (body {\"expected\": \"...\"|null, \"value\": \"...\"|null}); \
    writes applied at most once: headers Raftkv-Client-Id: U64 and Raftkv-Seq: U64 \
    (one more per write, the same when retrying)";

/// One request: read its body (at most [`MAX_BODY`] bytes, whether sent
/// with Content-Length or chunked), handle it, answer JSON.
async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > MAX_BODY as u64) {
        let msg = format!("request body of {len} bytes exceeds the {MAX_BODY}-byte limit");
        return Ok(respond(error(413, msg), true));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            // The rest of the body is unread: the connection cannot go on.
            let answer = if e.is::<http_body_util::LengthLimitError>() {
                error(
                    413,
                    format!("request body exceeds the {MAX_BODY}-byte limit"),
                )
            } else {
                error(400, format!("malformed request: reading the body: {e}"))
            };
            return Ok(respond(answer, true));
        }
    };
    let answer = handle(&shared, &parts, &body).await;
    Ok(respond(answer, false))
}

fn respond((status, body, location): HttpAnswer, close: bool) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(LOCATION, l);
    }
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// `name=value` from a query string (`name` alone counts as "true").
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
        (k == name).then_some(v)
    })
}

/// The (client, seq) session of a write, from its headers (both or none).
fn session_of(req: &Parts) -> Result<Option<(ClientId, u64)>, HttpAnswer> {
    let parse = |name: &str| -> Result<Option<u64>, HttpAnswer> {
        match req.headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    error(
                        400,
                        format!("{name} must be a decimal u64, not {v:?}; {USAGE}"),
                    )
                }),
        }
    };
    match (parse(CLIENT_ID_HEADER)?, parse(SEQ_HEADER)?) {
        (Some(client), Some(seq)) => Ok(Some((client, seq))),
        (None, None) => Ok(None),
        _ => Err(error(
            400,
            format!("send both {CLIENT_ID_HEADER} and {SEQ_HEADER}, or neither"),
        )),
    }
}

async fn handle(shared: &Arc<Shared>, req: &Parts, body: &[u8]) -> HttpAnswer {
    let path = req.uri.path();
    let query = req.uri.query().unwrap_or("");
    if path == "/v1/status" {
        if req.method != Method::GET {
            return error(405, "use GET /v1/status");
        }
        let s = shared.status.lock().expect("status lock").clone();
        return (200, serde_json::to_value(s).expect("status to JSON"), None);
    }
    let (cas, raw_key) = if let Some(k) = path.strip_prefix("/v1/kv/") {
        (false, k)
    } else if let Some(k) = path.strip_prefix("/v1/cas/") {
        (true, k)
    } else {
        return error(404, format!("no such endpoint {path}; {USAGE}"));
    };
    let Some(key) = percent_decode(raw_key) else {
        return error(400, "the key is not valid percent-encoded UTF-8");
    };
    if key.is_empty() {
        return error(400, format!("missing key; {USAGE}"));
    }
    if key.len() > 4096 {
        return error(400, "keys are limited to 4096 bytes");
    }
    let body_json = || -> Result<serde_json::Value, HttpAnswer> {
        serde_json::from_slice(body)
            .map_err(|e| error(400, format!("the body must be a JSON object: {e}")))
    };
    let opt_string = |v: &serde_json::Value, field: &str| -> Result<Option<String>, HttpAnswer> {
        match v.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(error(400, format!("\"{field}\" must be a string or null"))),
        }
    };
    let cmd = match (cas, req.method.as_str()) {
        (false, "GET") => {
            let stale = match query_param(query, "stale") {
                None | Some("false") => false,
                Some("true") => true,
                Some(v) => return error(400, format!("?stale= must be true or false, not {v:?}")),
            };
            if stale {
                let Some((value, applied)) = read_local(shared, &key).await else {
                    return error(503, "the node is shutting down");
                };
                let status = if value.is_some() { 200 } else { 404 };
                return (
                    status,
                    json!({ "key": key, "value": value, "applied_index": applied, "stale": true }),
                    None,
                );
            }
            Command::Get { key: key.clone() }
        }
        (false, "PUT") => {
            let v = match body_json() {
                Ok(v) => v,
                Err(a) => return a,
            };
            match opt_string(&v, "value") {
                Ok(Some(value)) => Command::Put {
                    key: key.clone(),
                    value,
                },
                Ok(None) => return error(400, "PUT needs a body {\"value\": \"...\"}"),
                Err(a) => return a,
            }
        }
        (false, "DELETE") => Command::Delete { key: key.clone() },
        (true, "POST") => {
            let v = match body_json() {
                Ok(v) => v,
                Err(a) => return a,
            };
            let (expected, value) = match (opt_string(&v, "expected"), opt_string(&v, "value")) {
                (Ok(e), Ok(n)) => (e, n),
                (Err(a), _) | (_, Err(a)) => return a,
            };
            Command::Cas {
                key: key.clone(),
                expected,
                value,
            }
        }
        (_, m) => return error(405, format!("method {m} not allowed on {path}; {USAGE}")),
    };
    // Reads need no de-duplication (and carry no session).
    let cmd = match session_of(req) {
        Err(a) => return a,
        Ok(Some((client, seq))) if !matches!(cmd, Command::Get { .. }) => Command::Session {
            client,
            seq,
            command: Box::new(cmd),
        },
        Ok(_) => cmd,
    };
    // Fast path for followers: redirect without touching the Raft loop.
    {
        let s = shared.status.lock().expect("status lock");
        if s.role != "Leader" {
            return redirect(s.leader, s.leader_client_addr.clone(), req);
        }
    }
    let (tx, rx) = oneshot::channel();
    let event = Event::Propose {
        payload: Bytes::from(cmd.encode()),
        reply: tx,
    };
    let queued = match shared.events.try_send(event) {
        Ok(()) => true,
        Err(TrySendError::Disconnected(_)) => false,
        // The Raft loop is far behind: wait for room off the runtime.
        Err(TrySendError::Full(event)) => {
            let events = shared.events.clone();
            matches!(
                tokio::task::spawn_blocking(move || events.send(event)).await,
                Ok(Ok(()))
            )
        }
    };
    if !queued {
        return error(503, "the node is shutting down");
    }
    match tokio::time::timeout(shared.request_timeout, rx).await {
        Ok(Ok(Ok(result))) => answer(&key, result),
        Ok(Ok(Err(ProposeFailure::NotLeader { leader }))) => {
            let addr = leader.and_then(|l| shared.transport.client_addr(l));
            redirect(leader, addr, req)
        }
        Ok(Ok(Err(ProposeFailure::Superseded))) => error(
            503,
            "leadership changed before the command committed; it was not applied, retry",
        ),
        Err(_elapsed) => error(
            504,
            "not committed within the request timeout (no quorum?); the outcome is unknown",
        ),
        // This node proposed again at the same index in a later term: the
        // first entry left its log but may still be committed by a future
        // leader that has it, so "not applied" would be wrong.
        Ok(Err(_dropped)) => error(
            504,
            "leadership changed while the command was in flight; the outcome is unknown",
        ),
    }
}

/// A local read of `key`: its value and the applied index. If the Raft
/// loop holds the kv lock (applying an entry, perhaps with a large value),
/// wait for it off the runtime so other connections go on; `None` if the
/// runtime is shutting down meanwhile.
async fn read_local(shared: &Arc<Shared>, key: &str) -> Option<(Option<String>, LogIndex)> {
    let read = |kv: &KvStore, key: &str| (kv.get(key).cloned(), kv.applied());
    match shared.kv.try_lock() {
        Ok(kv) => return Some(read(&kv, key)),
        Err(TryLockError::Poisoned(_)) => panic!("kv lock poisoned"),
        Err(TryLockError::WouldBlock) => {}
    }
    let (shared, key) = (shared.clone(), key.to_string());
    tokio::task::spawn_blocking(move || read(&shared.kv.lock().expect("kv lock"), &key))
        .await
        .ok()
}

fn redirect(leader: Option<NodeId>, addr: Option<String>, req: &Parts) -> HttpAnswer {
    match (leader, addr) {
        (Some(leader), Some(addr)) => {
            let mut location = format!("http://{addr}{}", req.uri.path());
            if let Some(query) = req.uri.query().filter(|q| !q.is_empty()) {
                location.push('?');
                location.push_str(query);
            }
            (
                307,
                json!({ "error": "not the leader", "leader": leader, "leader_addr": addr }),
                Some(location),
            )
        }
        _ => error(
            503,
            "no leader known yet (election in progress); retry shortly",
        ),
    }
}

fn answer(key: &str, result: CommandResult) -> HttpAnswer {
    match result {
        CommandResult::Get { value } => {
            let status = if value.is_some() { 200 } else { 404 };
            (status, json!({ "key": key, "value": value }), None)
        }
        CommandResult::Put { prev } => (200, json!({ "key": key, "prev": prev }), None),
        CommandResult::Delete { prev } => (
            200,
            json!({ "key": key, "deleted": prev.is_some(), "prev": prev }),
            None,
        ),
        CommandResult::Cas { succeeded, current } => (
            if succeeded { 200 } else { 409 },
            json!({ "key": key, "succeeded": succeeded, "current": current }),
            None,
        ),
        CommandResult::Stale { seq, last_seq } => error(
            400,
            format!(
                "not applied: {SEQ_HEADER} {seq} is older than this client's last applied \
                 request ({last_seq}); use a new, higher seq for a new write"
            ),
        ),
    }
}
