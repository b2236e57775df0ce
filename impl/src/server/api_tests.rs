//! The client API's HTTP behaviour on one in-process node: chunked bodies,
//! the body limit, keep-alive and shutdown. (Routes, redirects and error
//! answers on a real cluster: `tests/cluster.rs`.)

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::api::ClientApi;
use super::client::KvClient;
use super::http::MAX_BODY;
use super::test_http::read_response;
use super::{run, Event, ServerConfig, ServerError, Shared, Status};
use crate::kv::KvStore;
use crate::transport::{ClusterSecret, Transport, TransportConfig};

/// A port that was free a moment ago (below Linux's ephemeral range, so no
/// outbound connection takes it meanwhile).
fn free_addr() -> String {
    loop {
        let port = fastrand::u16(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return format!("127.0.0.1:{port}");
        }
    }
}

struct Node {
    client_addr: String,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A single-node cluster, once it leads.
    fn start() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let client_addr = free_addr();
        let cfg = ServerConfig {
            id: 1,
            peers: vec![(1, free_addr())],
            data_dir: dir.path().to_path_buf(),
            client_addr: client_addr.clone(),
            election_timeout: Duration::from_millis(50),
            heartbeat: Duration::from_millis(10),
            request_timeout: Duration::from_secs(5),
            trace_file: None,
            cluster_secret: ClusterSecret::new(&[7; 32], "the test").unwrap(),
        };
        let shutdown = Arc::new(AtomicBool::new(false));
        let thread = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || run(cfg, shutdown))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match KvClient::status_of(&client_addr, Duration::from_secs(1)) {
                Ok(s) if s.role == "Leader" => break,
                r => assert!(Instant::now() < deadline, "no leader: {r:?}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Node {
            client_addr,
            shutdown,
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn connect(&self) -> TcpStream {
        connect(&self.client_addr)
    }

    /// Set the shutdown flag and wait for `run` to return.
    fn stop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }
}

/// The client API alone, on a `Shared` the test holds (no Raft loop: the
/// returned receiver is its event queue).
fn api_only(header_read_timeout: Duration) -> (String, Arc<Shared>, ClientApi, Receiver<Event>) {
    let secret = ClusterSecret::new(&[7; 32], "the test").unwrap();
    let peer_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let transport = Transport::start(
        TransportConfig::new(1, vec![], secret),
        peer_listener,
        |_| {},
    )
    .unwrap();
    let (events, rx) = std::sync::mpsc::sync_channel(16);
    let shared = Arc::new(Shared {
        events,
        kv: Mutex::new(KvStore::default()),
        status: Mutex::new(Status {
            id: 1,
            role: "Leader".into(),
            ..Status::default()
        }),
        transport: Arc::new(transport),
        request_timeout: Duration::from_secs(5),
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let api = ClientApi::start(listener, shared.clone(), header_read_timeout).unwrap();
    (addr, shared, api, rx)
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn body_json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

#[test]
fn a_chunked_put_is_applied() {
    let node = Node::start();
    let mut s = node.connect();
    let body = br#"{"value": "sent in chunks"}"#;
    let mut req =
        b"PUT /v1/kv/chunky HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in body.chunks(10) {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).unwrap();
    let (status, _, answer) = read_response(&mut BufReader::new(&s)).expect("an answer");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(body_json(&answer)["key"], "chunky");
    let mut client = KvClient::new(vec![node.client_addr.clone()]);
    assert_eq!(
        client.get("chunky", false).unwrap().as_deref(),
        Some("sent in chunks")
    );
}

#[test]
fn bodies_over_the_limit_get_413_and_bad_chunks_400() {
    let node = Node::start();
    // Declared too large: refused before any of it is sent.
    let mut s = node.connect();
    let head = format!(
        "PUT /v1/kv/k HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    s.write_all(head.as_bytes()).unwrap();
    let (status, headers, answer) = read_response(&mut BufReader::new(&s)).unwrap();
    assert_eq!(status, 413);
    assert!(
        headers.contains(&("connection".into(), "close".into())),
        "{headers:?}"
    );
    let msg = body_json(&answer)["error"].as_str().unwrap().to_string();
    assert!(msg.contains(&format!("{} bytes", MAX_BODY + 1)), "{msg}");
    // Chunked: one byte over MAX_BODY is refused (exactly MAX_BODY is
    // taken: see the test after this one). (The crossing
    // chunk is the last thing sent, so the server reads every byte before
    // it closes: nothing unread turns its close into a reset.)
    let mut s = node.connect();
    s.write_all(b"PUT /v1/kv/k HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = vec![b'x'; 64 << 10];
    for _ in 0..MAX_BODY / chunk.len() {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .unwrap();
        s.write_all(&chunk).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    s.write_all(b"1\r\nx\r\n").unwrap();
    let (status, _, answer) = read_response(&mut BufReader::new(&s)).unwrap();
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    assert!(body_json(&answer)["error"]
        .as_str()
        .unwrap()
        .contains("limit"));
    // A broken chunk size.
    let mut s = node.connect();
    s.write_all(b"PUT /v1/kv/k HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        .unwrap();
    let (status, _, answer) = read_response(&mut BufReader::new(&s)).unwrap();
    assert_eq!(status, 400);
    let msg = body_json(&answer)["error"].as_str().unwrap().to_string();
    assert!(msg.contains("malformed request"), "{msg}");
}

#[test]
fn a_connection_is_kept_alive_until_the_client_closes_it() {
    let node = Node::start();
    let mut s = node.connect();
    let status = b"GET /v1/status HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..3 {
        s.write_all(status).unwrap();
        let (code, headers, _) = read_response(&mut r).unwrap();
        assert_eq!(code, 200);
        assert!(
            !headers.iter().any(|(n, _)| n == "connection"),
            "{headers:?}"
        );
    }
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).unwrap().0, 200);
    assert_eq!(r.read(&mut [0; 1]).unwrap(), 0, "closed after the answer");
}

#[test]
fn shutdown_closes_kept_alive_connections_and_the_listener() {
    let mut node = Node::start();
    let mut s = node.connect();
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r).unwrap().0, 200);
    node.stop();
    assert_eq!(
        r.read(&mut [0; 1]).unwrap(),
        0,
        "the idle connection is closed"
    );
    let err = TcpStream::connect(&node.client_addr).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_body_of_exactly_the_limit_is_accepted_with_a_length_or_chunked() {
    let node = Node::start();
    let prefix = br#"{"value": ""#;
    let suffix = br#""}"#;
    let value = "v".repeat(MAX_BODY - prefix.len() - suffix.len());
    let body = [&prefix[..], value.as_bytes(), suffix].concat();
    assert_eq!(body.len(), MAX_BODY);
    let mut s = node.connect();
    let head = format!("PUT /v1/kv/big HTTP/1.1\r\nHost: t\r\nContent-Length: {MAX_BODY}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let (status, _, answer) = read_response(&mut r).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    // The same body chunked, on the same (kept-alive) connection.
    s.write_all(b"PUT /v1/kv/big2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for part in body.chunks(64 << 10) {
        s.write_all(format!("{:x}\r\n", part.len()).as_bytes())
            .unwrap();
        s.write_all(part).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    let (status, _, answer) = read_response(&mut r).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let mut client = KvClient::new(vec![node.client_addr.clone()]);
    for key in ["big", "big2"] {
        assert_eq!(client.get(key, false).unwrap().as_deref(), Some(&*value));
    }
}

#[test]
fn a_stale_read_waiting_for_the_kv_lock_does_not_stall_other_connections() {
    let (addr, shared, api, _events) = api_only(Duration::from_secs(30));
    // The Raft loop applying an entry, for as long as the test likes.
    let applying = shared.kv.lock().unwrap();
    let mut reader = connect(&addr);
    reader
        .write_all(b"GET /v1/kv/k?stale=true HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Let the runtime reach the stale read (and the held lock) first.
    std::thread::sleep(Duration::from_millis(200));
    let mut other = connect(&addr);
    other
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let answer = read_response(&mut BufReader::new(&other));
    assert_eq!(answer.map(|a| a.0), Some(200), "status answered meanwhile");
    drop(applying);
    let (status, _, answer) = read_response(&mut BufReader::new(&reader)).unwrap();
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(body_json(&answer)["applied_index"], 0);
    api.shutdown();
}

#[test]
fn a_connection_that_sends_half_a_head_is_closed_after_the_header_timeout() {
    let (addr, _shared, api, _events) = api_only(Duration::from_millis(300));
    let mut s = connect(&addr);
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHo").unwrap();
    let mut got = Vec::new();
    // Without the timeout this read gives up after 10 s (WouldBlock).
    s.read_to_end(&mut got)
        .expect("the server closes the connection");
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // A complete head in time is still answered.
    let mut s = connect(&addr);
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut BufReader::new(&s)).unwrap().0, 200);
    api.shutdown();
}
