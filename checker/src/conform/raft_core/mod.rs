//! raft-core, this workspace's Raft, as an [`Implementation`]: the first
//! adapter, and the one the harness's planted faults are built into.
//!
//! - [`convert`]: ids, values, configs and the message mapping;
//! - [`abstraction`]: node → model server state, through the node's public
//!   observation API only;
//! - [`step`]: model input → node input, through the simulator's one
//!   in-memory driver, [`raft_sim::MemNode`];
//! - [`perturb`]: faults planted in the harness to show it reports them.

pub mod abstraction;
pub mod convert;
pub mod perturb;
mod step;

use raft_core::Message;
use raft_sim::MemNode;
use raft_spec::types::{ServerId, MAX_SERVERS};
use raft_spec::{Config, Variant};
use raftcheck_adapter::{
    fingerprint, AdapterError, Durable, Implementation, Input, Sent, ServerState,
};

pub use perturb::Perturbation;

/// Every id the adapter maps: the harness checks that what a node names is
/// a server of the cluster at hand.
const SERVERS: u8 = MAX_SERVERS as u8;

/// raft-core under test, optionally with a fault planted in the harness.
#[derive(Clone, Copy, Debug, Default)]
pub struct RaftCore {
    pub perturbation: Option<Perturbation>,
}

impl RaftCore {
    pub fn perturbed(perturbation: Option<Perturbation>) -> Self {
        RaftCore { perturbation }
    }
}

impl Implementation for RaftCore {
    type Node = MemNode;
    type Message = Message;

    fn name(&self) -> &str {
        "raft-core"
    }

    /// raft-core implements Figure 2 as the paper writes it: no other
    /// protocol of the family.
    fn supports(&self, variant: &Variant) -> Result<(), String> {
        if variant.is_paper() {
            Ok(())
        } else {
            Err("raft-core implements only the paper's Figure 2 (variant paper)".into())
        }
    }

    fn fresh(&self, cfg: &Config, id: ServerId) -> Result<MemNode, AdapterError> {
        MemNode::new(convert::impl_config(cfg, id)).map_err(AdapterError::adapter)
    }

    fn step(
        &self,
        node: &mut MemNode,
        input: Input<'_, Message>,
    ) -> Result<Vec<Message>, AdapterError> {
        step::step(node, input, self.perturbation)
    }

    fn crash(&self, node: &mut MemNode) {
        node.crash();
    }

    fn recover(&self, node: &mut MemNode) -> Result<(), AdapterError> {
        step::recover(node, self.perturbation)
    }

    fn state(&self, node: &MemNode) -> Result<Option<ServerState>, AdapterError> {
        node.node()
            .map(|n| abstraction::abstract_state(n, SERVERS))
            .transpose()
            .map_err(|e| AdapterError::unrepresentable("the node's state", e))
    }

    fn storage(&self, node: &MemNode) -> Result<Durable, AdapterError> {
        abstraction::abstract_storage(node.durable(), SERVERS)
            .map_err(|e| AdapterError::unrepresentable("the node's storage", e))
    }

    fn model_message(&self, _cfg: &Config, m: &Message) -> Result<Sent, AdapterError> {
        convert::model_message(m, SERVERS)
            .map_err(|e| AdapterError::unrepresentable(format!("message {m:?}"), e))
    }

    /// The node's `Debug` form: derived, so it holds every field (the
    /// leader hint, a non-leader's stale progress, what was applied, the
    /// storage) and a field added later is covered without a change here.
    /// Computed only when the harness meets a new (node, input) pair, off
    /// the exploration's hot path.
    fn fingerprint(&self, node: &MemNode) -> u64 {
        fingerprint(&format!("{node:?}"))
    }

    fn message_fingerprint(&self, m: &Message) -> u64 {
        fingerprint(&format!("{m:?}"))
    }

    fn snapshot(&self, node: &MemNode) -> Option<MemNode> {
        Some(node.clone())
    }
}
