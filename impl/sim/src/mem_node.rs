//! [`MemNode`]: the one in-memory driver of a [`RaftNode`], used by the
//! simulator, the scripted tests and the conformance checker alike.
//!
//! A runtime owes the core one thing: a [`Ready`]'s durable writes are on
//! stable storage before any of its messages leave or its committed entries
//! are applied. `MemNode` keeps that storage in memory, as a
//! [`DurableState`], and models a crash as losing everything else: the
//! node's volatile state and any Ready not yet persisted.
//!
//! ```
//! use raft_core::{Config, MessageBody};
//! use raft_sim::MemNode;
//!
//! let mut n = MemNode::new(Config::new(1, [1, 2, 3])).unwrap();
//! let ready = n.node_mut().unwrap().election_timeout();
//! let out = n.persist(ready); // the vote for itself is durable first...
//! assert_eq!(n.durable().voted_for, Some(1));
//! assert!(matches!(out.messages[0].body, MessageBody::RequestVote(_))); // ...then it asks
//!
//! let ready = n.node_mut().unwrap().election_timeout(); // term 2, never persisted
//! n.crash_before_persisting(ready);
//! n.restart().unwrap();
//! assert_eq!(n.node().unwrap().term(), 1);
//! ```

use raft_core::{Config, ConfigError, DurableState, DurableWrite, Output, RaftNode, Ready};
use thiserror::Error;

/// A Raft node and the in-memory storage its acknowledged writes built.
#[derive(Clone, Debug)]
pub struct MemNode {
    config: Config,
    /// `None` while crashed.
    node: Option<RaftNode>,
    durable: DurableState,
}

/// Why a [`MemNode`] could not restart.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RestartError {
    #[error("the node is running; crash it first")]
    Running,
    #[error("the node cannot restart from its storage: {0}")]
    Storage(#[from] ConfigError),
}

impl MemNode {
    /// A brand-new node with empty storage.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        Ok(MemNode {
            node: Some(RaftNode::new(config.clone())?),
            config,
            durable: DurableState::default(),
        })
    }

    /// The running node, or `None` while crashed.
    pub fn node(&self) -> Option<&RaftNode> {
        self.node.as_ref()
    }

    /// The running node, to give it an input (or plant a fault in it). The
    /// [`Ready`] an input returns goes back to [`persist`](Self::persist)
    /// or [`crash_before_persisting`](Self::crash_before_persisting).
    pub fn node_mut(&mut self) -> Option<&mut RaftNode> {
        self.node.as_mut()
    }

    /// What is on "disk": every write persisted so far, and nothing else.
    pub fn durable(&self) -> &DurableState {
        &self.durable
    }

    pub fn is_crashed(&self) -> bool {
        self.node.is_none()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Applies the Ready's durable writes to storage, in order, and only
    /// then releases its messages and committed entries.
    pub fn persist(&mut self, ready: Ready) -> Output {
        self.persist_with(ready, |durable, write| durable.apply(write))
    }

    /// [`persist`](Self::persist) through a storage engine of the caller's
    /// (a faulty one, to show a checker catches it): `write` is called on
    /// each durable write in order, before anything is released.
    pub fn persist_with(
        &mut self,
        ready: Ready,
        mut write: impl FnMut(&mut DurableState, &DurableWrite),
    ) -> Output {
        let (writes, unpersisted) = ready.into_writes();
        for w in &writes {
            write(&mut self.durable, w);
        }
        unpersisted.persisted()
    }

    /// The node crashes: its volatile state is lost, storage is kept.
    /// Crashing a crashed node does nothing.
    pub fn crash(&mut self) {
        self.node = None;
    }

    /// The node crashes after producing `ready` but before any of it was
    /// durable: its writes, messages and committed entries are all lost.
    pub fn crash_before_persisting(&mut self, ready: Ready) {
        drop(ready);
        self.crash();
    }

    /// A crashed node comes back from exactly its durable storage.
    pub fn restart(&mut self) -> Result<&mut RaftNode, RestartError> {
        self.restart_with(DurableState::clone)
    }

    /// [`restart`](Self::restart) from what a (possibly faulty) storage
    /// read returns for the durable state; the storage itself is unchanged.
    pub fn restart_with(
        &mut self,
        read: impl FnOnce(&DurableState) -> DurableState,
    ) -> Result<&mut RaftNode, RestartError> {
        if self.node.is_some() {
            return Err(RestartError::Running);
        }
        let node = RaftNode::restart(self.config.clone(), read(&self.durable))?;
        Ok(self.node.insert(node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_core::{Bytes, Message, MessageBody, Role};

    fn three(id: u64) -> MemNode {
        MemNode::new(Config::new(id, [1, 2, 3])).unwrap()
    }

    /// Delivers `msg` to `n` and persists the Ready.
    fn deliver(n: &mut MemNode, msg: Message) -> Output {
        let ready = n.node_mut().unwrap().step(msg);
        n.persist(ready)
    }

    /// Node 1 as leader of term 1 with `values` proposed, and the
    /// AppendEntries it sent to node 2 for them.
    fn leader_with(values: &[&'static str]) -> (MemNode, Vec<Message>) {
        let mut leader = three(1);
        let ready = leader.node_mut().unwrap().election_timeout();
        let out = leader.persist(ready);
        let mut sent = Vec::new();
        for rv in out.messages.into_iter().filter(|m| m.to == 2) {
            let mut voter = three(2);
            for reply in deliver(&mut voter, rv).messages {
                sent.extend(deliver(&mut leader, reply).messages);
            }
        }
        assert_eq!(leader.node().unwrap().role(), Role::Leader);
        for v in values {
            let (_, ready) = leader.node_mut().unwrap().propose(Bytes::from(*v)).unwrap();
            sent.extend(leader.persist(ready).messages);
        }
        (leader, sent.into_iter().filter(|m| m.to == 2).collect())
    }

    /// Every message a Ready releases is already backed by storage: a
    /// granted vote by the durable vote and term, a successful append by
    /// the durable log. Releasing before writing cannot be written at all
    /// (a Ready yields its messages only once its writes are taken and
    /// declared persisted); what this shows is that `persist` applies every
    /// write, correctly, before it returns: a driver that dropped,
    /// deferred or misapplied a write fails it.
    #[test]
    fn writes_are_durable_before_messages_are_released() {
        let mut voter = three(2);
        let mut candidate = three(1);
        let ready = candidate.node_mut().unwrap().election_timeout();
        let rv = candidate
            .persist(ready)
            .messages
            .into_iter()
            .find(|m| m.to == 2)
            .unwrap();
        let out = deliver(&mut voter, rv);
        let MessageBody::RequestVoteResponse(r) = &out.messages[0].body else {
            panic!("expected a vote response, got {:?}", out.messages);
        };
        assert!(r.vote_granted);
        assert_eq!(
            (voter.durable().term, voter.durable().voted_for),
            (r.term, Some(1))
        );

        let (_, appends) = leader_with(&["a", "b"]);
        let mut follower = three(2);
        for ae in appends {
            for reply in deliver(&mut follower, ae).messages {
                if let MessageBody::AppendEntriesResponse(r) = reply.body {
                    if r.success {
                        assert!(follower.durable().log.len() as u64 >= r.match_index);
                    }
                }
            }
        }
        assert_eq!(follower.durable().log.len(), 3, "no-op, a and b");
        assert_eq!(
            follower.durable(),
            &follower.node().unwrap().durable_state()
        );
    }

    /// A crash between a Ready and its persistence loses the Ready's
    /// writes: the node restarts as it was before that input.
    #[test]
    fn a_crash_before_persisting_loses_the_readys_writes() {
        let mut n = three(1);
        let ready = n.node_mut().unwrap().election_timeout();
        n.persist(ready);
        let before = n.durable().clone();
        assert_eq!((before.term, before.voted_for), (1, Some(1)));

        let ready = n.node_mut().unwrap().election_timeout();
        assert!(!ready.durable_writes().is_empty(), "term 2 must be written");
        n.crash_before_persisting(ready);
        assert!(n.is_crashed());
        assert_eq!(n.durable(), &before);
        let node = n.restart().unwrap();
        assert_eq!((node.term(), node.voted_for()), (1, Some(1)));
    }

    /// A restart comes back with exactly the durable term, vote and log
    /// (truncations included) and no volatile state: a follower with
    /// commit index 0.
    #[test]
    fn restart_restores_exactly_the_durable_state() {
        let (mut leader, _) = leader_with(&["a", "b"]);
        let durable = leader.durable().clone();
        assert_eq!(durable.log.len(), 3);
        assert_eq!(durable, leader.node().unwrap().durable_state());
        leader.crash();
        assert!(leader.node().is_none());
        let node = leader.restart().unwrap();
        assert_eq!(node.durable_state(), durable);
        assert_eq!(node.role(), Role::Follower);
        assert_eq!(node.commit_index(), 0);

        // A follower whose uncommitted suffix is overwritten: the truncation
        // reaches storage, so a restart does not bring the suffix back.
        let (_, appends) = leader_with(&["x"]);
        let mut follower = three(2);
        for ae in appends {
            deliver(&mut follower, ae);
        }
        assert_eq!(follower.durable().log.len(), 2);
        let mut rival = three(3);
        let ready = rival.node_mut().unwrap().election_timeout();
        rival.persist(ready);
        let ready = rival.node_mut().unwrap().election_timeout();
        let rv = rival
            .persist(ready)
            .messages
            .into_iter()
            .find(|m| m.to == 1)
            .unwrap();
        // Node 1 (empty, fresh) elects node 3 for term 2; node 3 and the
        // follower then exchange messages until nothing is left to say.
        let mut voter = three(1);
        let grant = deliver(&mut voter, rv).messages.remove(0);
        let mut in_flight: Vec<Message> = deliver(&mut rival, grant).messages;
        while let Some(m) = in_flight.pop() {
            match m.to {
                2 => in_flight.extend(deliver(&mut follower, m).messages),
                3 => in_flight.extend(deliver(&mut rival, m).messages),
                _ => {}
            }
        }
        let durable = follower.durable().clone();
        assert_eq!(durable.log.len(), 1);
        assert_eq!(durable.log[0].term, 2);
        follower.crash();
        let node = follower.restart().unwrap();
        assert_eq!(node.durable_state(), durable);
    }

    #[test]
    fn restart_refuses_a_running_node_and_bad_storage() {
        let mut n = three(1);
        assert!(matches!(n.restart(), Err(RestartError::Running)));
        n.crash();
        let err = n
            .restart_with(|d| DurableState {
                log: vec![raft_core::Entry {
                    index: 5,
                    term: 1,
                    kind: raft_core::EntryKind::Noop,
                }],
                ..d.clone()
            })
            .unwrap_err();
        assert!(matches!(err, RestartError::Storage(_)), "{err}");
        assert!(n.is_crashed());
    }
}
