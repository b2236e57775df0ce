//! The explorer serves a saved trace's exact path over real HTTP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use raftcheck::trace::Trace;

fn get(addr: SocketAddr, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect(addr) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                write!(
                    s,
                    "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                return out;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("explorer never listened on {addr}: {e}"),
        }
    }
}

#[test]
fn the_explorer_serves_the_violating_state_of_a_saved_trace() {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../counterexamples/double-vote.json");
    let trace = Trace::load(&file).unwrap();
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = trace.config.clone();
    std::thread::spawn(move || raftcheck::explore::serve(cfg, addr));

    let page = get(addr, "/");
    assert!(
        page.lines().next().unwrap_or("").contains(" 200 "),
        "{page}"
    );
    assert!(
        page.contains("<html") || page.contains("<!DOCTYPE"),
        "{page}"
    );

    // The explorer lists the successors of a path's state: ask for the
    // state before the last step and pick the trace's last action.
    let (prefix, last) = trace.explorer_path.rsplit_once('/').unwrap();
    let body = get(addr, &format!("/.states/{prefix}"));
    let json = &body[body.find("\r\n\r\n").unwrap() + 4..];
    let views: serde_json::Value = serde_json::from_str(json).unwrap();
    let last: u64 = last.parse().unwrap();
    let view = views
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["actionIndex"] == last)
        .unwrap();
    let outcome = view["outcome"].as_str().unwrap();
    let leaders_in_term_1 = outcome
        .lines()
        .filter(|l| l.contains("leader") && l.contains("term=1"))
        .count();
    assert_eq!(leaders_in_term_1, 2, "two leaders in term 1:\n{outcome}");
    assert!(view["action"]
        .as_str()
        .unwrap()
        .contains("RequestVoteResponse"));
}

#[test]
fn a_taken_address_is_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let err = raftcheck::explore::serve(raft_spec::Profile::Quick.config(), addr).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {addr}")),
        "{err}"
    );
}
