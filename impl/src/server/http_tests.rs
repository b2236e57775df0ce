//! The client's behaviour against fake servers that misbehave on purpose.

use super::*;
use crate::server::test_http::{read_request, write_response};
use std::io::BufReader;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone, Copy)]
enum Action {
    Answer,
    /// Answer as if keeping the connection, then close it.
    AnswerThenClose,
    /// Read the request, then close without answering.
    Swallow,
    /// Read the request, then neither answer nor close.
    Stall,
}

/// A server that acts on the n-th request it reads as `script[n]`
/// (then answers), counting requests.
fn fake_server(script: Vec<Action>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            while read_request(&mut r).is_some() {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let action = script.get(n).copied().unwrap_or(Action::Answer);
                if matches!(action, Action::Answer | Action::AnswerThenClose) {
                    write_response(&mut w, 200, b"{}", false).unwrap();
                }
                if matches!(action, Action::Stall) {
                    std::thread::sleep(Duration::from_secs(5));
                }

                if !matches!(action, Action::Answer) {
                    break;
                }
            }
        }
    });
    (addr, count)
}

fn client(addr: &str) -> HttpClient {
    HttpClient::new(addr, Duration::from_secs(2))
}

#[test]
fn a_refused_connect_is_not_sent() {
    let addr = crate::server::test_http::refused_addrs(1).remove(0);
    let err = client(&addr).request("PUT", "/x", b"{}").unwrap_err();
    assert!(!err.was_sent(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_write_that_got_no_answer_is_not_sent_again() {
    let (addr, count) = fake_server(vec![Action::Answer, Action::Swallow]);
    let mut http = client(&addr);
    assert_eq!(http.request("PUT", "/x", b"{}").unwrap().status, 200);
    let err = http.request("PUT", "/x", b"{}").unwrap_err();
    assert!(err.was_sent(), "{err}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(count.load(Ordering::SeqCst), 2, "sent once, not resent");
}

#[test]
fn a_read_that_got_no_answer_is_sent_again_on_a_fresh_connection() {
    let (addr, count) = fake_server(vec![Action::Answer, Action::Swallow]);
    let mut http = client(&addr);
    http.request("GET", "/x", b"").unwrap();
    assert_eq!(http.request("GET", "/x", b"").unwrap().status, 200);
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn a_connection_the_server_closed_is_replaced_before_a_write_is_sent() {
    let (addr, count) = fake_server(vec![Action::AnswerThenClose]);
    let mut http = client(&addr);
    http.request("PUT", "/x", b"{}").unwrap();
    std::thread::sleep(Duration::from_millis(100)); // the FIN arrives
    assert_eq!(http.request("PUT", "/x", b"{}").unwrap().status, 200);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn a_write_none_of_which_left_on_a_reset_connection_is_sent_again() {
    // Answers the first request, resets that connection when told,
    // then answers on the next connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (reset, when) = std::sync::mpsc::channel::<()>();
    let (closed, reset_sent) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let mut requests = 0;
        for (i, stream) in listener.incoming().take(2).enumerate() {
            let stream = stream.unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            read_request(&mut r).unwrap();
            requests += 1;
            write_response(&mut &stream, 200, b"{}", false).unwrap();
            if i == 0 {
                when.recv().unwrap();
                // A zero linger turns the close into a reset, sent (on
                // loopback: delivered) when the last fd closes.
                socket2::SockRef::from(&stream)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
                drop(r);
                drop(stream);
                closed.send(()).unwrap();
            }
        }
        requests
    });
    let mut http = client(&addr);
    http.request("PUT", "/x", b"{}").unwrap();
    reset.send(()).unwrap();
    reset_sent.recv().unwrap();
    // As if the reset came just after `usable()` looked, and the last read
    // had blocked (so hyper writes before it reads the reset): the write
    // fails before any byte leaves, so the PUT goes on a new connection.
    let conn = http.conn.as_ref().expect("kept alive");
    conn.probe
        .readiness
        .readable
        .store(false, Ordering::Relaxed);
    let resp = http.send_retrying("PUT", "/x", &[], b"{}");
    assert_eq!(resp.unwrap().status, 200);
    assert_eq!(server.join().unwrap(), 2, "the second PUT once, resent");
}

#[test]
fn a_request_that_gets_no_answer_in_time_times_out_with_an_unknown_outcome() {
    let (addr, count) = fake_server(vec![Action::Stall]);
    let mut http = HttpClient::new(&addr, Duration::from_millis(300));
    let err = http.request("PUT", "/x", b"{}").unwrap_err();
    assert!(err.is_timeout() && err.was_sent(), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn a_request_that_cannot_be_built_is_not_sent() {
    let (addr, count) = fake_server(vec![]);
    let mut http = client(&addr);
    let err = http.request("PUT", "no path", b"{}").unwrap_err();
    assert!(!err.was_sent(), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = http
        .request_with("GET", "/x", &[("bad\nname", "v")], b"")
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(http.request("GET", "/x", b"").unwrap().status, 200);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn percent_coding_round_trips() {
    for key in ["plain", "a/b c", "%", "ключ", "k?x=1&y#z"] {
        let encoded = percent_encode(key);
        assert!(encoded
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.~%".contains(&c)));
        assert_eq!(percent_decode(&encoded).as_deref(), Some(key));
    }
    assert_eq!(percent_decode("%zz"), None);
    assert_eq!(percent_decode("%4"), None);
    assert_eq!(percent_decode("%ff"), None, "not UTF-8");
}
