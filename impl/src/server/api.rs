//! The client API: HTTP/1.1 + JSON on the client address. Followers
//! redirect writes and linearizable reads to the leader; the leader turns
//! each request into a command for the Raft loop and answers once it is
//! committed and applied.

use std::io::{BufReader, BufWriter};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::{http, Event, ProposeFailure, Shared, CLIENT_ID_HEADER, SEQ_HEADER};
use crate::kv::{ClientId, Command, CommandResult};
use raft_core::NodeId;

pub(super) fn client_accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let shared = shared.clone();
                let _ = std::thread::Builder::new()
                    .name("client".into())
                    .spawn(move || serve_client(s, shared));
            }
            Err(e) => {
                tracing::warn!("client accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn serve_client(stream: TcpStream, shared: Arc<Shared>) {
    let peer: Option<SocketAddr> = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut w = BufWriter::new(write_half);
    let mut r = BufReader::new(stream);
    loop {
        let req = match http::read_request(&mut r) {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(http::HttpError::Io(_)) => return,
            Err(e) => {
                tracing::debug!(?peer, "bad client request: {e}");
                let status = if matches!(e, http::HttpError::TooLarge(_)) {
                    413
                } else {
                    400
                };
                let body = json!({ "error": e.to_string() }).to_string();
                let _ = http::write_response(&mut w, status, body.as_bytes(), None, false);
                return;
            }
        };
        let (status, body, location) = handle(&shared, &req);
        if http::write_response(
            &mut w,
            status,
            body.to_string().as_bytes(),
            location.as_deref(),
            req.keep_alive,
        )
        .is_err()
            || !req.keep_alive
        {
            return;
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

/// The (client, seq) session of a write, from its headers (both or none).
fn session_of(req: &http::Request) -> Result<Option<(ClientId, u64)>, HttpAnswer> {
    let parse = |name: &str| -> Result<Option<u64>, HttpAnswer> {
        match req.header(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
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

fn handle(shared: &Shared, req: &http::Request) -> HttpAnswer {
    let path = req.path.as_str();
    if path == "/v1/status" {
        if req.method != "GET" {
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
    let Some(key) = http::percent_decode(raw_key) else {
        return error(400, "the key is not valid percent-encoded UTF-8");
    };
    if key.is_empty() {
        return error(400, format!("missing key; {USAGE}"));
    }
    if key.len() > 4096 {
        return error(400, "keys are limited to 4096 bytes");
    }
    let body_json = || -> Result<serde_json::Value, HttpAnswer> {
        serde_json::from_slice(&req.body)
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
            let stale = match req.query_param("stale") {
                None | Some("false") => false,
                Some("true") => true,
                Some(v) => return error(400, format!("?stale= must be true or false, not {v:?}")),
            };
            if stale {
                let kv = shared.kv.lock().expect("kv lock");
                let value = kv.get(&key).cloned();
                let status = if value.is_some() { 200 } else { 404 };
                return (
                    status,
                    json!({ "key": key, "value": value, "applied_index": kv.applied(), "stale": true }),
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
    let (tx, rx) = mpsc::sync_channel(1);
    if shared
        .events
        .send(Event::Propose {
            payload: Bytes::from(cmd.encode()),
            reply: tx,
        })
        .is_err()
    {
        return error(503, "the node is shutting down");
    }
    match rx.recv_timeout(shared.request_timeout) {
        Ok(Ok(result)) => answer(&key, result),
        Ok(Err(ProposeFailure::NotLeader { leader })) => {
            let addr = leader.and_then(|l| shared.transport.client_addr(l));
            redirect(leader, addr, req)
        }
        Ok(Err(ProposeFailure::Superseded)) => error(
            503,
            "leadership changed before the command committed; it was not applied, retry",
        ),
        Err(RecvTimeoutError::Timeout) => error(
            504,
            "not committed within the request timeout (no quorum?); the outcome is unknown",
        ),
        // This node proposed again at the same index in a later term: the
        // first entry left its log but may still be committed by a future
        // leader that has it, so "not applied" would be wrong.
        Err(RecvTimeoutError::Disconnected) => error(
            504,
            "leadership changed while the command was in flight; the outcome is unknown",
        ),
    }
}

fn redirect(leader: Option<NodeId>, addr: Option<String>, req: &http::Request) -> HttpAnswer {
    match (leader, addr) {
        (Some(leader), Some(addr)) => {
            let mut location = format!("http://{addr}{}", req.path);
            if !req.query.is_empty() {
                location.push('?');
                location.push_str(&req.query);
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
