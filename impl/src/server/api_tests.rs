//! The client API's HTTP behaviour on one in-process node: chunked bodies,
//! the body limit, keep-alive and shutdown. (Routes, redirects and error
//! answers on a real cluster: `tests/cluster.rs`.)

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client::KvClient;
use super::http::MAX_BODY;
use super::test_http::read_response;
use super::{run, ServerConfig, ServerError};
use crate::transport::ClusterSecret;

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
        let s = TcpStream::connect(&self.client_addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
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
    // Chunked: MAX_BODY bytes are taken, one more is not. (The crossing
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
