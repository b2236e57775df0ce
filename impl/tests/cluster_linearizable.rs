//! A linearizability check of a real client history: clients put, read
//! (linearizably, through the log) and compare-and-set a few keys of a
//! 3-node raftkv cluster while the leader is killed with SIGKILL and
//! restarted; the recorded history is then checked per key by
//! `common::linearizability`.
//!
//! Two kinds of clients run side by side:
//! - *plain* clients send no session and never retry: an operation whose
//!   request may have reached a server but got no answer (or a 504) has an
//!   unknown outcome and stays in flight forever; one that surely never
//!   reached a server (the connect failed, a 503 "not applied") is
//!   cancelled;
//! - *session* clients tag each write with (client id, seq) and retry it
//!   until answered, as `KvClient` does: the cluster must apply it once,
//!   and the answer must be the one of that single application.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::linearizability::{History, Op, Ret};
use common::workload::random_op;
use raftkv::server::http::{HttpClient, RequestError};
use raftkv::server::{CLIENT_ID_HEADER, SEQ_HEADER};

/// What one request (following redirects) tells about its operation.
enum Attempt {
    Answer(u16, serde_json::Value),
    /// Definitely not applied: it never reached a server in full, or the
    /// server said so (503: no leader, or superseded before commit).
    NotApplied,
    /// Maybe applied: sent but no answer, or 504.
    Unknown,
}

fn attempt(
    http: &mut HttpClient,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Attempt {
    for _ in 0..3 {
        let r = match http.request_with(method, path, headers, body) {
            Ok(r) => r,
            Err(RequestError::NotSent { .. }) => return Attempt::NotApplied,
            Err(RequestError::OutcomeUnknown { .. }) => return Attempt::Unknown,
        };
        match r.status {
            307 => {
                let Some(addr) = r
                    .location
                    .as_deref()
                    .and_then(|l| l.strip_prefix("http://"))
                    .and_then(|l| l.split('/').next())
                else {
                    return Attempt::NotApplied;
                };
                http.set_addr(addr.to_string());
            }
            503 => return Attempt::NotApplied,
            s if s >= 500 => return Attempt::Unknown,
            s => match serde_json::from_slice(&r.body) {
                Ok(v) => return Attempt::Answer(s, v),
                Err(_) => return Attempt::Unknown,
            },
        }
    }
    Attempt::NotApplied // only redirects: nothing was proposed
}

/// The register answer an HTTP answer stands for (`None`: not an answer
/// this operation can give, e.g. a 400; treated as unknown).
fn ret_of(op: &Op, status: u16, body: &serde_json::Value) -> Option<Ret> {
    match (op, status) {
        (Op::Write(_), 200) => Some(Ret::Written),
        (Op::Read, 200) => Some(Ret::Read(body["value"].as_str().map(String::from))),
        (Op::Read, 404) => Some(Ret::Read(None)),
        (Op::Cas { .. }, 200) => Some(Ret::Cased(true)),
        (Op::Cas { .. }, 409) => Some(Ret::Cased(false)),
        _ => None,
    }
}

enum Outcome {
    Done(Ret),
    NotApplied,
    Unknown,
}

#[derive(Default)]
struct Counters {
    /// Session writes answered only after a retry of a maybe-applied try.
    retried_writes: AtomicUsize,
}

struct Worker {
    id: u64,
    session: bool,
    http: HttpClient,
    clients: Vec<String>,
    rng: fastrand::Rng,
    seq: u64,
}

impl Worker {
    fn request(&mut self, key: usize, op: &Op) -> (String, String, Vec<u8>) {
        match op {
            Op::Write(v) => (
                "PUT".into(),
                format!("/v1/kv/k{key}"),
                serde_json::json!({ "value": v }).to_string().into_bytes(),
            ),
            Op::Read => ("GET".into(), format!("/v1/kv/k{key}"), Vec::new()),
            Op::Cas { expected, new } => (
                "POST".into(),
                format!("/v1/cas/k{key}"),
                serde_json::json!({ "expected": expected, "value": new })
                    .to_string()
                    .into_bytes(),
            ),
        }
    }

    fn switch_node(&mut self) {
        let n = self.rng.usize(0..self.clients.len());
        self.http.set_addr(self.clients[n].clone());
        std::thread::sleep(Duration::from_millis(20));
    }

    /// Run `op` once (plain) or until answered (session).
    fn run(&mut self, key: usize, op: &Op, stop: &AtomicBool, counters: &Counters) -> Outcome {
        let (method, path, body) = self.request(key, op);
        let (client, seq) = if self.session && *op != Op::Read {
            self.seq += 1;
            (self.id.to_string(), self.seq.to_string())
        } else {
            (String::new(), String::new())
        };
        let headers: Vec<(&str, &str)> = if seq.is_empty() {
            Vec::new()
        } else {
            vec![(CLIENT_ID_HEADER, &client), (SEQ_HEADER, &seq)]
        };
        let give_up = Instant::now() + Duration::from_secs(5);
        let mut maybe_applied = false;
        loop {
            let outcome = match attempt(&mut self.http, &method, &path, &headers, &body) {
                Attempt::Answer(s, v) => match ret_of(op, s, &v) {
                    Some(ret) => {
                        if maybe_applied && *op != Op::Read {
                            counters.retried_writes.fetch_add(1, Ordering::Relaxed);
                        }
                        return Outcome::Done(ret);
                    }
                    None => Outcome::Unknown,
                },
                Attempt::NotApplied => Outcome::NotApplied,
                Attempt::Unknown => Outcome::Unknown,
            };
            maybe_applied |= matches!(outcome, Outcome::Unknown);
            self.switch_node();
            let retry = self.session && Instant::now() < give_up && !stop.load(Ordering::Relaxed);
            if !retry {
                return if maybe_applied {
                    Outcome::Unknown
                } else {
                    outcome
                };
            }
        }
    }
}

struct Workload {
    keys: usize,
    plain_clients: u64,
    session_clients: u64,
    /// Rounds of (run, kill a node, run, restart it).
    kills: usize,
    /// Kill a random node instead of the leader every this many rounds.
    follower_every: usize,
    round: Duration,
}

fn run_workload(w: Workload) {
    let mut c = Cluster::start(3);
    c.leader();

    let history = Arc::new(Mutex::new(History::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let workers: Vec<_> = (0..w.plain_clients + w.session_clients)
        .map(|id| {
            let (history, stop, counters) = (history.clone(), stop.clone(), counters.clone());
            let clients = c.clients.clone();
            let keys = w.keys;
            let session = id >= w.plain_clients;
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(id + 7);
                let mut worker = Worker {
                    id: rng.u64(..),
                    session,
                    http: HttpClient::new(clients[0].clone(), Duration::from_secs(3)),
                    clients,
                    rng: rng.clone(),
                    seq: 0,
                };
                let mut last_seen: Vec<Option<String>> = vec![None; keys];
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let key = rng.usize(0..keys);
                    let value = format!("c{id}-{i}");
                    let op = random_op(&mut rng, value, &last_seen[key]);
                    let handle = history
                        .lock()
                        .unwrap()
                        .invoke(id, &format!("k{key}"), op.clone());
                    let outcome = worker.run(key, &op, &stop, &counters);
                    let mut h = history.lock().unwrap();
                    match outcome {
                        Outcome::Done(ret) => {
                            if let Ret::Read(v) = &ret {
                                last_seen[key] = v.clone();
                            }
                            h.ret(handle, ret);
                        }
                        Outcome::NotApplied => h.cancel(handle),
                        Outcome::Unknown => h.unknown(handle),
                    }
                }
            })
        })
        .collect();

    for round in 1..=w.kills {
        std::thread::sleep(w.round);
        let victim = if round % w.follower_every == 0 {
            fastrand::usize(1..=c.size())
        } else {
            c.leader()
        };
        c.kill9(victim);
        std::thread::sleep(Duration::from_millis(700));
        c.spawn_node(victim);
    }
    std::thread::sleep(w.round);
    stop.store(true, Ordering::Relaxed);
    for t in workers {
        t.join().unwrap();
    }
    c.kill9_all();

    let history = history.lock().unwrap();
    let started = Instant::now();
    match history.check() {
        Ok(stats) => {
            assert!(
                stats.completed > 100,
                "too few completed operations to mean anything: {stats}"
            );
            eprintln!(
                "linearizable: {stats}; {} session writes answered after a retry; \
                 {} plain + {} session clients, {} kills; checked in {:?}",
                counters.retried_writes.load(Ordering::Relaxed),
                w.plain_clients,
                w.session_clients,
                w.kills,
                started.elapsed()
            );
        }
        // The cluster keeps its node logs when dropped in a panic.
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn client_history_is_linearizable_across_leader_kills() {
    run_workload(Workload {
        keys: 6,
        plain_clients: 3,
        session_clients: 3,
        kills: 2,
        follower_every: usize::MAX,
        round: Duration::from_millis(1500),
    });
}

/// About a minute: 12 kills (every third of a random node).
#[test]
#[ignore = "about a minute; run with --ignored"]
fn long_client_history_is_linearizable_across_many_kills() {
    run_workload(Workload {
        keys: 6,
        plain_clients: 4,
        session_clients: 4,
        kills: 12,
        follower_every: 3,
        round: Duration::from_millis(3000),
    });
}
