//! tikv/raft-rs (crate `raft` 0.7) as a raftcheck [`Implementation`].
//!
//! Each model server is one `RawNode` over its own `MemStorage`
//! ([`node`]); ids, values and messages are mapped in [`convert`], the
//! abstraction function is [`abstraction`], the fingerprint
//! [`fingerprint`](mod@fingerprint).
//!
//! The adapter is checked under a variant of the model (`cfg.variant`,
//! kept in each [`Node`]). Under [`Variant::RAFT_RS`], the model of raft-rs
//! 0.7 itself, nothing is loosened and no design difference is named:
//! every divergence is real, but for raft-rs's one known deviation from
//! its model ([`differences::Deviation`], saved under
//! `counterexamples/raft-rs/`). Under the paper (or any other variant) the
//! adapter declares [`LOOSENINGS`] and names [`differences`]' design
//! differences, as before variants existed.
//!
//! The mapping of inputs:
//!
//! | model input         | raft-rs                                                       |
//! | ------------------- | ------------------------------------------------------------- |
//! | `ElectionTimeout`   | `campaign()` (pre-vote and check-quorum off)                  |
//! | `HeartbeatTimeout`  | heartbeat=rpc: `ping()` (raft-rs's `MsgBeat`: a leader's `MsgHeartbeat` to every peer); the paper's: a leader's peers `resume()`d, `bcast_append()` |
//! | `Propose(v)`        | a leader: `propose([], [v])`; else, or refused: [`AdapterError::Refused`] |
//! | `Deliver(m)`        | `step(m)`                                                     |
//! | crash / recover     | the durable copy kept, a new `RawNode` over a new store       |
//!
//! **Heartbeat under the paper.** raft-rs's own heartbeat carries no log
//! check, only `commit = min(matched, committed)`, and its response no
//! match index: the paper's four RPCs have no image for it. What the
//! paper's heartbeat does, AppendEntries from each peer's next index to
//! every peer, is `bcast_append()`; but raft-rs sends nothing to a peer
//! whose probe is paused, and unpauses it only when a heartbeat response
//! arrives (`handle_heartbeat_response` calls `resume()`, then
//! `send_append`). So under `heartbeat=append-entries` the adapter does that
//! resume itself, and no `MsgHeartbeat` is ever sent.
//!
//! **Batch limit.** See [`node::max_size_per_msg`]: exact under
//! `batch-limit=bytes`; under the paper's entry count exact for
//! `max_batch` 1 (every profile but `deep`) and for no limit, for 2..=6
//! exact for batches of values only.
//!
//! Every `Ready` is handled inside the step that made it (see
//! `node::drain`): entries and hard state are in storage before any
//! message is released.
//!
//! **Divergences by design from the paper** (raft-rs 0.7 against Figure
//! 2; none unsafe; see `tests/design_differences.rs`; each an option of
//! [`Variant::RAFT_RS`]): a candidate a majority refused becomes a
//! follower (loosened: `refused-candidate`); a vote is refused while a
//! leader of the term is known; stale-term requests get no reply; an
//! append whose prev index is below the follower's commit index is
//! answered with the commit index and its entries dropped (log, with a
//! batch of 2+); a paused probe gets nothing on a proposal and next index
//! is optimistic; commit indices travel in votes and survive restarts.
//!
//! **Snapshot.** `RawNode` is not `Clone`; [`Implementation::snapshot`]
//! builds a new node over a copy of the storage and sets its public state
//! field by field, then hands it out only if its fingerprint equals the
//! original's (else `None`: the harness replays).

pub mod abstraction;
pub mod convert;
pub mod differences;
pub mod fingerprint;
pub mod node;

use raft::eraftpb::Message;
use raft_spec::types::ServerId;
use raft_spec::variant::HeartbeatKind;
use raft_spec::{Config, Variant};
use raftcheck_adapter::{
    AdapterError, Durable, Implementation, Input, Loosening, Sent, ServerState,
};

pub use node::Node;

/// raft-rs under test.
#[derive(Clone, Copy, Debug, Default)]
pub struct RaftRs;

/// What raft-rs's design needs switched off, under the paper's model, for
/// the comparison to go on past the first place it differs by design (the
/// known design differences). Under [`Variant::RAFT_RS`] none is. Match index and a candidate's granted votes stay
/// compared: raft-rs keeps them as the model does (`matched` only grows,
/// one recorded vote per voter of the current term).
pub const LOOSENINGS: [(Loosening, &str); 4] = [
    (
        Loosening::NextIndex,
        "raft-rs advances nextIndex optimistically as it sends (replicate state) and backs off \
         by its own rejection hint",
    ),
    (
        Loosening::CommitIndex,
        "raft-rs persists its commit index and restores it on restart, and votes carry commit \
         indices (a refusing voter and the candidate both learn from them)",
    ),
    (
        Loosening::RefusedCandidate,
        "raft-rs's candidate becomes a follower (keeping its own vote) once a majority refuses \
         it; the model's stays a candidate that can no longer win",
    ),
    (
        Loosening::MessagesSent,
        "raft-rs ignores stale-term requests (no reply), broadcasts each commit advance, sends \
         every remaining batch at once, and computes its rejection hint by term",
    ),
];

impl Implementation for RaftRs {
    type Node = Node;
    type Message = Message;

    fn name(&self) -> &str {
        "raft-rs"
    }

    /// None under [`Variant::RAFT_RS`], the model of raft-rs itself: every
    /// field is compared. Under any other variant (the paper's, or a mix)
    /// [`LOOSENINGS`].
    fn loosenings(&self, cfg: &Config) -> Vec<(Loosening, &'static str)> {
        if cfg.variant == Variant::RAFT_RS {
            Vec::new()
        } else {
            LOOSENINGS.to_vec()
        }
    }

    /// The design differences of [`differences`] under any variant but
    /// [`Variant::RAFT_RS`]. Under that one, raft-rs's own model, no design
    /// difference is left: only the known deviation of raft-rs from it
    /// ([`differences::Deviation`], each saved as a counterexample) is
    /// named; any other divergence is real.
    fn known_difference(
        &self,
        cfg: &Config,
        field: &str,
        model: &str,
        implementation: &str,
        action: &str,
    ) -> Option<&'static str> {
        if cfg.variant == Variant::RAFT_RS {
            return differences::classify_deviation(field, model, implementation, action)
                .map(|d| d.name());
        }
        differences::classify(field, model, implementation, action).map(|d| d.name())
    }

    fn fresh(&self, cfg: &Config, id: ServerId) -> Result<Node, AdapterError> {
        Node::fresh(cfg, id)
    }

    fn step(
        &self,
        node: &mut Node,
        input: Input<'_, Message>,
    ) -> Result<Vec<Message>, AdapterError> {
        match input {
            Input::Deliver(m) => {
                let (me, servers) = (node.id, node.servers);
                if m.to != me {
                    return Err(AdapterError::adapter(format!(
                        "{:?} to node {} delivered to node {me}",
                        m.get_msg_type(),
                        m.to
                    )));
                }
                if m.from == me || convert::server_id(m.from, servers).is_none() {
                    return Err(AdapterError::adapter(format!(
                        "{:?} from node {}, not a peer of node {me} in a cluster of {servers}",
                        m.get_msg_type(),
                        m.from
                    )));
                }
                let m = m.clone();
                node.run("deliver", |raw| {
                    let t = m.get_msg_type();
                    raw.step(m)
                        .map_err(|e| AdapterError::adapter(format!("raft-rs refused {t:?}: {e}")))
                })
            }
            Input::ElectionTimeout => node.run("election timeout", |raw| {
                raw.campaign()
                    .map_err(|e| AdapterError::refused("election timeout", e))
            }),
            Input::HeartbeatTimeout if node.variant.heartbeat == HeartbeatKind::Rpc => {
                // raft-rs's own heartbeat (`MsgBeat`): a leader's
                // `bcast_heartbeat`, nothing on any other role.
                node.run("heartbeat timeout", |raw| {
                    raw.raft.ping();
                    Ok(())
                })
            }
            Input::HeartbeatTimeout => node.run("heartbeat timeout", |raw| {
                if raw.raft.state == raft::StateRole::Leader {
                    for (_, pr) in raw.raft.mut_prs().iter_mut() {
                        pr.resume();
                    }
                    raw.raft.bcast_append();
                }
                Ok(())
            }),
            Input::Propose(v) => {
                if v.is_noop() {
                    return Err(AdapterError::adapter(
                        "a proposal of the no-op value (the model proposes 1..=values)",
                    ));
                }
                node.run("proposal", |raw| {
                    // The model's client proposes to leaders only; a raft-rs
                    // follower would forward it (a MsgPropose, no model RPC).
                    if raw.raft.state != raft::StateRole::Leader {
                        return Err(AdapterError::refused(
                            format!("proposal of {v}"),
                            format!("not the leader (raft-rs role {:?})", raw.raft.state),
                        ));
                    }
                    raw.propose(vec![], convert::payload(v))
                        .map_err(|e| AdapterError::refused(format!("proposal of {v}"), e))
                })
            }
        }
    }

    fn crash(&self, node: &mut Node) {
        node.crash();
    }

    fn recover(&self, node: &mut Node) -> Result<(), AdapterError> {
        node.recover()
    }

    fn state(&self, node: &Node) -> Result<Option<ServerState>, AdapterError> {
        if let Some(reason) = node.failure() {
            return Err(AdapterError::refused("the node's state", reason));
        }
        node.raw()
            .map(|raw| abstraction::abstract_state(raw, &node.variant))
            .transpose()
            .map_err(|e| AdapterError::unrepresentable("the node's state", e))
    }

    fn storage(&self, node: &Node) -> Result<Durable, AdapterError> {
        abstraction::abstract_storage(&node.durable(), &node.variant)
            .map_err(|e| AdapterError::unrepresentable("the node's storage", e))
    }

    fn model_message(&self, cfg: &Config, m: &Message) -> Result<Sent, AdapterError> {
        convert::model_message(&cfg.variant, m)
    }

    fn fingerprint(&self, node: &Node) -> u64 {
        fingerprint::node_fingerprint(node)
    }

    fn message_fingerprint(&self, m: &Message) -> u64 {
        fingerprint::message_fingerprint(m)
    }

    /// See [`Node`]'s copy: a new `RawNode` set to the original's public
    /// state, checked against its fingerprint (`None` if that fails).
    fn snapshot(&self, node: &Node) -> Option<Node> {
        let want = fingerprint::node_fingerprint(node);
        node.copy()
            .filter(|copy| fingerprint::node_fingerprint(copy) == want)
    }
}
