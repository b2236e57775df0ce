//! Load on a [`Cluster`]: writers that record every acknowledged write,
//! register clients whose put/read/CAS history is checked for
//! linearizability, and the checks that every acknowledged write reads back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use raftkv::server::client::{ClientError, KvClient};

use super::cluster::{wait_until, Cluster, PATIENCE};
use super::linearizability::{History, Op, Ret, Stats};

pub type Acked = HashMap<String, String>;

/// Client threads that put unique keys and record every acknowledged write.
pub struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    handles: Vec<JoinHandle<()>>,
}

impl Writers {
    /// `n` writers, each with a client per node (starting at that node).
    /// After a failed write a writer moves on to the next client: a leader
    /// cut off from the majority redirects nobody, it only answers 504s,
    /// and a writer that stayed with it would stall.
    pub fn start(c: &Cluster, n: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Acked>> = Default::default();
        let handles = (0..n)
            .map(|w| {
                let (stop, acked) = (stop.clone(), acked.clone());
                let clients = failover_clients(c, w);
                std::thread::spawn(move || write_until_stopped(w, clients, &stop, &acked))
            })
            .collect();
        Writers {
            stop,
            acked,
            handles,
        }
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// A copy of (at most `limit` of) the writes acknowledged so far.
    pub fn sample(&self, limit: usize) -> Acked {
        let acked = self.acked.lock().unwrap();
        acked
            .iter()
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Wait until `more` writes beyond the current count are acknowledged.
    pub fn wait_progress(&self, more: usize, what: &str) {
        let target = self.acked_count() + more;
        wait_until(
            PATIENCE,
            || self.acked_count() >= target,
            || {
                format!(
                    "{what}: {} of {target} writes acknowledged",
                    self.acked_count()
                )
            },
        );
    }

    /// Stop the writers and return every acknowledged write.
    pub fn stop(self) -> Acked {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            h.join().unwrap();
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// One client per node, the `i`th starting at node `first + i`, to move on
/// to after a failed operation. Each gives up soon after one request
/// timeout, so a worker whose node is cut off moves on quickly.
fn failover_clients(c: &Cluster, first: usize) -> Vec<KvClient> {
    (0..c.size())
        .map(|i| {
            let mut client = c.client_from(first + i);
            client.retry_for = c.request_timeout() + Duration::from_secs(1);
            client
        })
        .collect()
}

fn write_until_stopped(
    w: usize,
    mut clients: Vec<KvClient>,
    stop: &AtomicBool,
    acked: &Mutex<Acked>,
) {
    let (mut i, mut current) = (0u64, 0);
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let (k, v) = (format!("w{w}-{i}"), format!("value-{w}-{i}"));
        match clients[current].put(&k, &v) {
            Ok(_) => {
                acked.lock().unwrap().insert(k, v);
            }
            Err(_) => current = (current + 1) % clients.len(),
        }
    }
}

/// Clients doing puts, linearizable reads and compare-and-sets on a few
/// shared keys (`reg-K`), every operation recorded in a [`History`] for a
/// linearizability check. Writes carry `KvClient`'s session, so a retried
/// write applies at most once.
pub struct Registers {
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<History>>,
    handles: Vec<JoinHandle<()>>,
}

impl Registers {
    pub fn start(c: &Cluster, clients: usize, keys: usize) -> Registers {
        let stop = Arc::new(AtomicBool::new(false));
        let history = Arc::new(Mutex::new(History::new()));
        let handles = (0..clients)
            .map(|id| {
                let (stop, history) = (stop.clone(), history.clone());
                let clients = failover_clients(c, id);
                std::thread::spawn(move || {
                    operate_until_stopped(id as u64, clients, keys, &stop, &history)
                })
            })
            .collect();
        Registers {
            stop,
            history,
            handles,
        }
    }

    /// Stop the clients and check the history; panic with a failing piece
    /// of it if it is not linearizable.
    pub fn stop_and_check(self) -> Stats {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            h.join().unwrap();
        }
        let history = self.history.lock().unwrap();
        let stats = history.check().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stats.completed >= 20,
            "too few operations to mean anything: {stats}"
        );
        stats
    }
}

/// A register client's next operation: 40% writes of `value`, 40% reads,
/// 20% compare-and-sets from the value this client last read (so some
/// succeed).
pub fn random_op(rng: &mut fastrand::Rng, value: String, last_seen: &Option<String>) -> Op {
    match rng.u8(0..10) {
        0..=3 => Op::Write(value),
        4..=7 => Op::Read,
        _ => Op::Cas {
            expected: last_seen.clone(),
            new: value,
        },
    }
}

fn operate_until_stopped(
    id: u64,
    mut clients: Vec<KvClient>,
    keys: usize,
    stop: &AtomicBool,
    history: &Mutex<History>,
) {
    let mut rng = fastrand::Rng::with_seed(id);
    let mut last_seen: Vec<Option<String>> = vec![None; keys];
    let (mut i, mut current) = (0u64, 0);
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let k = rng.usize(0..keys);
        let (key, value) = (format!("reg-{k}"), format!("r{id}-{i}"));
        let op = random_op(&mut rng, value, &last_seen[k]);
        let handle = history.lock().unwrap().invoke(id, &key, op.clone());
        let client = &mut clients[current];
        let outcome = match &op {
            Op::Write(v) => client.put(&key, v).map(|_| Ret::Written),
            Op::Read => client.get(&key, false).map(Ret::Read),
            Op::Cas { expected, new } => client
                .cas(&key, expected.as_deref(), Some(new))
                .map(|(ok, _)| Ret::Cased(ok)),
        };
        let mut h = history.lock().unwrap();
        match outcome {
            Ok(ret) => {
                if let Ret::Read(v) = &ret {
                    last_seen[k] = v.clone();
                }
                h.ret(handle, ret);
            }
            Err(e) => {
                match e {
                    // Nothing that may have been applied was sent.
                    ClientError::Unavailable(..) => h.cancel(handle),
                    _ => h.unknown(handle),
                }
                current = (current + 1) % clients.len();
            }
        }
    }
}

/// Every acknowledged write reads back through the log (linearizably).
pub fn check_all_acked(c: &Cluster, acked: &Acked) {
    let items: Vec<(String, String)> = acked.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let handles: Vec<_> = items
        .chunks(items.len() / 4 + 1)
        .enumerate()
        .map(|(i, chunk)| {
            let chunk = chunk.to_vec();
            let mut client = c.client_from(i);
            std::thread::spawn(move || {
                for (k, v) in chunk {
                    let got = client
                        .get(&k, false)
                        .unwrap_or_else(|e| panic!("read {k}: {e}"));
                    assert_eq!(
                        got.as_deref(),
                        Some(v.as_str()),
                        "acknowledged write {k} lost"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Every acknowledged write reads back locally (`?stale=true`) at every
/// node. Call it once the nodes have applied past the last acknowledgement.
pub fn check_stale_reads_everywhere(c: &Cluster, acked: &Acked) {
    let handles: Vec<_> = c
        .ids()
        .map(|id| {
            let acked = acked.clone();
            let mut local = c.client_of(id);
            std::thread::spawn(move || {
                for (k, v) in &acked {
                    let got = local
                        .get(k, true)
                        .unwrap_or_else(|e| panic!("node {id}: stale read {k}: {e}"));
                    assert_eq!(got.as_deref(), Some(v.as_str()), "node {id}: {k}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
