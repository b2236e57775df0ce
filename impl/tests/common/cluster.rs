//! A raftkv cluster of real `raftkv serve` processes on 127.0.0.1, with
//! every peer link running through a fault-injecting [`Proxy`].
//!
//! # Topology
//!
//! A node listens for peers on its own `--peers` entry and dials the others
//! at theirs, one outbound connection per peer (connections are one-way:
//! see `raftkv::transport`). So each node gets its own `--peers` list:
//! its own entry is its real listen address, and the entry of every other
//! node j is the proxy of the directed link `i -> j`, which forwards to j's
//! real address. Cutting node k off both ways is partitioning every link
//! into or out of k; the proxies outlive node restarts, so a restarted node
//! dials through the same links. Client addresses are not proxied: a test
//! still talks to a node it has cut off from its peers.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use raftkv::server::client::KvClient;
use raftkv::server::Status;
use raftkv::transport::{ClusterSecret, SECRET_ENV};

use super::proxy::Proxy;

/// How long helpers wait for the cluster to reach a state before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// The nodes' `--request-timeout-ms` unless [`Options::request_timeout`]
/// says otherwise: how long an uncommitted write waits before its 504.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(2000);

/// A port for a node to listen on. Drawn below Linux's ephemeral range
/// (32768-60999 by default), so no outbound connection and no `bind(:0)`
/// (the proxies) can take it before the node binds it or while a killed
/// node is down; never handed out twice in this process; checked free.
pub fn free_port() -> u16 {
    free_ports(1)
}

/// Like [`free_port`], `n` consecutive ports (for `raftkv cluster`'s
/// `--peer-port-base`/`--client-port-base`): returns the first.
pub fn free_ports(n: u16) -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let base = fastrand::u16(20_000..32_000 - n);
        let ports = base..base + n;
        if ports
            .clone()
            .all(|p| !given.contains(&p) && TcpListener::bind(("127.0.0.1", p)).is_ok())
        {
            given.extend(ports);
            return base;
        }
    }
}

fn read_log(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Poll `cond` every 20 ms until it holds; panic with `what()` after `limit`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "after {limit:?}: {}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How [`Cluster::start_with`] runs its nodes.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Nodes write `--trace-file` (see [`Cluster::trace_path`]).
    pub traced: bool,
    /// The nodes' `--request-timeout-ms`.
    pub request_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            traced: false,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

pub struct Cluster {
    dir: tempfile::TempDir,
    /// Node i's client (HTTP) address at `clients[i - 1]`.
    pub clients: Vec<String>,
    /// Node i's real peer listen address at `peer_addrs[i - 1]`.
    pub peer_addrs: Vec<String>,
    /// The proxy of each directed link `(from, to)`.
    links: HashMap<(usize, usize), Proxy>,
    children: Vec<Option<Child>>,
    options: Options,
}

impl Cluster {
    /// Start `n` nodes and their `n * (n - 1)` link proxies.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, Options::default())
    }

    /// As [`Cluster::start`], every node writing its core inputs and
    /// outputs to [`Cluster::trace_path`].
    pub fn start_traced(n: usize) -> Cluster {
        Cluster::start_with(
            n,
            Options {
                traced: true,
                ..Options::default()
            },
        )
    }

    /// As [`Cluster::start`], the nodes run as `options` says.
    pub fn start_with(n: usize, options: Options) -> Cluster {
        let addr = || format!("127.0.0.1:{}", free_port());
        let peer_addrs: Vec<String> = (0..n).map(|_| addr()).collect();
        let clients: Vec<String> = (0..n).map(|_| addr()).collect();
        let mut links = HashMap::new();
        for from in 1..=n {
            for to in (1..=n).filter(|&to| to != from) {
                links.insert((from, to), Proxy::start(peer_addrs[to - 1].clone()));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        ClusterSecret::create_file(&dir.path().join("cluster-secret")).unwrap();
        let mut c = Cluster {
            dir,
            clients,
            peer_addrs,
            links,
            children: (0..n).map(|_| None).collect(),
            options,
        };
        for id in 1..=n {
            c.spawn_node(id);
        }
        for id in 1..=n {
            c.wait_serving(id);
        }
        c
    }

    pub fn size(&self) -> usize {
        self.clients.len()
    }

    pub fn ids(&self) -> impl Iterator<Item = usize> {
        1..=self.size()
    }

    /// The nodes' `--request-timeout-ms`.
    pub fn request_timeout(&self) -> Duration {
        self.options.request_timeout
    }

    /// Node `id`'s `--peers`: itself at its real address, every other node
    /// at the proxy of the link from `id` to it.
    fn peers_arg(&self, id: usize) -> String {
        self.ids()
            .map(|j| match j == id {
                true => format!("{j}={}", self.peer_addrs[j - 1]),
                false => format!("{j}={}", self.links[&(id, j)].addr()),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn log_path(&self, id: usize) -> PathBuf {
        self.dir.path().join(format!("node-{id}.log"))
    }

    /// The file with the secret every node is started with.
    pub fn secret_path(&self) -> PathBuf {
        self.dir.path().join("cluster-secret")
    }

    pub fn trace_path(&self, id: usize) -> PathBuf {
        self.dir.path().join(format!("node-{id}.trace.ndjson"))
    }

    pub fn wal_path(&self, id: usize) -> PathBuf {
        self.dir.path().join(format!("node-{id}")).join("wal.log")
    }

    pub fn log_text(&self, id: usize) -> String {
        read_log(&self.log_path(id))
    }

    /// Start (or restart, on its data directory) node `id` and wait until
    /// it serves.
    pub fn start_node(&mut self, id: usize) {
        self.spawn_node(id);
        self.wait_serving(id);
    }

    /// Wait until node `id` answers on its client address (so it has
    /// recovered its WAL and bound both its addresses); panic with its log
    /// if it exits instead.
    fn wait_serving(&mut self, id: usize) {
        let log = self.log_path(id);
        wait_until(
            PATIENCE,
            || {
                let exited = self.children[id - 1]
                    .as_mut()
                    .and_then(|c| c.try_wait().unwrap());
                assert!(
                    exited.is_none(),
                    "node {id} exited ({exited:?}):\n{}",
                    self.log_text(id)
                );
                self.status(id).is_some()
            },
            || format!("node {id} does not answer:\n{}", read_log(&log)),
        );
    }

    /// Start node `id` without waiting for it.
    pub fn spawn_node(&mut self, id: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftkv"));
        cmd.arg("serve");
        if self.options.traced {
            cmd.arg("--trace-file").arg(self.trace_path(id));
        }
        let child = cmd
            .args(["--id", &id.to_string(), "--peers", &self.peers_arg(id)])
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("node-{id}")))
            .args(["--client-addr", &self.clients[id - 1]])
            .arg("--cluster-secret-file")
            .arg(self.secret_path())
            .env_remove(SECRET_ENV)
            .args(["--election-timeout-ms", "300", "--heartbeat-ms", "50"])
            .args([
                "--request-timeout-ms",
                &self.request_timeout().as_millis().to_string(),
            ])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[id - 1] = Some(child);
    }

    /// SIGKILL node `id` and reap it.
    pub fn kill9(&mut self, id: usize) {
        if let Some(mut c) = self.children[id - 1].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGKILL every node (see [`Cluster::kill9`]).
    pub fn kill9_all(&mut self) {
        for id in self.ids() {
            self.kill9(id);
        }
    }

    /// SIGKILL every node, start them all again on their data directories
    /// and wait until each serves.
    pub fn restart_all(&mut self) {
        self.kill9_all();
        for id in self.ids() {
            self.spawn_node(id);
        }
        for id in self.ids() {
            self.wait_serving(id);
        }
    }

    /// The process of node `id`, if the harness started it and it was not killed.
    pub fn child_mut(&mut self, id: usize) -> Option<&mut Child> {
        self.children[id - 1].as_mut()
    }

    /// Cut node `id` off from every other node, both directions.
    pub fn isolate(&self, id: usize) {
        for ((from, to), proxy) in &self.links {
            if *from == id || *to == id {
                proxy.partition();
            }
        }
    }

    /// Restore every link.
    pub fn heal_all(&self) {
        for proxy in self.links.values() {
            proxy.heal();
        }
    }

    pub fn status(&self, id: usize) -> Option<Status> {
        KvClient::status_of(&self.clients[id - 1], Duration::from_secs(2)).ok()
    }

    pub fn statuses(&self) -> Vec<Option<Status>> {
        self.ids().map(|i| self.status(i)).collect()
    }

    /// Wait for node `id`'s status to satisfy `cond`; return that status.
    pub fn wait_status(&self, id: usize, what: &str, cond: impl Fn(&Status) -> bool) -> Status {
        let mut last = None;
        wait_until(
            PATIENCE,
            || {
                last = self.status(id);
                last.as_ref().is_some_and(&cond)
            },
            || format!("node {id}: {what}; status {:?}", self.status(id)),
        );
        last.unwrap()
    }

    /// The id of a leader that a majority of the cluster agrees on.
    pub fn leader(&self) -> usize {
        self.leader_except(None)
    }

    /// Like [`Cluster::leader`], but not `not`: a leader cut off from the
    /// majority keeps claiming leadership in its old term.
    pub fn leader_except(&self, not: Option<usize>) -> usize {
        let mut found = None;
        wait_until(
            PATIENCE,
            || {
                let statuses: Vec<Status> = self.statuses().into_iter().flatten().collect();
                found = statuses
                    .iter()
                    .filter(|s| s.role == "Leader" && Some(s.id as usize) != not)
                    .find(|s| {
                        let agree = statuses
                            .iter()
                            .filter(|o| o.leader == Some(s.id) && o.term == s.term)
                            .count();
                        agree > self.size() / 2
                    })
                    .map(|s| s.id as usize);
                found.is_some()
            },
            || format!("no majority leader (not {not:?}): {:?}", self.statuses()),
        );
        found.unwrap()
    }

    /// Wait until every node has applied at least up to `index`.
    pub fn wait_applied(&self, index: u64) {
        for id in self.ids() {
            self.wait_status(id, &format!("apply up to {index}"), |s| {
                s.applied_index >= index
            });
        }
    }

    /// Wait until every node is up and has applied the same, nonempty log.
    pub fn wait_converged(&self) {
        wait_until(
            PATIENCE,
            || {
                let s: Vec<Option<Status>> = self.statuses();
                let applied: Vec<u64> = s.iter().flatten().map(|s| s.applied_index).collect();
                applied.len() == self.size()
                    && applied.iter().all(|&a| a == applied[0])
                    && applied[0] > 0
            },
            || format!("nodes did not converge: {:?}", self.statuses()),
        );
    }

    /// A client of every node, retrying through elections.
    pub fn client(&self) -> KvClient {
        self.client_from(0)
    }

    /// Like [`Cluster::client`], first trying endpoint `first` (mod n).
    pub fn client_from(&self, first: usize) -> KvClient {
        let mut endpoints = self.clients.clone();
        endpoints.rotate_left(first % self.size());
        let mut c = KvClient::new(endpoints);
        c.retry_for = Duration::from_secs(20);
        c
    }

    /// A client of node `id` alone (for stale reads there).
    pub fn client_of(&self, id: usize) -> KvClient {
        KvClient::new(vec![self.clients[id - 1].clone()])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            // Keep the node logs (node-N.log) and WALs of a failed test.
            self.dir.disable_cleanup(true);
            eprintln!("node logs kept in {}", self.dir.path().display());
        }
    }
}
