//! The peer port against strangers, from real loopback sockets: memory a
//! length prefix can pin (measured in this process, which runs nothing
//! else heavy), a real node that ignores a stranger's forged vote, and
//! `raftkv serve`'s refusal to start without a cluster secret. The attacks
//! on a transport's handshake are unit tests in
//! `impl/src/transport/attack_tests.rs`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use raft_core::{Message, MessageBody, RequestVote};
use raftkv::transport::auth::{dial_handshake, Session};
use raftkv::transport::{ClusterSecret, Transport, TransportConfig, FRAME_VERSION, SECRET_ENV};

fn secret() -> ClusterSecret {
    ClusterSecret::new(b"the integration tests' secret", "test").unwrap()
}

/// This process's resident set, from /proc/self/status.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Wait for the node to close `s` (EOF or reset).
fn closed_by_node(mut s: &TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("connection not closed: {e}"),
    }
}

/// A 64 MiB length prefix and a frame header.
fn huge_claim(kind: u8) -> Vec<u8> {
    [&(64u32 << 20).to_be_bytes()[..], &[FRAME_VERSION, kind]].concat()
}

/// 8 strangers and 8 authenticated connections each claim a 64 MiB frame
/// and send (almost) nothing: the node's buffers hold about what arrived.
/// Before buffers grew with the data, this was 8 x 64 MiB of RSS.
#[test]
fn huge_length_prefixes_pin_no_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = TransportConfig::new(2, vec![(1, "127.0.0.1:1".into())], secret());
    let node = Transport::start(cfg, listener, |_| {}).unwrap();
    let before = rss_bytes();

    // Strangers: a Hello "of 64 MiB" is over the handshake limit.
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&huge_claim(1)).unwrap();
        closed_by_node(&s);
    }
    // Authenticated (as node 1): a message "of 64 MiB", then 1 KiB of it.
    let held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            dial_handshake(&s, 1, 2, None, &secret(), Duration::from_secs(20)).unwrap();
            s.write_all(&huge_claim(2)).unwrap();
            s.write_all(&[0u8; 1024]).unwrap();
            s
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = node.inbound();
        // Each connection's read buffer (64 KiB) and its first kilobyte.
        if st.authenticated == 8 && st.buffered_bytes >= 8 * (64 << 10) + 8 * 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "connections not read: {st:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200)); // let every reader block
    let st = node.inbound();
    let grown = rss_bytes().saturating_sub(before);
    eprintln!(
        "8 x 64 MiB claimed: node buffers {} KiB, RSS grew {} KiB",
        st.buffered_bytes >> 10,
        grown >> 10
    );
    assert!(st.buffered_bytes < 8 << 20, "{st:?}");
    assert!(grown < 100 << 20, "RSS grew by {grown} bytes");
    drop(held);
}

/// A stranger that does not know the secret tries to make a real node's
/// leader step down with a RequestVote of a huge term, posing as a peer:
/// the node's term does not move, and the cluster keeps replicating.
#[test]
fn a_real_node_ignores_a_strangers_forged_vote() {
    let c = Cluster::start(3);
    let leader = c.leader();
    let term = c.status(leader).unwrap().term;
    let claimed = leader % 3 + 1;
    let forged = Message {
        from: claimed as u64,
        to: leader as u64,
        body: MessageBody::RequestVote(RequestVote {
            term: 1_000_000,
            candidate_id: claimed as u64,
            last_log_index: u64::MAX / 2,
            last_log_term: 1_000_000,
        }),
    };
    let guess = ClusterSecret::new(b"not this cluster's secret", "test").unwrap();
    let addr = &c.peer_addrs[leader - 1];
    // With a guessed secret the handshake fails...
    let s = TcpStream::connect(addr).unwrap();
    let e = dial_handshake(
        &s,
        claimed as u64,
        leader as u64,
        None,
        &guess,
        Duration::from_secs(20),
    )
    .unwrap_err();
    assert!(e.to_string().contains("rejected"), "{e}");
    // ...and a message sent anyway, or without any handshake, is dropped.
    let mut frame = Vec::new();
    Session::new(&guess, b"no transcript").encode_message(&mut frame, &forged);
    let _ = (&s).write_all(&frame);
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(&frame);
    closed_by_node(&s);

    let mut client = c.client();
    client.put("after", "the stranger").unwrap();
    c.wait_applied(c.status(leader).unwrap().commit_index);
    let now = c.status(leader).unwrap();
    // (A real election may still raise it by one or two on a busy machine.)
    assert!(now.term < 1_000_000, "{now:?}, was term {term}");
    assert!(
        c.log_text(leader).contains("peer authentication failed"),
        "{}",
        c.log_text(leader)
    );
}

fn serve(args: &[&str], env: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftkv"));
    cmd.args(["serve", "--id", "1", "--peers", "1=127.0.0.1:1"])
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .args(["--client-addr", "127.0.0.1:1"])
        .args(args)
        .env_remove(SECRET_ENV);
    if let Some(v) = env {
        cmd.env(SECRET_ENV, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn serve_refuses_to_start_without_a_usable_secret() {
    let (ok, err) = serve(&[], None);
    assert!(!ok);
    assert!(
        err.contains("no cluster secret") && err.contains("--cluster-secret-file"),
        "{err}"
    );
    assert!(err.contains(SECRET_ENV), "{err}");
    let (ok, err) = serve(&[], Some("short"));
    assert!(!ok && err.contains("at least 16"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    ClusterSecret::create_file(&path).unwrap();
    let p = path.to_str().unwrap();
    let (ok, err) = serve(&["--cluster-secret-file", p], Some("sixteen bytes or more"));
    assert!(!ok && err.contains("one way"), "{err}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, err) = serve(&["--cluster-secret-file", p], None);
    assert!(!ok && err.contains("chmod 600"), "{err}");
}
