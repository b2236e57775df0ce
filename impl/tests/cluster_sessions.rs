//! Exactly-once writes on real processes: a write resent with the same
//! (client id, seq) is answered with its first result and not applied
//! again, on the leader that applied it, on the next leader after a
//! SIGKILL, and after every node restarted (sessions are rebuilt from the
//! log).

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, Options};
use raftkv::server::http::HttpClient;
use raftkv::server::{CLIENT_ID_HEADER, SEQ_HEADER};
use serde_json::{json, Value};

/// Three nodes that let a write wait 5 s for commit (raftkv's default):
/// every answer checked here is a write's result, not a 504.
fn start() -> Cluster {
    Cluster::start_with(
        3,
        Options {
            request_timeout: Duration::from_secs(5),
            ..Options::default()
        },
    )
}

/// Send one request to the leader (until one answers other than 503),
/// as client `session` if given. Returns status and body.
fn send(
    c: &Cluster,
    method: &str,
    path: &str,
    session: Option<(u64, u64)>,
    body: Value,
) -> (u16, Value) {
    let (id, seq) = session.map_or((String::new(), String::new()), |(client, seq)| {
        (client.to_string(), seq.to_string())
    });
    let headers: Vec<(&str, &str)> = match session {
        Some(_) => vec![(CLIENT_ID_HEADER, &id), (SEQ_HEADER, &seq)],
        None => Vec::new(),
    };
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut http = HttpClient::new(&c.clients[c.leader() - 1], Duration::from_secs(5));
        match http.request_with(method, path, &headers, body.as_bytes()) {
            Ok(r) if r.status != 503 && r.status != 307 => {
                return (r.status, serde_json::from_slice(&r.body).unwrap());
            }
            other => assert!(
                Instant::now() < deadline,
                "no answer to {method} {path}: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn put(c: &Cluster, key: &str, value: &str, session: Option<(u64, u64)>) -> (u16, Value) {
    send(
        c,
        "PUT",
        &format!("/v1/kv/{key}"),
        session,
        json!({ "value": value }),
    )
}

fn get(c: &Cluster, key: &str) -> Option<String> {
    let (_, v) = send(c, "GET", &format!("/v1/kv/{key}"), None, Value::Null);
    v["value"].as_str().map(String::from)
}

#[test]
fn a_resent_write_is_applied_once_across_leader_change_and_restart() {
    let mut c = start();
    let me = Some((0xC0FFEE, 1));
    let first = put(&c, "k", "mine", me);
    assert_eq!(first, (200, json!({ "key": "k", "prev": null })));
    // Someone else writes between the first try and the retry.
    assert_eq!(put(&c, "k", "theirs", None).1["prev"], "mine");
    // The retry answers like the first try and does not clobber "theirs".
    assert_eq!(put(&c, "k", "mine", me), first);
    assert_eq!(get(&c, "k").as_deref(), Some("theirs"));

    // The next leader knows the session: it is replicated state.
    let leader = c.leader();
    c.kill9(leader);
    assert_eq!(put(&c, "k", "mine", me), first);
    assert_eq!(get(&c, "k").as_deref(), Some("theirs"));

    // After every node restarted, the log rebuilds the sessions.
    c.restart_all();
    assert_eq!(put(&c, "k", "mine", me), first);
    assert_eq!(get(&c, "k").as_deref(), Some("theirs"));

    // A newer request is applied; then the old one is refused.
    assert_eq!(
        put(&c, "k", "next", Some((0xC0FFEE, 2))).1["prev"],
        "theirs"
    );
    let (status, body) = put(&c, "k", "mine", me);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not applied"),
        "{body}"
    );
    assert_eq!(get(&c, "k").as_deref(), Some("next"));
}

#[test]
fn a_resent_cas_does_not_succeed_twice() {
    let c = start();
    let cas = json!({ "expected": null, "value": "won" });
    let me = Some((7, 1));
    let first = send(&c, "POST", "/v1/cas/lock", me, cas.clone());
    assert_eq!(first.0, 200, "{}", first.1);
    send(&c, "DELETE", "/v1/kv/lock", None, Value::Null);
    // As a new request this CAS would succeed again (the key is absent).
    assert_eq!(send(&c, "POST", "/v1/cas/lock", me, cas), first);
    assert_eq!(get(&c, "lock"), None);
    // Half a session is refused.
    let mut http = HttpClient::new(&c.clients[c.leader() - 1], Duration::from_secs(5));
    let r = http
        .request_with("DELETE", "/v1/kv/lock", &[(SEQ_HEADER, "3")], b"")
        .unwrap();
    assert_eq!(r.status, 400);
}
