//! One raft-rs server: a `RawNode` over its own `MemStorage`, driven
//! through raft-rs's `Ready` protocol, or the durable copy a crash left.

use std::panic::{catch_unwind, AssertUnwindSafe};

use raft::eraftpb::{ConfState, Entry, HardState, Message};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RawNode, Storage};
use raft_spec::types::{ServerId, LOG_CAPACITY};
use raft_spec::variant::BatchLimit;
use raft_spec::{Config, Variant};
use raftcheck_adapter::AdapterError;

use crate::convert::node_id;

/// What survives a crash: raft-rs's `HardState` (term, vote and commit:
/// raft-rs persists its commit index) and the persisted log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DurableCopy {
    pub hard_state: HardState,
    pub entries: Vec<Entry>,
}

pub(crate) enum Life {
    Running(Box<RawNode<MemStorage>>),
    Crashed(DurableCopy),
    /// raft-rs panicked inside a step: its state is no longer trustworthy,
    /// so the node takes no further input (the storage it had is kept).
    Failed {
        reason: String,
        durable: DurableCopy,
    },
}

/// One server of the cluster, running or crashed.
pub struct Node {
    pub(crate) id: u64,
    pub(crate) servers: u8,
    /// The protocol the model runs: what the abstraction shows and how a
    /// heartbeat timeout is taken.
    pub(crate) variant: Variant,
    pub(crate) config: raft::Config,
    pub(crate) life: Life,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let life = match &self.life {
            Life::Running(_) => "running".to_string(),
            Life::Crashed(_) => "crashed".to_string(),
            Life::Failed { reason, .. } => format!("failed: {reason}"),
        };
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("life", &life)
            .finish_non_exhaustive()
    }
}

// Bytes a value entry (term and index below 128, one byte of data) takes
// in raft-rs's size accounting (protobuf); a no-op (no data) takes 4.
use raft_spec::variant::VALUE_ENTRY_BYTES;

/// `max_size_per_msg` for a batch limit of `max_batch` in the model `cfg`.
/// Under `BatchLimit::Bytes` the model counts bytes as raft-rs does
/// (`max_batch` value entries' worth, always at least one entry): exact.
/// Under `BatchLimit::Entries` raft-rs still limits bytes, so the limit is
/// exact for `max_batch == 1` (0 bytes: one entry) and for `max_batch` at
/// least the log's capacity (no limit); in between it is exact for
/// batches of values, and a batch holding no-ops (4 bytes, not 7) may
/// carry more.
pub fn max_size_per_msg(cfg: &Config) -> u64 {
    if cfg.variant.batch_limit == BatchLimit::Bytes {
        return u64::from(VALUE_ENTRY_BYTES) * u64::from(cfg.max_batch);
    }
    match cfg.max_batch {
        0 | 1 => 0,
        b if usize::from(b) >= LOG_CAPACITY => raft::NO_LIMIT,
        b => u64::from(VALUE_ENTRY_BYTES) * u64::from(b),
    }
}

/// The raft-rs config of model server `s`.
pub fn rs_config(cfg: &Config, s: ServerId) -> raft::Config {
    raft::Config {
        id: node_id(s),
        // Timers are model inputs, never ticks; but the randomized election
        // timeout is drawn from `thread_rng` in `min..max` at every reset,
        // so a range of one value keeps the node deterministic.
        election_tick: 10,
        heartbeat_tick: 1,
        min_election_tick: 10,
        max_election_tick: 11,
        max_size_per_msg: max_size_per_msg(cfg),
        // Far above what a model log can put in flight (at most one
        // non-empty append per entry of a leadership): the window never
        // fills, so it never pauses replication.
        max_inflight_msgs: 256,
        check_quorum: false,
        pre_vote: false,
        ..Default::default()
    }
}

fn voters(servers: u8) -> ConfState {
    ConfState::from(((1..=u64::from(servers)).collect::<Vec<_>>(), vec![]))
}

/// The discard logger: raft-rs logs every step at info level.
fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn panic_reason(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_string())
}

/// A brand-new raft-rs node over a fresh storage holding the cluster's
/// configuration (every server a voter) and nothing else.
fn start(
    config: &raft::Config,
    servers: u8,
    durable: &DurableCopy,
) -> Result<RawNode<MemStorage>, String> {
    // A fresh store: `MemStorage` clones share one store, so a node never
    // shares storage with the copy it restarts from.
    let store = MemStorage::new_with_conf_state(voters(servers));
    {
        let mut core = store.wl();
        core.append(&durable.entries).map_err(|e| e.to_string())?;
        core.set_hardstate(durable.hard_state.clone());
    }
    // The application had applied everything committed (there is no state
    // machine): no committed entries are handed out again.
    let config = raft::Config {
        applied: durable.hard_state.commit,
        ..config.clone()
    };
    let mut raw = RawNode::new(&config, store, &logger()).map_err(|e| e.to_string())?;
    let released = drain(&mut raw)?;
    if !released.is_empty() {
        return Err(format!("a restarted node sent {released:?}"));
    }
    Ok(raw)
}

impl Node {
    pub(crate) fn fresh(cfg: &Config, s: ServerId) -> Result<Node, AdapterError> {
        if s.0 >= cfg.servers {
            return Err(AdapterError::adapter(format!(
                "server {s} is not one of a cluster of {}",
                cfg.servers
            )));
        }
        let config = rs_config(cfg, s);
        let raw = catch_unwind(AssertUnwindSafe(|| {
            start(&config, cfg.servers, &DurableCopy::default())
        }))
        .map_err(panic_reason)
        .and_then(|r| r)
        .map_err(|e| AdapterError::adapter(format!("a fresh raft-rs node: {e}")))?;
        Ok(Node {
            id: config.id,
            servers: cfg.servers,
            variant: cfg.variant,
            config,
            life: Life::Running(Box::new(raw)),
        })
    }

    pub(crate) fn raw(&self) -> Option<&RawNode<MemStorage>> {
        match &self.life {
            Life::Running(raw) => Some(raw),
            _ => None,
        }
    }

    /// Why raft-rs failed this node, if it did (a panic in a step).
    pub(crate) fn failure(&self) -> Option<&str> {
        match &self.life {
            Life::Failed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The node's durable storage (running: its `MemStorage`).
    pub(crate) fn durable(&self) -> DurableCopy {
        match &self.life {
            Life::Running(raw) => durable_copy(raw.store()),
            Life::Crashed(d) | Life::Failed { durable: d, .. } => d.clone(),
        }
    }

    /// Runs `f` on the running node, then handles every `Ready` it left;
    /// the messages released, all after the state they follow from is in
    /// storage. A raft-rs panic fails the node and is reported.
    pub(crate) fn run(
        &mut self,
        input: &str,
        f: impl FnOnce(&mut RawNode<MemStorage>) -> Result<(), AdapterError>,
    ) -> Result<Vec<Message>, AdapterError> {
        let raw = match &mut self.life {
            Life::Running(raw) => raw,
            Life::Crashed(_) => {
                return Err(AdapterError::adapter(format!("{input} on a crashed node")))
            }
            Life::Failed { reason, .. } => {
                return Err(AdapterError::adapter(format!(
                    "{input} on a node raft-rs failed earlier ({reason})"
                )))
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            f(raw)?;
            drain(raw).map_err(AdapterError::adapter)
        }));
        match outcome {
            Ok(r) => r,
            Err(p) => {
                let reason = format!("raft-rs panicked: {}", panic_reason(p));
                // The store's lock is poisoned if the panic held it: the
                // copy is then lost too (the node is failed either way).
                let durable = catch_unwind(AssertUnwindSafe(|| durable_copy(raw.store())))
                    .unwrap_or_default();
                self.life = Life::Failed {
                    reason: reason.clone(),
                    durable,
                };
                Err(AdapterError::refused(input, reason))
            }
        }
    }

    pub(crate) fn crash(&mut self) {
        if let Life::Running(raw) = &self.life {
            // A deep copy: the RawNode and its store (and every volatile
            // field) are dropped here.
            self.life = Life::Crashed(durable_copy(raw.store()));
        }
    }

    pub(crate) fn recover(&mut self) -> Result<(), AdapterError> {
        let durable = match &self.life {
            Life::Crashed(d) => d.clone(),
            Life::Running(_) => {
                return Err(AdapterError::adapter("recovering a node that is running"))
            }
            Life::Failed { reason, .. } => {
                return Err(AdapterError::adapter(format!(
                    "recovering a node raft-rs failed earlier ({reason})"
                )))
            }
        };
        let (config, servers) = (&self.config, self.servers);
        let raw = catch_unwind(AssertUnwindSafe(|| start(config, servers, &durable)))
            .map_err(panic_reason)
            .and_then(|r| r)
            .map_err(|e| AdapterError::refused("restart from storage", e))?;
        self.life = Life::Running(Box::new(raw));
        Ok(())
    }
}

impl Node {
    /// A copy behaving as this node does, or `None` where one cannot be
    /// made soundly. raft-rs's `RawNode` is not `Clone`: the copy is a new
    /// node over a copy of the storage, its public state then set field by
    /// field (the progress tracker, votes and inflight windows included, by
    /// `ProgressTracker::clone`). What stays private is equal by
    /// construction: `heartbeat_elapsed` is 0 (never ticked), the
    /// uncommitted-size tally is unused (no limit), `RawNode`'s records are
    /// settled by [`drain`]. The private counters it can read are checked
    /// here; the caller checks the copy's fingerprint against the
    /// original's ([`crate::RaftRs`]'s `snapshot`).
    pub(crate) fn copy(&self) -> Option<Node> {
        let life = match &self.life {
            Life::Running(raw) => {
                Life::Running(Box::new(copy_running(raw, &self.config, self.servers)?))
            }
            Life::Crashed(d) => Life::Crashed(d.clone()),
            Life::Failed { .. } => return None,
        };
        Some(Node {
            id: self.id,
            servers: self.servers,
            variant: self.variant,
            config: self.config.clone(),
            life,
        })
    }
}

fn copy_running(
    raw: &RawNode<MemStorage>,
    config: &raft::Config,
    servers: u8,
) -> Option<RawNode<MemStorage>> {
    let r = &raw.raft;
    let log = &r.raft_log;
    if !r.msgs.is_empty() || !log.unstable.entries.is_empty() || log.unstable.snapshot.is_some() {
        return None; // not between steps
    }
    let durable = durable_copy(raw.store());
    let config = raft::Config {
        applied: log.applied,
        ..config.clone()
    };
    catch_unwind(AssertUnwindSafe(|| {
        let store = MemStorage::new_with_conf_state(voters(servers));
        {
            let mut core = store.wl();
            core.append(&durable.entries).ok()?;
            core.set_hardstate(durable.hard_state.clone());
        }
        let mut copy = RawNode::new(&config, store, &logger()).ok()?;
        let c = &mut copy.raft;
        c.term = r.term;
        c.vote = r.vote;
        c.state = r.state;
        c.leader_id = r.leader_id;
        c.lead_transferee = r.lead_transferee;
        c.pending_conf_index = r.pending_conf_index;
        c.pending_request_snapshot = r.pending_request_snapshot;
        c.election_elapsed = r.election_elapsed;
        c.set_randomized_election_timeout(r.randomized_election_timeout());
        c.read_only = r.read_only.clone();
        c.read_states = r.read_states.clone();
        c.raft_log.committed = log.committed;
        c.raft_log.persisted = log.persisted;
        c.raft_log.applied = log.applied;
        *c.mut_prs() = r.prs().clone();
        // Settles RawNode's view of the soft state; nothing is written or
        // sent (the hard state already is the original's).
        if !drain(&mut copy).ok()?.is_empty() {
            return None;
        }
        let (c, r) = (&copy.raft, &raw.raft);
        let private_equal = c.heartbeat_elapsed() == r.heartbeat_elapsed()
            && c.uncommitted_size() == r.uncommitted_size()
            && c.promotable() == r.promotable();
        private_equal.then_some(copy)
    }))
    .ok()
    .flatten()
}

/// A deep copy of what `store` holds durably.
pub(crate) fn durable_copy(store: &MemStorage) -> DurableCopy {
    let hard_state = store.rl().hard_state().clone();
    let (first, last) = (
        store.first_index().unwrap_or(1),
        store.last_index().unwrap_or(0),
    );
    let entries = if last >= first {
        store
            .entries(first, last + 1, None, GetEntriesContext::empty(false))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    DurableCopy {
        hard_state,
        entries,
    }
}

/// Handles every `Ready` (and the `LightReady` after each `advance`) as
/// raft-rs's persistence contract requires: entries and hard state are
/// written to storage before any message is released (the caller releases
/// them only when this returns), committed entries are "applied" (there is
/// no state machine) and the apply index advanced.
pub(crate) fn drain(raw: &mut RawNode<MemStorage>) -> Result<Vec<Message>, String> {
    let mut released = Vec::new();
    while raw.has_ready() {
        let mut rd = raw.ready();
        if !rd.snapshot().is_empty() {
            return Err("raft-rs asked to install a snapshot; the model has none".into());
        }
        {
            let store = raw.store();
            let mut core = store.wl();
            core.append(rd.entries()).map_err(|e| e.to_string())?;
            if let Some(hs) = rd.hs() {
                core.set_hardstate(hs.clone());
            }
        }
        released.extend(rd.take_messages());
        released.extend(rd.take_persisted_messages());
        rd.take_committed_entries();
        let mut light = raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            raw.store().wl().mut_hard_state().commit = commit;
        }
        released.extend(light.take_messages());
        light.take_committed_entries();
        raw.advance_apply();
    }
    Ok(released)
}
