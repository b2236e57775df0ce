//! The `raftkv` server: one Raft loop thread owning the [`RaftNode`], the
//! [`Wal`] and the [`KvStore`]; a [`Transport`] for peers; and a small HTTP
//! API for clients.
//!
//! # The Raft loop (group commit)
//!
//! Each turn it blocks for the first event (or the next timer), then drains
//! every other queued event (peer messages, client proposals), so:
//!
//! 1. peer messages are stepped into the core one by one, all client
//!    proposals of the turn become **one** `propose_batch` (one log append,
//!    one AppendEntries per peer), and due timers fire;
//! 2. the durable writes of every resulting `Ready` are appended to the WAL
//!    and made durable with **one** `fdatasync`;
//! 3. only then are the turn's messages sent and its committed entries
//!    applied to the store and answered to their clients.
//!
//! A write is acknowledged only after its entry is committed and applied.
//! A linearizable read is a `Get` command through the log; `?stale=true`
//! reads the local store instead.
//!
//! # Exactly-once writes
//!
//! A write may carry a client session: headers [`CLIENT_ID_HEADER`] (a
//! random u64 per client) and [`SEQ_HEADER`] (that client's request
//! number, one more per write). The store applies each (client, seq) at
//! most once and answers a retry with the first answer, so a client may
//! resend a write whose outcome it does not know (see [`crate::kv::session`]).

mod api;
#[cfg(test)]
mod api_tests;
pub mod client;
pub mod http;
mod http_io;
#[cfg(test)]
mod test_http;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use crate::kv::{Command, CommandResult, KvStore};
use crate::storage::{Wal, WalError};
use crate::transport::{ClusterSecret, Transport, TransportConfig};
use raft_core::{
    Config, ConfigError, EntryKind, Input, LogIndex, Message, MessageBody, NodeId, ProposeError,
    RaftNode, Role, Term, Unpersisted,
};

/// Header carrying a write's client id (decimal u64) for de-duplication.
pub const CLIENT_ID_HEADER: &str = "Raftkv-Client-Id";
/// Header carrying a write's sequence number within its client's session
/// (decimal u64; one more for each new write, the same for a retry).
pub const SEQ_HEADER: &str = "Raftkv-Seq";

/// How to run one node.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub id: NodeId,
    /// Every voter (this node included) and its Raft (peer) address.
    pub peers: Vec<(NodeId, String)>,
    pub data_dir: PathBuf,
    pub client_addr: String,
    /// Election timeouts are drawn uniformly from `[election, 2 * election)`.
    pub election_timeout: Duration,
    pub heartbeat: Duration,
    /// How long a client request waits for commit before "outcome unknown".
    pub request_timeout: Duration,
    /// Write every core input and output as NDJSON here.
    pub trace_file: Option<PathBuf>,
    /// The key peers prove they share (see [`crate::transport::auth`]).
    pub cluster_secret: ClusterSecret,
}

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("invalid cluster configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("node {id} is not in --peers; list every node, this one included, as ID=HOST:PORT")]
    NotInPeers { id: NodeId },
    #[error("cannot listen on {what} address {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A node's observable state (`GET /v1/status`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: String,
    pub term: Term,
    pub commit_index: LogIndex,
    pub applied_index: LogIndex,
    pub last_log_index: LogIndex,
    pub leader: Option<NodeId>,
    pub leader_client_addr: Option<String>,
    pub client_addr: String,
    pub pid: u32,
}

/// Why a proposal got no result.
#[derive(Debug, Clone)]
pub(crate) enum ProposeFailure {
    NotLeader {
        leader: Option<NodeId>,
    },
    /// Another leader's entry took this index: the command was not applied.
    Superseded,
}

/// Where a proposal's answer goes: the API handler awaiting it on the
/// client runtime (sending never blocks the Raft loop).
type Reply = tokio::sync::oneshot::Sender<Result<CommandResult, ProposeFailure>>;

pub(crate) enum Event {
    Peer(Message),
    Propose { payload: Bytes, reply: Reply },
}

pub(crate) struct Shared {
    pub(crate) events: SyncSender<Event>,
    pub(crate) kv: Mutex<KvStore>,
    pub(crate) status: Mutex<Status>,
    pub(crate) transport: Arc<Transport>,
    pub(crate) request_timeout: Duration,
}

/// Run a node until `shutdown` is set (or a fatal storage error).
pub fn run(cfg: ServerConfig, shutdown: Arc<AtomicBool>) -> Result<(), ServerError> {
    let my_raft_addr = cfg
        .peers
        .iter()
        .find(|(id, _)| *id == cfg.id)
        .map(|(_, a)| a.clone())
        .ok_or(ServerError::NotInPeers { id: cfg.id })?;
    let voters: Vec<NodeId> = cfg.peers.iter().map(|(id, _)| *id).collect();
    let raft_config = Config::new(cfg.id, voters);

    let (wal, recovery) = Wal::open(&cfg.data_dir)?;
    tracing::info!(
        wal = %wal.path().display(),
        records = recovery.records,
        term = recovery.state.term,
        log = recovery.state.log.len(),
        torn_bytes = recovery.truncated_bytes,
        "recovered"
    );
    let node = RaftNode::restart(raft_config, recovery.state)?;

    let bind = |what: &'static str, addr: &str| {
        TcpListener::bind(addr).map_err(|source| ServerError::Bind {
            what,
            addr: addr.to_string(),
            source,
        })
    };
    let raft_listener = bind("peer", &my_raft_addr)?;
    let client_listener = bind("client", &cfg.client_addr)?;

    let (tx, rx) = mpsc::sync_channel::<Event>(1 << 16);
    let mut tcfg = TransportConfig::new(
        cfg.id,
        cfg.peers
            .iter()
            .filter(|(id, _)| *id != cfg.id)
            .cloned()
            .collect(),
        cfg.cluster_secret.clone(),
    );
    tcfg.client_addr = Some(cfg.client_addr.clone());
    let peer_tx = tx.clone();
    let transport = Transport::start(tcfg, raft_listener, move |m| {
        let _ = peer_tx.send(Event::Peer(m));
    })
    .map_err(|source| ServerError::Io {
        what: "starting the peer transport".into(),
        source,
    })?;
    let shared = Arc::new(Shared {
        events: tx,
        kv: Mutex::new(KvStore::default()),
        status: Mutex::new(Status {
            id: cfg.id,
            role: "Follower".into(),
            client_addr: cfg.client_addr.clone(),
            pid: std::process::id(),
            ..Status::default()
        }),
        transport: Arc::new(transport),
        request_timeout: cfg.request_timeout,
    });
    let trace = match &cfg.trace_file {
        Some(path) => Some(BufWriter::new(File::create(path).map_err(|source| {
            ServerError::Io {
                what: format!("creating trace file {}", path.display()),
                source,
            }
        })?)),
        None => None,
    };
    let client_api =
        api::ClientApi::start(client_listener, shared.clone(), api::HEADER_READ_TIMEOUT).map_err(
            |source| ServerError::Io {
                what: "starting the client API".into(),
                source,
            },
        )?;
    tracing::info!(
        id = cfg.id,
        peer_addr = %my_raft_addr,
        client_addr = %cfg.client_addr,
        "raftkv node serving"
    );
    let mut raft = RaftLoop {
        now: Instant::now(),
        election_deadline: Instant::now(),
        heartbeat_deadline: Instant::now(),
        node,
        wal,
        shared,
        pending: HashMap::new(),
        cfg,
        trace,
    };
    raft.reset_election_timer();
    let result = raft.run(rx, &shutdown);
    // Answer the requests still waiting for a commit (dropping their
    // replies), then close the client connections.
    drop(raft);
    client_api.shutdown();
    result
}

struct RaftLoop {
    node: RaftNode,
    wal: Wal,
    shared: Arc<Shared>,
    pending: HashMap<LogIndex, (Term, Reply)>,
    cfg: ServerConfig,
    now: Instant,
    election_deadline: Instant,
    heartbeat_deadline: Instant,
    trace: Option<BufWriter<File>>,
}

const MAX_EVENTS_PER_TURN: usize = 8192;

impl RaftLoop {
    fn reset_election_timer(&mut self) {
        let base = self.cfg.election_timeout;
        let jitter = fastrand::u64(0..base.as_millis().max(1) as u64);
        self.election_deadline = self.now + base + Duration::from_millis(jitter);
    }

    fn trace(&mut self, value: serde_json::Value) {
        if let Some(t) = &mut self.trace {
            let _ = serde_json::to_writer(&mut *t, &value);
            let _ = t.write_all(b"\n");
        }
    }

    fn run(&mut self, rx: Receiver<Event>, shutdown: &AtomicBool) -> Result<(), ServerError> {
        let mut events = Vec::new();
        let mut proposals: Vec<Reply> = Vec::new();
        let mut payloads: Vec<Bytes> = Vec::new();
        loop {
            if shutdown.load(Ordering::Relaxed) {
                tracing::info!("shutting down");
                return Ok(());
            }
            self.now = Instant::now();
            let deadline = if self.node.role() == Role::Leader {
                self.heartbeat_deadline
            } else {
                self.election_deadline
            };
            let wait = deadline
                .saturating_duration_since(self.now)
                .min(Duration::from_millis(100));
            match rx.recv_timeout(wait) {
                Ok(ev) => events.push(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            while events.len() < MAX_EVENTS_PER_TURN {
                match rx.try_recv() {
                    Ok(ev) => events.push(ev),
                    Err(_) => break,
                }
            }
            self.now = Instant::now();
            let was_leader = self.node.role() == Role::Leader;
            let mut readies = Vec::new();
            for ev in events.drain(..) {
                match ev {
                    Event::Peer(m) => {
                        if let MessageBody::AppendEntries(ae) = &m.body {
                            if ae.term >= self.node.term() {
                                self.reset_election_timer();
                            }
                        }
                        if self.trace.is_some() {
                            self.trace(json!({ "input": Input::Message(m.clone()) }));
                        }
                        readies.push(self.node.step(m));
                    }
                    Event::Propose { payload, reply } => {
                        payloads.push(payload);
                        proposals.push(reply);
                    }
                }
            }
            if !payloads.is_empty() {
                if self.trace.is_some() {
                    for p in &payloads {
                        self.trace(json!({ "input": Input::Propose(p.clone()) }));
                    }
                }
                match self.node.propose_batch(payloads.drain(..)) {
                    Ok((first, ready)) => {
                        for (i, reply) in proposals.drain(..).enumerate() {
                            self.pending
                                .insert(first.index + i as LogIndex, (first.term, reply));
                        }
                        readies.push(ready);
                    }
                    Err(e) => {
                        let leader = match e {
                            ProposeError::NotLeader { leader } => Some(leader),
                            ProposeError::NoLeader => None,
                        };
                        for reply in proposals.drain(..) {
                            let _ = reply.send(Err(ProposeFailure::NotLeader { leader }));
                        }
                    }
                }
            }
            if self.node.role() == Role::Leader {
                if self.now >= self.heartbeat_deadline {
                    self.trace(json!({ "input": Input::HeartbeatTimeout }));
                    readies.push(self.node.heartbeat_timeout());
                    self.heartbeat_deadline = self.now + self.cfg.heartbeat;
                }
            } else if self.now >= self.election_deadline {
                self.trace(json!({ "input": Input::ElectionTimeout }));
                readies.push(self.node.election_timeout());
                self.reset_election_timer();
            }
            if !was_leader && self.node.role() == Role::Leader {
                tracing::info!(term = self.node.term(), "became leader");
                self.heartbeat_deadline = self.now + self.cfg.heartbeat;
            }

            // Group commit: every write of the turn, then one fdatasync.
            let mut released: Vec<Unpersisted> = Vec::with_capacity(readies.len());
            for ready in readies {
                let (writes, rest) = ready.into_writes();
                if !writes.is_empty() {
                    self.wal.append(&writes)?;
                    if self.trace.is_some() {
                        self.trace(json!({ "durable_writes": writes }));
                    }
                }
                released.push(rest);
            }
            self.wal.sync()?;
            for rest in released {
                let out = rest.persisted();
                if self.trace.is_some() {
                    self.trace(json!({ "messages": out.messages, "committed": out.committed }));
                }
                for m in out.messages {
                    if let MessageBody::RequestVoteResponse(r) = &m.body {
                        if r.vote_granted {
                            self.reset_election_timer();
                        }
                    }
                    self.shared.transport.send(m);
                }
                if !out.committed.is_empty() {
                    self.apply(out.committed);
                }
            }
            if let Some(t) = &mut self.trace {
                let _ = t.flush();
            }
            self.publish_status();
        }
    }

    /// Apply committed entries and answer their waiters. The kv lock is
    /// taken per entry, not per batch (which may be thousands of entries):
    /// a stale read waits for at most one command's apply (see `api.rs`).
    fn apply(&mut self, committed: Vec<raft_core::Entry>) {
        for entry in committed {
            let waiter = self.pending.remove(&entry.index);
            let cmd = match &entry.kind {
                EntryKind::Noop => None,
                EntryKind::Normal(payload) => match Command::decode(payload) {
                    Ok(cmd) => Some(cmd),
                    Err(e) => {
                        tracing::error!(index = entry.index, "skipping committed entry: {e}");
                        None
                    }
                },
            };
            let result = {
                let mut kv = self.shared.kv.lock().expect("kv lock");
                match cmd {
                    Some(cmd) => Some(kv.apply(entry.index, cmd)),
                    None => {
                        kv.skip(entry.index);
                        None
                    }
                }
            };
            if let Some((term, reply)) = waiter {
                let answer = match result {
                    Some(r) if term == entry.term => Ok(r),
                    _ => Err(ProposeFailure::Superseded),
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn publish_status(&self) {
        let leader = self.node.leader_hint();
        let applied = self.shared.kv.lock().expect("kv lock").applied();
        let mut s = self.shared.status.lock().expect("status lock");
        s.role = format!("{:?}", self.node.role());
        s.term = self.node.term();
        s.commit_index = self.node.commit_index();
        s.applied_index = applied;
        s.last_log_index = self.node.last_log_index();
        if s.leader != leader {
            s.leader_client_addr = leader.and_then(|l| self.shared.transport.client_addr(l));
            s.leader = leader;
        } else if s.leader_client_addr.is_none() {
            s.leader_client_addr = leader.and_then(|l| self.shared.transport.client_addr(l));
        }
    }
}
