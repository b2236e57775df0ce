use super::*;
use crate::core::{AppendEntries, Entry, EntryKind, MessageBody, RequestVote};
use bytes::Bytes;
use std::time::Instant;

fn rv(from: NodeId, to: NodeId, term: u64) -> Message {
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

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A node that forwards what it receives into a channel.
fn node(
    id: NodeId,
    l: TcpListener,
    peers: Vec<(NodeId, String)>,
) -> (Transport, Receiver<Message>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let mut cfg = TransportConfig::new(id, peers);
    cfg.client_addr = Some(format!("client-of-{id}"));
    let t = Transport::start(cfg, l, move |m| {
        let _ = tx.lock().unwrap().send(m);
    })
    .unwrap();
    (t, rx)
}

/// Keep sending until one arrives (the peer may still be connecting).
fn send_until_received(t: &Transport, rx: &Receiver<Message>, msg: Message) -> Message {
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
    let mut cfg = TransportConfig::new(1, vec![(2, dead_addr.to_string()), (3, a3.to_string())]);
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
fn raw_connection_is_closed(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
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

    let mut hello = Vec::new();
    encode_frame(
        &mut hello,
        &Frame::Hello(Hello {
            node_id: 1,
            client_addr: None,
        }),
    );
    let garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let oversized = [&hello[..], &u32::MAX.to_be_bytes()[..], &[1, 2, 3]].concat();
    let truncated = [
        &hello[..],
        &100u32.to_be_bytes()[..],
        &[FRAME_VERSION, 2, 0, 0],
    ]
    .concat();
    let wrong_version = [&hello[..], &3u32.to_be_bytes()[..], &[99, 2, 0]].concat();
    let bad_body = [
        &hello[..],
        &6u32.to_be_bytes()[..],
        &[FRAME_VERSION, 2, 0xff, 0xff, 0xff, 0xff],
    ]
    .concat();
    for bytes in [garbage, oversized, truncated, wrong_version, bad_body] {
        raw_connection_is_closed(a2, &bytes);
    }
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

#[test]
fn frame_errors_are_specific() {
    let mut scratch = Vec::new();
    let mut r: &[u8] = &[0, 0, 1, 0, 1, 2];
    assert!(matches!(
        read_frame(&mut r, 16, &mut scratch),
        Err(FrameError::Oversized { len: 256, max: 16 })
    ));
    let mut r: &[u8] = &[0, 0];
    assert!(matches!(
        read_frame(&mut r, 16, &mut scratch),
        Err(FrameError::Truncated)
    ));
    let mut r: &[u8] = &[];
    assert!(matches!(read_frame(&mut r, 16, &mut scratch), Ok(None)));
    let mut r: &[u8] = &[0, 0, 0, 2, FRAME_VERSION, 9];
    assert!(matches!(
        read_frame(&mut r, 16, &mut scratch),
        Err(FrameError::UnknownKind { kind: 9 })
    ));
    let mut buf = Vec::new();
    let m = rv(4, 5, 6);
    encode_frame(&mut buf, &Frame::Message(m.clone()));
    let mut r: &[u8] = &buf;
    assert_eq!(
        read_frame(&mut r, 1 << 20, &mut scratch).unwrap(),
        Some(Frame::Message(m))
    );
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
    eprintln!(
        "AppendEntries x64x130B: bincode {} B {:?}/round trip, JSON {} B {:?}/round trip",
        bin.len(),
        bin_t,
        json.len(),
        json_t
    );
    assert!(bin.len() < json.len());
}
