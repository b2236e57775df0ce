//! Real processes on 127.0.0.1: a 3-node raftkv cluster built from the
//! `raftkv` binary (see `common::cluster`), killed with SIGKILL and
//! restarted under load. Every acknowledged write must stay readable after
//! every fault. Also: a damaged or wiped WAL is refused, and so is a second
//! process on a data directory in use. Partitions are in
//! `cluster_partition.rs`.
//!
//! The kill -9 rounds alternate between the leader and a follower.
//! `RAFTKV_KILL_ROUNDS=N` sets the rounds of the default test (4); the
//! ignored `soak_kill9_rounds` runs 100:
//!
//!     cargo test -p raftkv --test cluster soak -- --ignored --nocapture

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{free_port, wait_until, Cluster};
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
    let mut http = raftkv::server::http::HttpClient::new(
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
    let mut http = raftkv::server::http::HttpClient::new(
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
    assert!(!wait_exit(&mut c, 3, "a corrupt WAL").success());
    let log = c.log_text(3);
    assert!(log.contains(&wal.display().to_string()), "{log}");
    assert!(
        log.contains("WAL corruption") && log.contains("byte offset"),
        "{log}"
    );
    // The other two still serve.
    client.put("after", "corruption").unwrap();
}

/// Wait for node `id`, just spawned on a data directory it must refuse, to
/// exit; panic if it keeps running.
fn wait_exit(c: &mut Cluster, id: usize, what: &str) -> ExitStatus {
    let child = c.child_mut(id).unwrap();
    let mut exit = None;
    wait_until(
        Duration::from_secs(20),
        || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        },
        || format!("node {id} started on {what}"),
    );
    exit.unwrap()
}

/// A node that forgot its vote could vote twice in one term: a wiped
/// `wal.log` is refused, and only an explicit `raftkv reset-data` lets the
/// node start over (and catch up, from the next leader).
#[test]
fn a_wiped_wal_is_refused_until_reset_data() {
    let mut c = Cluster::start(3);
    c.leader();
    let mut client = c.client();
    for i in 0..20 {
        client.put(&format!("k{i}"), "v").unwrap();
    }
    c.wait_status(3, "apply the 20 writes", |s| s.applied_index >= 20);
    c.kill9(3);
    let wal = c.wal_path(3);
    std::fs::write(&wal, b"").unwrap();
    c.spawn_node(3);
    assert!(!wait_exit(&mut c, 3, "a wiped WAL").success());
    let log = c.log_text(3);
    assert!(log.contains(&wal.display().to_string()), "{log}");
    assert!(log.contains("reset-data"), "{log}");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "left as found");

    let reset = Command::new(env!("CARGO_BIN_EXE_raftkv"))
        .arg("reset-data")
        .arg(wal.parent().unwrap())
        .output()
        .unwrap();
    assert!(reset.status.success(), "{reset:?}");
    c.start_node(3);
    let leader = c.leader();
    c.wait_status(3, "follow the leader", |s| s.leader == Some(leader as u64));
    // Committed on the leader and node 2 alone: node 3 cannot take appends
    // from this leader, which still counts it as holding what it acked
    // before the reset (a leader never lowers a follower's match index).
    client.put("after", "reset").unwrap();
    // A new leader tracks node 3 from scratch and brings it up to date.
    c.kill9(leader);
    let leader = c.leader_except(Some(leader));
    // Read through the new leader's log: it has then applied "after".
    assert_eq!(
        client.get("after", false).unwrap().as_deref(),
        Some("reset")
    );
    let applied = c.status(leader).unwrap().applied_index;
    c.wait_status(3, "catch up after the reset", |s| {
        s.applied_index >= applied
    });
    assert_eq!(
        c.client_of(3).get("after", true).unwrap().as_deref(),
        Some("reset")
    );
}

/// Two processes on one data directory would interleave their WALs: the
/// second refuses, naming the directory and the first one's pid.
#[test]
fn a_second_serve_on_a_data_dir_in_use_is_refused() {
    let c = Cluster::start(1);
    c.leader();
    let first_pid = c.status(1).unwrap().pid;
    let data_dir = c.wal_path(1).parent().unwrap().to_path_buf();
    let mut second = Command::new(env!("CARGO_BIN_EXE_raftkv"))
        .arg("serve")
        .args(["--id", "1", "--peers"])
        .arg(format!("1=127.0.0.1:{}", free_port()))
        .arg("--client-addr")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--cluster-secret-file")
        .arg(c.secret_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waited = Instant::now();
    let exit = loop {
        if let Some(exit) = second.try_wait().unwrap() {
            break Some(exit);
        }
        if waited.elapsed() > Duration::from_secs(20) {
            let _ = second.kill();
            let _ = second.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let exit = exit.unwrap_or_else(|| panic!("a second serve runs on {}", data_dir.display()));
    assert!(!exit.success());
    let mut stderr = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains(&data_dir.display().to_string()), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(stderr.contains(&format!("pid {first_pid}")), "{stderr}");
    // The first is untouched and still serves.
    c.client().put("still", "serving").unwrap();
    assert_eq!(c.status(1).unwrap().pid, first_pid);
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
