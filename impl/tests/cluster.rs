//! Real processes on 127.0.0.1: a 3-node raftkv cluster built from the
//! `raftkv` binary (see `common::cluster`), killed with SIGKILL and
//! restarted under load. Every acknowledged write must stay readable after
//! every fault. Partitions are in `cluster_partition.rs`.
//!
//! The kill -9 rounds alternate between the leader and a follower.
//! `RAFTKV_KILL_ROUNDS=N` sets the rounds of the default test (4); the
//! ignored `soak_kill9_rounds` runs 100:
//!
//!     cargo test -p raft-impl --test cluster soak -- --ignored --nocapture

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::cluster::{wait_until, Cluster};
use common::workload::{check_all_acked, check_stale_reads_everywhere, Registers, Writers};

/// Kill -9 a node `rounds` times under 4 writers and 2 register clients,
/// the leader in odd rounds and a follower in even ones, restarting it each
/// time; then every acknowledged write reads back through the log and
/// locally at every node, and the register history is linearizable.
fn kill9_rounds(rounds: usize) {
    let start = Instant::now();
    let mut c = Cluster::start(3);
    c.leader();
    let writers = Writers::start(&c, 4);
    let registers = Registers::start(&c, 2, 8);
    for round in 1..=rounds {
        std::thread::sleep(Duration::from_millis(300));
        let leader = c.leader();
        let (victim, role) = match round % 2 {
            1 => (leader, "leader"),
            _ => (leader % c.size() + 1, "follower"),
        };
        c.kill9(victim);
        // The others (electing a new leader if needed) keep taking writes.
        writers.wait_progress(10, &format!("round {round}: after killing {role} {victim}"));
        c.start_node(victim);
        // Spot-check acknowledged writes after each fault.
        check_all_acked(&c, &writers.sample(50));
        eprintln!(
            "round {round}: killed {role} {victim}, {} writes acknowledged",
            writers.acked_count()
        );
    }
    let acked = writers.stop();
    let history = registers.stop_and_check();
    assert!(acked.len() > rounds * 10);
    check_all_acked(&c, &acked);
    // Every node catches up, applies the same log and serves every
    // acknowledged value locally.
    c.wait_converged();
    check_stale_reads_everywhere(&c, &acked);
    eprintln!(
        "{rounds} kill -9 rounds, {} acknowledged writes, 0 lost; linearizable: {history}; {:.1} s",
        acked.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn kill9_leaders_and_followers_under_load_and_lose_no_acknowledged_write() {
    let rounds = std::env::var("RAFTKV_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    kill9_rounds(rounds);
}

#[test]
#[ignore = "soak: 100 kill -9 rounds (minutes); run with --ignored"]
fn soak_kill9_rounds() {
    kill9_rounds(100);
}

#[test]
fn api_semantics_and_redirects() {
    let c = Cluster::start(3);
    let leader = c.leader();
    let follower = if leader == 1 { 2 } else { 1 };
    let mut client = c.client();
    client.put("a", "1").unwrap();
    assert_eq!(client.get("a", false).unwrap().as_deref(), Some("1"));
    assert!(!client.cas("a", Some("2"), Some("3")).unwrap().0);
    assert!(client.cas("a", Some("1"), Some("3")).unwrap().0);
    assert_eq!(client.get("a", false).unwrap().as_deref(), Some("3"));
    client.delete("a").unwrap();
    assert_eq!(client.get("a", false).unwrap(), None);
    // A follower redirects with 307 and the leader's address.
    let mut http = raft_impl::server::http::HttpClient::new(
        c.clients[follower - 1].clone(),
        Duration::from_secs(5),
    );
    let r = http
        .request("PUT", "/v1/kv/x", br#"{"value":"y"}"#)
        .unwrap();
    assert_eq!(r.status, 307, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.location.as_deref(),
        Some(format!("http://{}/v1/kv/x", c.clients[leader - 1]).as_str())
    );
    // Bad requests get a 4xx with a message.
    let mut http = raft_impl::server::http::HttpClient::new(
        c.clients[leader - 1].clone(),
        Duration::from_secs(5),
    );
    for (method, path, body, want) in [
        ("PUT", "/v1/kv/x", &b"not json"[..], 400),
        ("PUT", "/v1/kv/x", &br#"{"value": 5}"#[..], 400),
        ("PUT", "/v1/kv/", &br#"{"value": "v"}"#[..], 400),
        ("GET", "/nope", &b""[..], 404),
        ("PATCH", "/v1/kv/x", &b""[..], 405),
        ("GET", "/v1/kv/x?stale=maybe", &b""[..], 400),
        ("GET", "/v1/kv/x?stale=1", &b""[..], 400),
    ] {
        let r = http.request(method, path, body).unwrap();
        assert_eq!(r.status, want, "{method} {path}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    // The accepted ?stale= values: "x" was never written, so 404 either way.
    for (query, stale) in [
        ("?stale=true", true),
        ("?stale", true),
        ("?stale=false", false),
    ] {
        let r = http
            .request("GET", &format!("/v1/kv/x{query}"), b"")
            .unwrap();
        assert_eq!(r.status, 404, "{query}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["stale"].as_bool().unwrap_or(false), stale, "{query}: {v}");
    }
    let mut s = TcpStream::connect(&c.clients[leader - 1]).unwrap();
    s.write_all(b"garbage\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}

#[test]
fn a_corrupted_wal_is_refused_with_file_and_offset() {
    let mut c = Cluster::start(3);
    c.leader();
    let mut client = c.client();
    for i in 0..100 {
        client.put(&format!("k{i}"), &"x".repeat(100)).unwrap();
    }
    // Wait until node 3 has the writes, then kill it and damage its WAL.
    c.wait_status(3, "apply the 100 writes", |s| s.applied_index >= 100);
    c.kill9(3);
    let wal = c.wal_path(3);
    let mut bytes = std::fs::read(&wal).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&wal, &bytes).unwrap();
    c.spawn_node(3);
    let child = c.child_mut(3).unwrap();
    let mut exit = None;
    wait_until(
        Duration::from_secs(20),
        || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        },
        || "node 3 started on a corrupt WAL".into(),
    );
    assert!(!exit.unwrap().success());
    let log = c.log_text(3);
    assert!(log.contains(&wal.display().to_string()), "{log}");
    assert!(
        log.contains("WAL corruption") && log.contains("byte offset"),
        "{log}"
    );
    // The other two still serve.
    client.put("after", "corruption").unwrap();
}

#[test]
fn a_garbage_peer_frame_is_logged_and_the_node_keeps_serving() {
    let c = Cluster::start(3);
    c.leader();
    for id in 1..=3 {
        let mut s = TcpStream::connect(&c.peer_addrs[id - 1]).unwrap();
        s.write_all(b"\x00\x00\x00\x10this is not a raft frame")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 8];
        assert!(
            matches!(s.read(&mut buf), Ok(0) | Err(_)),
            "connection left open"
        );
    }
    let mut client = c.client();
    client.put("still", "alive").unwrap();
    assert_eq!(
        client.get("still", false).unwrap().as_deref(),
        Some("alive")
    );
    wait_until(
        Duration::from_secs(10),
        || (1..=3).all(|i| c.log_text(i).contains("closing inbound peer connection")),
        || "no logged frame error".into(),
    );
    assert!(c.log_text(1).contains("frame version"), "{}", c.log_text(1));
}
