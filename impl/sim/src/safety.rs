//! The safety properties of the Raft paper (Figure 3, plus indices in
//! range), checked after every simulator step. The definitions are shared
//! with the model ([`raft_safety`]); this module gives them the
//! simulator's nodes ([`MemNode`] as a [`ServerView`]) and history, and
//! applies them to the node a step changed. Two checks are stronger than
//! the model's: Log Matching also against every entry ever seen
//! ([`EntriesSeen`]), and Leader Completeness for entries committed in the
//! leader's own term too. (The cluster holds applied entries to the
//! committed prefix these checks cover.)

use std::collections::{BTreeMap, HashMap};

use thiserror::Error;

use raft_core::{Entry, LogIndex, NodeId, Role, Term};
use raft_safety::{self as safety, Breach, EntriesSeen, History, ServerView};

use crate::MemNode;

/// A broken property, with enough detail to read the failing run.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Violation {
    /// One of the model's safety properties.
    #[error("{0}")]
    Safety(#[from] Breach<NodeId>),
    #[error("persistence contract: node {node}'s storage {detail} after its Ready was persisted")]
    Durability { node: NodeId, detail: String },
    /// A state machine was handed an entry out of order, not its log's, or
    /// beyond its commit index.
    #[error("state machine: node {node} {detail}")]
    Apply { node: NodeId, detail: String },
    #[error("liveness: {0}")]
    Liveness(String),
}

/// A node as the properties read it: a running node's state, or a crashed
/// node's durable state (a follower with nothing committed).
impl ServerView for MemNode {
    type Id = NodeId;
    type Entry = Entry;

    fn id(&self) -> NodeId {
        self.config().id
    }
    fn term(&self) -> u64 {
        self.node().map_or(self.durable().term, |n| n.term())
    }
    fn is_leader(&self) -> bool {
        self.node().is_some_and(|n| n.role() == Role::Leader)
    }
    fn commit_index(&self) -> u64 {
        self.node().map_or(0, |n| n.commit_index())
    }
    fn log(&self) -> &[Entry] {
        self.node().map_or(&self.durable().log, |n| n.log())
    }
    fn entry_term(entry: &Entry) -> u64 {
        entry.term
    }
    fn progress(&self) -> impl Iterator<Item = (NodeId, u64, u64)> {
        let progress = match self.node() {
            Some(n) if n.role() == Role::Leader => n.progresses(),
            _ => Vec::new(),
        };
        progress
            .into_iter()
            .map(|(peer, p)| (peer, p.next_index, p.match_index))
    }
}

/// A leader's term and log when it was last checked: Leader Append-Only
/// compares its next state with this.
#[derive(Debug)]
struct Led {
    id: NodeId,
    term: Term,
    log: Vec<Entry>,
}

impl ServerView for Led {
    type Id = NodeId;
    type Entry = Entry;

    fn id(&self) -> NodeId {
        self.id
    }
    fn term(&self) -> u64 {
        self.term
    }
    fn is_leader(&self) -> bool {
        true
    }
    fn commit_index(&self) -> u64 {
        0
    }
    fn log(&self) -> &[Entry] {
        &self.log
    }
    fn entry_term(entry: &Entry) -> u64 {
        entry.term
    }
    fn progress(&self) -> impl Iterator<Item = (NodeId, u64, u64)> {
        std::iter::empty()
    }
}

/// Who led each term, and the first entry committed at each index.
#[derive(Debug, Default)]
struct SimHistory {
    leaders: BTreeMap<Term, Vec<NodeId>>,
    /// Index -> (entry, the term of the node that committed it first).
    committed: BTreeMap<LogIndex, (Entry, Term)>,
}

impl History for SimHistory {
    type Id = NodeId;
    type Entry = Entry;

    fn leaders(&self) -> impl Iterator<Item = (u64, impl Iterator<Item = NodeId>)> {
        self.leaders
            .iter()
            .map(|(&term, ids)| (term, ids.iter().copied()))
    }
    fn committed_at(&self, index: u64) -> Option<(&Entry, u64)> {
        self.committed.get(&index).map(|(e, t)| (e, *t))
    }
    fn committed(&self) -> impl Iterator<Item = (u64, &Entry, u64)> {
        self.committed.iter().map(|(&i, (e, t))| (i, e, *t))
    }
    fn add_leader(&mut self, term: u64, id: NodeId) {
        let ids = self.leaders.entry(term).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    fn add_committed(&mut self, index: u64, entry: &Entry, in_term: u64) -> bool {
        self.committed.insert(index, (entry.clone(), in_term));
        true
    }
}

#[derive(Debug, Default)]
pub struct SafetyChecker {
    history: SimHistory,
    /// Every (index, term) ever in a log (Log Matching over history).
    seen: EntriesSeen<NodeId, Entry>,
    /// Per live leader: its state when last checked (Leader Append-Only).
    led: HashMap<NodeId, Led>,
    /// Per node: the commit index already recorded in the history.
    commit_seen: HashMap<NodeId, LogIndex>,
}

impl SafetyChecker {
    /// Checks every property after a step that changed `node` (one of
    /// `nodes`, the whole cluster): the properties of `node` alone, of
    /// `node` against every entry ever seen and paired with each other
    /// node (Log Matching), and Leader Completeness, entries committed in
    /// the leader's own term included, for every leader (the step may have
    /// committed an entry).
    pub fn check_step(&mut self, node: &MemNode, nodes: &[MemNode]) -> Result<(), Violation> {
        let id = node.id();
        safety::indices_in_range(node)?;
        let seen = self.commit_seen.entry(id).or_insert(0);
        safety::record(&mut self.history, node, *seen + 1);
        *seen = (*seen).max(node.commit_index());
        safety::election_safety(&self.history)?;
        if let Some(before) = self.led.get(&id) {
            safety::leader_append_only(before, node)?;
        }
        if node.is_leader() {
            let led = Led {
                id,
                term: node.term(),
                log: node.log().to_vec(),
            };
            self.led.insert(id, led);
        } else {
            self.led.remove(&id);
        }
        self.seen.log_matching(node)?;
        for other in nodes.iter().filter(|n| n.id() != id) {
            safety::log_matching(node, other)?;
        }
        safety::state_machine_safety(node, &self.history)?;
        for leader in nodes {
            safety::leader_completeness_through_own_term(leader, &self.history)?;
        }
        Ok(())
    }

    /// A node restarted: its commit index is 0 again, and it leads nothing.
    pub fn on_restart(&mut self, node: NodeId) {
        self.commit_seen.remove(&node);
        self.led.remove(&node);
    }
}
