//! Exactly-once writes on real processes: a write resent with the same
//! (client id, seq) is answered with its first result and not applied
//! again, on the leader that applied it, on the next leader after a
//! SIGKILL, and after every node restarted (sessions are rebuilt from the
//! log).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use raft_impl::server::client::KvClient;
use raft_impl::server::http::HttpClient;
use raft_impl::server::{CLIENT_ID_HEADER, SEQ_HEADER};
use serde_json::{json, Value};

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

struct Cluster {
    dir: tempfile::TempDir,
    peers: String,
    clients: Vec<String>,
    nodes: Vec<Option<Child>>,
}

impl Cluster {
    fn start() -> Cluster {
        let peers = (1..=3)
            .map(|i| format!("{i}={}", free_addr()))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            peers,
            clients: (0..3).map(|_| free_addr()).collect(),
            nodes: (0..3).map(|_| None).collect(),
        };
        (0..3).for_each(|i| c.spawn(i));
        c
    }

    fn spawn(&mut self, i: usize) {
        let dir = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("node-{}.log", i + 1)))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .arg("serve")
            .args(["--id", &(i + 1).to_string(), "--peers", &self.peers])
            .arg("--data-dir")
            .arg(dir.join(format!("node-{}", i + 1)))
            .args(["--client-addr", &self.clients[i]])
            .args(["--election-timeout-ms", "300", "--heartbeat-ms", "50"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut n) = self.nodes[i].take() {
            n.kill().unwrap();
            n.wait().unwrap();
        }
    }

    fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (i, c) in self.clients.iter().enumerate() {
                if self.nodes[i].is_none() {
                    continue;
                }
                if let Ok(s) = KvClient::status_of(c, Duration::from_secs(1)) {
                    if s.role == "Leader" {
                        return i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send one request to the leader (until one answers other than 503),
    /// as client `session` if given. Returns status and body.
    fn send(
        &self,
        method: &str,
        path: &str,
        session: Option<(u64, u64)>,
        body: Value,
    ) -> (u16, Value) {
        let (id, seq) = session.map_or((String::new(), String::new()), |(c, s)| {
            (c.to_string(), s.to_string())
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
            let mut http = HttpClient::new(&self.clients[self.leader()], Duration::from_secs(5));
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

    fn put(&self, key: &str, value: &str, session: Option<(u64, u64)>) -> (u16, Value) {
        self.send(
            "PUT",
            &format!("/v1/kv/{key}"),
            session,
            json!({ "value": value }),
        )
    }

    fn get(&self, key: &str) -> Option<String> {
        let (_, v) = self.send("GET", &format!("/v1/kv/{key}"), None, Value::Null);
        v["value"].as_str().map(String::from)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        (0..3).for_each(|i| self.kill(i));
    }
}

#[test]
fn a_resent_write_is_applied_once_across_leader_change_and_restart() {
    let mut c = Cluster::start();
    let me = Some((0xC0FFEE, 1));
    let first = c.put("k", "mine", me);
    assert_eq!(first, (200, json!({ "key": "k", "prev": null })));
    // Someone else writes between the first try and the retry.
    assert_eq!(c.put("k", "theirs", None).1["prev"], "mine");
    // The retry answers like the first try and does not clobber "theirs".
    assert_eq!(c.put("k", "mine", me), first);
    assert_eq!(c.get("k").as_deref(), Some("theirs"));

    // The next leader knows the session: it is replicated state.
    let leader = c.leader();
    c.kill(leader);
    assert_eq!(c.put("k", "mine", me), first);
    assert_eq!(c.get("k").as_deref(), Some("theirs"));

    // After every node restarted, the log rebuilds the sessions.
    (0..3).for_each(|i| c.kill(i));
    (0..3).for_each(|i| c.spawn(i));
    assert_eq!(c.put("k", "mine", me), first);
    assert_eq!(c.get("k").as_deref(), Some("theirs"));

    // A newer request is applied; then the old one is refused.
    assert_eq!(c.put("k", "next", Some((0xC0FFEE, 2))).1["prev"], "theirs");
    let (status, body) = c.put("k", "mine", me);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not applied"),
        "{body}"
    );
    assert_eq!(c.get("k").as_deref(), Some("next"));
}

#[test]
fn a_resent_cas_does_not_succeed_twice() {
    let c = Cluster::start();
    let cas = json!({ "expected": null, "value": "won" });
    let me = Some((7, 1));
    let first = c.send("POST", "/v1/cas/lock", me, cas.clone());
    assert_eq!(first.0, 200, "{}", first.1);
    c.send("DELETE", "/v1/kv/lock", None, Value::Null);
    // As a new request this CAS would succeed again (the key is absent).
    assert_eq!(c.send("POST", "/v1/cas/lock", me, cas), first);
    assert_eq!(c.get("lock"), None);
    // Half a session is refused.
    let mut http = HttpClient::new(&c.clients[c.leader()], Duration::from_secs(5));
    let r = http
        .request_with("DELETE", "/v1/kv/lock", &[(SEQ_HEADER, "3")], b"")
        .unwrap();
    assert_eq!(r.status, 400);
}
