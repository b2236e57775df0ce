//! Attacks on a real transport from real loopback sockets: strangers that
//! hold handshake slots, claim a peer's id, forge or replay frames, and an
//! impostor listening at a peer's address.

use super::auth::{dial_handshake, dialer_proof, encode_proof, transcript, Challenge, Hello};
use super::frame::{read_frame, FrameBuf, KIND_CHALLENGE, KIND_PROOF};
use super::tests::{
    listener, node, node_with, raw_connection_is_closed, rv, secret, send_until_received,
    written_connection_is_closed,
};
use super::*;
use std::io::Read;
use std::time::Instant;

fn wrong_secret() -> ClusterSecret {
    ClusterSecret::new(b"a guess at the cluster secret", "test").unwrap()
}

/// The term every forged message carries.
const FORGED: u64 = 666;

/// Read one handshake frame of `kind` from `s`.
fn expect_frame(s: &TcpStream, kind: u8) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut fb = FrameBuf::new(Default::default());
    let got = read_frame(&mut &*s, MAX_HANDSHAKE_FRAME, &mut fb).unwrap();
    assert_eq!(got, Some(kind));
    fb.buf.clone()
}

/// Whether the node still holds `s` open (no EOF, no reset, no bytes).
fn still_open(s: &TcpStream) -> bool {
    is_open_for_writing(s)
}

/// Wait until the node closes `s` (EOF or reset), reading nothing else.
fn closed_by_node(mut s: &TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes"),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("connection not closed: {e}"),
    }
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Node 2 with peers 1 and 3 (node 1 real and connected), as `tune` says.
fn victim(tune: impl FnOnce(&mut TransportConfig)) -> (Transport, Receiver<Message>, Transport) {
    let (l1, l2) = (listener(), listener());
    let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
    let mut cfg = TransportConfig::new(
        2,
        vec![(1, a1.to_string()), (3, "127.0.0.1:1".into())],
        secret(),
    );
    tune(&mut cfg);
    let (t2, rx2) = node_with(cfg, l2);
    let (t1, _rx1) = node(1, l1, vec![(2, a2.to_string())]);
    send_until_received(&t1, &rx2, rv(1, 2, 1));
    (t2, rx2, t1)
}

/// Everything node 2 delivered until node 1's next message `term`: none
/// of it may be forged.
fn assert_nothing_forged_delivered(t1: &Transport, rx2: &Receiver<Message>, term: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        t1.send(rv(1, 2, term));
        while let Ok(m) = rx2.recv_timeout(Duration::from_millis(50)) {
            assert_ne!(
                m.body.term(),
                FORGED,
                "a forged message was delivered: {m:?}"
            );
            if m.body.term() == term {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the real peer's message never came"
        );
    }
}

#[test]
fn connections_beyond_the_handshake_cap_are_refused_and_real_peers_keep_working() {
    let (t2, rx2, t1) = victim(|c| {
        c.max_unauthenticated = 4;
        c.handshake_timeout = Duration::from_secs(600);
    });
    let a2 = t2.local_addr();
    // Four silent strangers take every handshake slot...
    let holders: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(a2).unwrap()).collect();
    wait_for("4 handshakes in progress", || {
        t2.inbound().unauthenticated == 4
    });
    // ...so the next ones are closed at once.
    for _ in 0..3 {
        closed_by_node(&TcpStream::connect(a2).unwrap());
    }
    let stats = t2.inbound();
    assert_eq!((stats.refused, stats.unauthenticated), (3, 4), "{stats:?}");
    assert!(holders.iter().all(still_open), "slots are held, not freed");
    // The real peer's established connection is untouched.
    assert_eq!(t2.inbound().authenticated, 1);
    assert_nothing_forged_delivered(&t1, &rx2, 77);
    // A freed slot takes a new connection again.
    drop(holders);
    wait_for("slots freed", || t2.inbound().unauthenticated == 0);
    let s = TcpStream::connect(a2).unwrap();
    dial_handshake(&s, 1, 2, None, &secret(), Duration::from_secs(20)).unwrap();
}

#[test]
fn a_silent_or_trickling_handshake_is_closed_at_its_deadline() {
    let (t2, _rx2, _t1) = victim(|c| c.handshake_timeout = Duration::from_millis(300));
    let a2 = t2.local_addr();
    let silent = TcpStream::connect(a2).unwrap();
    // One byte of a valid Hello every 50 ms: each read succeeds, but the
    // handshake as a whole runs out of time.
    let trickle = TcpStream::connect(a2).unwrap();
    let mut hello = Vec::new();
    Hello {
        from: 1,
        to: 2,
        nonce: [0; 32],
        client_addr: None,
    }
    .encode(&mut hello);
    let writer = {
        let mut w = trickle.try_clone().unwrap();
        std::thread::spawn(move || {
            for b in hello {
                if w.write_all(&[b]).is_err() {
                    return true; // closed by the node
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        })
    };
    closed_by_node(&silent);
    closed_by_node(&trickle);
    assert!(
        writer.join().unwrap(),
        "the trickled Hello was read to its end"
    );
    wait_for("slots freed", || t2.inbound().unauthenticated == 0);
}

#[test]
fn a_stranger_claiming_a_peers_id_cannot_join_or_inject() {
    let (t2, rx2, t1) = victim(|_| {});
    let a2 = t2.local_addr();
    let forged = rv(1, 2, FORGED);
    let hello = |nonce| Hello {
        from: 1,
        to: 2,
        nonce,
        client_addr: Some("evil:1".into()),
    };
    let mut hello_bytes = Vec::new();
    hello([5; 32]).encode(&mut hello_bytes);

    // 1. A message with no handshake at all.
    let mut bytes = Vec::new();
    auth::Session::new(&wrong_secret(), b"t").encode_message(&mut bytes, &forged);
    raw_connection_is_closed(a2, &bytes);

    // 2. A Hello, then a message without answering the challenge.
    let s = TcpStream::connect(a2).unwrap();
    (&s).write_all(&hello_bytes).unwrap();
    expect_frame(&s, KIND_CHALLENGE);
    written_connection_is_closed(s, &bytes);

    // 3. The whole handshake with a wrong secret, then a message MACed
    //    with the session that secret gives.
    let s = TcpStream::connect(a2).unwrap();
    (&s).write_all(&hello_bytes).unwrap();
    let challenge = Challenge::decode(&expect_frame(&s, KIND_CHALLENGE)).unwrap();
    let t = transcript(&hello([5; 32]), &challenge);
    let mut out = Vec::new();
    encode_proof(&mut out, &dialer_proof(&wrong_secret(), &t));
    auth::Session::new(&wrong_secret(), &t).encode_message(&mut out, &forged);
    written_connection_is_closed(s, &out);

    // 4. The real dialer's code with a wrong secret fails, and says why.
    let s = TcpStream::connect(a2).unwrap();
    let e = dial_handshake(&s, 1, 2, None, &wrong_secret(), Duration::from_secs(20)).unwrap_err();
    assert!(e.to_string().contains("rejected this node"), "{e}");

    // 5. Replay: a proof recorded from a good handshake, sent with the same
    //    Hello on a new connection, meets a fresh challenge and fails.
    let real_hello = Hello {
        client_addr: Some("client-of-1".into()),
        ..hello([5; 32])
    };
    let mut hello_bytes = Vec::new();
    real_hello.encode(&mut hello_bytes);
    let s = TcpStream::connect(a2).unwrap();
    (&s).write_all(&hello_bytes).unwrap();
    let challenge = Challenge::decode(&expect_frame(&s, KIND_CHALLENGE)).unwrap();
    let recorded = dialer_proof(&secret(), &transcript(&real_hello, &challenge));
    let mut out = Vec::new();
    encode_proof(&mut out, &recorded);
    (&s).write_all(&out).unwrap();
    expect_frame(&s, KIND_PROOF); // that one was genuine
    let s = TcpStream::connect(a2).unwrap();
    (&s).write_all(&hello_bytes).unwrap();
    let fresh = Challenge::decode(&expect_frame(&s, KIND_CHALLENGE)).unwrap();
    assert_ne!(fresh.nonce, challenge.nonce);
    let mut out = Vec::new();
    encode_proof(&mut out, &recorded);
    auth::Session::new(&secret(), &transcript(&real_hello, &challenge))
        .encode_message(&mut out, &forged);
    written_connection_is_closed(s, &out);

    // 6. A frame altered on the wire after a good handshake (an on-path
    //    injector): its MAC fails.
    let s = TcpStream::connect(a2).unwrap();
    let mut session = dial_handshake(&s, 1, 2, None, &secret(), Duration::from_secs(20)).unwrap();
    let mut out = Vec::new();
    session.encode_message(&mut out, &rv(1, 2, 3));
    let genuine_len = out.len();
    session.encode_message(&mut out, &rv(1, 2, 4));
    // Change the second frame's term from 4 to FORGED, keeping its MAC.
    let mut altered = Vec::new();
    auth::Session::new(&secret(), b"x").encode_message(&mut altered, &forged);
    let n = out.len() - genuine_len;
    assert_eq!(altered.len(), n, "same encoding size");
    let end = out.len() - auth::TAG_LEN;
    out[genuine_len..end].copy_from_slice(&altered[..n - auth::TAG_LEN]);
    written_connection_is_closed(s, &out);

    assert_nothing_forged_delivered(&t1, &rx2, 88);
    assert_eq!(
        t2.client_addr(1).as_deref(),
        Some("client-of-1"),
        "no stranger's Hello changed the redirect address"
    );
}

#[test]
fn nodes_with_different_secrets_exchange_nothing() {
    let (l2, l3) = (listener(), listener());
    let (a2, a3) = (l2.local_addr().unwrap(), l3.local_addr().unwrap());
    let (t2, rx2) = node(2, l2, vec![(3, a3.to_string())]);
    let (t3, rx3) = node_with(
        TransportConfig::new(3, vec![(2, a2.to_string())], wrong_secret()),
        l3,
    );
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        t2.send(rv(2, 3, FORGED));
        t3.send(rv(3, 2, FORGED));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rx2.try_recv().is_err() && rx3.try_recv().is_err());
    assert_eq!(t2.inbound().authenticated + t3.inbound().authenticated, 0);
}

/// Mutual: a dialer sends nothing to an impostor at its peer's address
/// that cannot prove it knows the secret.
#[test]
fn a_dialer_sends_no_message_to_an_acceptor_without_the_secret() {
    let impostor = listener();
    let addr = impostor.local_addr().unwrap();
    let (t1, _rx1) = node(1, listener(), vec![(2, addr.to_string())]);
    t1.send(rv(1, 2, 5));
    let (s, _) = impostor.accept().unwrap();
    let hello = Hello::decode(&expect_frame(&s, frame::KIND_HELLO)).unwrap();
    assert_eq!((hello.from, hello.to), (1, 2));
    let challenge = Challenge {
        from: 2,
        nonce: [3; 32],
    };
    let mut out = Vec::new();
    challenge.encode(&mut out);
    (&s).write_all(&out).unwrap();
    expect_frame(&s, KIND_PROOF);
    let t = transcript(&hello, &challenge);
    let mut out = Vec::new();
    encode_proof(&mut out, &auth::acceptor_proof(&wrong_secret(), &t));
    (&s).write_all(&out).unwrap();
    for term in 6..20 {
        t1.send(rv(1, 2, term));
    }
    // The dialer hangs up without a single message frame.
    closed_by_node(&s);
}
