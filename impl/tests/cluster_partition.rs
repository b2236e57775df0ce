//! Network partitions of a real 3-node raftkv cluster: every peer link runs
//! through a fault-injecting proxy (`common::proxy`), so a test cuts one
//! node off from the others, both ways, under load, and heals it. No
//! acknowledged write may be lost, and a node cut off from the majority
//! must not acknowledge anything.
//!
//!     cargo test -p raftkv --test cluster_partition -- --nocapture

mod common;

use std::time::{Duration, Instant};

use raftkv::server::http::HttpClient;

use common::cluster::{Cluster, REQUEST_TIMEOUT};
use common::workload::{check_stale_reads_everywhere, Registers, Writers};

/// Wait long enough for bytes a proxy delivered just before a partition to
/// be processed, so the cut-off node's state is frozen afterwards.
const SETTLE: Duration = Duration::from_millis(300);
/// How long the follower stays cut off: several election timeouts.
const CUT_OFF_FOR: Duration = Duration::from_millis(2000);

/// A put sent to node `id` alone, redirects not followed: the HTTP status.
fn put_status_at(c: &Cluster, id: usize, key: &str) -> u16 {
    let mut http = HttpClient::new(c.clients[id - 1].clone(), REQUEST_TIMEOUT * 3);
    http.request(
        "PUT",
        &format!("/v1/kv/{key}"),
        br#"{"value":"from-the-minority"}"#,
    )
    .unwrap_or_else(|e| panic!("node {id} did not answer a put of {key}: {e}"))
    .status
}

#[test]
fn a_leader_cut_off_under_load_acknowledges_nothing_and_catches_up_after_healing() {
    let start = Instant::now();
    let c = Cluster::start(3);
    let old = c.leader();
    let writers = Writers::start(&c, 4);
    let registers = Registers::start(&c, 2, 8);
    writers.wait_progress(20, "before the partition");

    c.isolate(old);
    std::thread::sleep(SETTLE);
    let cut = c
        .status(old)
        .expect("the cut-off leader still serves status");
    // The old leader still believes it leads (there is no check-quorum),
    // so it takes writes into its log, but none commits: each answers 504
    // (outcome unknown), never 200. Meanwhile the majority elects a new
    // leader and keeps acknowledging writes.
    let probes: Vec<String> = (0..3).map(|i| format!("minority-{i}")).collect();
    let new = std::thread::scope(|s| {
        for key in &probes {
            let c = &c;
            s.spawn(move || {
                let status = put_status_at(c, old, key);
                assert_ne!(status, 200, "node {old}, cut off, acknowledged {key}");
                eprintln!("put {key} at cut-off node {old}: {status}");
            });
        }
        let new = c.leader_except(Some(old));
        writers.wait_progress(50, "majority side, with the old leader cut off");
        new
    });
    let during = c.status(old).unwrap();
    assert_eq!(
        during.commit_index, cut.commit_index,
        "node {old} committed while cut off: {cut:?} -> {during:?}"
    );

    c.heal_all();
    // It steps down to the new leader's term and catches up.
    c.wait_status(old, "step down after healing", |s| {
        s.role == "Follower" && s.term > cut.term
    });
    writers.wait_progress(20, "after healing");
    let acked = writers.stop();
    let history = registers.stop_and_check();
    let leader = c.leader();
    let commit = c.status(leader).unwrap().commit_index;
    c.wait_applied(commit);
    check_stale_reads_everywhere(&c, &acked);
    // The old leader's uncommitted entries were overwritten, not applied.
    for id in c.ids() {
        for key in &probes {
            let got = c.client_of(id).get(key, true).unwrap();
            assert_eq!(
                got, None,
                "node {id}: the cut-off leader's write {key} applied"
            );
        }
    }
    eprintln!(
        "leader {old} cut off, {new} elected; {} acknowledged writes readable at every node; \
         linearizable: {history}; {:.1} s",
        acked.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn a_follower_cut_off_under_load_catches_up_after_healing() {
    let start = Instant::now();
    let c = Cluster::start(3);
    let leader = c.leader();
    let follower = leader % c.size() + 1;
    let writers = Writers::start(&c, 4);
    let registers = Registers::start(&c, 2, 8);
    writers.wait_progress(20, "before the partition");

    c.isolate(follower);
    std::thread::sleep(SETTLE);
    let cut = c.status(follower).unwrap();
    // The other two are a majority: writes go on. Stay cut off for several
    // election timeouts, so the follower campaigns alone and comes back
    // with a higher term than the leader's.
    writers.wait_progress(100, "with a follower cut off");
    std::thread::sleep(CUT_OFF_FOR.saturating_sub(SETTLE));
    let during = c.status(follower).unwrap();
    assert_eq!(
        during.applied_index, cut.applied_index,
        "node {follower} applied entries while cut off"
    );
    let commit = c.status(c.leader()).unwrap().commit_index;
    assert!(commit > cut.applied_index);

    c.heal_all();
    // Its applied index reaches the commit index of the leader while it was cut off.
    c.wait_status(follower, "catch up after healing", |s| {
        s.applied_index >= commit
    });
    writers.wait_progress(20, "after healing");
    let acked = writers.stop();
    let history = registers.stop_and_check();
    let after = c.status(c.leader()).unwrap();
    c.wait_applied(after.commit_index);
    check_stale_reads_everywhere(&c, &acked);
    eprintln!(
        "follower {follower} cut off (its term {} -> {}), healed (leader {} in term {}); \
         {} acknowledged writes readable at every node; linearizable: {history}; {:.1} s",
        cut.term,
        during.term,
        after.id,
        after.term,
        acked.len(),
        start.elapsed().as_secs_f64()
    );
}

/// The proxy itself, against an echo server.
mod proxy {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use super::common::proxy::Proxy;

    /// A target that echoes every byte back.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let mut w = s;
                    let _ = std::io::copy(&mut r, &mut w);
                });
            }
        });
        addr
    }

    fn connect(p: &Proxy) -> TcpStream {
        let s = TcpStream::connect(p.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s
    }

    /// Send `msg` and read back as many bytes; `None` if nothing came back.
    fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Option<Vec<u8>> {
        s.write_all(msg).ok()?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).ok()?;
        Some(got)
    }

    #[test]
    fn bytes_pass_through_both_ways() {
        let p = Proxy::start(echo_server().to_string());
        let mut s = connect(&p);
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(round_trip(&mut s, b"hello").as_deref(), Some(&b"hello"[..]));
        assert_eq!(round_trip(&mut s, &big), Some(big));
    }

    #[test]
    fn a_partition_closes_live_connections_and_swallows_new_ones() {
        let p = Proxy::start(echo_server().to_string());
        let mut live = connect(&p);
        assert!(round_trip(&mut live, b"before").is_some());
        p.partition();
        assert!(p.is_partitioned());
        // The live connection is closed: EOF or an error, never an echo.
        assert_eq!(round_trip(&mut live, b"during"), None);
        // A new connection is accepted, but nothing comes back.
        let mut fresh = connect(&p);
        assert_eq!(round_trip(&mut fresh, b"during"), None);
    }

    #[test]
    fn after_heal_traffic_flows_again() {
        let p = Proxy::start(echo_server().to_string());
        p.partition();
        let mut held = connect(&p);
        assert_eq!(round_trip(&mut held, b"lost"), None);
        p.heal();
        // The black-holed connection is closed, so its dialer reconnects...
        let mut buf = [0u8; 1];
        held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(matches!(held.read(&mut buf), Ok(0) | Err(_)));
        // ... and the new connection is forwarded.
        let mut s = connect(&p);
        assert_eq!(round_trip(&mut s, b"after").as_deref(), Some(&b"after"[..]));
    }

    #[test]
    fn a_delay_holds_each_chunk() {
        let p = Proxy::start(echo_server().to_string());
        let mut s = connect(&p);
        assert!(round_trip(&mut s, b"warm").is_some());
        p.set_delay(Duration::from_millis(150));
        let start = Instant::now();
        assert!(round_trip(&mut s, b"slow").is_some());
        // Held once on the way there and once on the way back.
        assert!(start.elapsed() >= Duration::from_millis(300));
        p.set_delay(Duration::ZERO);
        let start = Instant::now();
        assert!(round_trip(&mut s, b"fast").is_some());
        assert!(start.elapsed() < Duration::from_millis(150));
    }
}
