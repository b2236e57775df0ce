use super::auth::{dial_handshake, Session};
use super::frame::{begin_frame, read_frame, FrameBuf};
use super::*;
use bytes::Bytes;
use raft_core::{AppendEntries, Entry, EntryKind, MessageBody, RequestVote};
use std::io::Read;
use std::time::Instant;

/// The secret the unit tests' nodes share.
pub(super) fn secret() -> ClusterSecret {
    ClusterSecret::new(b"the unit tests' cluster secret", "test").unwrap()
}

pub(super) fn rv(from: NodeId, to: NodeId, term: u64) -> Message {
    Message {
        from,
        to,
        body: MessageBody::RequestVote(RequestVote {
            term,
            candidate_id: from,
            last_log_index: 0,
            last_log_term: 0,
        }),
    }
}

pub(super) fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A node that forwards what it receives into a channel.
pub(super) fn node(
    id: NodeId,
    l: TcpListener,
    peers: Vec<(NodeId, String)>,
) -> (Transport, Receiver<Message>) {
    node_with(TransportConfig::new(id, peers, secret()), l)
}

/// As [`node`], run as `cfg` says.
pub(super) fn node_with(
    mut cfg: TransportConfig,
    l: TcpListener,
) -> (Transport, Receiver<Message>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let id = cfg.id;
    cfg.client_addr = Some(format!("client-of-{id}"));
    let t = Transport::start(cfg, l, move |m| {
        let _ = tx.lock().unwrap().send(m);
    })
    .unwrap();
    (t, rx)
}

/// Keep sending until one arrives (the peer may still be connecting).
pub(super) fn send_until_received(t: &Transport, rx: &Receiver<Message>, msg: Message) -> Message {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        t.send(msg.clone());
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
            return m;
        }
        assert!(Instant::now() < deadline, "message never delivered");
    }
}

#[test]
fn two_nodes_exchange_messages_and_learn_client_addresses() {
    let (l1, l2) = (listener(), listener());
    let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
    let (t1, rx1) = node(1, l1, vec![(2, a2.to_string())]);
    let (t2, rx2) = node(2, l2, vec![(1, a1.to_string())]);
    assert_eq!(send_until_received(&t1, &rx2, rv(1, 2, 7)), rv(1, 2, 7));
    assert_eq!(send_until_received(&t2, &rx1, rv(2, 1, 8)), rv(2, 1, 8));
    assert_eq!(t2.client_addr(1).as_deref(), Some("client-of-1"));
    // In-order delivery of a burst.
    for term in 100..1100 {
        assert!(t1.send(rv(1, 2, term)));
    }
    let mut got = Vec::new();
    while got.len() < 1000 {
        let m = rx2.recv_timeout(Duration::from_secs(10)).unwrap();
        if m.body.term() >= 100 {
            got.push(m.body.term());
        }
    }
    assert_eq!(got, (100..1100).collect::<Vec<_>>());
}

#[test]
fn reconnects_to_a_peer_that_starts_late_or_restarts() {
    let l2 = listener();
    let a2 = l2.local_addr().unwrap();
    drop(l2); // nobody listening yet
    let (t1, _rx1) = node(1, listener(), vec![(2, a2.to_string())]);
    std::thread::sleep(Duration::from_millis(100));
    let l2 = TcpListener::bind(a2).unwrap();
    let (_t2, rx2) = node(2, l2, vec![(1, "127.0.0.1:1".into())]);
    assert_eq!(send_until_received(&t1, &rx2, rv(1, 2, 1)), rv(1, 2, 1));
}

/// A follower writes to another follower only when it votes for it: its
/// connection may have been idle since that peer was killed and restarted.
/// The first message after the restart must arrive, not vanish into the
/// dead connection (which made elections after a leader kill fail twice).
#[test]
fn the_first_message_after_a_peer_restarts_is_delivered() {
    let l2 = listener();
    let a2 = l2.local_addr().unwrap();
    let (t1, _rx1) = node(1, listener(), vec![(2, a2.to_string())]);
    // Peer 2 accepts node 1's connection, then dies (its socket closes).
    let (conn, _) = l2.accept().unwrap();
    drop(conn);
    drop(l2);
    // It restarts on the same address while node 1 sends nothing.
    std::thread::sleep(Duration::from_millis(50));
    let l2 = TcpListener::bind(a2).unwrap();
    let (_t2, rx2) = node(2, l2, vec![(1, "127.0.0.1:1".into())]);
    std::thread::sleep(Duration::from_millis(500));
    // One message, sent once.
    assert!(t1.send(rv(1, 2, 9)));
    let got = rx2
        .recv_timeout(Duration::from_secs(5))
        .expect("the first message after the restart was lost");
    assert_eq!(got, rv(1, 2, 9));
}

#[test]
fn a_dead_peer_never_blocks_the_others() {
    let dead = listener();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let l3 = listener();
    let a3 = l3.local_addr().unwrap();
    let mut cfg = TransportConfig::new(
        1,
        vec![(2, dead_addr.to_string()), (3, a3.to_string())],
        secret(),
    );
    cfg.queue_capacity = 16;
    let t1 = Transport::start(cfg, listener(), |_| {}).unwrap();
    let (_t3, rx3) = node(3, l3, vec![(1, "127.0.0.1:1".into())]);
    send_until_received(&t1, &rx3, rv(1, 3, 1));
    let mut dropped = 0;
    for term in 0..10_000 {
        if !t1.send(rv(1, 2, term)) {
            dropped += 1;
        }
        assert!(t1.send(rv(1, 3, 2)) || term > 0);
    }
    assert!(dropped > 0, "a dead peer's queue must be bounded");
    assert!(rx3.recv_timeout(Duration::from_secs(10)).is_ok());
}

/// Connect to `addr` and write `bytes` raw; return once the node closed it.
pub(super) fn raw_connection_is_closed(addr: SocketAddr, bytes: &[u8]) {
    let s = TcpStream::connect(addr).unwrap();
    written_connection_is_closed(s, bytes);
}

/// Write `bytes` on `s` and return once the node closed it, having written
/// nothing more on it. The write side stays open, so the node must close
/// because of what it read, not because it saw the end of the stream; the
/// wait is shorter than the 5 s handshake deadline, so that cannot be what
/// closed it either.
pub(super) fn written_connection_is_closed(s: TcpStream, bytes: &[u8]) {
    closed_after(s, bytes, false)
}

/// As [`written_connection_is_closed`], then end the stream: for a frame cut
/// short, which the node can only tell from the end of the stream.
fn cut_connection_is_closed(s: TcpStream, bytes: &[u8]) {
    closed_after(s, bytes, true)
}

fn closed_after(mut s: TcpStream, bytes: &[u8], end_stream: bool) {
    // The node may close before reading it all (a reset): that is closing.
    let _ = s.write_all(bytes);
    if end_stream {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    s.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    let mut buf = [0u8; 16];
    // The node never writes on inbound connections: EOF means it closed.
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes"),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("connection not closed: {e}"),
    }
}

#[test]
fn garbage_truncated_and_oversized_frames_close_only_that_connection() {
    let (l1, l2) = (listener(), listener());
    let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
    let (t1, _rx1) = node(1, l1, vec![(2, a2.to_string())]);
    let (_t2, rx2) = node(2, l2, vec![(1, a1.to_string())]);
    send_until_received(&t1, &rx2, rv(1, 2, 1));

    // Before the handshake: garbage (its "length" is huge), a frame of
    // another version, a message instead of a Hello.
    let garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let wrong_version = [&3u32.to_be_bytes()[..], &[99, 1, 0]].concat();
    let mut no_hello = Vec::new();
    Session::new(&secret(), b"t").encode_message(&mut no_hello, &rv(1, 2, 5));
    for bytes in [garbage, wrong_version, no_hello] {
        raw_connection_is_closed(a2, &bytes);
    }
    // After a good handshake (as node 1 would): an oversized, a truncated
    // and an undecodable (but correctly MACed) frame.
    let authenticated = |bytes: &dyn Fn(&mut Session) -> Vec<u8>| {
        let s = TcpStream::connect(a2).unwrap();
        let mut session = dial_handshake(&s, 1, 2, None, &secret(), Duration::from_secs(20))
            .expect("handshake with the right secret");
        written_connection_is_closed(s, &bytes(&mut session));
    };
    authenticated(&|_| [&u32::MAX.to_be_bytes()[..], &[FRAME_VERSION, 2, 3]].concat());
    // Cut short: only the end of the stream tells.
    let s2 = TcpStream::connect(a2).unwrap();
    dial_handshake(&s2, 1, 2, None, &secret(), Duration::from_secs(20))
        .expect("handshake with the right secret");
    cut_connection_is_closed(
        s2,
        &[&100u32.to_be_bytes()[..], &[FRAME_VERSION, 2, 0, 0]].concat(),
    );
    authenticated(&|session| {
        let mut buf = Vec::new();
        let start = begin_frame(&mut buf, frame::KIND_MESSAGE);
        buf.extend_from_slice(&[0xff; 4]);
        session.seal(&mut buf, start);
        buf
    });
    // The node still takes messages from its real peer.
    for _ in 0..10 {
        assert!(t1.send(rv(1, 2, 5)));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = rx2.recv_timeout(Duration::from_secs(20)).unwrap();
        if m.body.term() == 5 {
            break;
        }
        assert!(Instant::now() < deadline);
    }
}

fn fb() -> FrameBuf {
    FrameBuf::new(Default::default())
}

#[test]
fn frame_errors_are_specific() {
    let mut scratch = fb();
    let mut r: &[u8] = &[0, 0, 1, 0, FRAME_VERSION, 2];
    assert!(matches!(
        read_frame(&mut r, 16, &mut scratch),
        Err(FrameError::Oversized { len: 256, max: 16 })
    ));
    let mut r: &[u8] = &[0, 0];
    assert!(matches!(
        read_frame(&mut r, 16, &mut scratch),
        Err(FrameError::Truncated)
    ));
    let mut r: &[u8] = &[0, 0, 0, 1, FRAME_VERSION];
    assert!(matches!(
        read_frame(&mut r, 16, &mut scratch),
        Err(FrameError::TooShort { len: 1 })
    ));
    let mut r: &[u8] = &[];
    assert!(matches!(read_frame(&mut r, 16, &mut scratch), Ok(None)));
    // A version 1 node's Hello is named as a version mismatch, before its
    // body is read.
    let mut r: &[u8] = &[0, 0, 0, 40, 1, 1];
    let e = read_frame(&mut r, 1 << 10, &mut scratch).unwrap_err();
    assert!(matches!(e, FrameError::Version { found: 1 }), "{e}");
    assert!(e.to_string().contains("this node speaks version 2"), "{e}");
    let mut buf = Vec::new();
    let m = rv(4, 5, 6);
    let mut tx = Session::new(&secret(), b"transcript");
    let mut rx = Session::new(&secret(), b"transcript");
    tx.encode_message(&mut buf, &m);
    let mut r: &[u8] = &buf;
    assert_eq!(
        read_frame(&mut r, 1 << 20, &mut scratch).unwrap(),
        Some(frame::KIND_MESSAGE)
    );
    assert_eq!(rx.open_message(&scratch.buf).unwrap(), m);
}

/// A 64 MiB claim followed by 1000 bytes: the buffer holds about what
/// arrived (it used to be sized from the claim).
#[test]
fn a_huge_length_prefix_allocates_only_what_arrives() {
    let total: Arc<AtomicUsize> = Default::default();
    let mut scratch = FrameBuf::new(total.clone());
    let mut data = (64u32 << 20).to_be_bytes().to_vec();
    data.extend_from_slice(&[FRAME_VERSION, frame::KIND_MESSAGE]);
    data.extend_from_slice(&[7; 1000]);
    let mut r: &[u8] = &data;
    assert!(matches!(
        read_frame(&mut r, DEFAULT_MAX_FRAME, &mut scratch),
        Err(FrameError::Truncated)
    ));
    let held = total.load(Ordering::Relaxed);
    assert_eq!(held, scratch.buf.capacity());
    assert!(held <= 256 << 10, "1000 bytes arrived, {held} allocated");
    drop(scratch);
    assert_eq!(total.load(Ordering::Relaxed), 0, "the charge is returned");
}

#[test]
fn a_message_frame_must_carry_its_sessions_mac_in_sequence() {
    let mut buf = Vec::new();
    let mut tx = Session::new(&secret(), b"transcript");
    tx.encode_message(&mut buf, &rv(1, 2, 3));
    let body = buf[6..].to_vec();
    // Another session (another handshake's transcript or secret).
    for mut other in [
        Session::new(&secret(), b"other transcript"),
        Session::new(
            &ClusterSecret::new(b"some other cluster secret", "t").unwrap(),
            b"transcript",
        ),
    ] {
        assert!(matches!(
            other.open_message(&body),
            Err(FrameError::Auth(_))
        ));
    }
    // One flipped bit anywhere.
    for i in 0..body.len() {
        let mut bad = body.clone();
        bad[i] ^= 1;
        let mut rx = Session::new(&secret(), b"transcript");
        assert!(rx.open_message(&bad).is_err(), "bit flip at {i} accepted");
    }
    // A replayed frame: right MAC, wrong position in the stream.
    let mut rx = Session::new(&secret(), b"transcript");
    assert_eq!(rx.open_message(&body).unwrap(), rv(1, 2, 3));
    assert!(matches!(rx.open_message(&body), Err(FrameError::Auth(_))));
}

#[test]
fn proofs_bind_the_role_both_ids_both_nonces_and_the_secret() {
    use super::auth::{acceptor_proof, dialer_proof, transcript, Challenge, Hello};
    let hello = Hello {
        from: 1,
        to: 2,
        nonce: [1; 32],
        client_addr: Some("127.0.0.1:8001".into()),
    };
    let challenge = Challenge {
        from: 2,
        nonce: [2; 32],
    };
    let t = transcript(&hello, &challenge);
    let proof = dialer_proof(&secret(), &t);
    assert_ne!(proof, acceptor_proof(&secret(), &t), "reflection");
    let other = ClusterSecret::new(b"some other cluster secret", "t").unwrap();
    assert_ne!(proof, dialer_proof(&other, &t));
    let variants = [
        (
            Hello {
                from: 3,
                ..hello.clone()
            },
            challenge.clone(),
        ),
        (
            hello.clone(),
            Challenge {
                from: 3,
                ..challenge.clone()
            },
        ),
        (
            Hello {
                nonce: [9; 32],
                ..hello.clone()
            },
            challenge.clone(),
        ),
        (
            hello.clone(),
            Challenge {
                nonce: [9; 32],
                ..challenge.clone()
            },
        ),
        (
            Hello {
                client_addr: Some("evil:1".into()),
                ..hello.clone()
            },
            challenge.clone(),
        ),
    ];
    for (h, c) in variants {
        assert_ne!(
            proof,
            dialer_proof(&secret(), &transcript(&h, &c)),
            "{h:?} {c:?}"
        );
    }
}

#[test]
fn secrets_too_short_or_readable_by_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let short = ClusterSecret::new(b"  short\n", "test").unwrap_err();
    assert!(
        matches!(short, SecretError::TooShort { len: 5, .. }),
        "{short}"
    );
    let path = dir.path().join("secret");
    let made = ClusterSecret::create_file(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        ClusterSecret::create_file(&path).is_err(),
        "never overwrites"
    );
    let read = ClusterSecret::from_file(&path).unwrap();
    // Same key: a proof made with one verifies with the other.
    assert_eq!(
        auth::dialer_proof(&made, b"t"),
        auth::dialer_proof(&read, b"t")
    );
    assert_ne!(
        auth::dialer_proof(&made, b"t"),
        auth::dialer_proof(&ClusterSecret::generate().unwrap(), b"t"),
        "generated secrets differ"
    );
    // Open to other users, or only to the group: both refused.
    for mode in [0o644, 0o640] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = ClusterSecret::from_file(&path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{mode:o}: {e}");
    }
    let e = ClusterSecret::from_file(&dir.path().join("missing")).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}

/// The codec choice, measured: bincode vs JSON for a full AppendEntries.
#[test]
fn frame_codec_cost() {
    let entries: Vec<Entry> = (1..=64)
        .map(|i| Entry {
            index: i,
            term: 3,
            kind: EntryKind::Normal(Bytes::from(vec![b'v'; 130])),
        })
        .collect();
    let m = Message {
        from: 1,
        to: 2,
        body: MessageBody::AppendEntries(AppendEntries {
            term: 3,
            leader_id: 1,
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
        }),
    };
    let bin = bincode::serialize(&m).unwrap();
    let json = serde_json::to_vec(&m).unwrap();
    let rounds = 200;
    let t = Instant::now();
    for _ in 0..rounds {
        let b = bincode::serialize(&m).unwrap();
        let _: Message = bincode::deserialize(&b).unwrap();
    }
    let bin_t = t.elapsed() / rounds;
    let t = Instant::now();
    for _ in 0..rounds {
        let b = serde_json::to_vec(&m).unwrap();
        let _: Message = serde_json::from_slice(&b).unwrap();
    }
    let json_t = t.elapsed() / rounds;
    // The same through a session: bincode plus the frame MAC both ways.
    let (mut tx, mut rx) = (Session::new(&secret(), b"t"), Session::new(&secret(), b"t"));
    let mut buf = Vec::new();
    let t = Instant::now();
    for _ in 0..rounds {
        buf.clear();
        tx.encode_message(&mut buf, &m);
        assert_eq!(rx.open_message(&buf[6..]).unwrap().to, 2);
    }
    let mac_t = t.elapsed() / rounds;
    eprintln!(
        "AppendEntries x64x130B: bincode {} B {:?}/round trip, JSON {} B {:?}/round trip, \
         bincode + HMAC-SHA256 frame MAC {:?}/round trip",
        bin.len(),
        bin_t,
        json.len(),
        json_t,
        mac_t
    );
    assert!(bin.len() < json.len());
}
