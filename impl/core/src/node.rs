//! The Raft node: its state, its inputs, and the read-only observation API.
//!
//! Each input method changes state and returns a [`Ready`] with everything the
//! input produced. The Figure-2 rules themselves live in `election.rs` (terms
//! and votes) and `replication.rs` (AppendEntries and commit).

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::{check_contiguous, Config, ConfigError, ProposeError};
use crate::log::RaftLog;
use crate::ready::{DurableWrite, Ready};
use crate::types::{Entry, EntryKind, LogIndex, Message, MessageBody, NodeId, Role, Term};

/// What a node restarts from: exactly what its acknowledged durable writes
/// left on stable storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurableState {
    pub term: Term,
    pub voted_for: Option<NodeId>,
    pub log: Vec<Entry>,
}

impl DurableState {
    /// Apply one acknowledged write, as a storage engine would.
    pub fn apply(&mut self, write: &DurableWrite) {
        match write {
            DurableWrite::HardState { term, voted_for } => {
                self.term = *term;
                self.voted_for = *voted_for;
            }
            DurableWrite::TruncateFrom { index } => {
                self.log.truncate(index.saturating_sub(1) as usize);
            }
            DurableWrite::Append { entries } => {
                debug_assert!(entries
                    .iter()
                    .take(1)
                    .all(|e| e.index == self.log.len() as LogIndex + 1));
                self.log.extend_from_slice(entries);
            }
        }
    }
}

/// The leader's replication state for one peer (Figure 2's nextIndex and
/// matchIndex).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub next_index: LogIndex,
    pub match_index: LogIndex,
}

/// One input to the core. [`RaftNode::handle`] dispatches these; restart is
/// [`RaftNode::restart`], since it builds a new node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    Message(Message),
    ElectionTimeout,
    HeartbeatTimeout,
    Propose(Bytes),
}

/// A proposal the leader appended: where it sits in the log. It is
/// acknowledged to the client once the entry comes out as committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposed {
    pub index: LogIndex,
    pub term: Term,
}

#[derive(Clone, Debug)]
pub(crate) struct Peer {
    pub(crate) id: NodeId,
    pub(crate) progress: Progress,
}

/// Outputs accumulated while handling one input.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pending {
    pub(crate) hard_state_dirty: bool,
    pub(crate) log_writes: Vec<DurableWrite>,
    pub(crate) messages: Vec<Message>,
}

/// A deterministic, sans-IO Raft server.
///
/// `Clone` makes a snapshot of the whole node (the model checker in
/// `checker/` explores branches from one node state this way).
#[derive(Clone, Debug)]
pub struct RaftNode {
    pub(crate) config: Config,
    pub(crate) term: Term,
    pub(crate) voted_for: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) role: Role,
    pub(crate) commit_index: LogIndex,
    /// Highest index already handed out in `Output::committed`.
    pub(crate) applied: LogIndex,
    pub(crate) leader_hint: Option<NodeId>,
    pub(crate) votes: BTreeSet<NodeId>,
    pub(crate) peers: Vec<Peer>,
    pub(crate) pending: Pending,
}

impl RaftNode {
    /// A brand-new node with empty durable state.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        Self::restart(config, DurableState::default())
    }

    /// A node coming back from `durable`: follower, commit index 0, all
    /// volatile state reset. Committed entries are handed out again from
    /// index 1 as the commit index is re-learned, so the state machine is
    /// rebuilt from the log.
    pub fn restart(config: Config, durable: DurableState) -> Result<Self, ConfigError> {
        config.validate()?;
        check_contiguous(&durable.log)?;
        if let Some(e) = durable.log.iter().find(|e| e.term > durable.term) {
            return Err(ConfigError::EntryTermAboveCurrent {
                index: e.index,
                entry_term: e.term,
                term: durable.term,
            });
        }
        let peers = config
            .voters
            .iter()
            .filter(|&&v| v != config.id)
            .map(|&id| Peer {
                id,
                progress: Progress {
                    next_index: 1,
                    match_index: 0,
                },
            })
            .collect();
        Ok(RaftNode {
            config,
            term: durable.term,
            voted_for: durable.voted_for,
            log: RaftLog::from_entries(durable.log),
            role: Role::Follower,
            commit_index: 0,
            applied: 0,
            leader_hint: None,
            votes: BTreeSet::new(),
            peers,
            pending: Pending::default(),
        })
    }

    // ----- inputs -----

    /// Dispatch any input. A refused proposal is an error, other inputs never fail.
    pub fn handle(&mut self, input: Input) -> Result<Ready, ProposeError> {
        match input {
            Input::Message(m) => Ok(self.step(m)),
            Input::ElectionTimeout => Ok(self.election_timeout()),
            Input::HeartbeatTimeout => Ok(self.heartbeat_timeout()),
            Input::Propose(payload) => self.propose(payload).map(|(_, ready)| ready),
        }
    }

    /// A message from a peer. Messages not addressed to this node, or from a
    /// node that is not a voter, are ignored.
    pub fn step(&mut self, msg: Message) -> Ready {
        if msg.to == self.config.id && self.peers.iter().any(|p| p.id == msg.from) {
            self.receive(msg);
        }
        self.take_ready()
    }

    /// The election timer fired (the runtime randomizes it).
    pub fn election_timeout(&mut self) -> Ready {
        self.timeout();
        self.take_ready()
    }

    /// The heartbeat timer fired (leaders only; ignored otherwise).
    pub fn heartbeat_timeout(&mut self) -> Ready {
        if self.role == Role::Leader {
            self.broadcast_append_entries();
        }
        self.take_ready()
    }

    /// A client proposal. Only the leader accepts it.
    pub fn propose(&mut self, payload: Bytes) -> Result<(Proposed, Ready), ProposeError> {
        let (first, ready) = self.propose_batch(core::iter::once(payload))?;
        Ok((first, ready))
    }

    /// Several proposals appended together and replicated in one round of
    /// AppendEntries. Returns the position of the first one; the rest follow
    /// contiguously.
    pub fn propose_batch(
        &mut self,
        payloads: impl IntoIterator<Item = Bytes>,
    ) -> Result<(Proposed, Ready), ProposeError> {
        let first = self.client_request(payloads)?;
        Ok((first, self.take_ready()))
    }

    /// raft.tla's ClientRequest: the leader appends the commands to its log
    /// and replicates them.
    fn client_request(
        &mut self,
        payloads: impl IntoIterator<Item = Bytes>,
    ) -> Result<Proposed, ProposeError> {
        if self.role != Role::Leader {
            return Err(match self.leader_hint {
                Some(leader) => ProposeError::NotLeader { leader },
                None => ProposeError::NoLeader,
            });
        }
        let first = Proposed {
            index: self.log.last_index() + 1,
            term: self.term,
        };
        for payload in payloads {
            self.append_to_own_log(EntryKind::Normal(payload));
        }
        self.broadcast_append_entries();
        self.advance_commit_index();
        Ok(first)
    }

    /// raft.tla's Receive: a higher term first (UpdateTerm), then the
    /// message's handler.
    fn receive(&mut self, msg: Message) {
        let term = msg.body.term();
        if term > self.term {
            self.update_term(term);
        }
        match msg.body {
            MessageBody::RequestVote(rv) => self.handle_request_vote_request(msg.from, rv),
            MessageBody::RequestVoteResponse(r) => self.handle_request_vote_response(msg.from, r),
            MessageBody::AppendEntries(ae) => self.handle_append_entries_request(msg.from, ae),
            MessageBody::AppendEntriesResponse(r) => {
                self.handle_append_entries_response(msg.from, r)
            }
        }
    }

    // ----- shared helpers for the rule modules -----

    pub(crate) fn quorum(&self) -> usize {
        self.config.voters.len() / 2 + 1
    }

    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        self.pending.messages.push(Message {
            from: self.config.id,
            to,
            body,
        });
    }

    pub(crate) fn mark_hard_state_dirty(&mut self) {
        self.pending.hard_state_dirty = true;
    }

    /// Leader-side append of a new entry of the current term.
    pub(crate) fn append_to_own_log(&mut self, kind: EntryKind) {
        let entry = Entry {
            index: self.log.last_index() + 1,
            term: self.term,
            kind,
        };
        self.record_append(core::slice::from_ref(&entry));
        self.log.push(entry);
    }

    /// Queue the durable write for entries about to be appended, merging with
    /// a preceding append in the same Ready.
    pub(crate) fn record_append(&mut self, entries: &[Entry]) {
        if let Some(DurableWrite::Append { entries: queued }) = self.pending.log_writes.last_mut() {
            queued.extend_from_slice(entries);
        } else {
            self.pending.log_writes.push(DurableWrite::Append {
                entries: entries.to_vec(),
            });
        }
    }

    pub(crate) fn record_truncate(&mut self, index: LogIndex) {
        self.pending
            .log_writes
            .push(DurableWrite::TruncateFrom { index });
    }

    fn take_ready(&mut self) -> Ready {
        let pending = core::mem::take(&mut self.pending);
        let mut writes = Vec::with_capacity(pending.log_writes.len() + 1);
        if pending.hard_state_dirty {
            writes.push(DurableWrite::HardState {
                term: self.term,
                voted_for: self.voted_for,
            });
        }
        writes.extend(pending.log_writes);
        let committed = self.log.slice(self.applied + 1, self.commit_index).to_vec();
        self.applied = self.commit_index;
        Ready::new(writes, pending.messages, committed)
    }

    // ----- observation (read-only; for tests, conformance and status pages) -----

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> Term {
        self.term
    }

    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }

    /// The whole log, entry `i` at position `i - 1`.
    pub fn log(&self) -> &[Entry] {
        self.log.entries()
    }

    pub fn last_log_index(&self) -> LogIndex {
        self.log.last_index()
    }

    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }

    /// The leader this node last heard from in its current term, if any.
    pub fn leader_hint(&self) -> Option<NodeId> {
        if self.role == Role::Leader {
            Some(self.config.id)
        } else {
            self.leader_hint
        }
    }

    /// The leader's next/match index for `peer`; `None` on non-leaders.
    pub fn progress(&self, peer: NodeId) -> Option<Progress> {
        if self.role != Role::Leader {
            return None;
        }
        self.peers.iter().find(|p| p.id == peer).map(|p| p.progress)
    }

    /// Every peer's progress (leader only; empty otherwise), by peer id order
    /// in the config.
    pub fn progresses(&self) -> Vec<(NodeId, Progress)> {
        if self.role != Role::Leader {
            return Vec::new();
        }
        self.peers.iter().map(|p| (p.id, p.progress)).collect()
    }

    /// Plants a bug for the simulator's self-test (feature
    /// `fault-injection`, which only raft-sim asks for: off in `cargo build
    /// -p raftkv` and `cargo install`, though a workspace-wide build unifies
    /// features and so has it on everywhere): lowers `peer`'s nextIndex
    /// by one with no floor, as a leader with the `next-index-no-floor` bug
    /// does on a rejection.
    #[cfg(feature = "fault-injection")]
    pub fn inject_unfloored_next_index(&mut self, peer: NodeId) {
        if let Some(p) = self.peers.iter_mut().find(|p| p.id == peer) {
            p.progress.next_index = p.progress.next_index.saturating_sub(1);
        }
    }

    /// Corrupts the commit index behind the core's back (feature
    /// `fault-injection`), for the simulator's check that its safety checks
    /// see a state no step produced.
    #[cfg(feature = "fault-injection")]
    pub fn inject_commit_index(&mut self, index: LogIndex) {
        self.commit_index = index;
    }

    /// Replaces the log behind the core's back (feature `fault-injection`),
    /// for the simulator's checks that they see a log no step produced.
    #[cfg(feature = "fault-injection")]
    pub fn inject_log(&mut self, entries: Vec<Entry>) {
        self.log = RaftLog::from_entries(entries);
    }

    /// Sets the role behind the core's back (feature `fault-injection`),
    /// peers' progress untouched: e.g. a second leader of a term.
    #[cfg(feature = "fault-injection")]
    pub fn inject_role(&mut self, role: Role) {
        self.role = role;
    }

    /// The voters that granted this candidate their vote; `None` unless
    /// this node is a candidate.
    pub fn granted_votes(&self) -> Option<&BTreeSet<NodeId>> {
        (self.role == Role::Candidate).then_some(&self.votes)
    }

    /// The durable state this node believes it has (for checks: after its
    /// last `Ready` was persisted, storage must equal this).
    pub fn durable_state(&self) -> DurableState {
        DurableState {
            term: self.term,
            voted_for: self.voted_for,
            log: self.log.entries().to_vec(),
        }
    }
}
