//! Implementations planted to test the harness itself, each raft-core
//! behind the public trait with one change. Each is what a third party
//! writes: an `Implementation` in a few lines.

use raft_core::{Message, MessageBody, Role};
use raft_sim::MemNode;
use raft_spec::server::Role as ModelRole;
use raft_spec::types::ServerId;
use raft_spec::Config;
use raftcheck::conform::{Implementation, RaftCore};
use raftcheck_adapter::{fingerprint, AdapterError, Durable, Input, Sent, ServerState};

const CORE: RaftCore = RaftCore { perturbation: None };

/// raft-core with one of two changes: no snapshot (the harness must rebuild
/// nodes by replay), or a leader that leaves its last peer out of every
/// heartbeat.
pub struct Tweaked {
    pub snapshots: bool,
    pub skip_last_heartbeat: bool,
}

/// raft-core with no snapshot.
pub const NO_SNAPSHOT: Tweaked = Tweaked {
    snapshots: false,
    skip_last_heartbeat: false,
};

/// raft-core skipping its last peer's heartbeat.
pub const SKIPS_LAST_HEARTBEAT: Tweaked = Tweaked {
    snapshots: true,
    skip_last_heartbeat: true,
};

impl Implementation for Tweaked {
    type Node = MemNode;
    type Message = Message;
    fn name(&self) -> &str {
        "raft-core, tweaked"
    }
    fn fresh(&self, cfg: &Config, id: ServerId) -> Result<MemNode, AdapterError> {
        CORE.fresh(cfg, id)
    }
    fn step(&self, n: &mut MemNode, i: Input<'_, Message>) -> Result<Vec<Message>, AdapterError> {
        let heartbeat = matches!(i, Input::HeartbeatTimeout);
        let mut sent = CORE.step(n, i)?;
        if heartbeat && self.skip_last_heartbeat {
            if let Some(last) = sent.iter().map(|m| m.to).max() {
                sent.retain(|m| m.to != last);
            }
        }
        Ok(sent)
    }
    fn crash(&self, n: &mut MemNode) {
        CORE.crash(n)
    }
    fn recover(&self, n: &mut MemNode) -> Result<(), AdapterError> {
        CORE.recover(n)
    }
    fn state(&self, n: &MemNode) -> Result<Option<ServerState>, AdapterError> {
        CORE.state(n)
    }
    fn storage(&self, n: &MemNode) -> Result<Durable, AdapterError> {
        CORE.storage(n)
    }
    fn model_message(&self, cfg: &Config, m: &Message) -> Result<Sent, AdapterError> {
        CORE.model_message(cfg, m)
    }
    fn fingerprint(&self, n: &MemNode) -> u64 {
        CORE.fingerprint(n)
    }
    fn message_fingerprint(&self, m: &Message) -> u64 {
        CORE.message_fingerprint(m)
    }
    fn snapshot(&self, n: &MemNode) -> Option<MemNode> {
        self.snapshots.then(|| CORE.snapshot(n)).flatten()
    }
}

/// raft-core with a hidden refusal tally: a candidate refused twice in its
/// term shows as a follower (as raft-rs's candidate steps down once a
/// majority refuses). The model's candidate stays a candidate, so this
/// diverges, but only after two refusals, and the tally is state the
/// abstraction does not show.
pub struct StepsDownAfterTwoRefusals;

#[derive(Clone, Debug)]
pub struct Tallied {
    node: MemNode,
    /// Refusals received as candidate in `term`.
    refusals: u8,
    term: u64,
}

impl Implementation for StepsDownAfterTwoRefusals {
    type Node = Tallied;
    type Message = Message;
    fn name(&self) -> &str {
        "raft-core with a hidden refusal tally"
    }
    fn fresh(&self, cfg: &Config, id: ServerId) -> Result<Tallied, AdapterError> {
        Ok(Tallied {
            node: CORE.fresh(cfg, id)?,
            refusals: 0,
            term: 0,
        })
    }
    fn step(&self, n: &mut Tallied, i: Input<'_, Message>) -> Result<Vec<Message>, AdapterError> {
        let refusal = match &i {
            Input::Deliver(m) => {
                matches!(&m.body, MessageBody::RequestVoteResponse(r) if !r.vote_granted)
            }
            _ => false,
        };
        let sent = CORE.step(&mut n.node, i)?;
        let (role, term) = n
            .node
            .node()
            .map_or((Role::Follower, 0), |r| (r.role(), r.term()));
        if term != n.term || role != Role::Candidate {
            n.refusals = 0;
            n.term = term;
        } else if refusal {
            n.refusals += 1;
        }
        Ok(sent)
    }
    fn crash(&self, n: &mut Tallied) {
        CORE.crash(&mut n.node);
        n.refusals = 0;
    }
    fn recover(&self, n: &mut Tallied) -> Result<(), AdapterError> {
        CORE.recover(&mut n.node)
    }
    fn state(&self, n: &Tallied) -> Result<Option<ServerState>, AdapterError> {
        let mut state = CORE.state(&n.node)?;
        if let Some(s) = &mut state {
            if n.refusals >= 2 && s.role == ModelRole::Candidate {
                s.role = ModelRole::Follower;
            }
        }
        Ok(state)
    }
    fn storage(&self, n: &Tallied) -> Result<Durable, AdapterError> {
        CORE.storage(&n.node)
    }
    fn model_message(&self, cfg: &Config, m: &Message) -> Result<Sent, AdapterError> {
        CORE.model_message(cfg, m)
    }
    fn fingerprint(&self, n: &Tallied) -> u64 {
        fingerprint(&(CORE.fingerprint(&n.node), n.refusals, n.term))
    }
    fn message_fingerprint(&self, m: &Message) -> u64 {
        CORE.message_fingerprint(m)
    }
    fn snapshot(&self, n: &Tallied) -> Option<Tallied> {
        Some(n.clone())
    }
    /// Its stepping down is declared a known difference (as raft-rs's is).
    fn known_difference(
        &self,
        _: &Config,
        field: &str,
        model: &str,
        imp: &str,
        _: &str,
    ) -> Option<&'static str> {
        (field.ends_with(".role") && model == "candidate" && imp == "follower")
            .then_some("steps-down-after-two-refusals")
    }
}
