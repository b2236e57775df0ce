//! The fingerprint of a raft-rs node: everything reachable through
//! raft-rs's public API that can change what a later input does.
//!
//! Covered: the role, term, vote, leader id, lead transferee, pending conf
//! index, pending snapshot request, election and heartbeat elapsed ticks,
//! the randomized election timeout, priority, promotability, the
//! uncommitted-size tally, the read-only queue's lengths and the read
//! states; the raft log's committed, persisted and applied indices, its
//! unstable offset, entries and snapshot, and the storage's hard state and
//! entries (protobuf bytes); every `Progress` (matched, next index, probe
//! state, paused, pending snapshot and snapshot request, recently active,
//! commit group and committed index, the inflight count and whether the
//! window is full); the vote tally per voter; the voters and learners;
//! messages not yet taken (none, after a step). A crashed node: its
//! durable copy. And the variant the node is checked under (it decides how
//! a heartbeat timeout is taken).
//!
//! Not reachable, and why that is safe:
//! - the inflight window's *contents* (private; only `count` and `full`
//!   are public). They matter only through `full()`, which pauses a
//!   replicating peer; `max_inflight_msgs` (256) is far above the entries a
//!   model log can put in flight in one leadership (each non-empty append
//!   in replicate state carries entries past the last one sent, and the
//!   window is reset on leaving replicate state), so it never fills.
//! - `RawNode`'s private bookkeeping (`prev_ss`, `prev_hs`, the ready
//!   records and number, `commit_since_index`). Every step handles every
//!   `Ready` until `has_ready()` is false, which leaves `prev_ss` and
//!   `prev_hs` equal to the soft and hard state (hashed), no record
//!   outstanding, and `commit_since_index` equal to the applied index
//!   (hashed). The ready number only ever matches records.
//! - the `ReadOnly` queue's contents beyond its lengths: the adapter never
//!   issues a read, so it stays empty.
//! - config constants (the same for every node of a cluster, the id aside,
//!   which is hashed).

use raft::eraftpb::{Entry, Message};
use raft::storage::MemStorage;
use raft::{ProgressState, RawNode, StateRole};
use raftcheck_adapter::fingerprint;

use crate::node::{durable_copy, DurableCopy, Life, Node};

fn role(s: StateRole) -> u8 {
    match s {
        StateRole::Follower => 0,
        StateRole::Candidate => 1,
        StateRole::Leader => 2,
        StateRole::PreCandidate => 3,
    }
}

fn progress_state(s: ProgressState) -> u8 {
    match s {
        ProgressState::Probe => 0,
        ProgressState::Replicate => 1,
        ProgressState::Snapshot => 2,
    }
}

/// An entry's protobuf encoding (every field, deterministically).
fn bytes<M: protobuf::Message>(m: &M) -> Vec<u8> {
    m.write_to_bytes()
        .unwrap_or_else(|e| format!("unencodable: {e}").into_bytes())
}

fn entries(es: &[Entry]) -> Vec<Vec<u8>> {
    es.iter().map(bytes).collect()
}

fn durable(d: &DurableCopy) -> (Vec<u8>, Vec<Vec<u8>>) {
    (bytes(&d.hard_state), entries(&d.entries))
}

/// Every public field of the running node, in a fixed order.
fn running(raw: &RawNode<MemStorage>) -> u64 {
    let r = &raw.raft;
    let core = (
        (r.id, r.term, r.vote, role(r.state), r.leader_id),
        (
            r.lead_transferee,
            r.pending_conf_index,
            r.pending_request_snapshot,
        ),
        (
            r.election_elapsed,
            r.heartbeat_elapsed(),
            r.randomized_election_timeout(),
        ),
        (r.priority, r.promotable(), r.uncommitted_size()),
        (r.pending_read_count(), r.ready_read_count()),
    );
    let read_states: Vec<_> = r
        .read_states
        .iter()
        .map(|rs| (rs.index, rs.request_ctx.clone()))
        .collect();
    let log = &r.raft_log;
    let log = (
        log.committed,
        log.persisted,
        log.applied,
        log.unstable.offset,
        entries(&log.unstable.entries),
        log.unstable.snapshot.as_ref().map(bytes),
        durable(&durable_copy(raw.store())),
    );
    let mut progress: Vec<_> = r
        .prs()
        .iter()
        .map(|(&id, p)| {
            (
                id,
                p.matched,
                p.next_idx,
                progress_state(p.state),
                p.paused,
                p.pending_snapshot,
                p.pending_request_snapshot,
                p.recent_active,
                p.commit_group_id,
                p.committed_index,
                p.ins.count(),
                p.ins.full(),
            )
        })
        .collect();
    progress.sort_unstable();
    let mut votes: Vec<_> = r.prs().votes().iter().map(|(&id, &v)| (id, v)).collect();
    votes.sort_unstable();
    let conf = r.prs().conf().to_conf_state();
    let conf = (bytes(&conf),);
    let pending: Vec<_> = r.msgs.iter().map(bytes).collect();
    fingerprint(&(core, read_states, log, progress, votes, conf, pending))
}

pub(crate) fn node_fingerprint(node: &Node) -> u64 {
    match &node.life {
        Life::Running(raw) => fingerprint(&(0u8, node.variant, running(raw))),
        Life::Crashed(d) => fingerprint(&(1u8, node.variant, node.id, durable(d))),
        Life::Failed { reason, durable: d } => {
            fingerprint(&(2u8, node.variant, node.id, reason, durable(d)))
        }
    }
}

pub(crate) fn message_fingerprint(m: &Message) -> u64 {
    fingerprint(&bytes(m))
}
